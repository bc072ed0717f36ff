"""Payload shape (campaign-rules.md exact behaviour 2): `invalid_input`, checked first."""

from __future__ import annotations

from typing import Any

import pytest
from parallax_contracts.envelopes import Command

from ._support import (
    ALICE,
    BIG_DG_PARAMS,
    TRANSITIONS,
    USER_PERMS,
    Client,
    command,
    new_id,
    rejected,
)

BARE = [c for c in TRANSITIONS if c != "fail"] + ["get_campaign"]
GOOD_PROGRESS = {"processed": 1, "succeeded": 1, "failed": 0}

CREATE_SHAPES: list[tuple[str, Any]] = [
    ("payload-null", None),
    ("payload-list", []),
    ("payload-str", "x"),
    ("payload-int", 5),
    ("empty", {}),
    ("missing-name", {"kind": "domain_generation", "params": BIG_DG_PARAMS}),
    ("missing-kind", {"name": "x", "params": BIG_DG_PARAMS}),
    ("missing-params", {"name": "x", "kind": "domain_generation"}),
    (
        "extra-field",
        {"name": "x", "kind": "domain_generation", "params": BIG_DG_PARAMS, "owner": "bob"},
    ),
    (
        "extra-status",
        {"name": "x", "kind": "domain_generation", "params": BIG_DG_PARAMS, "status": "running"},
    ),
    ("name-null", {"name": None, "kind": "domain_generation", "params": BIG_DG_PARAMS}),
    ("name-int", {"name": 5, "kind": "domain_generation", "params": BIG_DG_PARAMS}),
    ("name-list", {"name": ["x"], "kind": "domain_generation", "params": BIG_DG_PARAMS}),
    ("kind-null", {"name": "x", "kind": None, "params": BIG_DG_PARAMS}),
    ("kind-int", {"name": "x", "kind": 1, "params": BIG_DG_PARAMS}),
    ("params-null", {"name": "x", "kind": "domain_generation", "params": None}),
]


@pytest.mark.parametrize(("_id", "payload"), CREATE_SHAPES, ids=[i for i, _ in CREATE_SHAPES])
async def test_create_shape_errors(client: Client, _id: str, payload: Any) -> None:
    cid = new_id()
    cmd = Command(
        command_id=new_id(),
        context="campaign",
        aggregate_id=cid,
        type="create_campaign",
        actor=ALICE,
        permissions=USER_PERMS,
        payload=payload,
    )
    assert await client.raw(cmd) == rejected("invalid_input", "create_campaign")
    assert await client.send("get_campaign", cid) == rejected("not_found", "get_campaign")


@pytest.mark.parametrize("cmd", BARE)
@pytest.mark.parametrize(
    "payload",
    [None, [], "x", {"x": 1}, {"reason": "r"}],
    ids=["null", "list", "str", "extra", "reason"],
)
async def test_bare_transition_shape_errors(client: Client, cmd: str, payload: Any) -> None:
    cid = await client.in_state("draft")
    raw = Command(
        command_id=new_id(),
        context="campaign",
        aggregate_id=cid,
        type=cmd,
        actor=ALICE,
        permissions=USER_PERMS,
        payload=payload,
    )
    assert await client.raw(raw) == rejected("invalid_input", cmd)
    assert await client.status(cid) == "draft"


@pytest.mark.parametrize(
    "payload",
    [{}, {"reason": None}, {"reason": 5}, {"reason": ["x"]}, {"reason": "x", "code": 1}, None],
    ids=["missing", "null", "int", "list", "extra", "payload-null"],
)
async def test_fail_shape_errors(client: Client, payload: Any) -> None:
    cid = await client.in_state("running")
    raw = command("fail", cid, payload)
    if payload is None:  # command() maps None to {}; build the null payload by hand
        raw = raw.model_copy(update={"payload": None})
    assert await client.raw(raw) == rejected("invalid_input", "fail")
    assert await client.status(cid) == "running"


def _progress(**changes: Any) -> dict[str, Any]:
    p: dict[str, Any] = dict(GOOD_PROGRESS)
    for k, v in changes.items():
        if v is _DROP:
            p.pop(k)
        else:
            p[k] = v
    return p


_DROP = object()

