"""NATS envelopes (protocol.md): commands, events, routing records.

The command model is deliberately lenient about *contents* (payload, seed, aggregate id are
checked by the handlers, which answer bad ones with `command_rejected`), but strict about the
fields a response cannot be correlated without.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parallax_contracts.ids import Context

Impl = Literal["legacy", "domain"]
Role = Literal["primary", "shadow"]
IMPLS: tuple[Impl, ...] = ("legacy", "domain")
Rule = Literal["kill_switch", "mode", "deny", "allow", "percent", "pinned"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def other_impl(impl: Impl) -> Impl:
    return "domain" if impl == "legacy" else "legacy"


class Command(BaseModel):
    """A command as the gateway publishes it on INGRESS and the router forwards it on HANDLE."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    command_id: str
    context: str
    aggregate_id: str
    type: str
    actor: str
    permissions: list[str] = Field(default_factory=list)
    # Checked by the rules (shape errors are `invalid_input`), so not coerced here.
    payload: Any = Field(default_factory=dict)
    seed: Any = None
    issued_at: datetime = Field(default_factory=utc_now)


class EventDraft(BaseModel):
    """What a handler's rules produce for one event, before the service wraps it in an Event."""

    model_config = ConfigDict(frozen=True)

    type: str
    payload: dict[str, Any]
    audience: list[str]


class Event(BaseModel):
    """One event of a response, published on `parallax.events.<impl>.<ctx>.<agg>`."""

    model_config = ConfigDict(extra="ignore")

    command_id: str
    impl: Impl
    role: Role
    context: str
    aggregate_id: str
    seq: int
    count: int
    type: str
    payload: dict[str, Any]
    audience: list[str]
    emitted_at: datetime = Field(default_factory=utc_now)
    handler_ms: float = 0.0
    # The command's type travels with its events so the comparator can group without the record.
    command_type: str | None = None


class RoutingRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    command_id: str
    context: Context
    aggregate_id: str
    type: str
    primary: Impl
    shadow: Impl | None
    rule: Rule
    config_revision: int = 0
    routed_at: datetime = Field(default_factory=utc_now)


def rejection(code: str, command_type: str, actor: str) -> EventDraft:
    """The one `command_rejected` event of a refused command (its audience is the actor)."""
    return EventDraft(
        type="command_rejected",
        payload={"code": code, "command_type": command_type},
        audience=[actor],
    )


def wrap_response(
    command: Command,
    drafts: list[EventDraft],
    *,
    impl: Impl,
    role: Role,
    handler_ms: float,
) -> list[Event]:
    """Number a handler's drafts into the envelopes of one response (seq 0.., count n)."""
    now = utc_now()
    count = len(drafts)
    return [
        Event(
            command_id=command.command_id,
            impl=impl,
            role=role,
            context=command.context,
            aggregate_id=command.aggregate_id,
            seq=seq,
            count=count,
            type=draft.type,
            payload=draft.payload,
            audience=draft.audience,
            emitted_at=now,
            handler_ms=handler_ms,
            command_type=command.type,
        )
        for seq, draft in enumerate(drafts)
    ]
