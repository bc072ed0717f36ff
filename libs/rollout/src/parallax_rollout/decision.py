"""The routing decision: a pure function of the config, the aggregate's record and the command.

Order (rollout.md): the *desired* primary comes from the rules, first match wins:

1. ``kill_switch`` -> legacy
2. ``mode`` legacy/domain -> that side
3. (``canary`` only) ``deny`` (owner in deny_users, id in deny_aggregates, id starts with a
   deny prefix) -> legacy
4. ``allow`` (same three lists) -> domain
5. ``percent``: ``bucket < round(domain_percent * 100)`` -> domain, else legacy

then history decides whether the desired primary may serve the aggregate: if the aggregate's
``sides`` (the implementations that processed every one of its commands) lack it, the aggregate
stays on the side it has and the rule is ``pinned``. Shadow copies go only to a side still in
``sides``; a side that misses a command leaves ``sides`` for good.

Nothing here does I/O, reads a clock or counts a metric: the router does that with the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from parallax_contracts.catalog import is_creating
from parallax_contracts.envelopes import IMPLS, Command, Impl, Role, RoutingRecord, Rule, other_impl

from parallax_rollout.config import RolloutConfig
from parallax_rollout.hashing import bucket as bucket_of


class InvalidAggregateRecord(ValueError):
    """A ``parallax_aggregates`` value that is not ``{"sides": [...non-empty], "owner": ...}``."""


@dataclass(frozen=True, slots=True)
class AggregateRecord:
    """What the router keeps per aggregate in KV ``parallax_aggregates``.

    ``sides``: the implementations that processed every command of the aggregate since its
    creating command (never empty: the primary always processes the command). ``owner``: the
    actor of the creating command (None if unknown).
    """

    sides: frozenset[Impl]
    owner: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.sides, frozenset):
            raise InvalidAggregateRecord("sides must be a frozenset")
        if not self.sides:
            raise InvalidAggregateRecord("sides must not be empty")
        unknown = self.sides.difference(IMPLS)
        if unknown:
            raise InvalidAggregateRecord(f"unknown sides: {sorted(map(str, unknown))}")
        if self.owner is not None and not isinstance(self.owner, str):
            raise InvalidAggregateRecord("owner must be a string or null")

    @classmethod
    def of(cls, sides: Iterable[Impl], owner: str | None = None) -> AggregateRecord:
        return cls(frozenset(sides), owner)

    def to_json(self) -> dict[str, Any]:
        """``{"sides": [...], "owner": ...}`` with ``sides`` in a fixed order (legacy, domain)."""
        return {"sides": [impl for impl in IMPLS if impl in self.sides], "owner": self.owner}

    @classmethod
    def from_json(cls, data: object) -> AggregateRecord:
        if not isinstance(data, dict):
            raise InvalidAggregateRecord("record must be a JSON object")
        if set(data) - {"sides", "owner"}:
            raise InvalidAggregateRecord(f"unknown fields: {sorted(set(data) - {'sides', 'owner'})}")
        sides = data.get("sides")
        if not isinstance(sides, list) or not all(isinstance(s, str) for s in sides):
            raise InvalidAggregateRecord("sides must be a list of implementation names")
        impls: list[Impl] = []
        for side in sides:
            if side == "legacy":
                impls.append("legacy")
            elif side == "domain":
                impls.append("domain")
            else:
                raise InvalidAggregateRecord(f"unknown side {side!r}")
        owner = data.get("owner")
        if owner is not None and not isinstance(owner, str):
            raise InvalidAggregateRecord("owner must be a string or null")
        return cls(frozenset(impls), owner)


def aggregate_key(context: str, aggregate_id: str) -> str:
    """The ``parallax_aggregates`` key: ``<context>.<aggregate_id>``."""
    return f"{context}.{aggregate_id}"


def dump_aggregate_record(record: AggregateRecord) -> bytes:
    return json.dumps(record.to_json(), separators=(",", ":")).encode()


def parse_aggregate_record(raw: bytes | str) -> AggregateRecord:
    """Parse a ``parallax_aggregates`` value. Raises ``InvalidAggregateRecord``."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidAggregateRecord(f"not valid JSON ({exc})") from exc
    return AggregateRecord.from_json(data)


