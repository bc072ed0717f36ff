"""Smoke tests of the legacy game rules (the full conformance suite lives elsewhere)."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any, Protocol

import pytest
from parallax_contracts.envelopes import Command, EventDraft
from parallax_legacy.factory import in_memory_handler
from parallax_legacy.game import GAME_RULES
from parallax_legacy.game.dealing import deal_hands, deal_seed
from parallax_legacy.game.plays import classify
from parallax_legacy.game.scoring import base_score

ROOM = "ABC123"
PLAYERS = ["u0", "u1", "u2", "u3"]
_ids = itertools.count()


def cmd(ctype: str, actor: str, payload: Any = None, *, room: str = ROOM, seed: Any = None) -> Command:
    return Command(
        command_id=f"c-{next(_ids)}",
        context="game",
        aggregate_id=room,
        type=ctype,
        actor=actor,
        payload={} if payload is None else payload,
        seed=seed,
    )


class Handles(Protocol):
    async def handle(self, command: Command) -> list[EventDraft]: ...


class DirectRules:
    """GAME_RULES without the storage wrapper (whose receipts make long games slow)."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None

    async def handle(self, command: Command) -> list[EventDraft]:
        before = json.dumps(self.state)
        outcome = GAME_RULES.apply(self.state, command, lambda _id: None)
        assert json.dumps(self.state) == before  # apply never changes what it was given
        if outcome.state is not None:
            # ... and what it returns shares no dict or list with it (copy_room copies them all).
            assert not containers(outcome.state) & containers(self.state)
            self.state = json.loads(json.dumps(outcome.state))
        else:
            assert all(e.type in ("command_rejected", "room_state") for e in outcome.drafts)
        return outcome.drafts


def containers(value: Any) -> set[int]:
    """The ids of every dict and list in a JSON tree."""
    if isinstance(value, dict):
        return {id(value)}.union(*(containers(v) for v in value.values()))
    if isinstance(value, list):
        return {id(value)}.union(*(containers(v) for v in value))
    return set()


def types(events: list[EventDraft]) -> list[str]:
    return [e.type for e in events]


def rejected(events: list[EventDraft]) -> str | None:
    if len(events) == 1 and events[0].type == "command_rejected":
        code: str = events[0].payload["code"]
        return code
    return None


async def full_room(h: Handles) -> None:
    await h.handle(cmd("create_room", "u0", {"name": "Zero"}))
    for p in PLAYERS[1:]:
        await h.handle(cmd("join_room", p, {"name": p.upper()}))


async def state_of(h: Handles, actor: str) -> dict[str, Any]:
    (event,) = await h.handle(cmd("get_room_state", actor))
    assert event.type == "room_state"
    return event.payload


# --- dealing -----------------------------------------------------------------------------------


def test_deal_vectors() -> None:
    hands = deal_hands(42)
    assert hands[0] == [
        "ADVISOR_RED",
        "CHARIOT_RED",
        "GENERAL_BLACK",
        "HORSE_BLACK",
        "CHARIOT_BLACK",
        "SOLDIER_BLACK",
        "ELEPHANT_BLACK",
        "CANNON_RED",
    ]
    assert hands[1] == [
        "SOLDIER_RED",
        "HORSE_BLACK",
        "SOLDIER_RED",
        "CHARIOT_RED",
        "SOLDIER_RED",
        "SOLDIER_RED",
        "SOLDIER_RED",
        "CANNON_RED",
    ]
    assert hands[2] == [
        "ELEPHANT_RED",
        "ELEPHANT_BLACK",
        "HORSE_RED",
        "SOLDIER_BLACK",
        "ADVISOR_BLACK",
        "SOLDIER_BLACK",
        "HORSE_RED",
        "SOLDIER_BLACK",
    ]
    assert hands[3] == [
        "ADVISOR_RED",
        "CANNON_BLACK",
        "GENERAL_RED",
        "ADVISOR_BLACK",
        "SOLDIER_BLACK",
        "CHARIOT_BLACK",
        "ELEPHANT_RED",
        "CANNON_BLACK",
    ]
    assert deal_hands(0)[0] == [
        "CHARIOT_BLACK",
        "CANNON_BLACK",
        "CANNON_BLACK",
        "CHARIOT_RED",
        "ELEPHANT_BLACK",
        "ADVISOR_BLACK",
        "SOLDIER_BLACK",
        "SOLDIER_BLACK",
    ]


