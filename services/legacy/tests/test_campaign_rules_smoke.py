"""Smoke checks of the legacy campaign rules through the in-memory legacy handler."""

from __future__ import annotations

import uuid
from typing import Any

from parallax_contracts.envelopes import Command, EventDraft
from parallax_legacy.factory import in_memory_handler
from parallax_legacy.handler import LegacyContextHandler

OWNER = "alice"
ALL = ["campaigns:create", "campaigns:read", "campaigns:execute", "campaigns:update", "campaigns:delete"]

DG_PARAMS = {
    "pattern_type": "prefix",
    "variable_length": 1,
    "character_set": "abc",
    "constant_string": "shop",
    "tld": ".com",
}


def cid() -> str:
    return str(uuid.uuid4())


async def send(
    h: LegacyContextHandler,
    agg: str,
    type_: str,
    payload: Any = None,
    actor: str = OWNER,
    permissions: list[str] | None = None,
) -> list[EventDraft]:
    return await h.handle(
        Command(
            command_id=cid(),
            context="campaign",
            aggregate_id=agg,
            type=type_,
            actor=actor,
            permissions=ALL if permissions is None else permissions,
            payload={} if payload is None else payload,
        )
    )


def types(drafts: list[EventDraft]) -> list[str]:
    return [d.type for d in drafts]


def rejected(drafts: list[EventDraft]) -> str:
    assert len(drafts) == 1 and drafts[0].type == "command_rejected", drafts
    return str(drafts[0].payload["code"])


async def test_domain_generation_lifecycle() -> None:
    h = in_memory_handler("campaign")
    agg = cid()
    out = await send(
        h, agg, "create_campaign", {"name": "  Shop  ", "kind": "domain_generation", "params": DG_PARAMS}
    )
    assert types(out) == ["campaign_created"]
    assert out[0].payload == {
        "campaign_id": agg,
        "owner": OWNER,
        "name": "Shop",
        "kind": "domain_generation",
        "params": {**DG_PARAMS, "num_domains": 0},
        "status": "draft",
    }
    assert out[0].audience == [OWNER]

    state = await send(h, agg, "get_campaign")
    assert state[0].payload["percent"] == 0.0
    assert state[0].payload["totals"] == {"processed": 0, "succeeded": 0, "failed": 0}

    out = await send(h, agg, "start")
    assert out[0].payload == {"from": "draft", "to": "running", "reason": None}

    # target = 3 combinations (num_domains 0)
    out = await send(h, agg, "record_progress", {"processed": 1, "succeeded": 1, "failed": 0})
    assert types(out) == ["progress_recorded"]
    assert out[0].payload["percent"] == 33.33
    assert (
        rejected(await send(h, agg, "record_progress", {"processed": 3, "succeeded": 0, "failed": 0}))
        == "invalid_input"
    )

    out = await send(h, agg, "record_progress", {"processed": 1, "succeeded": 0, "failed": 1})
    assert out[0].payload["percent"] == 66.67
    assert out[0].payload["totals"] == {"processed": 2, "succeeded": 1, "failed": 1}

    assert types(await send(h, agg, "pause")) == ["campaign_status_changed"]
    # an update may not set the target below the processed total (2)
    low = await send(h, agg, "update_campaign", {"params": {**DG_PARAMS, "num_domains": 1}})
    assert rejected(low) == "invalid_input"
    ok = await send(h, agg, "update_campaign", {"params": {**DG_PARAMS, "num_domains": 2}})
    assert types(ok) == ["campaign_updated"]
    assert ok[0].payload == {"name": "Shop", "params": {**DG_PARAMS, "num_domains": 2}}

    await send(h, agg, "resume")
    # the processed total already equals the new target: a zero record completes it
    out = await send(h, agg, "record_progress", {"processed": 0, "succeeded": 0, "failed": 0})
    assert types(out) == ["progress_recorded", "campaign_status_changed"]
    assert out[0].payload["percent"] == 100.0
    assert out[1].payload == {"from": "running", "to": "completed", "reason": None}

    out = await send(h, agg, "restart")
    assert out[0].payload == {"from": "completed", "to": "running", "reason": None}
    state = await send(h, agg, "get_campaign")
    assert state[0].payload["totals"] == {"processed": 0, "succeeded": 0, "failed": 0}
    assert state[0].payload["status"] == "running"

    out = await send(h, agg, "fail", {"reason": "  boom "})
    assert out[0].payload == {"from": "running", "to": "failed", "reason": "boom"}
    await send(h, agg, "retry")
    await send(h, agg, "complete")
    assert types(await send(h, agg, "archive")) == ["campaign_status_changed"]
    assert rejected(await send(h, agg, "restart")) == "invalid_state"
    assert rejected(await send(h, agg, "archive")) == "invalid_state"
    assert (await send(h, agg, "get_campaign"))[0].payload["status"] == "archived"


