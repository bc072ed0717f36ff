"""One comparison record from two responses: the step the live service and the replay share.

`evaluate` normalizes and classifies (core.compare), signs non-matches, and keeps what the
store, the reports and the guard need (handler latency, who refused). Pure: no clock except the
`compared_at` the caller passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from parallax_comparator.core.diff import REJECTED, classify
from parallax_comparator.core.normalize import normalize
from parallax_comparator.core.rules import NormalizationRules
from parallax_comparator.core.signature import mismatch_signature

# Statuses a pairing outcome (or a replay) can hand over; `paired` is classified.
Status = str


@dataclass(frozen=True, slots=True)
class ComparisonRecord:
    command_id: str
    context: str
    aggregate_id: str | None
    command_type: str
    result: str
    reason: str
    signature: str | None
    diffs: list[dict[str, Any]]
    legacy: list[dict[str, Any]]  # normalized
    domain: list[dict[str, Any]]
    compared_at: float
    legacy_ms: float | None = None  # handler_ms of the response (None: no event)
    domain_ms: float | None = None
    legacy_rejected: bool = False
    domain_rejected: bool = False

    @property
    def is_match(self) -> bool:
        return self.result == "match"


def handler_ms(events: Sequence[Mapping[str, Any]]) -> float | None:
    """A response's handler time (every event of it carries the same `handler_ms`)."""
    for event in events:
        value = event.get("handler_ms")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def rejected(events: Sequence[Mapping[str, Any]]) -> bool:
    return any(e.get("type") == REJECTED for e in events)


def evaluate(
    *,
    command_id: str,
    context: str | None,
    aggregate_id: str | None,
    command_type: str | None,
    status: Status,
    reason: str,
    legacy: Sequence[Mapping[str, Any]],
    domain: Sequence[Mapping[str, Any]],
    rules: NormalizationRules,
    compared_at: float,
) -> ComparisonRecord:
    """`status` is the pairing's (`paired`, `missing_legacy`, `missing_domain`): a paired
    command gets its class from the diff; a missing side keeps its status as the result."""
    ctx = context or "unknown"
    return evaluate_normalized(
        command_id=command_id,
        context=ctx,
        aggregate_id=aggregate_id,
        command_type=command_type,
        status=status,
        reason=reason,
        left=normalize(legacy, ctx, rules),
        right=normalize(domain, ctx, rules),
        rules=rules,
        compared_at=compared_at,
        legacy_ms=handler_ms(legacy),
        domain_ms=handler_ms(domain),
        legacy_rejected=rejected(legacy),
        domain_rejected=rejected(domain),
    )


def evaluate_normalized(
    *,
    command_id: str,
    context: str | None,
    aggregate_id: str | None,
    command_type: str | None,
    status: Status,
    reason: str,
    left: list[dict[str, Any]],
    right: list[dict[str, Any]],
    rules: NormalizationRules,
    compared_at: float,
    legacy_ms: float | None,
    domain_ms: float | None,
    legacy_rejected: bool,
    domain_rejected: bool,
) -> ComparisonRecord:
    """`evaluate` for responses already normalized (`left` legacy, `right` domain), with the
    facts normalization drops (handler time, refusal) passed in: the replay normalizes each
    side where it ran it."""
    ctx = context or "unknown"
    ctype = command_type or "unknown"
    comparison = classify(left, right, context=ctx, rules=rules)
    result: str = comparison.result if status == "paired" else status
    signature: str | None = None
    diffs: list[dict[str, Any]] = []
    if result != "match":
        diffs = [d.to_dict() for d in comparison.diffs]
        signature = mismatch_signature(ctype, comparison).key if status == "paired" else f"{ctype} {result}"
    return ComparisonRecord(
        command_id=command_id,
        context=ctx,
        aggregate_id=aggregate_id,
        command_type=ctype,
        result=result,
        reason=reason,
        signature=signature,
        diffs=diffs,
        legacy=left,
        domain=right,
        compared_at=compared_at,
        legacy_ms=legacy_ms,
        domain_ms=domain_ms,
        legacy_rejected=legacy_rejected,
        domain_rejected=domain_rejected,
    )
