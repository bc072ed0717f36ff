"""Rejections: payload shape, and the precedence of the checks (first failure wins)."""

from __future__ import annotations

from typing import Any

import pytest
from game_support import (
    PLAYERS,
    Table,
    command,
    find_seed,
    first_deal,
    general_red_seat,
    no_weak,
    rejected,
    rotate,
    triples,
)

BAD_SHAPES: list[tuple[str, Any, Any]] = [
    # (type, payload, envelope seed)
    ("create_room", {}, None),
    ("create_room", {"name": ""}, None),
    ("create_room", {"name": "x" * 51}, None),
    ("create_room", {"name": 5}, None),
    ("create_room", {"name": None}, None),
    ("create_room", {"name": "Ann", "extra": 1}, None),
    ("create_room", [], None),
    ("create_room", "Ann", None),
    ("create_room", None, None),
    *[("create_room", {"name": f"a{c}b"}, None) for c in "<>&\"'\n\r"],
    ("join_room", {}, None),
    ("join_room", {"name": ""}, None),
    ("join_room", {"name": "a<b"}, None),
    ("join_room", {"name": "x" * 51}, None),
    ("join_room", {"name": ["Bob"]}, None),
    ("declare", {}, None),
    ("declare", {"value": True}, None),
    ("declare", {"value": 2.0}, None),
    ("declare", {"value": "2"}, None),
    ("declare", {"value": None}, None),
    ("declare", {"value": 1, "extra": 1}, None),
    ("play", {}, None),
    ("play", {"pieces": "GENERAL_RED"}, None),
    ("play", {"pieces": ["general_red"]}, None),
    ("play", {"pieces": ["KING_RED"]}, None),
    ("play", {"pieces": ["GENERAL"]}, None),
    ("play", {"pieces": [1]}, None),
    ("play", {"pieces": None}, None),
    ("play", {"pieces": ["SOLDIER_RED"], "extra": 0}, None),
    ("redeal_decision", {}, None),
    ("redeal_decision", {"accept": 1}, None),
    ("redeal_decision", {"accept": "true"}, None),
    ("redeal_decision", {"accept": None}, None),
    ("redeal_decision", {"accept": True, "x": 1}, None),
    ("leave_room", {"x": 1}, None),
    ("disconnect", {"a": None}, None),
    ("reconnect", [], None),
    ("get_room_state", {"x": 1}, None),
    ("start_game", {"seed": 1}, 1),
    ("start_game", {}, None),
    ("start_game", {}, -1),
    ("start_game", {}, 2**64),
    ("start_game", {}, True),
    ("start_game", {}, 1.0),
    ("start_game", {}, "1"),
    ("fly", {}, None),
    ("", {}, None),
]

WELL_SHAPED: list[tuple[str, Any, Any]] = [
    # shape-valid (range and rule checks come later): an absent room answers not_found
    ("declare", {"value": 9}, None),
    ("declare", {"value": -1}, None),
    ("play", {"pieces": []}, None),
    ("play", {"pieces": ["GENERAL_RED"] * 7}, None),
    ("redeal_decision", {"accept": False}, None),
    ("join_room", {"name": "é" * 50}, None),
    ("leave_room", {}, None),
    ("disconnect", {}, None),
    ("reconnect", {}, None),
    ("get_room_state", {}, None),
    ("start_game", {}, 0),
    ("start_game", {}, 2**64 - 1),
]


def _ids(cases: list[tuple[str, Any, Any]]) -> list[str]:
    return [f"{t}-{p!r}-{s!r}"[:60] for t, p, s in cases]


@pytest.mark.parametrize(("type_", "payload", "seed"), BAD_SHAPES, ids=_ids(BAD_SHAPES))
async def test_bad_shape_is_invalid_input_before_not_found(game, type_, payload, seed) -> None:
    drafts = await game.handle(command(type_, "u1", payload, seed=seed, room="ABC123"))
    assert triples(drafts) == rejected("invalid_input", type_, "u1")


@pytest.mark.parametrize(("type_", "payload", "seed"), BAD_SHAPES, ids=_ids(BAD_SHAPES))
async def test_bad_shape_in_a_live_room(game, type_, payload, seed) -> None:
    table = Table(game)
    await table.start(find_seed(no_weak))
    before = await table.state("u2")
    assert triples(await table.send(type_, "u2", payload, seed=seed)) == rejected(
        "invalid_input", type_, "u2"
    )
    assert await table.state("u2") == before


@pytest.mark.parametrize(("type_", "payload", "seed"), WELL_SHAPED, ids=_ids(WELL_SHAPED))
async def test_well_shaped_on_absent_room_is_not_found(game, type_, payload, seed) -> None:
    drafts = await game.handle(command(type_, "u1", payload, seed=seed, room="ABC123"))
    assert triples(drafts) == rejected("not_found", type_, "u1")