def test_deal_seed_formula() -> None:
    assert deal_seed(42, 1, 0) == 42 + 2**32
    assert deal_seed(2**64 - 1, 1, 1) == 2**32
    assert deal_seed(5, 3, 2) == 5 + 3 * 2**32 + 2


# --- play types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pieces", "ptype", "value"),
    [
        (["GENERAL_RED"], "SINGLE", 14),
        (["SOLDIER_BLACK"], "SINGLE", 1),
        (["CHARIOT_RED", "CHARIOT_RED"], "PAIR", 16),
        (["CHARIOT_RED", "CHARIOT_BLACK"], "INVALID", 15),
        (["SOLDIER_RED"] * 3, "THREE_OF_A_KIND", 6),
        (["SOLDIER_RED", "SOLDIER_RED", "SOLDIER_BLACK"], "INVALID", 5),
        (["GENERAL_RED", "ADVISOR_RED", "ELEPHANT_RED"], "STRAIGHT", 36),
        (["CANNON_BLACK", "HORSE_BLACK", "CHARIOT_BLACK"], "STRAIGHT", 15),
        (["GENERAL_RED", "ADVISOR_RED", "CHARIOT_RED"], "INVALID", 34),
        (["ADVISOR_RED", "ADVISOR_RED", "ELEPHANT_RED"], "INVALID", 34),
        (["SOLDIER_BLACK"] * 4, "FOUR_OF_A_KIND", 4),
        (["CHARIOT_RED", "HORSE_RED", "HORSE_RED", "CANNON_RED"], "EXTENDED_STRAIGHT", 18),
        (["GENERAL_RED", "ADVISOR_RED", "ADVISOR_RED", "ELEPHANT_RED"], "EXTENDED_STRAIGHT", 36),
        (["CHARIOT_RED", "HORSE_RED", "CANNON_RED", "CANNON_BLACK"], "INVALID", 21),
        (["CHARIOT_RED", "CHARIOT_RED", "HORSE_RED", "HORSE_RED"], "INVALID", 28),
        (["SOLDIER_RED"] * 5, "FIVE_OF_A_KIND", 10),
        (
            ["CHARIOT_BLACK", "CHARIOT_BLACK", "HORSE_BLACK", "HORSE_BLACK", "CANNON_BLACK"],
            "EXTENDED_STRAIGHT_5",
            15,
        ),
        (
            ["CHARIOT_BLACK", "CHARIOT_BLACK", "HORSE_BLACK", "CANNON_BLACK", "CANNON_BLACK"],
            "EXTENDED_STRAIGHT_5",
            15,
        ),
        (
            ["CHARIOT_RED", "CHARIOT_RED", "HORSE_RED", "HORSE_RED", "CANNON_RED", "CANNON_RED"],
            "DOUBLE_STRAIGHT",
            36,
        ),
        (["SOLDIER_RED"] * 5 + ["SOLDIER_BLACK"], "INVALID", 11),
        (["SOLDIER_RED"] * 7, "INVALID", 14),
    ],
)
def test_play_types(pieces: list[str], ptype: str, value: int) -> None:
    assert classify(pieces) == (ptype, value)


def test_base_score() -> None:
    assert base_score(0, 0) == 3
    assert base_score(0, 2) == -2
    assert base_score(3, 3) == 8
    assert base_score(3, 1) == -2
    assert base_score(1, 4) == -3


# --- lifecycle and rejections --------------------------------------------------------------------


