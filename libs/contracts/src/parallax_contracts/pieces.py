"""The Liap Tui piece table: constant data, shared by both implementations (not rule code)."""

from __future__ import annotations

from typing import Final

# kind -> points, in the table's order (RED before BLACK within a row).
PIECE_POINTS: Final[dict[str, int]] = {
    "GENERAL_RED": 14,
    "GENERAL_BLACK": 13,
    "ADVISOR_RED": 12,
    "ADVISOR_BLACK": 11,
    "ELEPHANT_RED": 10,
    "ELEPHANT_BLACK": 9,
    "CHARIOT_RED": 8,
    "CHARIOT_BLACK": 7,
    "HORSE_RED": 6,
    "HORSE_BLACK": 5,
    "CANNON_RED": 4,
    "CANNON_BLACK": 3,
    "SOLDIER_RED": 2,
    "SOLDIER_BLACK": 1,
}

PIECE_COPIES: Final[dict[str, int]] = {
    "GENERAL_RED": 1,
    "GENERAL_BLACK": 1,
    "ADVISOR_RED": 2,
    "ADVISOR_BLACK": 2,
    "ELEPHANT_RED": 2,
    "ELEPHANT_BLACK": 2,
    "CHARIOT_RED": 2,
    "CHARIOT_BLACK": 2,
    "HORSE_RED": 2,
    "HORSE_BLACK": 2,
    "CANNON_RED": 2,
    "CANNON_BLACK": 2,
    "SOLDIER_RED": 5,
    "SOLDIER_BLACK": 5,
}

PIECE_KINDS: Final[tuple[str, ...]] = tuple(PIECE_POINTS)

# The unshuffled deck: kinds in table order, copies adjacent (32 pieces).
UNSHUFFLED_DECK: Final[tuple[str, ...]] = tuple(
    kind for kind in PIECE_KINDS for _ in range(PIECE_COPIES[kind])
)

SEATS: Final[int] = 4
HAND_SIZE: Final[int] = 8
WINNING_TOTAL: Final[int] = 50
MAX_ROUNDS: Final[int] = 20
