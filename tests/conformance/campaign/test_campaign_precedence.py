"""Rejection order (shape -> exists -> permission/ownership -> state -> values) and redelivery
(campaign-rules.md "Rejections", exact behaviour 2, 4, 6, 7; ContextHandler contract)."""

from __future__ import annotations

from parallax_contracts.envelopes import Command

from ._support import (
    ADMIN_PERMS,
    ALICE,
    BIG_DG_PARAMS,
    BOB,
    DG_PARAMS,
    Client,
    command,
    new_id,
    rejected,
    status_changed,
)

CREATE = {"name": "x", "kind": "domain_generation", "params": BIG_DG_PARAMS}


# --------------------------------------------------------------------------- shape first


async def test_shape_beats_not_found(client: Client) -> None:
    missing = new_id()
    assert await client.send("start", missing, {"x": 1}) == rejected("invalid_input", "start")
    assert await client.send("fail", missing, {}) == rejected("invalid_input", "fail")
    assert await client.send(
        "record_progress", missing, {"processed": 1.5, "succeeded": 0, "failed": 0}
    ) == rejected("invalid_input", "record_progress")
    assert await client.send("update_campaign", missing, {"name": None}) == rejected(
        "invalid_input", "update_campaign"
    )


async def test_shape_beats_forbidden(client: Client) -> None:
    cid = await client.in_state("draft")
    assert await client.send("start", cid, {"x": 1}, actor=BOB) == rejected("invalid_input", "start", BOB)
    assert await client.send("start", cid, {"x": 1}, permissions=[]) == rejected("invalid_input", "start")
    assert await client.send("fail", cid, {"reason": 1}, actor=BOB) == rejected("invalid_input", "fail", BOB)
    # create: a null / missing / mistyped field is shape, whatever the permissions
    for payload in (
        {**CREATE, "params": None},
        {"name": "x", "kind": "domain_generation"},
        {**CREATE, "name": 5},
        {**CREATE, "kind": 5},
        {**CREATE, "extra": 1},
    ):
        assert await client.send("create_campaign", new_id(), payload, permissions=[]) == rejected(
            "invalid_input", "create_campaign"
        ), payload


async def test_shape_beats_invalid_state(client: Client) -> None:
    draft = await client.in_state("draft")
    assert await client.send(
        "record_progress", draft, {"processed": True, "succeeded": 0, "failed": 0}
    ) == rejected("invalid_input", "record_progress")
    assert await client.send("pause", draft, {"x": 1}) == rejected("invalid_input", "pause")
    running = await client.in_state("running")
    assert await client.send("update_campaign", running, {"params": None}) == rejected(
        "invalid_input", "update_campaign"
    )
    archived = await client.in_state("archived")
    assert await client.send("create_campaign", archived, {**CREATE, "name": None}) == rejected(
        "invalid_input", "create_campaign"
    )
    assert await client.send("fail", archived, {"reason": None}) == rejected("invalid_input", "fail")


async def test_non_uuid_and_unknown_type_need_no_permission(client: Client) -> None:
    assert await client.send("start", "nope", {}, permissions=[]) == rejected("invalid_input", "start")
    assert await client.send("frobnicate", new_id(), {}, permissions=[]) == rejected(
        "invalid_input", "frobnicate"
    )


# --------------------------------------------------------------------------- existence second


async def test_not_found_beats_forbidden(client: Client) -> None:
    missing = new_id()
    assert await client.send("start", missing, {}, permissions=[]) == rejected("not_found", "start")
    assert await client.send("get_campaign", missing, {}, actor=BOB, permissions=[]) == rejected(
        "not_found", "get_campaign", BOB
    )
    assert await client.send(
        "record_progress", missing, {"processed": -1, "succeeded": 0, "failed": 0}, permissions=[]
    ) == rejected("not_found", "record_progress")


# --------------------------------------------------------------------------- permission third


