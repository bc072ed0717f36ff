"""Pure Liap Tui rules: dealing, play types, turn winners, declarations and scoring.

Nothing here touches storage or the wire format; the `Room` aggregate calls these functions to
make its decisions and records the outcomes as domain events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final

from parallax_contracts.pieces import (
    MAX_ROUNDS,
    PIECE_POINTS,
    SEATS,
    UNSHUFFLED_DECK,
    WINNING_TOTAL,
)

MASK64: Final[int] = (1 << 64) - 1

SINGLE: Final = "SINGLE"
PAIR: Final = "PAIR"
THREE_OF_A_KIND: Final = "THREE_OF_A_KIND"
STRAIGHT: Final = "STRAIGHT"
FOUR_OF_A_KIND: Final = "FOUR_OF_A_KIND"
EXTENDED_STRAIGHT: Final = "EXTENDED_STRAIGHT"
FIVE_OF_A_KIND: Final = "FIVE_OF_A_KIND"
EXTENDED_STRAIGHT_5: Final = "EXTENDED_STRAIGHT_5"
DOUBLE_STRAIGHT: Final = "DOUBLE_STRAIGHT"
INVALID: Final = "INVALID"

GROUP_1: Final[frozenset[str]] = frozenset({"GENERAL", "ADVISOR", "ELEPHANT"})
GROUP_2: Final[frozenset[str]] = frozenset({"CHARIOT", "HORSE", "CANNON"})

MIN_PLAY: Final[int] = 1
MAX_PLAY: Final[int] = 6
MAX_DECLARATION: Final[int] = 8
WEAK_LIMIT: Final[int] = 9


# -- dealing -------------------------------------------------------------------------------


class SplitMix64:
    """The SplitMix64 generator (all arithmetic mod 2^64)."""

    __slots__ = ("state",)

    def __init__(self, seed: int) -> None:
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def deal_seed(game_seed: int, round_no: int, attempt: int) -> int:
    """`(game_seed + round * 2^32 + attempt) mod 2^64`."""
    return (game_seed + round_no * (1 << 32) + attempt) & MASK64


def shuffled_deck(seed: int) -> list[str]:
    """Fisher-Yates over the unshuffled deck, i = 31 down to 1, j = next() mod (i + 1)."""
    deck = list(UNSHUFFLED_DECK)
    rng = SplitMix64(seed)
    for i in range(len(deck) - 1, 0, -1):
        j = rng.next() % (i + 1)
        deck[i], deck[j] = deck[j], deck[i]
    return deck


def deal(seed: int) -> tuple[tuple[str, ...], ...]:
    """The four hands of one deal: deck[i] goes to seat i mod 4, in dealing order."""
    deck = shuffled_deck(seed)
    return tuple(tuple(deck[seat::SEATS]) for seat in range(SEATS))


def is_weak(hand: Iterable[str]) -> bool:
    """A hand is weak if no piece in it is worth more than 9 points."""
    return all(PIECE_POINTS[kind] <= WEAK_LIMIT for kind in hand)


def in_order_from(start: int) -> list[int]:
    """Seat order rotated to start at `start`."""
    return [(start + k) % SEATS for k in range(SEATS)]


# -- pieces and hands ---------------------------------------------------------------------


def name_of(kind: str) -> str:
    return kind.split("_", 1)[0]


def color_of(kind: str) -> str:
    return kind.split("_", 1)[1]


def points(pieces: Iterable[str]) -> int:
    return sum(PIECE_POINTS[kind] for kind in pieces)


def holds(hand: Sequence[str], pieces: Sequence[str]) -> bool:
    """Whether every piece is in the hand, counting copies."""
    have = Counter(hand)
    return all(have[kind] >= count for kind, count in Counter(pieces).items())


def remove_pieces(hand: Sequence[str], pieces: Sequence[str]) -> tuple[str, ...]:
    """For each played kind remove its first occurrence; the rest keep their order."""
    rest = list(hand)
    for kind in pieces:
        rest.remove(kind)
    return tuple(rest)


# -- play types ----------------------------------------------------------------------------


def _extended_value(pieces: Sequence[str]) -> int:
    best: dict[str, int] = {}
    for kind in pieces:
        name = name_of(kind)
        best[name] = max(best.get(name, 0), PIECE_POINTS[kind])
    return sum(best.values())


def _within_one_group(names: set[str]) -> bool:
    return names <= GROUP_1 or names <= GROUP_2


def classify(pieces: Sequence[str]) -> tuple[str, int]:
    """The play type and value of some pieces, checking the types in the spec's order."""
    total = points(pieces)
    n = len(pieces)
    if n == 1:
        return SINGLE, total
    if n < 1 or n > MAX_PLAY or len({color_of(kind) for kind in pieces}) != 1:
        return INVALID, total
    names = [name_of(kind) for kind in pieces]
    distinct = set(names)
    counts = sorted(Counter(names).values())
    all_soldiers = distinct == {"SOLDIER"}
    if n == 2:
        return (PAIR if pieces[0] == pieces[1] else INVALID), total
    if n == 3:
        if all_soldiers:
            return THREE_OF_A_KIND, total
        if counts == [1, 1, 1] and distinct in (GROUP_1, GROUP_2):
            return STRAIGHT, total
        return INVALID, total
    if n == 4:
        if all_soldiers:
            return FOUR_OF_A_KIND, total
        if _within_one_group(distinct) and counts == [1, 1, 2]:
            return EXTENDED_STRAIGHT, _extended_value(pieces)
        return INVALID, total
    if n == 5:
        if all_soldiers:
            return FIVE_OF_A_KIND, total
        if _within_one_group(distinct) and counts == [1, 2, 2]:
            return EXTENDED_STRAIGHT_5, _extended_value(pieces)
        return INVALID, total
    # n == 6
    if Counter(names) == Counter({"CHARIOT": 2, "HORSE": 2, "CANNON": 2}):
        return DOUBLE_STRAIGHT, total
    return INVALID, total


