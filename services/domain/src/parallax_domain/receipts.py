"""Command receipts: the response to each command, saved atomically with the aggregates it changed.

A redelivered command finds its receipt and gets the same response without touching state.
"""

from __future__ import annotations

import uuid
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, CanMutateAggregate, event
from eventsourcing.persistence import ApplicationRecorder, IntegrityError
from eventsourcing.popo import POPOFactory
from eventsourcing.utils import get_topic
from parallax_contracts.envelopes import Command, EventDraft

from parallax_domain.memory_store import TailFirstPOPORecorder

_RECEIPT_NAMESPACE = uuid.UUID("5b0b7a8e-4f0e-4d3c-9a59-6c1d2f1a7e11")


def receipt_id(command_id: str) -> uuid.UUID:
    return uuid.uuid5(_RECEIPT_NAMESPACE, command_id)


class CommandReceipt(Aggregate):
    """One `Recorded` event: a command's response drafts (as JSON)."""

    class Recorded(Aggregate.Created):
        command_id: str
        drafts: list[dict[str, Any]]

    @staticmethod
    def create_id(command_id: str) -> uuid.UUID:
        return receipt_id(command_id)

    @event(Recorded)
    def __init__(self, command_id: str, drafts: list[dict[str, Any]]) -> None:
        self.command_id = command_id
        self.drafts = drafts

    @classmethod
    def record(cls, command_id: str, drafts: list[dict[str, Any]]) -> CommandReceipt.Recorded:
        """The receipt's event, exactly as `CommandReceipt(command_id, drafts)` would trigger it,
        without building the aggregate around it (the library's argument matching and the
        `__init__` replay were a tenth of a command's CPU): nothing reads the aggregate, a
        lookup reads this one event."""
        # The event's own fields as keywords: events become dataclasses through the library's
        # metaclass at run time, so type checkers know only the fields of the base class.
        fields: dict[str, Any] = {"command_id": command_id, "drafts": drafts}
        return cls.Recorded(
            originator_id=receipt_id(command_id),
            originator_version=cls.INITIAL_VERSION,
            timestamp=cls.Recorded.create_timestamp(),
            originator_topic=_RECEIPT_TOPIC,
            **fields,
        )


_RECEIPT_TOPIC = get_topic(CommandReceipt)


def project(aggregate: Aggregate | None, events: Iterable[CanMutateAggregate[Any]]) -> Aggregate | None:
    """eventsourcing's `project_aggregate` without its per-event
    `assert isinstance(event, CanMutateProtocol)`: on Python 3.11 an isinstance check against a
    runtime Protocol walks the protocol's attributes on every call and cost more than applying
    the event. Every event these Applications store is an `Aggregate` event."""
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class ReceiptingApplication(Application[uuid.UUID]):
    """An Application whose `handle` is idempotent per command id.

    Subclasses implement `decide`, returning the response and the aggregates to save; the
    receipt is saved in the same transaction, so state and response are stored together or not
    at all.
    """

    # Defaults; the process environment and the `env` argument override them. Without a cache
    # every command replays the aggregate from its last snapshot (up to an interval of events).
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "1000"}

    def construct_recorder(self) -> ApplicationRecorder:
        if type(self.factory) is POPOFactory:  # in memory: see TailFirstPOPORecorder
            return TailFirstPOPORecorder()
        return super().construct_recorder()

    def handle(self, command: Command) -> list[EventDraft]:
        # Every command stores a receipt, under an id derived from the command id, at version
        # 1; the store's unique (id, version) key therefore refuses a second one, and with it
        # the whole transaction. So a command is decided and saved first, and its receipt is
        # looked up only when the save is refused: a redelivery then gets its first response
        # and its new decision is dropped with the rolled-back transaction. This saves a store
        # query per command (a round trip on PostgreSQL) for a case that almost never happens.
        try:
            drafts, changed = self.decide(command)
        except Exception:
            # Deciding never raises for bad input; should the rules fail on today's state, a
            # command answered before still gets its first response, as it did when the
            # receipt was read first.
            stored = self._receipt(command.command_id)
            if stored is None:
                raise
            return stored
        receipt = CommandReceipt.record(command.command_id, [d.model_dump(mode="json") for d in drafts])
        try:
            self._save_together(changed, receipt)
        except IntegrityError:
            stored = self._receipt(command.command_id)
            if stored is None:
                raise  # a real conflict: another writer saved this aggregate's next version
            return stored
        self._cache(changed)
        return drafts

    def load(self, aggregate_id: uuid.UUID) -> Aggregate:
        """The aggregate's current state, a private copy (see `Repository.get`); raises
        `AggregateNotFoundError`."""
        aggregate: Aggregate = self.repository.get(aggregate_id, projector_func=project)
        return aggregate

    def first_event(self, aggregate_id: uuid.UUID) -> CanMutateAggregate[uuid.UUID] | None:
        """The aggregate's first stored event (one indexed query), or None if there is none."""
        for first in self.events.get(aggregate_id, limit=1):
            assert isinstance(first, CanMutateAggregate)
            return first
        return None

    def _receipt(self, command_id: str) -> list[EventDraft] | None:
        # A receipt is one event, never snapshotted: read that event straight from the store
        # (one query), rather than through the repository (snapshot query, events query,
        # projection).
        recorded = self.first_event(receipt_id(command_id))
        if not isinstance(recorded, CommandReceipt.Recorded):
            return None
        return [EventDraft.model_validate(d) for d in recorded.drafts]

    def _save_together(self, aggregates: Sequence[Aggregate], receipt: CommandReceipt.Recorded) -> None:
        """`Application.save(*aggregates, receipt)`: the aggregates' new events and the receipt
        go to the store in one transaction (the recorder's `insert_events`), then any snapshots
        due.

        `save` collects through `ProcessingEvent.collect_events`, which tests every object
        against two runtime Protocols (see `project`); here the types are known."""
        processing_event: ProcessingEvent[uuid.UUID] = ProcessingEvent()
        for aggregate in aggregates:
            processing_event.events.extend(aggregate.collect_events())
            processing_event.aggregates[aggregate.id] = aggregate
        processing_event.events.append(receipt)
        self._record(processing_event)
        self._take_snapshots(processing_event)

    def _cache(self, saved: Sequence[Aggregate]) -> None:
        """Put the aggregates just saved in the repository's cache.

        The library refreshes its cache on save only when it does not fast-forward. We keep
        fast-forwarding (another replica may have written since, e.g. after a partition moved),
        so the cached copy stayed at its old version and the next `load` read this command's
        events back from the store and applied them again. The aggregate just saved is exactly
        that state. Only called once the transaction committed, so the cache never holds an
        unsaved state; should a put race with another writer, the fast-forward on the next
        `load` still brings the cached copy up to date."""
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate in saved:
            cache.put(aggregate.id, aggregate)

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