async def test_forbidden_beats_invalid_state(client: Client) -> None:
    draft = await client.in_state("draft")
    assert await client.send("pause", draft, actor=BOB) == rejected("forbidden", "pause", BOB)
    assert await client.send("pause", draft, permissions=["campaigns:read"]) == rejected("forbidden", "pause")
    archived = await client.in_state("archived")
    assert await client.send("update_campaign", archived, {"name": "x"}, actor=BOB) == rejected(
        "forbidden", "update_campaign", BOB
    )
    # create on an existing id without the create permission: permission comes first
    assert await client.send("create_campaign", draft, CREATE, permissions=["campaigns:read"]) == rejected(
        "forbidden", "create_campaign"
    )


async def test_forbidden_beats_value_rules(client: Client) -> None:
    # kind values, name length and params contents are value rules
    for payload in (
        {**CREATE, "kind": "email"},
        {**CREATE, "name": "   "},
        {**CREATE, "name": "n" * 101},
        {**CREATE, "params": {"foo": 1}},
        {**CREATE, "params": {**BIG_DG_PARAMS, "variable_length": True}},
        {**CREATE, "params": {**BIG_DG_PARAMS, "num_domains": None}},
    ):
        assert await client.send(
            "create_campaign", new_id(), payload, permissions=["campaigns:read"]
        ) == rejected("forbidden", "create_campaign"), payload
    running = await client.in_state("running")
    assert await client.send(
        "record_progress", running, {"processed": -1, "succeeded": 0, "failed": 0}, actor=BOB
    ) == rejected("forbidden", "record_progress", BOB)
    assert await client.send("fail", running, {"reason": " "}, actor=BOB) == rejected(
        "forbidden", "fail", BOB
    )
    paused = await client.in_state("paused")
    assert await client.send(
        "update_campaign", paused, {"name": ""}, permissions=["campaigns:execute"]
    ) == rejected("forbidden", "update_campaign")


# --------------------------------------------------------------------------- state before values


async def test_invalid_state_beats_value_rules(client: Client) -> None:
    draft = await client.in_state("draft")
    assert await client.send(
        "record_progress", draft, {"processed": -1, "succeeded": 5, "failed": 5}
    ) == rejected("invalid_state", "record_progress")
    assert await client.send("fail", draft, {"reason": ""}) == rejected("invalid_state", "fail")
    assert await client.send("fail", draft, {"reason": "r" * 501}) == rejected("invalid_state", "fail")
    running = await client.in_state("running")
    assert await client.send("update_campaign", running, {"name": ""}) == rejected(
        "invalid_state", "update_campaign"
    )
    assert await client.send("update_campaign", running, {"params": {"foo": 1}}) == rejected(
        "invalid_state", "update_campaign"
    )
    # create on an existing id with bad values
    assert await client.send(
        "create_campaign", draft, {"name": "", "kind": "email", "params": {}}
    ) == rejected("invalid_state", "create_campaign")
    # admin on an archived campaign with bad values
    archived = await client.in_state("archived")
    assert await client.send(
        "update_campaign", archived, {"name": ""}, actor="carol", permissions=ADMIN_PERMS
    ) == rejected("invalid_state", "update_campaign", "carol")


async def test_value_rules_last(client: Client) -> None:
    running = await client.in_state("running")
    assert await client.send("fail", running, {"reason": "  "}) == rejected("invalid_input", "fail")
    assert await client.send(
        "record_progress", running, {"processed": 1, "succeeded": 1, "failed": 1}
    ) == rejected("invalid_input", "record_progress")
    assert await client.status(running) == "running"


# --------------------------------------------------------------------------- redelivery


async def test_redelivered_create_returns_the_same_drafts(client: Client) -> None:
    cid = new_id()
    cmd = command("create_campaign", cid, {"name": "x", "kind": "domain_generation", "params": DG_PARAMS})
    first = await client.raw(cmd)
    assert first[0][0] == "campaign_created"
    await client.ok("start", cid)
    assert await client.raw(cmd) == first
    assert await client.status(cid) == "running"
    # A new command id on the same aggregate is a second create.
    again = cmd.model_copy(update={"command_id": new_id()})
    assert await client.raw(again) == rejected("invalid_state", "create_campaign")


