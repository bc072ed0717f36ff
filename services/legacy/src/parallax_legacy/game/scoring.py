"""Round scoring (game-rules.md, "A round", step 7)."""

from __future__ import annotations

from parallax_contracts.pieces import MAX_ROUNDS, WINNING_TOTAL


def base_score(declared: int, captured: int) -> int:
    if declared == 0 and captured == 0:
        return 3
    if declared == 0:
        return -captured
    if captured == declared:
        return declared + 5
    return -abs(declared - captured)


def is_game_over(totals: list[int], round_no: int) -> bool:
    for total in totals:
        if total >= WINNING_TOTAL:
            return True
    return round_no >= MAX_ROUNDS
