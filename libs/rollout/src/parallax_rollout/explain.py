"""``parallax rollout explain <ctx> <aggregate>``: the decision, and why, in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parallax_contracts.catalog import CREATING_COMMANDS, is_creating

from parallax_rollout.config import Matchers, RolloutConfig
from parallax_rollout.decision import AggregateRecord, Decision, decide
from parallax_rollout.hashing import bucket as bucket_of

_LIST_LABEL = {"users": "owner", "aggregates": "aggregate id", "prefixes": "id prefix"}


def _sides_text(sides: frozenset[str] | None) -> str:
    if sides is None:
        return "none (never seen)"
    return "{" + ", ".join(s for s in ("legacy", "domain") if s in sides) + "}"


def _match_text(name: str, matchers: Matchers, aggregate_id: str, owner: str | None) -> str:
    which = matchers.match(aggregate_id, owner)
    if which is None:
        return f"{name}: no match"
    return f"{name}: matches by {_LIST_LABEL[which]}"


@dataclass(frozen=True, slots=True)
class Explanation:
    """A decision plus everything that went into it; ``str()`` gives the text for the CLI."""

    context: str
    aggregate_id: str
    command_type: str | None
    decision: Decision
    bucket: int
    threshold: int
    owner: str | None
    sides: frozenset[str] | None
    config_revision: int | None
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return self.text

    def to_json(self) -> dict[str, Any]:
        d = self.decision
        return {
            "context": self.context,
            "aggregate_id": self.aggregate_id,
            "command_type": self.command_type,
            "primary": d.primary,
            "shadow": d.shadow,
            "rule": d.rule,
            "desired": d.desired,
            "desired_rule": d.desired_rule,
            "pinned": d.pinned,
            "not_rollbackable": d.not_rollbackable,
            "bucket": self.bucket,
            "threshold": self.threshold,
            "owner": self.owner,
            "sides": None if self.sides is None else sorted(self.sides),
            "sides_after": None if d.record_update is None else sorted(d.record_update.sides),
            "config_revision": self.config_revision,
        }


def explain(
    config: RolloutConfig,
    aggregate: AggregateRecord | None,
    *,
    context: str,
    aggregate_id: str,
    command_type: str | None = None,
    actor: str | None = None,
    config_revision: int | None = None,
) -> Explanation:
    """Explain the decision for the next command of an aggregate.

    ``command_type=None`` means "an ordinary (non-creating) command", which is what the CLI
    asks about. The bucket and threshold are always shown, even when another rule decided.
    """
    ctype = command_type if command_type is not None else "(ordinary command)"
    decision = decide(
        config,
        aggregate,
        context=context,
        aggregate_id=aggregate_id,
        command_type=ctype,
        actor=actor,
    )
    creating = command_type is not None and is_creating(context, command_type)
    owner = aggregate.owner if aggregate is not None else (actor if creating else None)
    b = bucket_of(context, aggregate_id)
    threshold = config.threshold
    sides: frozenset[str] | None = None if aggregate is None else frozenset(aggregate.sides)

    head = f"{context}/{aggregate_id}"
    kind = command_type if command_type is not None else "next ordinary command"
    lines = [
        f"{head} ({kind}): primary {decision.primary}, "
        f"shadow {decision.shadow or 'none'}, rule {decision.rule}",
    ]
    rev = "environment defaults" if config_revision == 0 else f"revision {config_revision}"
    lines.append(
        f"  config: mode {config.mode}, domain_percent {config.domain_percent}, "
        f"shadow {'on' if config.shadow else 'off'}, "
        f"kill switch {'ON' if config.kill_switch else 'off'}"
        + (f" ({rev})" if config_revision is not None else "")
    )
    wants = "domain" if b < threshold else "legacy"
    relation = "<" if b < threshold else ">="
    lines.append(
        f"  bucket {b} = sha256('{context}:{aggregate_id}')[0:8] big-endian mod 10000; "
        f"threshold {threshold} = round({config.domain_percent} x 100); "
        f"bucket {relation} threshold -> percent says {wants}"
    )
    if config.mode == "canary":
        lines.append(
            f"  lists (owner {owner if owner is not None else 'unknown'}): "
            f"{_match_text('deny', config.deny, aggregate_id, owner)}; "
            f"{_match_text('allow', config.allow, aggregate_id, owner)}"
        )
    else:
        lines.append(f"  lists: not used in mode {config.mode}")
    lines.append(
        f"  rules: desired primary {decision.desired} by {decision.desired_rule} "
        "(precedence kill_switch > mode > deny > allow > percent)"
    )
    if aggregate is None:
        if creating:
            history = "never seen; this creating command starts its history"
        else:
            creator = CREATING_COMMANDS.get(context)  # type: ignore[call-overload]
            history = (
                f"never seen (its {creator or 'creating command'} was not routed here): "
                "routed by the rules, nothing stored, no owner"
            )
        lines.append(f"  history: {history}")
    else:
        lines.append(
            f"  history: sides {_sides_text(sides)}, owner "
            f"{aggregate.owner if aggregate.owner is not None else 'unknown'}"
        )
        if decision.pinned:
            note = (
                " -- NOT ROLLBACKABLE: legacy lacks this aggregate's history"
                if decision.not_rollbackable
                else ""
            )
            lines.append(
                f"  pinned: {decision.desired} has not processed the whole history, "
                f"stays on {decision.primary}{note}"
            )
    if decision.shadow is not None:
        lines.append(f"  shadow: copy to {decision.shadow}")
    elif not config.shadow:
        lines.append("  shadow: off in config")
    else:
        lines.append(
            f"  shadow: none ({'domain' if decision.primary == 'legacy' else 'legacy'} lacks the history)"
        )
    if decision.record_update is not None:
        lines.append(
            f"  record: would store sides {_sides_text(frozenset(decision.record_update.sides))}, "
            f"owner {decision.record_update.owner or 'unknown'}"
        )
    elif aggregate is None:
        lines.append("  record: nothing stored")
    else:
        lines.append("  record: unchanged")
    return Explanation(
        context=context,
        aggregate_id=aggregate_id,
        command_type=command_type,
        decision=decision,
        bucket=b,
        threshold=threshold,
        owner=owner,
        sides=sides,
        config_revision=config_revision,
        lines=tuple(lines),
    )
