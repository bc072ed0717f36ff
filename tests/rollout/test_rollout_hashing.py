"""The pinned hash, buckets and the integer threshold (rollout.md, "Exact behaviour" 1)."""

from __future__ import annotations

import hashlib
import random
import uuid
from decimal import Decimal

import pytest
from parallax_rollout import BUCKETS, bucket, in_domain_share, stable_hash, threshold

# Pinned vectors. If one of these fails, the hash changed and every live aggregate would be
# reassigned: do not "fix" the numbers, fix the hash.
PINNED_HASHES = [
    ("", 16406829232824261652),  # SHA-256("") = e3b0c44298fc1c14...
    ("game:3FA9C1", 2711131426166167514),
    ("game:000000", 247175591168289715),
    ("campaign:0f8fad5b-d9cb-469f-a165-70867728950e", 13555051863772125941),
    ("game:\u00e9", 9383481422055997219),  # non-ASCII: hashed as UTF-8
]
PINNED_BUCKETS = [
    ("game", "3FA9C1", 7514),
    ("game", "000000", 9715),
    ("game", "000001", 7812),
    ("game", "000002", 5579),
    ("game", "000003", 8647),
    ("campaign", "0f8fad5b-d9cb-469f-a165-70867728950e", 5941),
]


@pytest.mark.parametrize(("text", "expected"), PINNED_HASHES)
def test_stable_hash_is_pinned(text: str, expected: int) -> None:
    assert stable_hash(text) == expected


@pytest.mark.parametrize(("context", "aggregate_id", "expected"), PINNED_BUCKETS)
def test_bucket_is_pinned(context: str, aggregate_id: str, expected: int) -> None:
    assert bucket(context, aggregate_id) == expected


def test_stable_hash_definition() -> None:
    # SHA-256 of the empty string starts with e3b0c44298fc1c14 (a well-known constant).
    assert stable_hash("") == 0xE3B0C44298FC1C14
    for text in ["a", "game:ABCDEF", "x" * 1000, "\u4e2d\u6587"]:
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        assert stable_hash(text) == int.from_bytes(digest[:8], "big")
        assert 0 <= stable_hash(text) < 2**64


def test_bucket_uses_context_colon_id() -> None:
    assert bucket("game", "3FA9C1") == stable_hash("game:3FA9C1") % 10_000
    assert bucket("campaign", "3FA9C1") == stable_hash("campaign:3FA9C1") % 10_000
    assert BUCKETS == 10_000


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        (0, 0),
        (Decimal("0.01"), 1),
        (Decimal("12.34"), 1234),
        (Decimal("25.00"), 2500),
        (Decimal("99.99"), 9999),
        (100, 10_000),
    ],
)
def test_threshold_is_an_exact_integer(percent: Decimal | int, expected: int) -> None:
    assert threshold(percent) == expected
    assert isinstance(threshold(percent), int)


def test_in_domain_share_boundaries() -> None:
    assert not in_domain_share(0, 0)  # 0 %: nothing
    assert in_domain_share(0, Decimal("0.01"))  # 0.01 %: bucket 0 only
    assert not in_domain_share(1, Decimal("0.01"))
    assert in_domain_share(2499, 25) and not in_domain_share(2500, 25)
    assert in_domain_share(9999, 100)  # 100 %: everything
    assert not in_domain_share(9999, Decimal("99.99"))


@pytest.mark.parametrize("bad", [25.0, 0.5, True, "25"])
def test_threshold_refuses_floats_bools_and_text(bad: object) -> None:
    with pytest.raises(TypeError):
        threshold(bad)  # type: ignore[arg-type]


def _share(context: str, ids: list[str], percent: Decimal) -> float:
    limit = threshold(percent)  # == in_domain_share, with the threshold computed once
    assert all(in_domain_share(b, percent) == (b < limit) for b in (0, limit - 1, limit))
    return sum(bucket(context, i) < limit for i in ids) / len(ids)


def test_share_of_100k_ids_at_25_percent_is_within_one_point() -> None:
    """At 25.00 % the share of 100,000 ids in domain is 25 % +- 1 percentage point.

    Tolerance: for a uniform hash the count is Binomial(n=100000, p=0.25), standard deviation
    sqrt(p(1-p)/n) = 0.137 percentage points, so +-1 point is about 7.3 sigma (a false failure
    has probability < 1e-12). The ids are generated deterministically, so the test is too.
    """
    room_ids = [f"{i:06X}" for i in range(100_000)]
    rng = random.Random(20240525)
    campaign_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(100_000)]
    for context, ids in (("game", room_ids), ("campaign", campaign_ids)):
        share = _share(context, ids, Decimal("25.00"))
        assert abs(share - 0.25) <= 0.01, (context, share)


def test_buckets_cover_the_range_evenly() -> None:
    counts = [0] * 10
    for i in range(100_000):
        counts[bucket("game", f"{i:06X}") // 1000] += 1
    # Each decile: Binomial(100000, 0.1), sigma ~ 95; allow +-6 sigma.
    assert all(abs(c - 10_000) < 600 for c in counts), counts
