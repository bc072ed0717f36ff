"""How a simulated player chooses its move from its `room_state` (pure, seeded)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any


def choose_move(
    state: dict[str, Any], me: str, history: list[int], rng: random.Random
) -> tuple[str, dict[str, Any]] | None:
    """The command a player sends when the room awaits it, or None when it awaits someone else.

    `history` is this player's declarations so far (the zero rule needs them)."""
    if me not in state.get("awaiting", []):
        return None
    phase = state["phase"]
    hand: list[str] = state["hand"]
    if phase == "redeal":
        return "redeal_decision", {"accept": rng.random() < 0.3}
    if phase == "declaration":
        declared = [p["declared"] for p in state["players"] if p["declared"] is not None]
        last = len(declared) == 3
        must_declare = len(history) >= 2 and history[-1] == 0 and history[-2] == 0
        options = [v for v in range(0, 5) if not (last and sum(declared) + v == 8)]
        if must_declare:
            options = [v for v in options if v >= 1]
        return "declare", {"value": rng.choice(options)}
    if phase == "turn":
        required = state.get("required")
        if required is None:
            pairs = [kind for kind, n in Counter(hand).items() if n >= 2]
            if pairs and rng.random() < 0.5:
                return "play", {"pieces": [pairs[0], pairs[0]]}
            return "play", {"pieces": [hand[0]]}
        return "play", {"pieces": hand[:required]}
    return None