@dataclass(frozen=True, slots=True)
class Decision:
    """Where one command goes.

    ``primary``/``shadow``/``rule`` are what the routing record carries. ``record_update`` is
    the record to store in ``parallax_aggregates`` (None: store nothing). ``desired`` and
    ``desired_rule`` are what the rules wanted before history was applied; ``bucket`` is set
    when the ``percent`` rule was evaluated.
    """

    primary: Impl
    shadow: Impl | None
    rule: Rule
    record_update: AggregateRecord | None
    desired: Impl
    desired_rule: Rule
    bucket: int | None = None

    @property
    def pinned(self) -> bool:
        """History kept the aggregate off its desired primary (``parallax_router_pinned_total``)."""
        return self.rule == "pinned"

    @property
    def not_rollbackable(self) -> bool:
        """The kill switch wanted legacy but legacy lacks the history
        (``parallax_router_not_rollbackable_total``)."""
        return self.pinned and self.desired_rule == "kill_switch"

    @property
    def copies(self) -> tuple[tuple[Impl, Role], ...]:
        """The HANDLE copies to publish: the primary first, then the shadow if any."""
        if self.shadow is None:
            return ((self.primary, "primary"),)
        return ((self.primary, "primary"), (self.shadow, "shadow"))


def desired_primary(
    config: RolloutConfig,
    *,
    context: str,
    aggregate_id: str,
    owner: str | None,
) -> tuple[Impl, Rule, int | None]:
    """The rules alone (no history): ``(primary, rule, bucket or None)``.

    Precedence: kill switch > mode > deny > allow > percent. The lists and the percentage
    are used only in ``canary``; ``owner=None`` never matches a user list.
    """
    if config.kill_switch:
        return "legacy", "kill_switch", None
    if config.mode == "legacy":
        return "legacy", "mode", None
    if config.mode == "domain":
        return "domain", "mode", None
    if config.deny.match(aggregate_id, owner) is not None:
        return "legacy", "deny", None
    if config.allow.match(aggregate_id, owner) is not None:
        return "domain", "allow", None
    b = bucket_of(context, aggregate_id)
    return ("domain" if b < config.threshold else "legacy"), "percent", b


def decide(
    config: RolloutConfig,
    aggregate: AggregateRecord | None,
    *,
    context: str,
    aggregate_id: str,
    command_type: str,
    actor: str | None,
) -> Decision:
    """Route one command.

    ``aggregate`` is the stored record (None: the router has never seen the aggregate).
    ``actor`` becomes the owner when the command creates the aggregate.

    * Unseen aggregate, creating command: primary by the rules; shadow = the other side iff
      ``config.shadow``; store ``sides = {primary} (+ shadow)``, ``owner = actor``.
    * Unseen aggregate, other command: primary by the rules (no owner: user lists never match);
      shadow = the other side iff ``config.shadow``; store nothing.
    * Known aggregate (a creating command included: it does not reset anything): primary = the
      desired one if it is in ``sides``, else the side it has (rule ``pinned``); shadow = the
      other side iff ``config.shadow`` and it is still in ``sides``; a side in ``sides`` that
      gets no copy leaves ``sides``. ``record_update`` is None when ``sides`` is unchanged.

    Deterministic and idempotent: deciding again with the same config and the updated record
    gives the same primary, shadow and rule, and no further update.
    """
    creating = is_creating(context, command_type)
    if aggregate is None:
        owner = actor if creating else None
        desired, desired_rule, b = desired_primary(
            config, context=context, aggregate_id=aggregate_id, owner=owner
        )
        shadow: Impl | None = other_impl(desired) if config.shadow else None
        update = None
        if creating:
            sides = {desired} if shadow is None else {desired, shadow}
            update = AggregateRecord(frozenset(sides), owner)
        return Decision(desired, shadow, desired_rule, update, desired, desired_rule, b)

    desired, desired_rule, b = desired_primary(
        config, context=context, aggregate_id=aggregate_id, owner=aggregate.owner
    )
    if desired in aggregate.sides:
        primary, rule = desired, desired_rule
    else:
        # sides is a non-empty subset of {legacy, domain} without `desired`: the other one.
        primary, rule = other_impl(desired), "pinned"
    other = other_impl(primary)
    shadow = other if config.shadow and other in aggregate.sides else None
    new_sides = frozenset({primary} if shadow is None else {primary, shadow})
    update = None if new_sides == aggregate.sides else AggregateRecord(new_sides, aggregate.owner)
    return Decision(primary, shadow, rule, update, desired, desired_rule, b)


def decide_command(config: RolloutConfig, aggregate: AggregateRecord | None, command: Command) -> Decision:
    """``decide`` for a command envelope."""
    return decide(
        config,
        aggregate,
        context=command.context,
        aggregate_id=command.aggregate_id,
        command_type=command.type,
        actor=command.actor,
    )


def routing_record(command: Command, decision: Decision, config_revision: int) -> RoutingRecord:
    """The routing record published on ``parallax.routed.<ctx>.<agg>`` for a decision."""
    return RoutingRecord.model_validate(
        {
            "command_id": command.command_id,
            "context": command.context,
            "aggregate_id": command.aggregate_id,
            "type": command.type,
            "primary": decision.primary,
            "shadow": decision.shadow,
            "rule": decision.rule,
            "config_revision": config_revision,
        }
    )