async def test_lifecycle_and_rejections() -> None:
    h = in_memory_handler("game")
    (created,) = await h.handle(cmd("create_room", "u0", {"name": "Zero"}))
    assert created.type == "room_created"
    assert created.audience == ["u0"]
    assert created.payload == {
        "room_id": ROOM,
        "host": "u0",
        "players": [{"seat": 0, "player": "u0", "name": "Zero", "connected": True}],
    }
    assert rejected(await h.handle(cmd("create_room", "u9", {"name": "x"}))) == "invalid_state"
    assert rejected(await h.handle(cmd("join_room", "u1", {"name": "a<b"}))) == "invalid_input"
    assert rejected(await h.handle(cmd("join_room", "u1", {"name": ""}))) == "invalid_input"
    assert rejected(await h.handle(cmd("join_room", "u1", {"name": "x" * 51}))) == "invalid_input"
    assert rejected(await h.handle(cmd("join_room", "u1", {"name": "a", "x": 1}))) == ("invalid_input")
    assert rejected(await h.handle(cmd("fly", "u1", {}))) == "invalid_input"
    assert rejected(await h.handle(cmd("get_room_state", "u0", room="abc123"))) == "invalid_input"
    assert rejected(await h.handle(cmd("get_room_state", "u0", room="000000"))) == "not_found"
    assert rejected(await h.handle(cmd("get_room_state", "u1"))) == "forbidden"
    assert rejected(await h.handle(cmd("join_room", "u0", {"name": "a"}))) == "already_joined"

    (joined,) = await h.handle(cmd("join_room", "u1", {"name": "x" * 50}))
    assert joined.payload == {"seat": 1, "player": "u1", "name": "x" * 50}
    assert joined.audience == ["u0", "u1"]
    await h.handle(cmd("join_room", "u2", {"name": "Two"}))
    (left,) = await h.handle(cmd("leave_room", "u1"))
    assert (left.type, left.payload, left.audience) == (
        "player_left",
        {"seat": 1, "player": "u1"},
        ["u0", "u1", "u2"],
    )
    assert rejected(await h.handle(cmd("start_game", "u2", seed=1))) == "forbidden"
    assert rejected(await h.handle(cmd("start_game", "u0", seed=1))) == "invalid_state"
    (joined,) = await h.handle(cmd("join_room", "u3", {"name": "Three"}))
    assert joined.payload["seat"] == 1
    await h.handle(cmd("join_room", "u1", {"name": "One"}))
    assert rejected(await h.handle(cmd("join_room", "u9", {"name": "Nine"}))) == "room_full"
    assert rejected(await h.handle(cmd("start_game", "u0", seed=True))) == "invalid_input"
    assert rejected(await h.handle(cmd("start_game", "u0", seed=2**64))) == "invalid_input"
    assert rejected(await h.handle(cmd("start_game", "u0", seed=-1))) == "invalid_input"
    assert rejected(await h.handle(cmd("start_game", "u0", seed=1.0))) == "invalid_input"
    assert rejected(await h.handle(cmd("declare", "u0", {"value": True}))) == "invalid_input"
    assert rejected(await h.handle(cmd("declare", "u0", {"value": 1}))) == "invalid_state"

    # Host leaves in waiting: only room_closed, to the members before; then a tombstone.
    (closed,) = await h.handle(cmd("leave_room", "u0"))
    assert (closed.type, closed.payload) == ("room_closed", {"reason": "host_left"})
    assert closed.audience == ["u0", "u3", "u2", "u1"]
    assert rejected(await h.handle(cmd("get_room_state", "u0"))) == "not_found"
    assert rejected(await h.handle(cmd("join_room", "u5", {"name": "n"}))) == "not_found"
    assert rejected(await h.handle(cmd("create_room", "u0", {"name": "n"}))) == "invalid_state"


async def test_start_with_seed_42() -> None:
    h = in_memory_handler("game")
    await full_room(h)
    events = await h.handle(cmd("start_game", "u0", seed=42))
    # seed 42 + 2^32 for round 1 -- just check the structure and that hands go to their owners
    assert types(events)[:5] == ["game_started"] + ["hand_dealt"] * 4
    for seat, event in enumerate(events[1:5]):
        assert event.audience == [PLAYERS[seat]]
        assert event.payload["player"] == PLAYERS[seat]
        assert event.payload["round"] == 1
        assert event.payload["attempt"] == 0
        assert event.payload["hand"] == deal_hands(deal_seed(42, 1, 0))[seat]
    assert events[0].audience == PLAYERS


# --- a driven game ---------------------------------------------------------------------------------


