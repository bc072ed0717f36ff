"""The stable hash behind sticky routing (rollout.md, "Exact behaviour" 1).

The hash is pinned: SHA-256 of the UTF-8 text, first 8 bytes read as a big-endian unsigned
integer. It does not depend on the process, the machine, the Python version or
``PYTHONHASHSEED``. Changing it would move live aggregates between implementations, so the test
suite pins a few values (tests/rollout/test_hashing.py).

No floating point anywhere: thresholds are integers, percentages are ``Decimal`` or ``int``.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Final

BUCKETS: Final[int] = 10_000
"""Number of buckets; a bucket is worth 0.01 percentage point."""


def stable_hash(s: str) -> int:
    """First 8 bytes of SHA-256 of ``s`` encoded as UTF-8, as a big-endian unsigned integer."""
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest()[:8], "big", signed=False)


def bucket(context: str, aggregate_id: str) -> int:
    """``stable_hash(context + ":" + aggregate_id) mod 10000``, in ``range(10000)``."""
    return stable_hash(f"{context}:{aggregate_id}") % BUCKETS


def threshold(domain_percent: Decimal | int) -> int:
    """``round(domain_percent * 100)`` as an integer (0..10000 for a valid config).

    Computed in ``Decimal``; a valid config has at most two decimals, so the product is exact and
    the rounding (half-even, like Python's ``round``) never actually happens.
    """
    if isinstance(domain_percent, bool) or not isinstance(domain_percent, Decimal | int):
        raise TypeError(f"domain_percent must be a Decimal or an int, not {type(domain_percent).__name__}")
    return round(Decimal(domain_percent) * 100)


def in_domain_share(bucket: int, domain_percent: Decimal | int) -> bool:
    """Whether a bucket falls in the domain share: ``bucket < round(domain_percent * 100)``."""
    return bucket < threshold(domain_percent)
