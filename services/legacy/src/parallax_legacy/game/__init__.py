"""Legacy rules of the game context (Liap Tui rooms): procedural handlers over a room document."""

from __future__ import annotations

from parallax_contracts.envelopes import Command

from parallax_legacy.game.handlers import apply_command
from parallax_legacy.ports import Document, Lookup, Outcome


class GameRules:
    """The `parallax_legacy.ports.Rules` of the game context."""

    def referenced(self, command: Command) -> list[str]:
        return []  # a room never reads another room

    def apply(self, state: Document | None, command: Command, lookup: Lookup) -> Outcome:
        return apply_command(state, command, lookup)


GAME_RULES = GameRules()

__all__ = ["GAME_RULES", "GameRules"]
