"""Play types and their values (game-rules.md, "Play types")."""

from __future__ import annotations

from parallax_contracts.pieces import PIECE_POINTS

G1 = frozenset({"GENERAL", "ADVISOR", "ELEPHANT"})
G2 = frozenset({"CHARIOT", "HORSE", "CANNON"})

SINGLE = "SINGLE"
PAIR = "PAIR"
THREE_OF_A_KIND = "THREE_OF_A_KIND"
STRAIGHT = "STRAIGHT"
FOUR_OF_A_KIND = "FOUR_OF_A_KIND"
EXTENDED_STRAIGHT = "EXTENDED_STRAIGHT"
FIVE_OF_A_KIND = "FIVE_OF_A_KIND"
EXTENDED_STRAIGHT_5 = "EXTENDED_STRAIGHT_5"
DOUBLE_STRAIGHT = "DOUBLE_STRAIGHT"
INVALID = "INVALID"

MAX_PLAY = 6


def kind_name(kind: str) -> str:
    return kind.split("_")[0]


def kind_color(kind: str) -> str:
    return kind.split("_")[1]


def _name_counts(pieces: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in pieces:
        name = kind_name(kind)
        counts[name] = counts.get(name, 0) + 1
    return counts


def _within_one_group(names: set[str]) -> bool:
    return names <= G1 or names <= G2


def play_type(pieces: list[str]) -> str:
    n = len(pieces)
    if n == 1:
        return SINGLE
    if n < 1 or n > MAX_PLAY:
        return INVALID
    colors = {kind_color(kind) for kind in pieces}
    if len(colors) != 1:
        return INVALID
    counts = _name_counts(pieces)
    names = set(counts)
    shape = sorted(counts.values())
    all_soldiers = names == {"SOLDIER"}

    if n == 2:
        if pieces[0] == pieces[1]:
            return PAIR
    elif n == 3:
        if all_soldiers:
            return THREE_OF_A_KIND
        if names in (G1, G2) and shape == [1, 1, 1]:
            return STRAIGHT
    elif n == 4:
        if all_soldiers:
            return FOUR_OF_A_KIND
        if _within_one_group(names) and shape == [1, 1, 2]:
            return EXTENDED_STRAIGHT
    elif n == 5:
        if all_soldiers:
            return FIVE_OF_A_KIND
        if _within_one_group(names) and shape == [1, 2, 2]:
            return EXTENDED_STRAIGHT_5
    elif n == 6 and counts == {"CHARIOT": 2, "HORSE": 2, "CANNON": 2}:
        return DOUBLE_STRAIGHT
    return INVALID


def play_value(pieces: list[str], ptype: str) -> int:
    if ptype in (EXTENDED_STRAIGHT, EXTENDED_STRAIGHT_5):
        best: dict[str, int] = {}
        for kind in pieces:
            name = kind_name(kind)
            best[name] = max(best.get(name, 0), PIECE_POINTS[kind])
        return sum(best.values())
    total = 0
    for kind in pieces:
        total += PIECE_POINTS[kind]
    return total


def classify(pieces: list[str]) -> tuple[str, int]:
    ptype = play_type(pieces)
    return ptype, play_value(pieces, ptype)
