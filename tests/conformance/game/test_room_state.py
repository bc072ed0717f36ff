"""room_state, field by field, in each phase of a game."""

from __future__ import annotations

from typing import Any

from game_support import NAMES, PLAYERS, ROOM, Table, deal, game_seed_for, triples


def players(**cols: list[Any]) -> list[dict[str, Any]]:
    base = {
        "connected": [True] * 4,
        "declared": [None] * 4,
        "captured": [0] * 4,
        "total": [0] * 4,
        "hand_size": [8] * 4,
    }
    base.update(cols)
    return [
        {"seat": s, "player": p, "name": NAMES[p], **{k: v[s] for k, v in base.items()}}
        for s, p in enumerate(PLAYERS)
    ]


def state(**fields: Any) -> dict[str, Any]:
    out = {
        "phase": None,
        "room_id": ROOM,
        "host": "u1",
        "players": players(),
        "round": 1,
        "turn": 0,
        "multiplier": 1,
        "starter": None,
        "awaiting": [],
        "hand": [],
        "turn_plays": [],
        "required": None,
    }
    out.update(fields)
    return out


async def test_room_state_through_the_phases(game) -> None:
    hands = deal(42)  # round 1 deal; u2 weak, u4 holds GENERAL_RED
    table = Table(game)
    await table.start(game_seed_for(42))
    assert triples(await table.send("get_room_state", "u2")) == [
        (
            "room_state",
            state(phase="redeal", starter="u4", awaiting=["u2"], hand=hands[1]),
            ["u2"],
        )
    ]
    await table.ok("redeal_decision", "u2", {"accept": False})
    assert await table.state("u3") == state(phase="declaration", starter="u4", awaiting=["u4"], hand=hands[2])
    await table.ok("declare", "u4", {"value": 2})
    await table.ok("declare", "u1", {"value": 0})
    assert await table.state("u1") == state(
        phase="declaration",
        starter="u4",
        awaiting=["u2"],
        hand=hands[0],
        players=players(declared=[0, None, None, 2]),
    )
    await table.ok("declare", "u2", {"value": 3})
    await table.ok("declare", "u3", {"value": 1})
    declared = [0, 3, 1, 2]
    assert await table.state("u4") == state(
        phase="turn",
        turn=1,
        starter="u4",
        awaiting=["u4"],
        hand=hands[3],
        players=players(declared=declared),
    )
    # u4: ADVISOR_RED CANNON_BLACK GENERAL_RED ... plays GENERAL_RED
    await table.ok("play", "u4", {"pieces": ["GENERAL_RED"]})
    play = {"player": "u4", "pieces": ["GENERAL_RED"], "play_type": "SINGLE", "value": 14}
    assert await table.state("u1") == state(
        phase="turn",
        turn=1,
        starter="u4",
        awaiting=["u1"],
        hand=hands[0],
        turn_plays=[play],
        required=1,
        players=players(declared=declared, hand_size=[8, 8, 8, 7]),
    )
    for p in ("u1", "u2", "u3"):
        await table.ok("play", p, {"pieces": [table.hands[p][0]]})
    assert await table.state("u4") == state(
        phase="turn",
        turn=2,
        starter="u4",
        awaiting=["u4"],
        hand=[k for k in hands[3] if k != "GENERAL_RED"],
        players=players(declared=declared, captured=[0, 0, 0, 1], hand_size=[7] * 4),
    )
