"""The port every implementation of a context offers: one command in, one response out.

The conformance suite drives both implementations through this protocol, so it is the only
thing the tests assume about them.
"""

from __future__ import annotations

from typing import Protocol

from parallax_contracts.envelopes import Command, EventDraft


class ContextHandler(Protocol):
    """Handles the commands of one context (game or campaign) for one implementation.

    `handle` never raises for bad input: a refused command yields one `command_rejected`
    draft. Handling the same command id twice changes state at most once and returns the
    same drafts as the first time.
    """

    async def handle(self, command: Command) -> list[EventDraft]: ...
