"""Mismatch signatures: one bug → one group, however many commands it hit."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import NamedTuple

from parallax_comparator.core.diff import Comparison, FieldDiff, Result

_INDEX_RE = re.compile(r"\[\d+\]")


def collapse_indices(path: str) -> str:
    """`[2].payload.hand[0]` → `[*].payload.hand[*]`."""
    return _INDEX_RE.sub("[*]", path)


class Signature(NamedTuple):
    command_type: str
    result: Result
    paths: tuple[str, ...]  # sorted, unique, indices collapsed

    @property
    def key(self) -> str:
        """Readable form: `play payload_mismatch [*].payload.value,[*].payload.play_type`."""
        return f"{self.command_type} {self.result} {','.join(self.paths)}"

    @property
    def digest(self) -> str:
        """A short stable id of `key` (16 hex digits), for storage and URLs."""
        return hashlib.blake2b(self.key.encode(), digest_size=8).hexdigest()


def signature_paths(diffs: Iterable[FieldDiff]) -> tuple[str, ...]:
    return tuple(sorted({collapse_indices(d.path) for d in diffs}))


def mismatch_signature(command_type: str, comparison: Comparison) -> Signature:
    """Command type + result class + the sorted differing paths with array indices collapsed.

    The result class is part of it, so a `missing_domain` (no paths) never groups with a match,
    and a rejection mismatch never groups with a payload mismatch on the same paths."""
    return Signature(command_type, comparison.result, signature_paths(comparison.diffs))