async def test_chain_and_ownership() -> None:
    h = in_memory_handler("campaign")
    dg, dns, http = cid(), cid(), cid()
    await send(h, dg, "create_campaign", {"name": "dg", "kind": "domain_generation", "params": DG_PARAMS})
    dns_params = {"source_campaign_id": dg, "resolvers": ["1.1.1.1", "2001:db8::1"]}
    out = await send(
        h, dns, "create_campaign", {"name": "dns", "kind": "dns_validation", "params": dns_params}
    )
    assert out[0].payload["params"] == {
        **dns_params,
        "batch_size": 50,
        "retry_attempts": 1,
        "rotation_interval_seconds": 0,
    }
    # another owner may not use alice's campaign as a source
    bad = await send(
        h,
        cid(),
        "create_campaign",
        {"name": "x", "kind": "dns_validation", "params": dns_params},
        actor="bob",
    )
    assert rejected(bad) == "invalid_input"
    # the wrong kind of source
    bad = await send(
        h,
        cid(),
        "create_campaign",
        {
            "name": "x",
            "kind": "http_keyword_validation",
            "params": {"source_campaign_id": dg, "keywords": ["a"]},
        },
    )
    assert rejected(bad) == "invalid_input"
    out = await send(
        h,
        http,
        "create_campaign",
        {
            "name": "http",
            "kind": "http_keyword_validation",
            "params": {"source_campaign_id": dns, "keywords": ["a", "a"]},
        },
    )
    assert out[0].payload["params"]["target_ports"] == [80, 443]

    # bob: forbidden; an admin may act, and the owner sees it too
    assert rejected(await send(h, dns, "start", actor="bob")) == "forbidden"
    out = await send(h, dns, "start", actor="root", permissions=["campaigns:admin"])
    assert out[0].audience == [OWNER, "root"]
    out = await send(h, dns, "record_progress", {"processed": 5, "succeeded": 3, "failed": 2})
    assert out[0].payload["percent"] is None
    state = await send(h, dns, "get_campaign", actor="root", permissions=["campaigns:admin"])
    assert state[0].audience == ["root"] and state[0].payload["percent"] is None


async def test_rejection_precedence() -> None:
    h = in_memory_handler("campaign")
    agg = cid()
    # unknown command / bad id / bad shape come first
    assert rejected(await send(h, agg, "explode")) == "invalid_input"
    assert rejected(await send(h, "not-a-uuid", "get_campaign")) == "invalid_input"
    assert rejected(await send(h, agg, "start", {"x": 1})) == "invalid_input"
    assert (
        rejected(await send(h, agg, "record_progress", {"processed": True, "succeeded": 0, "failed": 0}))
        == "invalid_input"
    )
    assert (
        rejected(await send(h, agg, "record_progress", {"processed": 1.0, "succeeded": 0, "failed": 0}))
        == "invalid_input"
    )
    assert (
        rejected(
            await send(h, agg, "create_campaign", {"name": None, "kind": "dns_validation", "params": {}})
        )
        == "invalid_input"
    )
    # then existence
    assert rejected(await send(h, agg, "start", permissions=[])) == "not_found"
    # create: permission before anything about values
    assert (
        rejected(
            await send(h, agg, "create_campaign", {"name": "", "kind": "?", "params": {}}, permissions=[])
        )
        == "forbidden"
    )
    assert (
        rejected(await send(h, agg, "create_campaign", {"name": "", "kind": "?", "params": {}}))
        == "invalid_input"
    )
    await send(h, agg, "create_campaign", {"name": "n", "kind": "domain_generation", "params": DG_PARAMS})
    assert (
        rejected(await send(h, agg, "create_campaign", {"name": "", "kind": "?", "params": {}}))
        == "invalid_state"
    )
    # forbidden before invalid_state before value rules
    assert (
        rejected(
            await send(h, agg, "record_progress", {"processed": -1, "succeeded": 0, "failed": 0}, actor="bob")
        )
        == "forbidden"
    )
    assert (
        rejected(await send(h, agg, "record_progress", {"processed": -1, "succeeded": 0, "failed": 0}))
        == "invalid_state"
    )
    assert rejected(await send(h, agg, "fail", {"reason": "   "})) == "invalid_state"
    await send(h, agg, "start")
    assert (
        rejected(await send(h, agg, "record_progress", {"processed": -1, "succeeded": 0, "failed": 0}))
        == "invalid_input"
    )
    assert (
        rejected(await send(h, agg, "record_progress", {"processed": 1, "succeeded": 1, "failed": 1}))
        == "invalid_input"
    )
    assert rejected(await send(h, agg, "fail", {"reason": "   "})) == "invalid_input"
    assert rejected(await send(h, agg, "update_campaign", {"name": "x"})) == "invalid_state"
    # an all-zero record is accepted
    assert types(await send(h, agg, "record_progress", {"processed": 0, "succeeded": 0, "failed": 0})) == [
        "progress_recorded"
    ]
    assert rejected(await send(h, agg, "get_campaign", permissions=["campaigns:execute"])) == "forbidden"
