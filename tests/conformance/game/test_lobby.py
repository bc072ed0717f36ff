"""Room lifecycle in phase `waiting`: create, join, leave, start, closing."""

from __future__ import annotations

from game_support import NAMES, PLAYERS, ROOM, Table, command, rejected, triples

ALL = list(PLAYERS)


def seat(s: int, p: str, name: str | None = None) -> dict[str, object]:
    return {"seat": s, "player": p, "name": name or NAMES[p]}


async def test_create_room_event_and_audience(game) -> None:
    table = Table(game)
    drafts = await table.send("create_room", "u1", {"name": "Ann"})
    assert triples(drafts) == [
        (
            "room_created",
            {
                "room_id": ROOM,
                "host": "u1",
                "players": [{"seat": 0, "player": "u1", "name": "Ann", "connected": True}],
            },
            ["u1"],
        )
    ]


async def test_joins_take_seats_in_order_and_go_to_all_members(game) -> None:
    table = Table(game)
    await table.send("create_room", "u1", {"name": "Ann"})
    assert triples(await table.send("join_room", "u2", {"name": "Bob"})) == [
        ("player_joined", seat(1, "u2"), ["u1", "u2"])
    ]
    assert triples(await table.send("join_room", "u3", {"name": "Cat"})) == [
        ("player_joined", seat(2, "u3"), ["u1", "u2", "u3"])
    ]
    assert triples(await table.send("join_room", "u4", {"name": "Dan"})) == [
        ("player_joined", seat(3, "u4"), ALL)
    ]


async def test_names_taken_as_sent_and_duplicates_allowed(game) -> None:
    table = Table(game)
    await table.send("create_room", "u1", {"name": " Ann "})
    long_name = "é" * 50  # 50 code points, 100 UTF-8 bytes
    assert triples(await table.send("join_room", "u2", {"name": long_name})) == [
        ("player_joined", {"seat": 1, "player": "u2", "name": long_name}, ["u1", "u2"])
    ]
    assert triples(await table.send("join_room", "u3", {"name": " Ann "})) == [
        ("player_joined", {"seat": 2, "player": "u3", "name": " Ann "}, ["u1", "u2", "u3"])
    ]
    state = await table.state("u3")
    assert [p["name"] for p in state["players"]] == [" Ann ", long_name, " Ann "]


async def test_leave_frees_lowest_seat(game) -> None:
    table = Table(game)
    await table.fill(3)
    assert triples(await table.send("leave_room", "u2")) == [
        ("player_left", {"seat": 1, "player": "u2"}, ["u1", "u2", "u3"])
    ]
    # the freed seat 1 is the lowest free one
    assert triples(await table.send("join_room", "u5", {"name": "Eve"})) == [
        ("player_joined", {"seat": 1, "player": "u5", "name": "Eve"}, ["u1", "u5", "u3"])
    ]
    assert triples(await table.send("join_room", "u2", {"name": "Bob"})) == [
        ("player_joined", {"seat": 3, "player": "u2", "name": "Bob"}, ["u1", "u5", "u3", "u2"])
    ]
    state = await table.state("u1")
    assert [(p["seat"], p["player"]) for p in state["players"]] == [
        (0, "u1"),
        (1, "u5"),
        (2, "u3"),
        (3, "u2"),
    ]


async def test_disconnect_in_waiting_is_leave(game) -> None:
    table = Table(game)
    await table.fill(3)
    assert triples(await table.send("disconnect", "u3")) == [
        ("player_left", {"seat": 2, "player": "u3"}, ["u1", "u2", "u3"])
    ]
    assert triples(await table.send("get_room_state", "u3")) == rejected("forbidden", "get_room_state", "u3")


async def test_host_leaving_closes_room(game) -> None:
    table = Table(game)
    await table.fill(3)
    assert triples(await table.send("leave_room", "u1")) == [
        ("room_closed", {"reason": "host_left"}, ["u1", "u2", "u3"])
    ]
    for t, actor, payload in [
        ("get_room_state", "u2", {}),
        ("join_room", "u4", {"name": "Dan"}),
        ("leave_room", "u2", {}),
        ("start_game", "u1", {}),
        ("reconnect", "u2", {}),
    ]:
        seed = 1 if t == "start_game" else None
        assert triples(await table.send(t, actor, payload, seed=seed)) == rejected("not_found", t, actor)
    # ids are never reused
    assert triples(await table.send("create_room", "u9", {"name": "Zed"})) == rejected(
        "invalid_state", "create_room", "u9"
    )


