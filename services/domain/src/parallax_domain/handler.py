"""Adapts a (synchronous) domain Application to the async ContextHandler port."""

from __future__ import annotations

import asyncio

from parallax_contracts.envelopes import Command, EventDraft

from parallax_domain.receipts import ReceiptingApplication


class DomainContextHandler:
    def __init__(self, app: ReceiptingApplication, *, in_thread: bool = True) -> None:
        self.app = app
        # The eventsourcing API is synchronous; a thread keeps the event loop free while a
        # store round-trip runs. Commands are still handled one at a time per consumer.
        self._in_thread = in_thread

    async def handle(self, command: Command) -> list[EventDraft]:
        if self._in_thread:
            return await asyncio.to_thread(self.app.handle, command)
        return self.app.handle(command)