async def test_redelivered_transition_changes_state_once(client: Client) -> None:
    cid = await client.in_state("draft")
    start = command("start", cid)
    first = await client.raw(start)
    assert first == [status_changed("draft", "running", [ALICE])]
    await client.ok("pause", cid)
    # Redelivery after a later command: same drafts, still paused.
    assert await client.raw(start) == first
    assert await client.status(cid) == "paused"


async def test_redelivered_progress_is_not_counted_twice(client: Client) -> None:
    cid = await client.create(params=DG_PARAMS)  # target 8
    await client.ok("start", cid)
    rec = command("record_progress", cid, {"processed": 3, "succeeded": 2, "failed": 1})
    first = await client.raw(rec)
    assert await client.raw(rec) == first
    assert await client.raw(rec) == first
    st = await client.state(cid)
    assert st["totals"] == {"processed": 3, "succeeded": 2, "failed": 1} and st["percent"] == 37.5


async def test_redelivered_completion_returns_both_events(client: Client) -> None:
    cid = await client.create(params=DG_PARAMS)
    await client.ok("start", cid)
    rec = command("record_progress", cid, {"processed": 8, "succeeded": 8, "failed": 0})
    first = await client.raw(rec)
    assert [t for t, _, _ in first] == ["progress_recorded", "campaign_status_changed"]
    await client.ok("restart", cid)
    assert await client.raw(rec) == first
    st = await client.state(cid)
    assert st["status"] == "running" and st["totals"] == {"processed": 0, "succeeded": 0, "failed": 0}


async def test_redelivered_rejection_stays_a_rejection(client: Client) -> None:
    cid = await client.in_state("draft")
    pause = command("pause", cid)
    assert await client.raw(pause) == rejected("invalid_state", "pause")
    await client.ok("start", cid)
    # Now pause would be allowed, but this command id was already answered.
    assert await client.raw(pause) == rejected("invalid_state", "pause")
    assert await client.status(cid) == "running"


async def test_redelivered_by_admin_keeps_audience(client: Client) -> None:
    cid = await client.in_state("draft")
    cmd = Command(
        command_id=new_id(),
        context="campaign",
        aggregate_id=cid,
        type="start",
        actor="carol",
        permissions=ADMIN_PERMS,
        payload={},
    )
    first = await client.raw(cmd)
    assert first == [status_changed("draft", "running", [ALICE, "carol"])]
    assert await client.raw(cmd) == first


async def test_redelivered_update(client: Client) -> None:
    cid = await client.in_state("draft")
    upd = command("update_campaign", cid, {"name": "A"})
    first = await client.raw(upd)
    await client.ok("update_campaign", cid, {"name": "B"})
    assert await client.raw(upd) == first
    assert (await client.state(cid))["name"] == "B"


async def test_redelivered_rejection_of_a_refused_create(client: Client) -> None:
    cid = new_id()
    bad = command("create_campaign", cid, {"name": "  ", "kind": "domain_generation", "params": DG_PARAMS})
    assert await client.raw(bad) == rejected("invalid_input", "create_campaign")
    await client.create(params=DG_PARAMS, aggregate_id=cid)
    # The id now exists, but this command id was answered with invalid_input already.
    assert await client.raw(bad) == rejected("invalid_input", "create_campaign")
    st = await client.state(cid)
    assert st["name"] == "Campaign" and st["status"] == "draft"


async def test_redelivered_not_found_stays_not_found(client: Client) -> None:
    cid = new_id()
    start = command("start", cid)
    assert await client.raw(start) == rejected("not_found", "start")
    await client.create(params=DG_PARAMS, aggregate_id=cid)
    assert await client.raw(start) == rejected("not_found", "start")
    assert await client.status(cid) == "draft"
