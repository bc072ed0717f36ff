"""Dealing: the helper against the spec's vectors, then both implementations' hand_dealt."""

from __future__ import annotations

from game_support import (
    DECK,
    PLAYERS,
    Table,
    deal,
    deal_seed,
    first_deal,
    game_seed_for,
    is_weak,
    triples,
)

VECTOR_42 = [
    "ADVISOR_RED CHARIOT_RED GENERAL_BLACK HORSE_BLACK CHARIOT_BLACK SOLDIER_BLACK ELEPHANT_BLACK CANNON_RED",
    "SOLDIER_RED HORSE_BLACK SOLDIER_RED CHARIOT_RED SOLDIER_RED SOLDIER_RED SOLDIER_RED CANNON_RED",
    "ELEPHANT_RED ELEPHANT_BLACK HORSE_RED SOLDIER_BLACK ADVISOR_BLACK SOLDIER_BLACK HORSE_RED SOLDIER_BLACK",
    "ADVISOR_RED CANNON_BLACK GENERAL_RED ADVISOR_BLACK SOLDIER_BLACK CHARIOT_BLACK "
    "ELEPHANT_RED CANNON_BLACK",
]
VECTOR_0_SEAT_0 = (
    "CHARIOT_BLACK CANNON_BLACK CANNON_BLACK CHARIOT_RED "
    "ELEPHANT_BLACK ADVISOR_BLACK SOLDIER_BLACK SOLDIER_BLACK"
)
ROOM_ALL = list(PLAYERS)


def test_helper_deck_and_vectors() -> None:
    assert len(DECK) == 32
    assert DECK[:5] == ("GENERAL_RED", "GENERAL_BLACK", "ADVISOR_RED", "ADVISOR_RED", "ADVISOR_BLACK")
    assert DECK[-5:] == ("SOLDIER_BLACK",) * 5
    assert [" ".join(h) for h in deal(42)] == VECTOR_42
    assert " ".join(deal(0)[0]) == VECTOR_0_SEAT_0
    assert deal_seed(game_seed_for(42), 1, 0) == 42
    assert deal_seed(7, 3, 2) == 7 + 3 * 2**32 + 2
    assert deal_seed(2**64 - 1, 1, 0) == 2**32 - 1  # mod 2^64


async def test_start_game_seed_42_deals_the_vector(game) -> None:
    table = Table(game)
    drafts = await table.start(game_seed_for(42))
    hands = [h.split() for h in VECTOR_42]
    # seat 1 holds nothing above 8 points: the only weak hand; provisional starter = seat 3.
    assert [is_weak(h) for h in hands] == [False, True, False, False]
    assert triples(drafts) == [
        (
            "game_started",
            {
                "players": [
                    {"seat": 0, "player": "u1", "name": "Ann"},
                    {"seat": 1, "player": "u2", "name": "Bob"},
                    {"seat": 2, "player": "u3", "name": "Cat"},
                    {"seat": 3, "player": "u4", "name": "Dan"},
                ]
            },
            ROOM_ALL,
        ),
        *[
            ("hand_dealt", {"round": 1, "attempt": 0, "player": p, "hand": hands[s]}, [p])
            for s, p in enumerate(PLAYERS)
        ],
        ("redeal_phase_started", {"round": 1, "weak_players": ["u2"], "multiplier": 1}, ROOM_ALL),
    ]


async def test_start_game_seed_0_deals_the_vector(game) -> None:
    table = Table(game)
    seed = game_seed_for(0)
    drafts = await table.start(seed)
    dealt = [d for d in drafts if d.type == "hand_dealt"]
    assert dealt[0].payload == {
        "round": 1,
        "attempt": 0,
        "player": "u1",
        "hand": VECTOR_0_SEAT_0.split(),
    }
    assert [d.payload["hand"] for d in dealt] == first_deal(seed)
    assert [d.audience for d in dealt] == [[p] for p in PLAYERS]


async def test_round_one_deal_uses_seed_plus_2_32(game) -> None:
    """A start_game seed of 42 deals with 42 + 2^32, not 42."""
    table = Table(game)
    drafts = await table.start(42)
    dealt = [d.payload["hand"] for d in drafts if d.type == "hand_dealt"]
    assert dealt == deal(42 + 2**32)
    assert dealt != deal(42)