def turn_winner(plays: Sequence[tuple[int, str, int]]) -> int:
    """The winning seat of a turn, from (seat, play_type, value) in playing order: a later play
    replaces the provisional winner only with the same type and a strictly greater value."""
    winner_seat, winner_type, winner_value = plays[0]
    for seat, play_type, value in plays[1:]:
        if play_type == winner_type and value > winner_value:
            winner_seat, winner_value = seat, value
    return winner_seat


# -- declarations and scoring -------------------------------------------------------------


def declaration_allowed(value: int, others: Sequence[int], is_last: bool, recent: Sequence[int]) -> bool:
    """`others`: this round's declarations so far; `recent`: the player's declarations in this
    game, oldest first (only the last two matter)."""
    if not 0 <= value <= MAX_DECLARATION:
        return False
    if is_last and sum(others) + value == MAX_DECLARATION:
        return False
    return not (value == 0 and len(recent) >= 2 and recent[-1] == 0 and recent[-2] == 0)


def smallest_allowed_declaration(others: Sequence[int], is_last: bool, recent: Sequence[int]) -> int:
    for value in range(MAX_DECLARATION + 1):
        if declaration_allowed(value, others, is_last, recent):
            return value
    raise AssertionError("some declaration is always allowed")  # pragma: no cover


def base_score(declared: int, captured: int) -> int:
    if declared == 0:
        return 3 if captured == 0 else -captured
    if captured == declared:
        return declared + 5
    return -abs(declared - captured)


def game_is_over(totals: Sequence[int], round_no: int) -> bool:
    return any(total >= WINNING_TOTAL for total in totals) or round_no >= MAX_ROUNDS


def top_seats(totals: Sequence[int]) -> list[int]:
    best = max(totals)
    return [seat for seat, total in enumerate(totals) if total == best]
