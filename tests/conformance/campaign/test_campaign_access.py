"""Permissions, ownership, admin override and audiences (campaign-rules.md "Who may do what",
exact behaviour 1 and 3)."""

from __future__ import annotations

from typing import Any

import pytest
from parallax_contracts.envelopes import Command

from ._support import (
    ADMIN_PERMS,
    ALICE,
    BIG_DG_PARAMS,
    BOB,
    CAROL,
    DG_PARAMS,
    REQUIRED_PERMISSION,
    USER_PERMS,
    Client,
    Triple,
    new_id,
    rejected,
    status_changed,
)

BIG_FULL = {**BIG_DG_PARAMS, "num_domains": 0}

# command -> (state it is allowed in, payload, resulting status)
SETUPS: dict[str, tuple[str, dict[str, Any], str]] = {
    "update_campaign": ("draft", {"name": "Renamed"}, "draft"),
    "start": ("draft", {}, "running"),
    "pause": ("running", {}, "paused"),
    "resume": ("paused", {}, "running"),
    "complete": ("running", {}, "completed"),
    "fail": ("running", {"reason": " boom "}, "failed"),
    "retry": ("failed", {}, "running"),
    "restart": ("completed", {}, "running"),
    "cancel": ("draft", {}, "cancelled"),
    "archive": ("completed", {}, "archived"),
    "record_progress": ("running", {"processed": 2, "succeeded": 1, "failed": 1}, "running"),
    "get_campaign": ("draft", {}, "draft"),
}
EXISTING = sorted(SETUPS)


def _expected(cmd: str, cid: str, audience: list[str], actor: str) -> list[Triple]:
    state, _payload, to = SETUPS[cmd]
    if cmd == "update_campaign":
        return [("campaign_updated", {"name": "Renamed", "params": BIG_FULL}, audience)]
    if cmd == "record_progress":
        payload = {
            "processed": 2,
            "succeeded": 1,
            "failed": 1,
            "totals": {"processed": 2, "succeeded": 1, "failed": 1},
            "percent": 0.0,
        }
        return [("progress_recorded", payload, audience)]
    if cmd == "get_campaign":
        payload = {
            "campaign_id": cid,
            "owner": ALICE,
            "name": "Campaign",
            "kind": "domain_generation",
            "params": BIG_FULL,
            "status": "draft",
            "totals": {"processed": 0, "succeeded": 0, "failed": 0},
            "percent": 0.0,
        }
        return [("campaign_state", payload, [actor])]
    return [status_changed(state, to, audience, "boom" if cmd == "fail" else None)]


@pytest.mark.parametrize("cmd", EXISTING)
async def test_missing_permission_is_forbidden(client: Client, cmd: str) -> None:
    state, payload, _ = SETUPS[cmd]
    cid = await client.in_state(state)
    perms = [p for p in USER_PERMS if p != REQUIRED_PERMISSION[cmd]]
    assert await client.send(cmd, cid, payload, permissions=perms) == rejected("forbidden", cmd)
    assert await client.send(cmd, cid, payload, permissions=[]) == rejected("forbidden", cmd)
    st = await client.state(cid)
    assert st["status"] == state and st["name"] == "Campaign"


@pytest.mark.parametrize("cmd", EXISTING)
async def test_only_the_required_permission_suffices(client: Client, cmd: str) -> None:
    state, payload, to = SETUPS[cmd]
    cid = await client.in_state(state)
    drafts = await client.send(cmd, cid, payload, permissions=[REQUIRED_PERMISSION[cmd]])
    assert drafts == _expected(cmd, cid, [ALICE], ALICE)
    assert await client.status(cid) == to


@pytest.mark.parametrize("cmd", EXISTING)
async def test_envelope_without_permissions_has_none(client: Client, cmd: str) -> None:
    state, payload, _ = SETUPS[cmd]
    cid = await client.in_state(state)
    raw = Command(
        command_id=new_id(),
        context="campaign",
        aggregate_id=cid,
        type=cmd,
        actor=ALICE,
        payload=payload,
    )
    assert await client.raw(raw) == rejected("forbidden", cmd)


