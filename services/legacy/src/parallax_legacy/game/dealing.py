"""Deterministic dealing: SplitMix64, Fisher-Yates over the unshuffled deck, seat i mod 4."""

from __future__ import annotations

from parallax_contracts.pieces import PIECE_POINTS, SEATS, UNSHUFFLED_DECK

MASK64 = (1 << 64) - 1
WEAK_LIMIT = 9  # a hand is weak if no piece in it is worth more than this


class SplitMix64:
    def __init__(self, seed: int) -> None:
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def deal_seed(game_seed: int, round_no: int, attempt: int) -> int:
    return (game_seed + round_no * (1 << 32) + attempt) & MASK64


def shuffled_deck(seed: int) -> list[str]:
    rng = SplitMix64(seed)
    deck = list(UNSHUFFLED_DECK)
    for i in range(len(deck) - 1, 0, -1):
        j = rng.next() % (i + 1)
        deck[i], deck[j] = deck[j], deck[i]
    return deck


def deal_hands(seed: int) -> list[list[str]]:
    """Four hands, by seat index; each keeps the order in which it was dealt."""
    deck = shuffled_deck(seed)
    hands: list[list[str]] = [[] for _ in range(SEATS)]
    for i, kind in enumerate(deck):
        hands[i % SEATS].append(kind)
    return hands


def is_weak(hand: list[str]) -> bool:
    return all(PIECE_POINTS[kind] <= WEAK_LIMIT for kind in hand)