PROGRESS_SHAPES: list[tuple[str, Any]] = [
    ("empty", {}),
    ("missing-processed", _progress(processed=_DROP)),
    ("missing-succeeded", _progress(succeeded=_DROP)),
    ("missing-failed", _progress(failed=_DROP)),
    ("extra", _progress(skipped=0)),
    ("processed-bool", _progress(processed=True)),
    ("succeeded-bool", _progress(succeeded=True)),
    ("failed-bool", _progress(failed=False)),
    ("processed-float", _progress(processed=1.0)),
    ("succeeded-float", _progress(succeeded=1.0)),
    ("failed-float", _progress(failed=0.0)),
    ("processed-str", _progress(processed="1")),
    ("processed-null", _progress(processed=None)),
    ("succeeded-null", _progress(succeeded=None)),
    ("failed-null", _progress(failed=None)),
    ("processed-list", _progress(processed=[1])),
]


@pytest.mark.parametrize(("_id", "payload"), PROGRESS_SHAPES, ids=[i for i, _ in PROGRESS_SHAPES])
async def test_record_progress_shape_errors(client: Client, _id: str, payload: Any) -> None:
    cid = await client.in_state("running")
    assert await client.send("record_progress", cid, payload) == rejected("invalid_input", "record_progress")
    st = await client.state(cid)
    assert st["totals"] == {"processed": 0, "succeeded": 0, "failed": 0}


UPDATE_SHAPES: list[tuple[str, Any]] = [
    ("name-null", {"name": None}),
    ("params-null", {"params": None}),
    ("name-null-with-params", {"name": None, "params": BIG_DG_PARAMS}),
    ("name-int", {"name": 5}),
    ("params-list", {"params": []}),
    ("kind", {"kind": "domain_generation"}),
    ("kind-with-name", {"name": "x", "kind": "domain_generation"}),
    ("extra", {"name": "x", "status": "running"}),
]


@pytest.mark.parametrize(("_id", "payload"), UPDATE_SHAPES, ids=[i for i, _ in UPDATE_SHAPES])
async def test_update_shape_errors(client: Client, _id: str, payload: Any) -> None:
    cid = await client.in_state("draft")
    assert await client.send("update_campaign", cid, payload) == rejected("invalid_input", "update_campaign")
    assert (await client.state(cid))["name"] == "Campaign"


async def test_update_needs_name_or_params(client: Client) -> None:
    cid = await client.in_state("draft")
    assert await client.send("update_campaign", cid, {}) == rejected("invalid_input", "update_campaign")


@pytest.mark.parametrize(
    "type_", ["delete_campaign", "", "Start", "create_room", "disconnect", "get_campaign "]
)
async def test_unknown_command_type(client: Client, type_: str) -> None:
    cid = await client.in_state("draft")
    assert await client.send(type_, cid, {}) == rejected("invalid_input", type_)
    # Even on an id that does not exist, and without any permission.
    assert await client.send(type_, new_id(), {}, permissions=[]) == rejected("invalid_input", type_)


@pytest.mark.parametrize(
    "aggregate_id",
    [
        "not-a-uuid",
        "",
        "3FA9C1",
        "12345678-1234-1234-1234-12345678901",
        "12345678-1234-1234-1234-1234567890123",
        "zzzzzzzz-1234-1234-1234-123456789012",
        "1234567812341234123412345678901a",  # no hyphens
        "{12345678-1234-1234-1234-123456789012}",
        "urn:uuid:12345678-1234-1234-1234-123456789012",
    ],
)
@pytest.mark.parametrize(
    ("type_", "payload"),
    [
        ("create_campaign", {"name": "x", "kind": "domain_generation", "params": BIG_DG_PARAMS}),
        ("start", {}),
        ("get_campaign", {}),
        ("record_progress", GOOD_PROGRESS),
    ],
)
async def test_non_uuid_aggregate_id(
    client: Client, aggregate_id: str, type_: str, payload: dict[str, Any]
) -> None:
    assert await client.send(type_, aggregate_id, payload) == rejected("invalid_input", type_)


async def test_non_uuid_aggregate_id_with_suffix(client: Client) -> None:
    cid = await client.in_state("draft")
    assert await client.send("get_campaign", cid + "0") == rejected("invalid_input", "get_campaign")
    assert await client.send("start", " " + cid) == rejected("invalid_input", "start")
