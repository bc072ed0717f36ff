"""Play types, values, turn winners, ties, hand bookkeeping, play rule violations."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from game_support import (
    PLAYERS,
    POINTS,
    Table,
    classify,
    combos_of_type,
    find_seed,
    first_deal,
    general_red_seat,
    has_pieces,
    no_weak,
    rejected,
    remove_pieces,
    rotate,
    triples,
)

ALL = list(PLAYERS)
TYPES = [
    "SINGLE",
    "PAIR",
    "THREE_OF_A_KIND",
    "STRAIGHT",
    "FOUR_OF_A_KIND",
    "EXTENDED_STRAIGHT",
    "FIVE_OF_A_KIND",
    "EXTENDED_STRAIGHT_5",
    "DOUBLE_STRAIGHT",
]
# Search hints (found with the same predicates; find_seed re-checks them).
HINTS = {
    "THREE_OF_A_KIND": 14,
    "FOUR_OF_A_KIND": 168,
    "EXTENDED_STRAIGHT": 84,
    "FIVE_OF_A_KIND": 1753,
    "EXTENDED_STRAIGHT_5": 1222,
    "DOUBLE_STRAIGHT": 62077,
}


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["GENERAL_RED"], ("SINGLE", 14)),
        (["SOLDIER_BLACK"], ("SINGLE", 1)),
        (["ADVISOR_BLACK", "ADVISOR_BLACK"], ("PAIR", 22)),
        (["ADVISOR_BLACK", "ADVISOR_RED"], ("INVALID", 23)),
        (["SOLDIER_RED"] * 3, ("THREE_OF_A_KIND", 6)),
        (["SOLDIER_RED", "SOLDIER_RED", "SOLDIER_BLACK"], ("INVALID", 5)),
        (["ELEPHANT_RED", "GENERAL_RED", "ADVISOR_RED"], ("STRAIGHT", 36)),
        (["CANNON_BLACK", "HORSE_BLACK", "CHARIOT_BLACK"], ("STRAIGHT", 15)),
        (["GENERAL_RED", "ADVISOR_BLACK", "ELEPHANT_RED"], ("INVALID", 35)),
        (["CHARIOT_RED", "HORSE_RED", "ELEPHANT_RED"], ("INVALID", 24)),
        (["SOLDIER_BLACK"] * 4, ("FOUR_OF_A_KIND", 4)),
        (["CHARIOT_RED", "CHARIOT_RED", "HORSE_RED", "CANNON_RED"], ("EXTENDED_STRAIGHT", 18)),
        (["ADVISOR_RED", "GENERAL_RED", "ELEPHANT_RED", "ELEPHANT_RED"], ("EXTENDED_STRAIGHT", 36)),
        (["CHARIOT_RED", "CHARIOT_RED", "HORSE_RED", "HORSE_RED"], ("INVALID", 28)),
        (["SOLDIER_RED"] * 5, ("FIVE_OF_A_KIND", 10)),
        (
            ["HORSE_BLACK", "CANNON_BLACK", "CHARIOT_BLACK", "HORSE_BLACK", "CANNON_BLACK"],
            ("EXTENDED_STRAIGHT_5", 15),
        ),
        (
            ["CHARIOT_RED", "CHARIOT_RED", "HORSE_RED", "CANNON_RED", "CANNON_RED", "HORSE_RED"],
            ("DOUBLE_STRAIGHT", 36),
        ),
        (
            ["CHARIOT_RED", "CHARIOT_RED", "HORSE_RED", "CANNON_RED", "CANNON_RED", "CANNON_RED"],
            ("INVALID", 34),
        ),
    ],
)
def test_helper_classify(pieces: list[str], expected: tuple[str, int]) -> None:
    assert classify(pieces) == expected


def starter_has(play_type: str):
    def pred(hands: list[list[str]]) -> bool:
        if not no_weak(hands):
            return False
        hand = hands[general_red_seat(hands)]
        c = Counter(hand)
        quick = {
            "FIVE_OF_A_KIND": c["SOLDIER_RED"] >= 5 or c["SOLDIER_BLACK"] >= 5,
            "DOUBLE_STRAIGHT": any(
                all(c[f"{n}_{col}"] == 2 for n in ("CHARIOT", "HORSE", "CANNON")) for col in ("RED", "BLACK")
            ),
        }
        if not quick.get(play_type, True):
            return False
        return bool(combos_of_type(hand, play_type))

    return pred


def expected_winner(plays: list[dict[str, Any]]) -> str:
    best = plays[0]
    for play in plays[1:]:
        if play["play_type"] == best["play_type"] and play["value"] > best["value"]:
            best = play
    return best["player"]


def play_record(player: str, pieces: list[str]) -> dict[str, Any]:
    play_type, value = classify(pieces)
    return {"player": player, "pieces": pieces, "play_type": play_type, "value": value}


async def to_first_turn(game, seed: int) -> tuple[Table, list[str]]:
    table = Table(game)
    await table.start(seed)
    assert table.phase == "declaration"
    await table.declare_all()
    assert table.phase == "turn"
    starter = PLAYERS[general_red_seat(first_deal(seed))]
    assert table.awaited() == starter
    return table, rotate(PLAYERS, starter)


@pytest.mark.parametrize("play_type", TYPES)
async def test_starter_play_type_value_and_turn(game, play_type) -> None:
    seed = find_seed(starter_has(play_type), start=HINTS.get(play_type, 0))
    table, order = await to_first_turn(game, seed)
    starter = order[0]
    hand = list(table.hands[starter])
    combo = combos_of_type(hand, play_type)[-1]
    pieces = list(reversed(combo))  # echoed in the order sent
    drafts = await table.send("play", starter, {"pieces": pieces})
    rec = play_record(starter, pieces)
    assert rec["play_type"] == play_type
    assert triples(drafts) == [("pieces_played", {**rec, "auto": False}, ALL)]

    state = await table.state(starter)
    assert state["hand"] == remove_pieces(hand, pieces)
    assert state["required"] == len(pieces)
    assert state["turn_plays"] == [rec]
    assert state["awaiting"] == [order[1]]
    assert next(p for p in state["players"] if p["player"] == starter)["hand_size"] == 8 - len(pieces)

    plays = [rec]
    for follower in order[1:]:
        fp = table.hands[follower][: len(pieces)]
        drafts = await table.send("play", follower, {"pieces": fp})
        plays.append(play_record(follower, fp))
        assert drafts[0].type == "pieces_played"
        assert drafts[0].payload == {**plays[-1], "auto": False}
    winner = expected_winner(plays)
    expected: list[Any] = [
        ("pieces_played", {**plays[-1], "auto": False}, ALL),
        (
            "turn_completed",
            {"round": 1, "turn": 1, "winner": winner, "piles": len(pieces), "plays": plays},
            ALL,
        ),
        ("turn_started", {"round": 1, "turn": 2, "starter": winner}, ALL),
    ]
    assert triples(drafts) == expected
    state = await table.state(winner)
    assert next(p for p in state["players"] if p["player"] == winner)["captured"] == len(pieces)
    assert state["awaiting"] == [winner]
    assert state["turn"] == 2
    assert state["required"] is None
    assert state["turn_plays"] == []


def _three_vs_straight(hands: list[list[str]]) -> bool:
    if not no_weak(hands):
        return False
    s = general_red_seat(hands)
    return hands[s].count("SOLDIER_RED") >= 3 and any(
        combos_of_type(hands[(s + k) % 4], "STRAIGHT") for k in (1, 2, 3)
    )


async def test_a_different_type_never_wins(game) -> None:
    seed = find_seed(_three_vs_straight)
    table, order = await to_first_turn(game, seed)
    plays = [play_record(order[0], ["SOLDIER_RED"] * 3)]
    await table.ok("play", order[0], {"pieces": ["SOLDIER_RED"] * 3})
    for follower in order[1:]:
        straights = combos_of_type(table.hands[follower], "STRAIGHT")
        fp = max(straights, key=lambda c: classify(c)[1]) if straights else table.hands[follower][:3]
        plays.append(play_record(follower, fp))
        drafts = await table.ok("play", follower, {"pieces": fp})
    assert any(p["play_type"] == "STRAIGHT" for p in plays)
    completed = next(d.payload for d in drafts if d.type == "turn_completed")
    # 3 SOLDIER_RED is the highest THREE_OF_A_KIND: nothing can beat it
    assert completed == {"round": 1, "turn": 1, "winner": order[0], "piles": 3, "plays": plays}


def _pair_vs_invalid(hands: list[list[str]]) -> bool:
    if not no_weak(hands):
        return False
    s = general_red_seat(hands)
    pairs = combos_of_type(hands[s], "PAIR")
    return bool(pairs) and min(classify(p)[1] for p in pairs) <= 8


async def test_higher_invalid_follower_does_not_win(game) -> None:
    seed = find_seed(_pair_vs_invalid)
    table, order = await to_first_turn(game, seed)
    pair = min(combos_of_type(table.hands[order[0]], "PAIR"), key=lambda c: classify(c)[1])
    await table.ok("play", order[0], {"pieces": pair})
    plays = [play_record(order[0], pair)]
    for follower in order[1:]:
        hand = table.hands[follower]
        # two different kinds with the highest sum: INVALID, worth more than the pair
        by_value = sorted(set(hand), key=lambda k: -POINTS[k])
        fp = by_value[:2]
        plays.append(play_record(follower, fp))
        assert plays[-1]["play_type"] == "INVALID"
        assert plays[-1]["value"] > plays[0]["value"]
        drafts = await table.ok("play", follower, {"pieces": fp})
        assert drafts[0].payload == {**plays[-1], "auto": False}
    completed = next(d.payload for d in drafts if d.type == "turn_completed")
    assert completed["winner"] == order[0]
    assert completed["plays"] == plays


def _starter_tie(hands: list[list[str]]) -> bool:
    if not no_weak(hands):
        return False
    s = general_red_seat(hands)
    f1, f2, f3 = (hands[(s + k) % 4] for k in (1, 2, 3))
    return any(
        k in f1 and min(POINTS[x] for x in f2) < POINTS[k] and min(POINTS[x] for x in f3) < POINTS[k]
        for k in set(hands[s])
    )


async def test_tie_with_starter_goes_to_starter(game) -> None:
    seed = find_seed(_starter_tie)
    table, order = await to_first_turn(game, seed)
    hands = table.hands
    k = next(
        k
        for k in hands[order[0]]
        if k in hands[order[1]] and all(min(POINTS[x] for x in hands[p]) < POINTS[k] for p in order[2:])
    )
    moves = [(order[0], k), (order[1], k)] + [(p, min(hands[p], key=lambda x: POINTS[x])) for p in order[2:]]
    for p, piece in moves:
        drafts = await table.ok("play", p, {"pieces": [piece]})
    completed = next(d.payload for d in drafts if d.type == "turn_completed")
    assert completed["winner"] == order[0]
    assert [pl["value"] for pl in completed["plays"]][:2] == [POINTS[k], POINTS[k]]


def _follower_tie(hands: list[list[str]]) -> bool:
    if not no_weak(hands):
        return False
    s = general_red_seat(hands)
    low = min(POINTS[x] for x in hands[s])
    f1, f2, f3 = (hands[(s + k) % 4] for k in (1, 2, 3))
    return any(k in f2 and POINTS[k] > low and min(POINTS[x] for x in f3) < POINTS[k] for k in set(f1))


async def test_tie_between_followers_goes_to_earlier(game) -> None:
    seed = find_seed(_follower_tie)
    table, order = await to_first_turn(game, seed)
    hands = table.hands
    low = min(hands[order[0]], key=lambda x: POINTS[x])
    k = next(
        k
        for k in hands[order[1]]
        if k in hands[order[2]]
        and POINTS[k] > POINTS[low]
        and min(POINTS[x] for x in hands[order[3]]) < POINTS[k]
    )
    moves = [
        (order[0], low),
        (order[1], k),
        (order[2], k),
        (order[3], min(hands[order[3]], key=lambda x: POINTS[x])),
    ]
    for p, piece in moves:
        drafts = await table.ok("play", p, {"pieces": [piece]})
    completed = next(d.payload for d in drafts if d.type == "turn_completed")
    assert completed["winner"] == order[1]
    assert completed["piles"] == 1
    assert triples(drafts)[-1] == ("turn_started", {"round": 1, "turn": 2, "starter": order[1]}, ALL)


def _dup_with_gap(hands: list[list[str]]) -> bool:
    if not no_weak(hands):
        return False
    h = hands[general_red_seat(hands)]
    return any(h.count(k) >= 2 and h.index(k) + 1 < len(h) - 1 - h[::-1].index(k) for k in set(h))


async def test_playing_removes_the_first_occurrence(game) -> None:
    seed = find_seed(_dup_with_gap)
    table, order = await to_first_turn(game, seed)
    hand = list(table.hands[order[0]])
    k = next(k for k in hand if hand.count(k) >= 2)
    await table.ok("play", order[0], {"pieces": [k]})
    expected = list(hand)
    del expected[hand.index(k)]
    state = await table.state(order[0])
    assert state["hand"] == expected
    # other players' hands are untouched and in dealt order
    dealt = first_deal(seed)
    for p in order[1:]:
        assert (await table.state(p))["hand"] == dealt[PLAYERS.index(p)]


def _mixed(hands: list[list[str]]) -> bool:
    if not no_weak(hands):
        return False
    h = hands[general_red_seat(hands)]
    return "SOLDIER_RED" in h and "SOLDIER_BLACK" in h and len(set(h)) >= 3


async def test_play_rule_violations(game) -> None:
    seed = find_seed(_mixed)
    table, order = await to_first_turn(game, seed)
    starter = order[0]
    hand = table.hands[starter]
    single = next(k for k in set(hand) if hand.count(k) == 1 and k != "SOLDIER_RED")
    absent = next(k for k in POINTS if k not in hand)
    different = sorted(set(hand))[:2]
    before = await table.state(starter)
    bad_starter_plays = [
        [],  # no pieces
        [absent],  # not in hand
        [single, single],  # more copies than held (also would be a pair)
        different,  # two different kinds: INVALID for a starter
        ["SOLDIER_RED", "SOLDIER_BLACK"],  # mixed colours
        hand[:7],  # 7 pieces
        list(hand),  # 8 pieces
    ]
    for pieces in bad_starter_plays:
        assert triples(await table.send("play", starter, {"pieces": pieces})) == rejected(
            "invalid_input", "play", starter
        ), pieces
    assert await table.state(starter) == before

    await table.ok("play", starter, {"pieces": [single]})
    follower = order[1]
    fhand = table.hands[follower]
    fabsent = next(k for k in POINTS if k not in fhand)
    before = await table.state(follower)
    for pieces in ([], fhand[:2], [fabsent]):
        assert triples(await table.send("play", follower, {"pieces": pieces})) == rejected(
            "invalid_input", "play", follower
        ), pieces
    assert await table.state(follower) == before


async def test_follower_counts_copies(game) -> None:
    """A follower must hold every piece it plays, counting copies."""

    def pred(hands: list[list[str]]) -> bool:
        if not no_weak(hands):
            return False
        s = general_red_seat(hands)
        if not combos_of_type(hands[s], "PAIR"):
            return False
        f = hands[(s + 1) % 4]
        return any(f.count(k) == 1 for k in f)

    seed = find_seed(pred)
    table, order = await to_first_turn(game, seed)
    pair = combos_of_type(table.hands[order[0]], "PAIR")[0]
    await table.ok("play", order[0], {"pieces": pair})
    f = order[1]
    once = next(k for k in table.hands[f] if table.hands[f].count(k) == 1)
    assert triples(await table.send("play", f, {"pieces": [once, once]})) == rejected(
        "invalid_input", "play", f
    )
    assert has_pieces(table.hands[f], [once])
