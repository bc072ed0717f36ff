"""Command receipts: the response to each command, saved atomically with the aggregates it changed.

A redelivered command finds its receipt and gets the same response without touching state.
"""

from __future__ import annotations

import uuid
from abc import abstractmethod
from typing import Any

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, event
from parallax_contracts.envelopes import Command, EventDraft

_RECEIPT_NAMESPACE = uuid.UUID("5b0b7a8e-4f0e-4d3c-9a59-6c1d2f1a7e11")


def receipt_id(command_id: str) -> uuid.UUID:
    return uuid.uuid5(_RECEIPT_NAMESPACE, command_id)


class CommandReceipt(Aggregate):
    @staticmethod
    def create_id(command_id: str) -> uuid.UUID:
        return receipt_id(command_id)

    @event("Recorded")
    def __init__(self, command_id: str, drafts: list[dict[str, Any]]) -> None:
        self.command_id = command_id
        self.drafts = drafts


class ReceiptingApplication(Application[uuid.UUID]):
    """An Application whose `handle` is idempotent per command id.

    Subclasses implement `decide`, returning the response and the aggregates to save; the
    receipt is saved in the same call, so state and response are stored together or not at all.
    """

    def handle(self, command: Command) -> list[EventDraft]:
        # A receipt is one event, never snapshotted: read that event straight from the store
        # (one query), rather than through the repository (snapshot query, events query,
        # projection), which ran for every command only to find nothing.
        for recorded in self.events.get(receipt_id(command.command_id), limit=1):
            stored: list[dict[str, Any]] = recorded.drafts  # type: ignore[attr-defined]
            return [EventDraft.model_validate(d) for d in stored]
        drafts, changed = self.decide(command)
        receipt = CommandReceipt(command.command_id, [d.model_dump(mode="json") for d in drafts])
        self.save(*changed, receipt)
        return drafts

    def _take_snapshots(self, processing_event: ProcessingEvent[uuid.UUID]) -> None:
        """Snapshot the aggregate just saved when its new events cross a snapshotting interval.

        The library would instead load the aggregate again from the store at the exact multiple
        of the interval (the last snapshot plus up to an interval of events, ~10 ms for a room);
        the aggregate in hand is the same state a few events later, and a snapshot at any
        version serves loads equally well."""
        if not (self.snapshots and self.snapshotting_intervals):
            return
        first_version: dict[uuid.UUID, int] = {}
        for new_event in processing_event.events:
            first_version.setdefault(new_event.originator_id, new_event.originator_version)
        for aggregate_id, aggregate in processing_event.aggregates.items():
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval is None or aggregate_id not in first_version:
                continue
            if aggregate.version // interval > (first_version[aggregate_id] - 1) // interval:
                snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
                assert snapshot_class is not None
                self.snapshots.put([snapshot_class.take(aggregate)])

    @abstractmethod
    def decide(self, command: Command) -> tuple[list[EventDraft], list[Aggregate]]:
        """Handle one command: its response drafts and the aggregates with new events to save.

        Never raises for bad input: refused commands return one `command_rejected` draft and no
        aggregates."""
