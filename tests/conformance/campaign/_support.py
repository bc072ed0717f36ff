"""Black-box helpers for the campaign conformance suite (written from campaign-rules.md only).

Everything goes through the ContextHandler port: `await handler.handle(Command(...))`.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from parallax_contracts.envelopes import Command, EventDraft
from parallax_contracts.handling import ContextHandler

ALICE = "alice"
BOB = "bob"
CAROL = "carol"

# Every permission a plain (non-admin) user can hold.
USER_PERMS = [
    "campaigns:create",
    "campaigns:read",
    "campaigns:execute",
    "campaigns:update",
    "campaigns:delete",
]
ADMIN_PERMS = ["campaigns:admin"]

STATES = ("draft", "running", "paused", "completed", "failed", "cancelled", "archived")

# command -> (states it is allowed from, state it leads to)   (rules: "States" table)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "start": (frozenset({"draft"}), "running"),
    "pause": (frozenset({"running"}), "paused"),
    "resume": (frozenset({"paused"}), "running"),
    "complete": (frozenset({"running", "paused"}), "completed"),
    "fail": (frozenset({"running"}), "failed"),
    "retry": (frozenset({"failed"}), "running"),
    "restart": (frozenset({"completed"}), "running"),
    "cancel": (frozenset({"draft", "running", "paused", "failed"}), "cancelled"),
    "archive": (frozenset({"completed", "cancelled"}), "archived"),
}

# Which permission each command needs (rules: "Who may do what" + exact behaviour 1).
REQUIRED_PERMISSION: dict[str, str] = {
    "create_campaign": "campaigns:create",
    "update_campaign": "campaigns:update",
    "start": "campaigns:execute",
    "pause": "campaigns:execute",
    "resume": "campaigns:execute",
    "complete": "campaigns:execute",
    "fail": "campaigns:execute",
    "retry": "campaigns:execute",
    "restart": "campaigns:execute",
    "cancel": "campaigns:execute",
    "record_progress": "campaigns:execute",
    "archive": "campaigns:delete",
    "get_campaign": "campaigns:read",
}

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-"  # the 37 characters of a-z0-9-

# |{a,b}|^3 = 8 combinations, target 8 (num_domains defaults to 0).
DG_PARAMS: dict[str, Any] = {
    "pattern_type": "prefix",
    "variable_length": 3,
    "character_set": "ab",
    "constant_string": "shop",
    "tld": ".com",
}
DG_PARAMS_FULL: dict[str, Any] = {**DG_PARAMS, "num_domains": 0}
# 10^12 combinations: progress never reaches the target by accident.
BIG_DG_PARAMS: dict[str, Any] = {**DG_PARAMS, "variable_length": 12, "character_set": "abcdefghij"}

Triple = tuple[str, dict[str, Any], list[str]]


def new_id() -> str:
    return str(uuid4())


def command(
    type_: str,
    aggregate_id: str,
    payload: Any = None,
    *,
    actor: str = ALICE,
    permissions: list[str] | None = None,
    command_id: str | None = None,
) -> Command:
    return Command(
        command_id=command_id or new_id(),
        context="campaign",
        aggregate_id=aggregate_id,
        type=type_,
        actor=actor,
        permissions=USER_PERMS if permissions is None else permissions,
        payload={} if payload is None else payload,
    )


def triples(drafts: list[EventDraft]) -> list[Triple]:
    return [(d.type, d.payload, list(d.audience)) for d in drafts]


def rejected(code: str, command_type: str, actor: str = ALICE) -> list[Triple]:
    return [("command_rejected", {"code": code, "command_type": command_type}, [actor])]


def status_changed(frm: str, to: str, audience: list[str], reason: str | None = None) -> Triple:
    return ("campaign_status_changed", {"from": frm, "to": to, "reason": reason}, audience)


def zero_totals() -> dict[str, int]:
    return {"processed": 0, "succeeded": 0, "failed": 0}


class Client:
    """A thin driver over one handler; every helper returns the drafts as (type, payload, audience)."""

    def __init__(self, handler: ContextHandler) -> None:
        self.handler = handler

    async def raw(self, cmd: Command) -> list[Triple]:
        return triples(await self.handler.handle(cmd))

    async def send(
        self,
        type_: str,
        aggregate_id: str,
        payload: Any = None,
        *,
        actor: str = ALICE,
        permissions: list[str] | None = None,
        command_id: str | None = None,
    ) -> list[Triple]:
        return await self.raw(
            command(
                type_,
                aggregate_id,
                payload,
                actor=actor,
                permissions=permissions,
                command_id=command_id,
            )
        )

    async def create(
        self,
        kind: str = "domain_generation",
        params: dict[str, Any] | None = None,
        *,
        name: str = "Campaign",
        actor: str = ALICE,
        permissions: list[str] | None = None,
        aggregate_id: str | None = None,
    ) -> str:
        """Creates a campaign and asserts it was created; returns its id."""
        cid = aggregate_id or new_id()
        drafts = await self.send(
            "create_campaign",
            cid,
            {"name": name, "kind": kind, "params": DG_PARAMS if params is None else params},
            actor=actor,
            permissions=permissions,
        )
        assert len(drafts) == 1 and drafts[0][0] == "campaign_created", drafts
        return cid

    async def dg(self, params: dict[str, Any] | None = None, *, actor: str = ALICE) -> str:
        return await self.create("domain_generation", params or DG_PARAMS, actor=actor)

    async def dns(self, source: str, *, actor: str = ALICE, **extra: Any) -> str:
        params = {"source_campaign_id": source, "resolvers": ["1.1.1.1"], **extra}
        return await self.create("dns_validation", params, actor=actor)

    async def http(self, source: str, *, actor: str = ALICE, **extra: Any) -> str:
        params = {"source_campaign_id": source, "keywords": ["buy"], **extra}
        return await self.create("http_keyword_validation", params, actor=actor)

    async def ok(
        self, type_: str, aggregate_id: str, payload: Any = None, *, actor: str = ALICE
    ) -> list[Triple]:
        """Sends a command that must be accepted (no rejection)."""
        drafts = await self.send(type_, aggregate_id, payload, actor=actor)
        assert drafts and all(d[0] != "command_rejected" for d in drafts), (type_, drafts)
        return drafts

    async def state(self, aggregate_id: str) -> dict[str, Any]:
        """The campaign_state payload, read by an admin who is not the owner."""
        drafts = await self.send("get_campaign", aggregate_id, actor=CAROL, permissions=ADMIN_PERMS)
        assert len(drafts) == 1 and drafts[0][0] == "campaign_state", drafts
        return drafts[0][1]

    async def status(self, aggregate_id: str) -> str:
        return str((await self.state(aggregate_id))["status"])

    async def progress(
        self, aggregate_id: str, processed: int, succeeded: int = 0, failed: int = 0
    ) -> list[Triple]:
        return await self.send(
            "record_progress",
            aggregate_id,
            {"processed": processed, "succeeded": succeeded, "failed": failed},
        )

    async def in_state(
        self,
        state: str,
        kind: str = "domain_generation",
        params: dict[str, Any] | None = None,
    ) -> str:
        """A campaign of alice's, brought into `state` by allowed transitions."""
        if params is None and kind == "domain_generation":
            params = BIG_DG_PARAMS
        cid = await self.create(kind, params)
        path = {
            "draft": [],
            "running": ["start"],
            "paused": ["start", "pause"],
            "completed": ["start", "complete"],
            "failed": ["start", "fail"],
            "cancelled": ["cancel"],
            "archived": ["start", "complete", "archive"],
        }[state]
        for step in path:
            await self.ok(step, cid, {"reason": "boom"} if step == "fail" else {})
        return cid
