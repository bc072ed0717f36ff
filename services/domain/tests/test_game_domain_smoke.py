"""Smoke checks of the domain game context (the shared behaviour suite lives in tests/)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from parallax_contracts.envelopes import Command, EventDraft
from parallax_domain.factory import application_for, in_memory_handler
from parallax_domain.game import GameApplication, room_uuid, rules
from parallax_domain.game.application import SNAPSHOT_INTERVAL
from parallax_domain.handler import DomainContextHandler

ROOM = "A1B2C3"
PLAYERS = ["u0", "u1", "u2", "u3"]


def command(
    type_: str,
    actor: str,
    payload: Any = None,
    *,
    room: str = ROOM,
    seed: Any = None,
) -> Command:
    return Command(
        command_id=str(uuid.uuid4()),
        context="game",
        aggregate_id=room,
        type=type_,
        actor=actor,
        payload={} if payload is None else payload,
        seed=seed,
    )


def types(drafts: list[EventDraft]) -> list[str]:
    return [d.type for d in drafts]


def rejected(drafts: list[EventDraft]) -> str | None:
    if len(drafts) == 1 and drafts[0].type == "command_rejected":
        code: str = drafts[0].payload["code"]
        return code
    return None


def open_room(app: GameApplication, room: str = ROOM) -> None:
    app.handle(command("create_room", "u0", {"name": "Ann"}, room=room))
    for i, player in enumerate(PLAYERS[1:], start=1):
        app.handle(command("join_room", player, {"name": f"P{i}"}, room=room))


def state(app: GameApplication, actor: str, room: str = ROOM) -> dict[str, Any]:
    (draft,) = app.handle(command("get_room_state", actor, room=room))
    assert draft.type == "room_state"
    return draft.payload


def act(app: GameApplication, room: str = ROOM) -> list[EventDraft]:
    """The awaited player does the simplest legal thing (decline, smallest value, first pieces)."""
    (player,) = state(app, PLAYERS[0], room)["awaiting"]  # any member may ask
    view = state(app, player, room)
    if view["phase"] == "redeal":
        return app.handle(command("redeal_decision", player, {"accept": False}, room=room))
    if view["phase"] == "declaration":
        for value in range(9):
            drafts = app.handle(command("declare", player, {"value": value}, room=room))
            if rejected(drafts) is None:
                return drafts
        raise AssertionError("no declaration accepted")
    count = view["required"] or 1
    drafts = app.handle(command("play", player, {"pieces": view["hand"][:count]}, room=room))
    assert rejected(drafts) is None, drafts
    return drafts


# -- pure rules ------------------------------------------------------------------------------


def test_deal_vectors() -> None:
    hands = rules.deal(42)
    assert [" ".join(hand) for hand in hands] == [
        "ADVISOR_RED CHARIOT_RED GENERAL_BLACK HORSE_BLACK CHARIOT_BLACK SOLDIER_BLACK "
        "ELEPHANT_BLACK CANNON_RED",
        "SOLDIER_RED HORSE_BLACK SOLDIER_RED CHARIOT_RED SOLDIER_RED SOLDIER_RED SOLDIER_RED CANNON_RED",
        "ELEPHANT_RED ELEPHANT_BLACK HORSE_RED SOLDIER_BLACK ADVISOR_BLACK SOLDIER_BLACK "
        "HORSE_RED SOLDIER_BLACK",
        "ADVISOR_RED CANNON_BLACK GENERAL_RED ADVISOR_BLACK SOLDIER_BLACK CHARIOT_BLACK "
        "ELEPHANT_RED CANNON_BLACK",
    ]
    assert " ".join(rules.deal(0)[0]) == (
        "CHARIOT_BLACK CANNON_BLACK CANNON_BLACK CHARIOT_RED ELEPHANT_BLACK ADVISOR_BLACK "
        "SOLDIER_BLACK SOLDIER_BLACK"
    )
    assert rules.deal_seed(2**64 - 1, 1, 1) == 2**32
    assert rules.deal_seed(5, 2, 3) == 5 + 2 * 2**32 + 3


@pytest.mark.parametrize(
    ("pieces", "play_type", "value"),
    [
        ("GENERAL_RED", "SINGLE", 14),
        ("SOLDIER_BLACK", "SINGLE", 1),
        ("ADVISOR_RED ADVISOR_RED", "PAIR", 24),
        ("ADVISOR_RED ADVISOR_BLACK", "INVALID", 23),
        ("SOLDIER_RED SOLDIER_RED SOLDIER_RED", "THREE_OF_A_KIND", 6),
        ("SOLDIER_RED SOLDIER_RED SOLDIER_BLACK", "INVALID", 5),
        ("GENERAL_RED ADVISOR_RED ELEPHANT_RED", "STRAIGHT", 36),
        ("CANNON_BLACK CHARIOT_BLACK HORSE_BLACK", "STRAIGHT", 15),
        ("GENERAL_RED ADVISOR_RED CHARIOT_RED", "INVALID", 34),
        ("GENERAL_BLACK ADVISOR_RED ELEPHANT_RED", "INVALID", 35),
        ("ADVISOR_RED ADVISOR_RED ELEPHANT_RED", "INVALID", 34),
        ("SOLDIER_BLACK SOLDIER_BLACK SOLDIER_BLACK SOLDIER_BLACK", "FOUR_OF_A_KIND", 4),
        ("CHARIOT_RED HORSE_RED HORSE_RED CANNON_RED", "EXTENDED_STRAIGHT", 18),
        ("ADVISOR_BLACK ADVISOR_BLACK ELEPHANT_BLACK GENERAL_BLACK", "EXTENDED_STRAIGHT", 33),
        ("CHARIOT_RED HORSE_RED CANNON_RED CANNON_RED", "EXTENDED_STRAIGHT", 18),
        ("CHARIOT_RED CHARIOT_RED HORSE_RED HORSE_RED", "INVALID", 28),
        ("SOLDIER_RED SOLDIER_RED SOLDIER_RED SOLDIER_RED SOLDIER_RED", "FIVE_OF_A_KIND", 10),
        (
            "CHARIOT_BLACK CHARIOT_BLACK HORSE_BLACK HORSE_BLACK CANNON_BLACK",
            "EXTENDED_STRAIGHT_5",
            15,
        ),
        ("ADVISOR_RED ADVISOR_RED ELEPHANT_RED ELEPHANT_RED GENERAL_RED", "EXTENDED_STRAIGHT_5", 36),
        ("CHARIOT_RED CHARIOT_RED CHARIOT_RED HORSE_RED CANNON_RED", "INVALID", 34),
        (
            "CHARIOT_RED CHARIOT_RED HORSE_RED HORSE_RED CANNON_RED CANNON_RED",
            "DOUBLE_STRAIGHT",
            36,
        ),
        (
            "CHARIOT_RED CHARIOT_RED HORSE_RED HORSE_RED CANNON_RED CANNON_BLACK",
            "INVALID",
            35,
        ),
        ("", "INVALID", 0),
    ],
)
def test_play_types(pieces: str, play_type: str, value: int) -> None:
    assert rules.classify(pieces.split()) == (play_type, value)


def test_turn_winner_scoring_and_declarations() -> None:
    # Same type and strictly greater value replaces the provisional winner.
    assert rules.turn_winner([(2, "PAIR", 10), (3, "PAIR", 10), (0, "INVALID", 30), (1, "PAIR", 12)]) == 1
    assert rules.base_score(0, 0) == 3
    assert rules.base_score(0, 2) == -2
    assert rules.base_score(3, 3) == 8
    assert rules.base_score(3, 1) == -2
    assert rules.base_score(1, 4) == -3
    assert not rules.declaration_allowed(3, [2, 2, 1], True, [])
    assert rules.declaration_allowed(3, [2, 2, 1], False, [])
    assert not rules.declaration_allowed(0, [], False, [1, 0, 0])
    assert rules.declaration_allowed(0, [], False, [0, 1, 0])
    assert rules.smallest_allowed_declaration([3, 3, 1], True, [0, 0]) == 2
    assert rules.is_weak(["HORSE_RED", "ELEPHANT_BLACK"])
    assert not rules.is_weak(["SOLDIER_RED", "ELEPHANT_RED"])


# -- through the handler ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_full_game_to_game_over_through_the_handler() -> None:
    handler = in_memory_handler("game")
    assert isinstance(handler, DomainContextHandler)

    created = await handler.handle(command("create_room", "u0", {"name": "Ann"}))
    assert created == [
        EventDraft(
            type="room_created",
            payload={
                "room_id": ROOM,
                "host": "u0",
                "players": [{"seat": 0, "player": "u0", "name": "Ann", "connected": True}],
            },
            audience=["u0"],
        )
    ]
    for i, player in enumerate(PLAYERS[1:], start=1):
        joined = await handler.handle(command("join_room", player, {"name": f"P{i}"}))
        assert joined[0].payload == {"seat": i, "player": player, "name": f"P{i}"}
        assert joined[0].audience == PLAYERS[: i + 1]

    started = await handler.handle(command("start_game", "u0", seed=42))
    assert types(started)[:5] == ["game_started"] + ["hand_dealt"] * 4
    dealt = [d for d in started if d.type == "hand_dealt"]
    assert [d.audience for d in dealt] == [[p] for p in PLAYERS]
    round1 = rules.deal(rules.deal_seed(42, 1, 0))
    assert [d.payload["hand"] for d in dealt] == [list(h) for h in round1]

    app = handler.app
    assert isinstance(app, GameApplication)
    seen: list[str] = []
    for _ in range(5000):
        if state(app, "u0")["phase"] == "game_over":
            break
        seen += types(act(app))
    else:
        raise AssertionError("the game never ended")

    over_view = state(app, "u1")
    assert over_view["awaiting"] == [] and over_view["starter"] is None
    assert over_view["hand"] == [] and over_view["turn_plays"] == []
    assert seen[-1] == "game_over"
    assert seen[-4:-1] == ["pieces_played", "turn_completed", "round_scored"]
    assert "turn_started" in seen
    room = app.get_room(ROOM)
    assert room is not None
    totals = room.totals
    assert max(totals) >= 50 or room.round == 20
    # After game over only the queries and leaving work.
    assert rejected(await handler.handle(command("declare", "u1", {"value": 1}))) == ("invalid_state")
    assert rejected(await handler.handle(command("start_game", "u1", seed=1))) == "forbidden"


@pytest.mark.asyncio
async def test_rejections_in_precedence_order() -> None:
    handler = in_memory_handler("game")

    async def code(cmd: Command) -> str | None:
        return rejected(await handler.handle(cmd))

    # Shape first, even for a room that does not exist.
    assert await code(command("create_room", "u0", {"name": ""})) == "invalid_input"
    assert await code(command("create_room", "u0", {"name": "x" * 51})) == "invalid_input"
    assert await code(command("create_room", "u0", {"name": "a<b"})) == "invalid_input"
    assert await code(command("create_room", "u0", {"name": "a\nb"})) == "invalid_input"
    assert await code(command("create_room", "u0", {"name": "Ann", "x": 1})) == "invalid_input"
    assert await code(command("create_room", "u0", {"name": "Ann"}, room="a1b2c3")) == ("invalid_input")
    assert await code(command("fly", "u0", {})) == "invalid_input"
    assert await code(command("declare", "u0", {"value": True})) == "invalid_input"
    assert await code(command("declare", "u0", {"value": 2.0})) == "invalid_input"
    assert await code(command("play", "u0", {"pieces": ["KING_RED"]})) == "invalid_input"
    assert await code(command("start_game", "u0", seed=2**64)) == "invalid_input"
    assert await code(command("start_game", "u0", seed=True)) == "invalid_input"
    assert await code(command("start_game", "u0", seed=-1)) == "invalid_input"
    assert await code(command("start_game", "u0", seed=1)) == "not_found"
    assert await code(command("join_room", "u1", {"name": "Bo"})) == "not_found"

    assert rejected(await handler.handle(command("create_room", "u0", {"name": "A" * 50}))) is None
    assert await code(command("create_room", "u9", {"name": "Ann"})) == "invalid_state"
    assert await code(command("get_room_state", "u9")) == "forbidden"
    assert await code(command("join_room", "u0", {"name": "Ann"})) == "already_joined"
    assert await code(command("start_game", "u0", seed=1)) == "invalid_state"
    for player in PLAYERS[1:]:
        await handler.handle(command("join_room", player, {"name": "Dup"}))
    assert await code(command("join_room", "u9", {"name": "Late"})) == "room_full"
    assert await code(command("start_game", "u1", seed=1)) == "forbidden"
    assert await code(command("declare", "u0", {"value": 1})) == "invalid_state"
    assert await code(command("start_game", "u0", seed=2**64 - 1)) is None
    assert await code(command("join_room", "u9", {"name": "Late"})) == "invalid_state"
    assert await code(command("join_room", "u1", {"name": "Again"})) == "invalid_state"


@pytest.mark.asyncio
async def test_declaration_rules_and_not_your_turn() -> None:
    app = GameApplication()
    open_room(app)
    # A seed whose first deal has no weak hand, so declarations open at once.
    seed = next(
        s for s in range(1000) if not any(rules.is_weak(h) for h in rules.deal(rules.deal_seed(s, 1, 0)))
    )
    started = app.handle(command("start_game", "u0", seed=seed))
    (round_started,) = [d for d in started if d.type == "round_started"]
    order = round_started.payload["order"]
    assert round_started.payload["starter"] == order[0]
    assert (
        order[0]
        == PLAYERS[
            next(i for i, h in enumerate(rules.deal(rules.deal_seed(seed, 1, 0))) if "GENERAL_RED" in h)
        ]
    )
    assert rejected(app.handle(command("declare", order[1], {"value": 1}))) == "not_your_turn"
    assert rejected(app.handle(command("declare", order[0], {"value": 9}))) == "invalid_input"
    assert rejected(app.handle(command("play", order[0], {"pieces": []}))) == "invalid_state"
    for player, value in zip(order[:3], (3, 2, 1), strict=True):
        assert types(app.handle(command("declare", player, {"value": value}))) == ["declared"]
    assert rejected(app.handle(command("declare", order[3], {"value": 2}))) == "invalid_input"
    last = app.handle(command("declare", order[3], {"value": 0}))
    assert types(last) == ["declared", "turn_started"]
    assert last[1].payload == {"round": 1, "turn": 1, "starter": order[0]}
    view = state(app, order[0])
    assert view["phase"] == "turn" and view["awaiting"] == [order[0]]
    assert [p["declared"] for p in view["players"]] == [
        {order[0]: 3, order[1]: 2, order[2]: 1, order[3]: 0}[p] for p in PLAYERS
    ]
    hand = view["hand"]
    assert rejected(app.handle(command("play", order[1], {"pieces": hand[:1]}))) == ("not_your_turn")
    missing = next(k for k in rules.PIECE_POINTS if k not in hand)
    assert rejected(app.handle(command("play", order[0], {"pieces": [missing]}))) == ("invalid_input")
    played = app.handle(command("play", order[0], {"pieces": hand[:1]}))
    assert played[0].payload["auto"] is False and played[0].payload["play_type"] == "SINGLE"
    follower = state(app, order[1])
    assert follower["required"] == 1 and len(follower["turn_plays"]) == 1
    assert rejected(app.handle(command("play", order[1], {"pieces": follower["hand"][:2]}))) == (
        "invalid_input"
    )


@pytest.mark.asyncio
async def test_disconnects_chain_automatic_actions_and_abandon() -> None:
    app = GameApplication()
    open_room(app)
    app.handle(command("start_game", "u0", seed=7))
    out = app.handle(command("disconnect", "u0"))
    assert types(out)[:2] == ["player_disconnected", "host_changed"]
    assert out[1].payload == {"old_host": "u0", "new_host": "u1"}
    assert rejected(app.handle(command("disconnect", "u0"))) == "invalid_state"
    assert rejected(app.handle(command("leave_room", "u0"))) == "invalid_state"
    assert state(app, "u0")["players"][0]["connected"] is False
    app.handle(command("leave_room", "u2"))  # in a game: a disconnect
    app.handle(command("disconnect", "u3"))
    # Only u1 is connected: everything else happens automatically.
    for _ in range(3000):
        view = state(app, "u1")
        if view["phase"] == "game_over":
            break
        assert view["awaiting"] == ["u1"]
        act(app)
    else:
        raise AssertionError("the game never ended")
    back = app.handle(command("reconnect", "u0"))
    assert types(back) == ["player_reconnected", "room_state"]
    assert back[1].audience == ["u0"]
    assert types(app.handle(command("reconnect", "u0"))) == ["room_state"]
    assert state(app, "u0")["host"] == "u1"
    app.handle(command("disconnect", "u0"))
    closed = app.handle(command("disconnect", "u1"))
    assert types(closed) == ["room_closed"]
    assert closed[0].payload == {"reason": "abandoned"}
    assert closed[0].audience == PLAYERS
    assert rejected(app.handle(command("get_room_state", "u1"))) == "not_found"
    assert rejected(app.handle(command("create_room", "u1", {"name": "x"}))) == "invalid_state"


def test_waiting_room_leave_and_host_left() -> None:
    app = GameApplication()
    open_room(app)
    left = app.handle(command("leave_room", "u2"))
    assert [(d.type, d.payload, d.audience) for d in left] == [
        ("player_left", {"seat": 2, "player": "u2"}, PLAYERS)
    ]
    rejoin = app.handle(command("join_room", "u9", {"name": "Neo"}))
    assert rejoin[0].payload["seat"] == 2
    assert types(app.handle(command("disconnect", "u3"))) == ["player_left"]
    closed = app.handle(command("leave_room", "u0"))
    assert [(d.type, d.payload, d.audience) for d in closed] == [
        ("room_closed", {"reason": "host_left"}, ["u0", "u1", "u9"])
    ]
    assert rejected(app.handle(command("join_room", "u3", {"name": "x"}))) == "not_found"


def test_sqlite_round_trip_and_idempotent_receipts(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "g.db")}
    app = application_for("game", env)
    assert isinstance(app, GameApplication)
    open_room(app)
    start = command("start_game", "u0", seed=123456789)
    first = app.handle(start)
    assert app.handle(start) == first  # a redelivery gets the same response, changes nothing
    before = state(app, "u2")

    reopened = GameApplication(env=env)
    assert state(reopened, "u2") == before
    assert reopened.handle(start) == first
    for _ in range(40):
        act(reopened)
    third = GameApplication(env=env)
    assert state(third, "u3") == state(reopened, "u3")


def test_long_game_loads_from_a_snapshot(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "l.db")}
    app = GameApplication(env=env)
    open_room(app)
    app.handle(command("start_game", "u0", seed=3))
    for player in PLAYERS[1:]:
        app.handle(command("disconnect", player))
    rounds = []
    for _ in range(3000):
        view = state(app, "u0")
        rounds.append(view["round"])
        if view["phase"] == "game_over":
            break
        act(app)
    assert view["phase"] == "game_over" and view["round"] == 20  # seed 3 plays all 20 rounds

    fresh = GameApplication(env=env)  # an empty cache: loads from the store
    room_id = room_uuid(ROOM)
    assert fresh.snapshots is not None
    snapshots = list(fresh.snapshots.get(room_id, desc=True, limit=1))
    assert snapshots, "no snapshot taken"
    latest = fresh.repository.get(room_id)
    replayed = list(fresh.events.get(room_id, gt=snapshots[0].originator_version))
    assert latest.version > 20 * SNAPSHOT_INTERVAL // 2
    assert len(replayed) < SNAPSHOT_INTERVAL  # bounded replay, whatever the game's length
    assert fresh.get_room(ROOM) == app.get_room(ROOM)


def test_redeal_accept_raises_multiplier_and_redeals() -> None:
    seed = next(s for s in range(1000) if any(rules.is_weak(h) for h in rules.deal(rules.deal_seed(s, 1, 0))))
    app = GameApplication()
    open_room(app)
    started = app.handle(command("start_game", "u0", seed=seed))
    phase = next(d for d in started if d.type == "redeal_phase_started")
    weak = phase.payload["weak_players"]
    assert phase.payload["multiplier"] == 1
    others = [p for p in PLAYERS if p not in weak]
    if others:
        assert rejected(app.handle(command("redeal_decision", others[0], {"accept": True}))) == (
            "not_your_turn"
        )
    out = app.handle(command("redeal_decision", weak[0], {"accept": True}))
    for player in weak[1:]:
        out = app.handle(command("redeal_decision", player, {"accept": False}))
    assert types(out)[:6] == ["redeal_decided", "redeal_executed"] + ["hand_dealt"] * 4
    assert out[1].payload == {"round": 1, "attempt": 1, "starter": weak[0], "multiplier": 2}
    hands = rules.deal(rules.deal_seed(seed, 1, 1))
    assert [d.payload["hand"] for d in out[2:6]] == [list(h) for h in hands]
    assert types(out)[6] in ("redeal_phase_started", "round_started")
    assert state(app, "u0")["multiplier"] == 2