@pytest.mark.parametrize("room", ["3fa9c1", "3FA9C", "3FA9C10", "GGGGGG", "", "3FA9C1 ", "../x"])
async def test_bad_aggregate_id_is_invalid_input(game, room) -> None:
    for type_, payload in [("create_room", {"name": "Ann"}), ("get_room_state", {})]:
        drafts = await game.handle(command(type_, "u1", payload, room=room))
        assert triples(drafts) == rejected("invalid_input", type_, "u1")


async def test_bad_id_create_leaves_nothing_behind(game) -> None:
    await game.handle(command("create_room", "u1", {"name": "Ann"}, room="3fa9c1"))
    drafts = await game.handle(command("get_room_state", "u1", room="3FA9C1"))
    assert triples(drafts) == rejected("not_found", "get_room_state", "u1")


async def test_permissions_are_ignored(game) -> None:
    cmd = command("create_room", "u1", {"name": "Ann"}).model_copy(update={"permissions": ["admin"]})
    drafts = await game.handle(cmd)
    assert [d.type for d in drafts] == ["room_created"]


async def _declaration_table(game) -> tuple[Table, list[str]]:
    seed = find_seed(no_weak)
    table = Table(game)
    await table.start(seed)
    starter = PLAYERS[general_red_seat(first_deal(seed))]
    return table, rotate(PLAYERS, starter)


async def test_precedence_in_declaration_phase(game) -> None:
    table, order = await _declaration_table(game)
    first, second = order[0], order[1]
    before = await table.state("u1")
    cases = [
        # shape before membership
        ("u9", "declare", {"value": "x"}, None, "invalid_input"),
        # membership before host-only, phase, turn
        ("u9", "declare", {"value": 1}, None, "forbidden"),
        ("u9", "start_game", {}, 3, "forbidden"),
        ("u9", "leave_room", {}, None, "forbidden"),
        ("u9", "reconnect", {}, None, "forbidden"),
        ("u9", "get_room_state", {}, None, "forbidden"),
        ("u9", "play", {"pieces": []}, None, "forbidden"),
        # host-only before phase
        (second if second != "u1" else order[2], "start_game", {}, 3, "forbidden"),
        # phase
        ("u1", "start_game", {}, 3, "invalid_state"),
        (first, "play", {"pieces": [table.hands[first][0]]}, None, "invalid_state"),
        (second, "play", {"pieces": []}, None, "invalid_state"),
        (first, "redeal_decision", {"accept": True}, None, "invalid_state"),
        ("u9", "join_room", {"name": "Zed"}, None, "invalid_state"),
        # whose turn before rule violations
        (second, "declare", {"value": 9}, None, "not_your_turn"),
        (second, "declare", {"value": -1}, None, "not_your_turn"),
        (second, "declare", {"value": 1}, None, "not_your_turn"),
        # rule violations
        (first, "declare", {"value": 9}, None, "invalid_input"),
        (first, "declare", {"value": -1}, None, "invalid_input"),
        (first, "declare", {"value": 100}, None, "invalid_input"),
    ]
    for actor, type_, payload, seed, code in cases:
        drafts = await table.send(type_, actor, payload, seed=seed)
        assert triples(drafts) == rejected(code, type_, actor), (actor, type_, payload)
    assert await table.state("u1") == before


async def test_precedence_in_turn_phase(game) -> None:
    table, order = await _declaration_table(game)
    await table.declare_all()
    starter, follower = order[0], order[1]
    hand = table.hands[starter]
    missing = next(k for k in ("GENERAL_BLACK", "SOLDIER_RED", "SOLDIER_BLACK") if k not in hand)
    before = await table.state(starter)
    cases = [
        (starter, "declare", {"value": 1}, "invalid_state"),
        (starter, "redeal_decision", {"accept": False}, "invalid_state"),
        # not your turn beats every rule violation
        (follower, "play", {"pieces": []}, "not_your_turn"),
        (follower, "play", {"pieces": [missing] * 7}, "not_your_turn"),
        (follower, "play", {"pieces": table.hands[follower][:1]}, "not_your_turn"),
        # rule violations of the starter
        (starter, "play", {"pieces": []}, "invalid_input"),
        (starter, "play", {"pieces": hand[:7]}, "invalid_input"),
        (starter, "play", {"pieces": [missing]}, "invalid_input"),
    ]
    for actor, type_, payload, code in cases:
        drafts = await table.send(type_, actor, payload)
        assert triples(drafts) == rejected(code, type_, actor), (actor, type_, payload)
    assert await table.state(starter) == before
