"""Disconnection: automatic actions and chaining, host transfer, abandoned rooms, reconnect."""

from __future__ import annotations

from typing import Any

from game_support import (
    PLAYERS,
    POINTS,
    Table,
    classify,
    combos_of_type,
    find_seed,
    first_deal,
    game_seed_for,
    general_red_seat,
    no_weak,
    rejected,
    rotate,
    triples,
)

ALL = list(PLAYERS)


def starter_at(seat: int):
    return lambda h: no_weak(h) and general_red_seat(h) == seat


async def test_awaited_declarer_disconnects(game) -> None:
    seed = find_seed(starter_at(2))  # order u3 u4 u1 u2
    table = Table(game)
    await table.start(seed)
    assert triples(await table.send("disconnect", "u3")) == [
        ("player_disconnected", {"player": "u3"}, ALL),
        ("declared", {"player": "u3", "value": 0, "auto": True}, ALL),
    ]
    state = await table.state("u3")  # works, and does not reconnect
    assert state["awaiting"] == ["u4"]
    assert [p["connected"] for p in state["players"]] == [True, True, False, True]
    assert (await table.state("u1"))["players"][2]["connected"] is False
    # a disconnected player's own moves are not awaited
    assert triples(await table.send("declare", "u3", {"value": 1})) == rejected(
        "not_your_turn", "declare", "u3"
    )
    for type_ in ("disconnect", "leave_room"):
        assert triples(await table.send(type_, "u3")) == rejected("invalid_state", type_, "u3")
    # reconnect: event to the room, then the state to the player
    drafts = await table.send("reconnect", "u3")
    assert [d.type for d in drafts] == ["player_reconnected", "room_state"]
    assert triples(drafts[:1]) == [("player_reconnected", {"player": "u3"}, ALL)]
    assert drafts[1].audience == ["u3"]
    assert drafts[1].payload["players"][2]["connected"] is True
    assert drafts[1].payload["players"][2]["declared"] == 0
    assert drafts[1].payload["hand"] == first_deal(seed)[2]


async def test_in_game_leave_is_disconnect(game) -> None:
    seed = find_seed(starter_at(2))
    table = Table(game)
    await table.start(seed)
    assert triples(await table.send("leave_room", "u1")) == [
        ("player_disconnected", {"player": "u1"}, ALL),
        ("host_changed", {"old_host": "u1", "new_host": "u2"}, ALL),
    ]
    assert triples(await table.send("leave_room", "u2")) == [
        ("player_disconnected", {"player": "u2"}, ALL),
        ("host_changed", {"old_host": "u2", "new_host": "u3"}, ALL),
    ]
    state = await table.state("u1")
    assert [p["player"] for p in state["players"]] == ALL  # nobody left their seat
    assert state["host"] == "u3"


def _chain_seed(hands: list[list[str]]) -> bool:
    if not no_weak(hands) or general_red_seat(hands) != 0:
        return False
    # order u1 u2 u3 u4; u1, u2 play their lowest piece; u3, u4 (automatic) their first.
    low1 = min(POINTS[k] for k in hands[0])
    low2 = min(POINTS[k] for k in hands[1])
    v3, v4 = POINTS[hands[2][0]], POINTS[hands[3][0]]
    return v3 > max(low1, low2, v4)


async def test_automatic_actions_chain(game) -> None:
    seed = find_seed(_chain_seed)
    hands = first_deal(seed)
    table = Table(game)
    await table.start(seed)
    assert triples(await table.send("disconnect", "u3")) == [("player_disconnected", {"player": "u3"}, ALL)]
    assert triples(await table.send("disconnect", "u4")) == [("player_disconnected", {"player": "u4"}, ALL)]
    await table.ok("declare", "u1", {"value": 3})
    assert triples(await table.send("declare", "u2", {"value": 5})) == [
        ("declared", {"player": "u2", "value": 5, "auto": False}, ALL),
        ("declared", {"player": "u3", "value": 0, "auto": True}, ALL),
        # last declarer: 0 would make 8, so the smallest allowed is 1
        ("declared", {"player": "u4", "value": 1, "auto": True}, ALL),
        ("turn_started", {"round": 1, "turn": 1, "starter": "u1"}, ALL),
    ]
    p1 = min(hands[0], key=lambda k: POINTS[k])
    p2 = min(hands[1], key=lambda k: POINTS[k])
    await table.ok("play", "u1", {"pieces": [p1]})
    drafts = await table.send("play", "u2", {"pieces": [p2]})

    def played(p: str, k: str, auto: bool) -> tuple[str, dict[str, Any], list[str]]:
        return (
            "pieces_played",
            {"player": p, "pieces": [k], "play_type": "SINGLE", "value": POINTS[k], "auto": auto},
            ALL,
        )

    plays = [
        {"player": p, "pieces": [k], "play_type": "SINGLE", "value": POINTS[k]}
        for p, k in (("u1", p1), ("u2", p2), ("u3", hands[2][0]), ("u4", hands[3][0]))
    ]
    assert triples(drafts) == [
        played("u2", p2, False),
        played("u3", hands[2][0], True),
        played("u4", hands[3][0], True),
        ("turn_completed", {"round": 1, "turn": 1, "winner": "u3", "piles": 1, "plays": plays}, ALL),
        ("turn_started", {"round": 1, "turn": 2, "starter": "u3"}, ALL),
        # u3 starts automatically with the first piece of its hand; u4 follows; u1 is awaited
        played("u3", hands[2][1], True),
        played("u4", hands[3][1], True),
    ]
    state = await table.state("u1")
    assert state["awaiting"] == ["u1"]
    assert state["required"] == 1
    assert state["turn"] == 2 and state["starter"] == "u3"
    assert [p["captured"] for p in state["players"]] == [0, 0, 1, 0]
    assert [p["hand_size"] for p in state["players"]] == [7, 7, 6, 6]