async def test_host_disconnect_in_waiting_closes_room(game) -> None:
    table = Table(game)
    await table.fill(2)
    assert triples(await table.send("disconnect", "u1")) == [
        ("room_closed", {"reason": "host_left"}, ["u1", "u2"])
    ]
    assert triples(await table.send("get_room_state", "u1")) == rejected("not_found", "get_room_state", "u1")


async def test_create_existing_room_is_invalid_state(game) -> None:
    table = Table(game)
    await table.fill(1)
    for actor in ("u1", "u2"):
        assert triples(await table.send("create_room", actor, {"name": "X"})) == rejected(
            "invalid_state", "create_room", actor
        )


async def test_join_checks(game) -> None:
    table = Table(game)
    await table.fill(4)
    # seated member of a full room: already_joined comes before room_full
    assert triples(await table.send("join_room", "u2", {"name": "Bob"})) == rejected(
        "already_joined", "join_room", "u2"
    )
    assert triples(await table.send("join_room", "u5", {"name": "Eve"})) == rejected(
        "room_full", "join_room", "u5"
    )
    await table.ok("start_game", "u1", seed=5)
    # phase first
    for actor in ("u2", "u5"):
        assert triples(await table.send("join_room", actor, {"name": "Eve"})) == rejected(
            "invalid_state", "join_room", actor
        )


async def test_join_absent_room_not_found(game) -> None:
    drafts = await game.handle(command("join_room", "u2", {"name": "Bob"}, room="ABCDEF"))
    assert triples(drafts) == rejected("not_found", "join_room", "u2")


async def test_start_game_checks(game) -> None:
    table = Table(game)
    await table.fill(3)
    # host-only comes before the player count
    assert triples(await table.send("start_game", "u2", seed=1)) == rejected("forbidden", "start_game", "u2")
    assert triples(await table.send("start_game", "u9", seed=1)) == rejected("forbidden", "start_game", "u9")
    assert triples(await table.send("start_game", "u1", seed=1)) == rejected(
        "invalid_state", "start_game", "u1"
    )
    await table.ok("join_room", "u4", {"name": "Dan"})
    await table.ok("start_game", "u1", seed=1)
    assert triples(await table.send("start_game", "u1", seed=1)) == rejected(
        "invalid_state", "start_game", "u1"
    )
    # host-only before phase
    assert triples(await table.send("start_game", "u3", seed=1)) == rejected("forbidden", "start_game", "u3")


async def test_leave_by_non_member_is_forbidden(game) -> None:
    table = Table(game)
    await table.fill(2)
    assert triples(await table.send("leave_room", "u9")) == rejected("forbidden", "leave_room", "u9")
    assert triples(await table.send("get_room_state", "u9")) == rejected("forbidden", "get_room_state", "u9")


async def test_waiting_room_state(game) -> None:
    table = Table(game)
    await table.fill(2)
    assert triples(await table.send("get_room_state", "u2")) == [
        (
            "room_state",
            {
                "phase": "waiting",
                "room_id": ROOM,
                "host": "u1",
                "players": [
                    {
                        "seat": s,
                        "player": p,
                        "name": NAMES[p],
                        "connected": True,
                        "declared": None,
                        "captured": 0,
                        "total": 0,
                        "hand_size": 0,
                    }
                    for s, p in enumerate(("u1", "u2"))
                ],
                "round": 0,
                "turn": 0,
                "multiplier": 1,
                "starter": None,
                "awaiting": [],
                "hand": [],
                "turn_plays": [],
                "required": None,
            },
            ["u2"],
        )
    ]
    # reconnect from a connected member: only room_state
    drafts = await table.send("reconnect", "u2")
    assert [d.type for d in drafts] == ["room_state"]
    assert drafts[0].audience == ["u2"]