def choose_play(rng: random.Random, hand: list[str], required: int | None) -> list[str]:
    """A random legal play, preferring multi-piece types and matching the starter's count."""
    sizes = [required] if required else list(range(1, min(6, len(hand)) + 1))
    options = []
    for size in sizes:
        for combo in itertools.combinations(range(len(hand)), size):
            pieces = [hand[i] for i in combo]
            if required or classify(pieces)[0] != "INVALID":
                options.append(pieces)
    good = [o for o in options if len(o) > 1 and classify(o)[0] != "INVALID"]
    pool = good if good and rng.random() < 0.7 else options
    choice = list(rng.choice(pool))
    rng.shuffle(choice)
    return choice


async def drive(h: Handles, *, accept_redeals: bool, rng: random.Random | None = None) -> list[EventDraft]:
    """Play until game_over with simple bots; return every event of the game."""
    log: list[EventDraft] = []
    viewer = "u1"
    for _ in range(5000):
        st = await state_of(h, viewer)
        if st["phase"] == "game_over":
            return log
        (actor,) = st["awaiting"]
        mine = st if actor == viewer else await state_of(h, actor)
        viewer = actor
        if st["phase"] == "redeal":
            accept = accept_redeals if rng is None else rng.random() < 0.3
            events = await h.handle(cmd("redeal_decision", actor, {"accept": accept}))
        elif st["phase"] == "declaration":
            values = list(range(9)) if rng is None else rng.sample(range(4), 4) + list(range(9))
            for value in values:
                events = await h.handle(cmd("declare", actor, {"value": value}))
                if rejected(events) is None:
                    break
        elif rng is None:
            count = st["required"] or 1
            events = await h.handle(cmd("play", actor, {"pieces": mine["hand"][:count]}))
        else:
            pieces = choose_play(rng, mine["hand"], st["required"])
            events = await h.handle(cmd("play", actor, {"pieces": pieces}))
        assert rejected(events) is None, events
        log.extend(events)
    raise AssertionError("game did not end")


def check_game_log(log: list[EventDraft]) -> None:
    over = [e for e in log if e.type == "game_over"]
    assert len(over) == 1
    assert log[-1].type == "game_over"
    totals = over[0].payload["totals"]
    top = max(totals.values())
    assert top >= 50 or over[0].payload["rounds"] == 20
    assert over[0].payload["winners"] == [p for p in PLAYERS if totals[p] == top]
    scored = [e for e in log if e.type == "round_scored"]
    assert len(scored) == over[0].payload["rounds"]
    running = dict.fromkeys(PLAYERS, 0)
    for event in scored:
        for result in event.payload["results"]:
            assert result["delta"] == result["base"] * event.payload["multiplier"]
            running[result["player"]] += result["delta"]
            assert result["total"] == running[result["player"]]
    assert running == totals
    history: dict[str, list[int]] = {p: [] for p in PLAYERS}
    round_values: list[int] = []
    for event in log:
        if event.type == "round_started":
            round_values = []
            assert event.payload["order"][0] == event.payload["starter"]
        if event.type == "declared":
            value = event.payload["value"]
            past = history[event.payload["player"]]
            assert not (value == 0 and past[-2:] == [0, 0])
            round_values.append(value)
            assert len(round_values) < 4 or sum(round_values) != 8
            past.append(value)
        if event.type == "turn_completed":
            plays = event.payload["plays"]
            assert len(plays) == 4
            assert event.payload["piles"] == len(plays[0]["pieces"])
            best = plays[0]
            for play in plays[1:]:
                if play["play_type"] == best["play_type"] and play["value"] > best["value"]:
                    best = play
            assert event.payload["winner"] == best["player"]


async def test_full_game_through_the_handler() -> None:
    """The real wrapper (storage, receipts). Three players drop out at once so that the game,
    played automatically for them, needs few commands (each stored write carries the receipts)."""
    h = in_memory_handler("game")
    await full_room(h)
    log = await h.handle(cmd("start_game", "u0", seed=42))
    for p in ["u0", "u2", "u3"]:
        log += await h.handle(cmd("disconnect", p))
    log += await drive(h, accept_redeals=True)
    check_game_log(log)
    assert (await state_of(h, "u3"))["phase"] == "game_over"
    again = cmd("get_room_state", "u1")
    assert await h.handle(again) == await h.handle(again)  # a redelivery gets the same answer


