"""Noise candidates: fields that look nondeterministic rather than wrong.

A field of an event type is a candidate when it differs in most comparisons of that event type
(`min_ratio`) and takes many distinct values (`min_distinct_ratio` of the values seen, and at
least `min_distinct`) — a timestamp or a generated id, not a consistently wrong multiplier.
Each candidate carries the rule that would ignore it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parallax_comparator.core.diff import ABSENT, Comparison
from parallax_comparator.core.signature import collapse_indices

_EVENT_PATH_RE = re.compile(r"\[(\d+)\]\.(.+)")


@dataclass(frozen=True, slots=True)
class NoiseCandidate:
    context: str
    event_type: str
    path: str  # event-relative, indices collapsed: `payload.players[*].token`
    compared: int  # comparisons in which this event type was compared
    differing: int  # of which this path differed
    distinct_values: int  # distinct values seen at the path (both sides; sampled)
    max_numeric_delta: float | None  # when every differing value pair was numeric

    @property
    def ratio(self) -> float:
        return self.differing / self.compared if self.compared else 0.0

    @property
    def rule_path(self) -> str:
        """The path as a rule writes it (`[*]` → `[]`)."""
        return self.path.replace("[*]", "[]")

    @property
    def rule(self) -> dict[str, Any]:
        return {"context": self.context, "event": self.event_type, "drop": [self.rule_path]}

    @property
    def snippet(self) -> str:
        """The YAML rule (an item of `rules:`) that would ignore this field."""
        text = (
            f"- context: {json.dumps(self.context)}\n"
            f"  event: {json.dumps(self.event_type)}\n"
            f"  drop: [{json.dumps(self.rule_path)}]\n"
        )
        if self.max_numeric_delta is not None:
            text += (
                f"  # or keep it, within a tolerance: tolerance: "
                f"{{{json.dumps(self.rule_path)}: {self.max_numeric_delta:g}}}\n"
            )
        return text


@dataclass(slots=True)
class _PathStats:
    differing: int = 0
    values: set[int] = field(default_factory=set)
    observed: int = 0
    numeric: bool = True
    max_delta: float = 0.0


def _fingerprint(value: Any) -> int:
    if value is ABSENT:
        return hash("<absent>")
    return hash(json.dumps(value, sort_keys=True, default=str))


def _is_number(v: Any) -> bool:
    return type(v) in (int, float)


class NoiseDetector:
    """Feed it comparisons (matches too: they count as comparisons where nothing differed)."""

    def __init__(
        self,
        *,
        min_compared: int = 20,
        min_ratio: float = 0.5,
        min_distinct_ratio: float = 0.5,
        min_distinct: int = 5,
        max_values: int = 1000,
    ) -> None:
        self.min_compared = min_compared
        self.min_ratio = min_ratio
        self.min_distinct_ratio = min_distinct_ratio
        self.min_distinct = min_distinct
        self.max_values = max_values
        self._compared: dict[tuple[str, str], int] = {}
        self._paths: dict[tuple[str, str, str], _PathStats] = {}

    def add(
        self,
        context: str,
        left: Sequence[Mapping[str, Any]],
        right: Sequence[Mapping[str, Any]],
        comparison: Comparison,
    ) -> None:
        """One comparison: the normalized legacy and domain responses and their result."""
        types: dict[int, str] = {}
        for i, (a, b) in enumerate(zip(left, right, strict=False)):
            t = a.get("type")
            if isinstance(t, str) and t == b.get("type"):
                types[i] = t
        for t in set(types.values()):
            self._compared[(context, t)] = self._compared.get((context, t), 0) + 1
        hit: set[tuple[str, str, str]] = set()
        for d in comparison.diffs:
            m = _EVENT_PATH_RE.fullmatch(d.path)
            if m is None or m.group(2) == "type":
                continue
            t_ = types.get(int(m.group(1)))
            if t_ is None:
                continue
            key = (context, t_, collapse_indices(m.group(2)))
            st = self._paths.get(key)
            if st is None:
                st = self._paths[key] = _PathStats()
            if key not in hit:
                hit.add(key)
                st.differing += 1
            for v in (d.left, d.right):
                if len(st.values) < self.max_values:
                    st.values.add(_fingerprint(v))
                    st.observed += 1
            if _is_number(d.left) and _is_number(d.right):
                delta = abs(float(d.left) - float(d.right))
                if math.isfinite(delta):
                    st.max_delta = max(st.max_delta, delta)
            else:
                st.numeric = False

    def candidates(self) -> list[NoiseCandidate]:
        """The candidates, most often differing first."""
        out: list[NoiseCandidate] = []
        for (ctx, etype, path), st in self._paths.items():
            compared = self._compared.get((ctx, etype), 0)
            if compared < self.min_compared or st.differing / compared <= self.min_ratio:
                continue
            distinct = len(st.values)
            if distinct < self.min_distinct or distinct < self.min_distinct_ratio * st.observed:
                continue
            out.append(
                NoiseCandidate(
                    context=ctx,
                    event_type=etype,
                    path=path,
                    compared=compared,
                    differing=st.differing,
                    distinct_values=distinct,
                    max_numeric_delta=st.max_delta if st.numeric else None,
                )
            )
        out.sort(key=lambda c: (-c.ratio, c.context, c.event_type, c.path))
        return out


def noise_candidates(
    samples: Iterable[tuple[str, Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]], Comparison]],
    **settings: Any,
) -> list[NoiseCandidate]:
    """`samples`: (context, normalized legacy, normalized domain, comparison) tuples."""
    detector = NoiseDetector(**settings)
    for context, left, right, comparison in samples:
        detector.add(context, left, right, comparison)
    return detector.candidates()