@pytest.mark.parametrize("cmd", EXISTING)
async def test_foreign_campaign_is_forbidden(client: Client, cmd: str) -> None:
    state, payload, _ = SETUPS[cmd]
    cid = await client.in_state(state)
    assert await client.send(cmd, cid, payload, actor=BOB) == rejected("forbidden", cmd, BOB)
    st = await client.state(cid)
    assert st["status"] == state and st["name"] == "Campaign" and st["owner"] == ALICE


@pytest.mark.parametrize("cmd", EXISTING)
async def test_admin_acts_on_any_campaign(client: Client, cmd: str) -> None:
    state, payload, to = SETUPS[cmd]
    cid = await client.in_state(state)
    drafts = await client.send(cmd, cid, payload, actor=CAROL, permissions=ADMIN_PERMS)
    assert drafts == _expected(cmd, cid, [ALICE, CAROL], CAROL)
    st = await client.state(cid)
    assert st["status"] == to and st["owner"] == ALICE


@pytest.mark.parametrize("cmd", EXISTING)
async def test_admin_owner_audience_is_the_owner_alone(client: Client, cmd: str) -> None:
    state, payload, _ = SETUPS[cmd]
    cid = await client.in_state(state)
    drafts = await client.send(cmd, cid, payload, permissions=ADMIN_PERMS)
    assert drafts == _expected(cmd, cid, [ALICE], ALICE)


async def test_create_needs_create_permission(client: Client) -> None:
    payload = {"name": "x", "kind": "domain_generation", "params": BIG_DG_PARAMS}
    perms = [p for p in USER_PERMS if p != "campaigns:create"]
    cid = new_id()
    assert await client.send("create_campaign", cid, payload, permissions=perms) == rejected(
        "forbidden", "create_campaign"
    )
    assert await client.send("get_campaign", cid) == rejected("not_found", "get_campaign")
    drafts = await client.send("create_campaign", cid, payload, actor=BOB, permissions=["campaigns:create"])
    assert drafts == [
        (
            "campaign_created",
            {
                "campaign_id": cid,
                "owner": BOB,
                "name": "x",
                "kind": "domain_generation",
                "params": BIG_FULL,
                "status": "draft",
            },
            [BOB],
        )
    ]


async def test_create_by_admin_only(client: Client) -> None:
    cid = new_id()
    payload = {"name": "x", "kind": "domain_generation", "params": BIG_DG_PARAMS}
    drafts = await client.send("create_campaign", cid, payload, actor=CAROL, permissions=ADMIN_PERMS)
    assert [(t, p["owner"], a) for t, p, a in drafts] == [("campaign_created", CAROL, [CAROL])]
    # Now alice is the foreigner.
    assert await client.send("start", cid) == rejected("forbidden", "start")


async def test_rejections_go_to_the_actor_only(client: Client) -> None:
    cid = await client.in_state("draft")
    # Admin carol, state error: only carol hears of it.
    assert await client.send("pause", cid, actor=CAROL, permissions=ADMIN_PERMS) == rejected(
        "invalid_state", "pause", CAROL
    )
    # Value error by an admin on someone else's campaign.
    assert await client.send(
        "update_campaign", cid, {"name": " "}, actor=CAROL, permissions=ADMIN_PERMS
    ) == rejected("invalid_input", "update_campaign", CAROL)


async def test_admin_auto_completion_audience(client: Client) -> None:
    cid = await client.dg(DG_PARAMS)  # target 8
    await client.ok("start", cid)
    drafts = await client.send(
        "record_progress",
        cid,
        {"processed": 8, "succeeded": 8, "failed": 0},
        actor=CAROL,
        permissions=ADMIN_PERMS,
    )
    assert drafts == [
        (
            "progress_recorded",
            {
                "processed": 8,
                "succeeded": 8,
                "failed": 0,
                "totals": {"processed": 8, "succeeded": 8, "failed": 0},
                "percent": 100.0,
            },
            [ALICE, CAROL],
        ),
        status_changed("running", "completed", [ALICE, CAROL]),
    ]


async def test_read_is_only_needed_for_get(client: Client) -> None:
    cid = await client.in_state("draft")
    assert await client.send("get_campaign", cid, permissions=["campaigns:execute"]) == rejected(
        "forbidden", "get_campaign"
    )
    drafts = await client.send("start", cid, permissions=["campaigns:execute"])
    assert drafts == [status_changed("draft", "running", [ALICE])]