@pytest.mark.parametrize("seed", [42, 0, 7, 2**64 - 1, 31337, 5, 6, 8])
async def test_full_game_to_game_over(seed: int) -> None:
    h = DirectRules()
    await full_room(h)
    start = await h.handle(cmd("start_game", "u0", seed=seed))
    log = start + await drive(h, accept_redeals=False, rng=random.Random(seed))
    check_game_log(log)
    final = await state_of(h, "u2")
    assert final["phase"] == "game_over"
    assert final["starter"] is None
    assert final["awaiting"] == [] and final["hand"] == [] and final["turn_plays"] == []
    assert rejected(await h.handle(cmd("declare", "u1", {"value": 1}))) == "invalid_state"
    assert rejected(await h.handle(cmd("start_game", "u1", seed=1))) == "forbidden"
    assert rejected(await h.handle(cmd("start_game", "u0", seed=1))) == "invalid_state"


async def test_three_disconnected_players_are_played_automatically() -> None:
    h = DirectRules()
    await full_room(h)
    log = await h.handle(cmd("start_game", "u0", seed=123))
    for p in ["u0", "u2", "u3"]:
        events = await h.handle(cmd("disconnect", p))
        assert events[0].type == "player_disconnected"
        if p == "u0":
            assert events[1].type == "host_changed"
            assert events[1].payload == {"old_host": "u0", "new_host": "u1"}
        log.extend(events)
    assert rejected(await h.handle(cmd("disconnect", "u2"))) == "invalid_state"
    st = await state_of(h, "u2")
    assert st["host"] == "u1"
    if st["phase"] != "game_over":
        assert st["awaiting"] == ["u1"]
    log.extend(await drive(h, accept_redeals=False))
    check_game_log(log)
    for e in log:
        if e.type in ("declared", "pieces_played"):
            assert e.payload["auto"] == (e.payload["player"] != "u1")
    # Reconnect after the game, then everybody leaves: the last one out closes the room.
    events = await h.handle(cmd("reconnect", "u0"))
    assert types(events) == ["player_reconnected", "room_state"]
    assert events[1].audience == ["u0"]
    assert (await state_of(h, "u0"))["host"] == "u1"
    await h.handle(cmd("leave_room", "u1"))
    (closed,) = await h.handle(cmd("disconnect", "u0"))
    assert closed.payload == {"reason": "abandoned"}
    assert closed.audience == PLAYERS
    assert rejected(await h.handle(cmd("get_room_state", "u0"))) == "not_found"


async def test_everyone_disconnects_mid_game() -> None:
    h = DirectRules()
    await full_room(h)
    await h.handle(cmd("start_game", "u0", seed=99))
    for p in PLAYERS[:3]:
        await h.handle(cmd("disconnect", p))
    st = await state_of(h, "u3")
    assert st["phase"] in ("redeal", "declaration", "turn")
    assert st["awaiting"] == ["u3"]
    assert rejected(await h.handle(cmd("play", "u0", {"pieces": []}))) in (
        "not_your_turn",
        "invalid_state",
    )
    (closed,) = await h.handle(cmd("leave_room", "u3"))
    assert closed.type == "room_closed" and closed.payload == {"reason": "abandoned"}
    assert rejected(await h.handle(cmd("reconnect", "u3"))) == "not_found"