async def test_host_passes_to_next_connected_and_stays(game) -> None:
    seed = find_seed(starter_at(3))  # order u4 u1 u2 u3
    table = Table(game)
    await table.start(seed)
    assert triples(await table.send("disconnect", "u2")) == [("player_disconnected", {"player": "u2"}, ALL)]
    assert triples(await table.send("disconnect", "u1")) == [
        ("player_disconnected", {"player": "u1"}, ALL),
        ("host_changed", {"old_host": "u1", "new_host": "u3"}, ALL),
    ]
    drafts = await table.send("reconnect", "u1")
    assert [d.type for d in drafts] == ["player_reconnected", "room_state"]
    assert drafts[1].payload["host"] == "u3"
    assert triples(await table.send("start_game", "u1", seed=1)) == rejected("forbidden", "start_game", "u1")
    assert triples(await table.send("start_game", "u3", seed=1)) == rejected(
        "invalid_state", "start_game", "u3"
    )
    # u1 is connected again and answers for itself; u2 is automatic
    assert triples(await table.send("declare", "u4", {"value": 2})) == [
        ("declared", {"player": "u4", "value": 2, "auto": False}, ALL)
    ]
    assert triples(await table.send("declare", "u1", {"value": 2})) == [
        ("declared", {"player": "u1", "value": 2, "auto": False}, ALL),
        ("declared", {"player": "u2", "value": 0, "auto": True}, ALL),
    ]
    # the new host leaving passes the host on again (to u4, skipping nobody connected)
    assert triples(await table.send("disconnect", "u3")) == [
        ("player_disconnected", {"player": "u3"}, ALL),
        ("host_changed", {"old_host": "u3", "new_host": "u4"}, ALL),
        ("declared", {"player": "u3", "value": 0, "auto": True}, ALL),
        ("turn_started", {"round": 1, "turn": 1, "starter": "u4"}, ALL),
    ]


async def test_awaited_host_disconnect_order(game) -> None:
    seed = find_seed(starter_at(0))
    table = Table(game)
    await table.start(seed)
    assert triples(await table.send("disconnect", "u1")) == [
        ("player_disconnected", {"player": "u1"}, ALL),
        ("host_changed", {"old_host": "u1", "new_host": "u2"}, ALL),
        ("declared", {"player": "u1", "value": 0, "auto": True}, ALL),
    ]


async def test_everyone_gone_abandons_the_room(game) -> None:
    seed = find_seed(starter_at(1))  # order u2 u3 u4 u1
    table = Table(game)
    await table.start(seed)
    await table.ok("disconnect", "u3")
    await table.ok("disconnect", "u4")
    await table.ok("disconnect", "u1")
    assert triples(await table.send("disconnect", "u2")) == [("room_closed", {"reason": "abandoned"}, ALL)]
    assert triples(await table.send("reconnect", "u2")) == rejected("not_found", "reconnect", "u2")
    assert triples(await table.send("create_room", "u2", {"name": "Bob"})) == rejected(
        "invalid_state", "create_room", "u2"
    )


async def test_disconnect_during_redeal(game) -> None:
    """Seed 42 (round 1 deal): u2 is the only weak hand, u4 holds GENERAL_RED."""
    table = Table(game)
    await table.start(game_seed_for(42))
    assert triples(await table.send("disconnect", "u4")) == [("player_disconnected", {"player": "u4"}, ALL)]
    assert triples(await table.send("redeal_decision", "u4", {"accept": True})) == rejected(
        "not_your_turn", "redeal_decision", "u4"
    )
    assert triples(await table.send("disconnect", "u2")) == [
        ("player_disconnected", {"player": "u2"}, ALL),
        ("redeal_decided", {"player": "u2", "accept": False}, ALL),
        (
            "round_started",
            {"round": 1, "starter": "u4", "multiplier": 1, "order": ["u4", "u1", "u2", "u3"]},
            ALL,
        ),
        ("declared", {"player": "u4", "value": 0, "auto": True}, ALL),
    ]
    assert (await table.state("u1"))["awaiting"] == ["u1"]


async def test_automatic_follower_plays_first_n(game) -> None:
    def pred(h: list[list[str]]) -> bool:
        return no_weak(h) and general_red_seat(h) == 0 and bool(combos_of_type(h[0], "PAIR"))

    seed = find_seed(pred)
    hands = first_deal(seed)
    table = Table(game)
    await table.start(seed)
    await table.declare_all()
    await table.ok("disconnect", "u2")
    pair = combos_of_type(hands[0], "PAIR")[0]
    drafts = await table.send("play", "u1", {"pieces": pair})
    ptype, value = classify(hands[1][:2])
    assert triples(drafts) == [
        (
            "pieces_played",
            {"player": "u1", "pieces": pair, "play_type": "PAIR", "value": classify(pair)[1], "auto": False},
            ALL,
        ),
        (
            "pieces_played",
            {"player": "u2", "pieces": hands[1][:2], "play_type": ptype, "value": value, "auto": True},
            ALL,
        ),
    ]
    assert (await table.state("u3"))["awaiting"] == ["u3"]
    assert rotate(PLAYERS, "u1")[2] == "u3"
