"""What a legacy rules module offers the legacy handler (and nothing more)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from parallax_contracts.envelopes import Command, EventDraft

Document = dict[str, Any]
# Reads another aggregate's document of the same context (read-only); None if it does not exist.
Lookup = Callable[[str], Document | None]


@dataclass
class Outcome:
    """The result of one command: the document to store (None: store nothing) and the events."""

    state: Document | None
    drafts: list[EventDraft] = field(default_factory=list)


class Rules(Protocol):
    """One context's legacy rules. `apply` never raises for bad input (it answers with a
    `command_rejected` draft and `Outcome.state = None`). The rules of both contexts leave
    `state` as it was and return a new document; the handler does not count on it (it hands
    over a document of its own, which it drops if `apply` raises)."""

    def referenced(self, command: Command) -> list[str]:
        """Other aggregate ids of the same context that `apply` will want to look up."""
        ...

    def apply(self, state: Document | None, command: Command, lookup: Lookup) -> Outcome: ...