async def test_in_game_rejection_order() -> None:
    h = DirectRules()
    await full_room(h)
    await h.handle(cmd("start_game", "u0", seed=42))
    st = await state_of(h, "u0")
    while st["phase"] == "redeal":
        await h.handle(cmd("redeal_decision", st["awaiting"][0], {"accept": False}))
        st = await state_of(h, "u0")
    assert st["phase"] == "declaration"
    order = [st["awaiting"][0]]
    order += [p for p in PLAYERS[PLAYERS.index(order[0]) + 1 :] + PLAYERS if p not in order][:3]
    first, other = order[0], order[1]
    assert rejected(await h.handle(cmd("play", first, {"pieces": []}))) == "invalid_state"
    assert rejected(await h.handle(cmd("declare", other, {"value": 99}))) == "not_your_turn"
    assert rejected(await h.handle(cmd("declare", first, {"value": 9}))) == "invalid_input"
    assert rejected(await h.handle(cmd("declare", first, {"value": -1}))) == "invalid_input"
    assert rejected(await h.handle(cmd("declare", first, {"value": 2.0}))) == "invalid_input"
    assert rejected(await h.handle(cmd("declare", first, {"value": "2"}))) == "invalid_input"
    assert rejected(await h.handle(cmd("declare", "u9", {"value": 1}))) == "forbidden"
    for player, value in zip(order[:3], [2, 3, 0], strict=True):
        (event,) = await h.handle(cmd("declare", player, {"value": value}))
        assert event.payload == {"player": player, "value": value, "auto": False}
    assert rejected(await h.handle(cmd("declare", order[3], {"value": 3}))) == "invalid_input"
    events = await h.handle(cmd("declare", order[3], {"value": 4}))
    assert types(events) == ["declared", "turn_started"]
    assert events[1].payload == {"round": 1, "turn": 1, "starter": first}
    st = await state_of(h, first)
    assert st["phase"] == "turn" and st["awaiting"] == [first] and st["required"] is None
    assert [p["declared"] for p in st["players"]] == [
        {order[0]: 2, order[1]: 3, order[2]: 0, order[3]: 4}[p] for p in PLAYERS
    ]
    hand = st["hand"]
    assert rejected(await h.handle(cmd("play", other, {"pieces": hand[:1]}))) == "not_your_turn"
    assert rejected(await h.handle(cmd("play", first, {"pieces": []}))) == "invalid_input"
    assert rejected(await h.handle(cmd("play", first, {"pieces": ["X"]}))) == "invalid_input"
    missing = next(k for k in deal_hands(0)[0] + ["GENERAL_RED"] if k not in hand)
    assert rejected(await h.handle(cmd("play", first, {"pieces": [missing]}))) == "invalid_input"
    (played,) = await h.handle(cmd("play", first, {"pieces": hand[-1:]}))
    assert played.payload["auto"] is False and played.payload["play_type"] == "SINGLE"
    st = await state_of(h, other)
    assert st["required"] == 1 and len(st["turn_plays"]) == 1 and st["awaiting"] == [other]
    two = st["hand"][:2]
    assert rejected(await h.handle(cmd("play", other, {"pieces": two}))) == "invalid_input"


async def test_redeal_sequence_seed_61() -> None:
    # seed 61, round 1: u3 and u0 are weak, u2 holds GENERAL_RED; attempt 1 has no weak hand.
    h = DirectRules()
    await full_room(h)
    events = await h.handle(cmd("start_game", "u0", seed=61))
    assert types(events) == ["game_started"] + ["hand_dealt"] * 4 + ["redeal_phase_started"]
    assert events[-1].payload == {"round": 1, "weak_players": ["u3", "u0"], "multiplier": 1}
    st = await state_of(h, "u1")
    assert (st["phase"], st["starter"], st["awaiting"], st["turn"]) == ("redeal", "u2", ["u3"], 0)
    assert rejected(await h.handle(cmd("redeal_decision", "u0", {"accept": True}))) == ("not_your_turn")
    assert rejected(await h.handle(cmd("redeal_decision", "u1", {"accept": 1}))) == ("invalid_input")
    (decided,) = await h.handle(cmd("redeal_decision", "u3", {"accept": True}))
    assert decided.payload == {"player": "u3", "accept": True}
    events = await h.handle(cmd("redeal_decision", "u0", {"accept": False}))
    assert types(events) == ["redeal_decided", "redeal_executed"] + ["hand_dealt"] * 4 + ["round_started"]
    assert events[1].payload == {"round": 1, "attempt": 1, "starter": "u3", "multiplier": 2}
    assert [e.payload["hand"] for e in events[2:6]] == deal_hands(deal_seed(61, 1, 1))
    assert events[-1].payload == {
        "round": 1,
        "starter": "u3",
        "multiplier": 2,
        "order": ["u3", "u0", "u1", "u2"],
    }
