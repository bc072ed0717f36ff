"""The state table: every command in every state (campaign-rules.md "States", exact behaviour 4)."""

from __future__ import annotations

from typing import Any

import pytest

from ._support import (
    ALICE,
    BIG_DG_PARAMS,
    BOB,
    CAROL,
    STATES,
    TRANSITIONS,
    Client,
    new_id,
    rejected,
    status_changed,
    zero_totals,
)

MATRIX = [(state, cmd) for state in STATES for cmd in TRANSITIONS]


def _payload(cmd: str) -> dict[str, Any]:
    return {"reason": "boom"} if cmd == "fail" else {}


@pytest.mark.parametrize(("state", "cmd"), MATRIX, ids=[f"{s}-{c}" for s, c in MATRIX])
async def test_transition_table(client: Client, state: str, cmd: str) -> None:
    cid = await client.in_state(state)
    allowed_from, target = TRANSITIONS[cmd]
    drafts = await client.send(cmd, cid, _payload(cmd))
    if state in allowed_from:
        reason = "boom" if cmd == "fail" else None
        assert drafts == [status_changed(state, target, [ALICE], reason)]
        assert await client.status(cid) == target
    else:
        assert drafts == rejected("invalid_state", cmd)
        assert await client.status(cid) == state


@pytest.mark.parametrize("state", STATES)
async def test_record_progress_only_when_running(client: Client, state: str) -> None:
    cid = await client.in_state(state)
    drafts = await client.progress(cid, 1, 1, 0)
    if state == "running":
        assert drafts == [
            (
                "progress_recorded",
                {
                    "processed": 1,
                    "succeeded": 1,
                    "failed": 0,
                    "totals": {"processed": 1, "succeeded": 1, "failed": 0},
                    "percent": 0.0,  # 1 / 10^12 rounds to 0.00
                },
                [ALICE],
            )
        ]
    else:
        assert drafts == rejected("invalid_state", "record_progress")
        assert (await client.state(cid))["totals"] == zero_totals()


@pytest.mark.parametrize("state", STATES)
async def test_update_only_in_draft_or_paused(client: Client, state: str) -> None:
    cid = await client.in_state(state)
    drafts = await client.send("update_campaign", cid, {"name": "Renamed"})
    if state in ("draft", "paused"):
        assert drafts == [
            (
                "campaign_updated",
                {"name": "Renamed", "params": {**BIG_DG_PARAMS, "num_domains": 0}},
                [ALICE],
            )
        ]
        assert (await client.state(cid))["name"] == "Renamed"
    else:
        assert drafts == rejected("invalid_state", "update_campaign")
        assert (await client.state(cid))["name"] == "Campaign"


@pytest.mark.parametrize("state", STATES)
async def test_create_on_existing_id_in_any_status(client: Client, state: str) -> None:
    cid = await client.in_state(state)
    drafts = await client.send(
        "create_campaign",
        cid,
        {"name": "Again", "kind": "domain_generation", "params": BIG_DG_PARAMS},
    )
    assert drafts == rejected("invalid_state", "create_campaign")
    st = await client.state(cid)
    assert st["name"] == "Campaign" and st["status"] == state


@pytest.mark.parametrize("state", STATES)
async def test_get_campaign_in_every_status(client: Client, state: str) -> None:
    cid = await client.in_state(state)
    drafts = await client.send("get_campaign", cid, {})
    assert drafts == [
        (
            "campaign_state",
            {
                "campaign_id": cid,
                "owner": ALICE,
                "name": "Campaign",
                "kind": "domain_generation",
                "params": {**BIG_DG_PARAMS, "num_domains": 0},
                "status": state,
                "totals": zero_totals(),
                "percent": 0.0,
            },
            [ALICE],
        )
    ]


@pytest.mark.parametrize(
    ("cmd", "payload"),
    [
        ("start", {}),
        ("pause", {}),
        ("resume", {}),
        ("complete", {}),
        ("fail", {"reason": "x"}),
        ("retry", {}),
        ("restart", {}),
        ("cancel", {}),
        ("archive", {}),
        ("record_progress", {"processed": 0, "succeeded": 0, "failed": 0}),
        ("update_campaign", {"name": "x"}),
        (
            "create_campaign",
            {"name": "x", "kind": "domain_generation", "params": BIG_DG_PARAMS},
        ),
    ],
)
async def test_archive_is_final(client: Client, cmd: str, payload: dict[str, Any]) -> None:
    cid = await client.in_state("archived")
    assert await client.send(cmd, cid, payload) == rejected("invalid_state", cmd)
    # An admin is refused just the same.
    assert await client.send(cmd, cid, payload, actor=CAROL, permissions=["campaigns:admin"]) == rejected(
        "invalid_state", cmd, CAROL
    )
    assert await client.status(cid) == "archived"


async def test_archive_from_cancelled_keeps_reading(client: Client) -> None:
    cid = await client.in_state("cancelled")
    assert await client.send("archive", cid) == [status_changed("cancelled", "archived", [ALICE])]
    st = await client.state(cid)
    assert st["status"] == "archived"


async def test_full_lifecycle_events(client: Client) -> None:
    cid = await client.in_state("draft")
    steps = [
        ("start", {}, status_changed("draft", "running", [ALICE])),
        ("pause", {}, status_changed("running", "paused", [ALICE])),
        ("resume", {}, status_changed("paused", "running", [ALICE])),
        ("fail", {"reason": "dns down"}, status_changed("running", "failed", [ALICE], "dns down")),
        ("retry", {}, status_changed("failed", "running", [ALICE])),
        ("pause", {}, status_changed("running", "paused", [ALICE])),
        ("complete", {}, status_changed("paused", "completed", [ALICE])),
        ("restart", {}, status_changed("completed", "running", [ALICE])),
        ("cancel", {}, status_changed("running", "cancelled", [ALICE])),
        ("archive", {}, status_changed("cancelled", "archived", [ALICE])),
    ]
    for cmd, payload, expected in steps:
        assert await client.send(cmd, cid, payload) == [expected], cmd


async def test_not_found_for_every_non_create_command(client: Client) -> None:
    missing = new_id()
    for cmd in [*TRANSITIONS, "record_progress", "update_campaign", "get_campaign"]:
        payload: dict[str, Any] = _payload(cmd)
        if cmd == "record_progress":
            payload = {"processed": 1, "succeeded": 0, "failed": 0}
        elif cmd == "update_campaign":
            payload = {"name": "x"}
        assert await client.send(cmd, missing, payload) == rejected("not_found", cmd), cmd
    # Bob, who has no relation to anything, gets not_found too.
    assert await client.send("get_campaign", missing, actor=BOB) == rejected("not_found", "get_campaign", BOB)
