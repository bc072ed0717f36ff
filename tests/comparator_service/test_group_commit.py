"""Group commit: the comparator stores several resolved commands in one transaction, publishes
them, and acks each command's messages only once its row is committed and its comparison
published; a failing store or publish acks nothing, counts nothing twice and keeps the
records; `/summary` never shows a command neither pending nor stored.

Most tests drive a `Comparator` in process with stand-in messages and a stand-in publisher (the
pairing table, the store and the acks are the real code; only the delivery is not), so every
step is observable; the last one runs over a real NATS server (test_published_comparisons.py
publishes over one too)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from comparator_support import (
    Feed,
    RecordingPublisher,
    ack_pending,
    cid,
    comparisons_counted,
    guard_samples,
    record,
    response,
    settings,
    wait_for,
    wait_until_acked,
)
from nats.aio.client import Client
from parallax_comparator import app as app_module
from parallax_comparator.app import Comparator, create_app
from parallax_comparator.records import ComparisonRecord
from parallax_comparator.store import ComparisonStore, PostgresComparisonStore, SqliteComparisonStore
from parallax_runtime.connection import make_broker
from prometheus_client import REGISTRY

PLAY = ("pieces_played", {"player": "u1", "pieces": ["GENERAL_RED"], "value": 14})


class Message:
    """A delivery as the comparator sees it (`data`, `ack()`). At its ack it notes whether a
    second connection to the store already sees its command's row: committed, not merely
    written in an open transaction."""

    def __init__(self, command_id: str, body: dict[str, Any], reader: ComparisonStore) -> None:
        self.command_id = command_id
        self.data = json.dumps(body).encode()
        self.reader = reader
        self.acked = False
        self.row_visible_at_ack: bool | None = None

    async def ack(self) -> None:
        self.row_visible_at_ack = self.reader.get(self.command_id) is not None
        self.acked = True


class Harness:
    """A comparator fed in process; `messages` by command id; `commits` counts the store's
    COMMIT statements (the transactions themselves, whoever issues them)."""

    def __init__(self, comp: Comparator, reader: ComparisonStore) -> None:
        self.comp = comp
        self.reader = reader
        self.messages: dict[str, list[Message]] = {}
        self.commits = 0
        if isinstance(comp.store, SqliteComparisonStore):
            comp.store._conn.set_trace_callback(self._trace)

    def _trace(self, sql: str) -> None:
        if sql.strip().upper() == "COMMIT":
            self.commits += 1

    def _message(self, command_id: str, body: dict[str, Any]) -> Any:
        message = Message(command_id, body, self.reader)
        self.messages.setdefault(command_id, []).append(message)
        return message

    async def routed(self, command_id: str) -> None:
        await self.comp.on_record(self._message(command_id, record(command_id)))

    async def responses(self, command_id: str) -> None:
        for impl in ("legacy", "domain"):
            for body in response(command_id, impl, [PLAY]):
                await self.comp.on_event(self._message(command_id, body))

    async def command(self, command_id: str) -> None:
        """The routing record and both (matching) responses: resolved when the last arrives."""
        await self.routed(command_id)
        await self.responses(command_id)

    def acked(self, command_id: str) -> bool:
        return all(m.acked for m in self.messages[command_id])

    def unacked(self, command_id: str) -> bool:
        return not any(m.acked for m in self.messages[command_id])


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """Batches of 3, no timer (not started): commits happen only when a batch fills up or the
    test calls `flush`, so each step is deterministic."""
    s = settings("nats://127.0.0.1:1", tmp_path, store_batch_max=3, store_batch_seconds=60.0)
    comp = Comparator(s, make_broker(s, name="comparator"))
    comp.publisher = RecordingPublisher()
    reader = SqliteComparisonStore(tmp_path / "comparator.sqlite")
    yield Harness(comp, reader)
    reader.close()
    comp.store.close()


async def test_commands_resolved_together_share_one_transaction(harness: Harness) -> None:
    ids = [cid() for _ in range(8)]
    for c in ids:
        await harness.command(c)
    # Two full batches committed, two commands waiting for the next.
    assert harness.commits == 2
    assert harness.reader.count() == 6
    assert len(harness.comp.batch) == 2
    await harness.comp.flush()
    assert harness.commits == 3
    assert set(harness.reader.results()) == set(ids)


async def test_messages_are_acked_only_after_their_row_is_committed(harness: Harness) -> None:
    ids = [cid() for _ in range(5)]
    for c in ids:
        await harness.command(c)
    # The first three filled a batch and were committed; the last two wait, unacked.
    assert all(harness.acked(c) for c in ids[:3])
    assert all(harness.unacked(c) for c in ids[3:])
    await harness.comp.flush()
    assert all(harness.acked(c) for c in ids)
    # Every message, at its ack, found its row committed (read through another connection).
    visible = {m.row_visible_at_ack for ms in harness.messages.values() for m in ms}
    assert visible == {True}
    assert harness.comp.unacked == {}


async def test_a_late_message_waits_for_the_commit_of_its_command(harness: Harness) -> None:
    """A duplicate event of a command already resolved (the table drops it as late) must not
    be acked while that command's row is still uncommitted."""
    c = cid()
    await harness.command(c)
    await harness.comp.on_event(harness._message(c, response(c, "domain", [PLAY])[0]))
    assert harness.unacked(c)
    await harness.comp.flush()
    assert harness.acked(c)
    assert {m.row_visible_at_ack for m in harness.messages[c]} == {True}


async def test_a_failing_store_acks_nothing_counts_nothing_and_keeps_the_records(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    comp = harness.comp
    counted_before = comparisons_counted()

    def unavailable(records: list[ComparisonRecord]) -> list[ComparisonRecord]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(comp.store, "add_new", unavailable)
    ids = [cid() for _ in range(2)]
    for c in ids:
        await harness.command(c)
    assert await comp.flush() is False
    assert all(harness.unacked(c) for c in ids)
    assert comparisons_counted() == counted_before
    assert guard_samples(comp) == 0
    summary = comp.summary()
    assert (summary["pending"], summary["total"]) == (2, 0)
    # A full batch does not retry at every message while the store is failing.
    await harness.command(cid())
    assert len(comp.batch) == 3 and comp.batch.full(time.monotonic()) is False
    # The store is back: the same records are committed, acked and counted once.
    monkeypatch.undo()
    assert await comp.flush() is True
    assert set(harness.reader.results()) == set(harness.messages)
    assert all(harness.acked(c) for c in harness.messages)
    assert comparisons_counted() == counted_before + 3
    assert guard_samples(comp) == 3
    assert comp.summary()["pending"] == 0


def publish_failures() -> float:
    return REGISTRY.get_sample_value("parallax_comparator_publish_failures_total") or 0.0


async def test_a_failing_publish_acks_nothing_and_its_retry_publishes_every_record_counting_none_twice(
    harness: Harness,
) -> None:
    """Stored and counted at the commit; not acked until published. The retry stores and
    counts nothing again (`add_new`) but publishes the whole batch again: stored before or not."""
    comp = harness.comp
    publisher = comp.publisher
    assert isinstance(publisher, RecordingPublisher)
    counted, failures = comparisons_counted(), publish_failures()
    publisher.fail = TimeoutError("no JetStream ack in 5.0 s")
    ids = [cid() for _ in range(2)]
    for c in ids:
        await harness.command(c)
    assert await comp.flush() is False
    assert set(harness.reader.results()) == set(ids)
    assert comparisons_counted() == counted + 2 and guard_samples(comp) == 2
    assert publish_failures() == failures + 2
    assert all(harness.unacked(c) for c in ids)
    assert comp.summary()["pending"] == 2
    # A third joins the waiting batch (full now, but held back until the retry time).
    late = cid()
    await harness.command(late)
    assert harness.unacked(late) and publisher.groups == []
    publisher.fail = None
    assert await comp.flush() is True
    assert publisher.command_ids() == [*ids, late]
    assert all(harness.acked(c) for c in harness.messages)
    assert {m.row_visible_at_ack for ms in harness.messages.values() for m in ms} == {True}
    assert comparisons_counted() == counted + 3 and guard_samples(comp) == 3
    assert comp.summary()["pending"] == 0 and comp.unacked == {}


class Held(RecordingPublisher):
    """Publishes once `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def publish(self, messages: Any) -> None:
        await self.release.wait()
        await super().publish(messages)


async def test_a_batch_filling_up_during_a_publish_waits_for_it(harness: Harness) -> None:
    """One commit at a time: a full batch resolved while the previous one is being published is
    committed after it, not refused because a commit is in progress."""
    comp = harness.comp
    comp.publisher = publisher = Held()
    first = [cid() for _ in range(3)]
    for c in first[:2]:
        await harness.command(c)
    filling = asyncio.create_task(harness.command(first[2]))  # fills the batch: publishes, held
    await asyncio.sleep(0.05)
    second = [cid() for _ in range(3)]

    async def commands() -> None:
        for c in second:
            await harness.command(c)

    more = asyncio.create_task(commands())  # fills the next batch while the first is held
    await asyncio.sleep(0.05)
    assert not filling.done() and not more.done()
    assert harness.reader.count() == 3 and not any(harness.acked(c) for c in first)
    publisher.release.set()
    await asyncio.wait_for(asyncio.gather(filling, more), 5)
    assert [len(group) for group in publisher.groups] == [3, 3]
    assert all(harness.acked(c) for c in first + second)


async def test_a_publish_cancelled_at_stop_is_retried_by_the_last_flush(harness: Harness) -> None:
    comp = harness.comp
    comp.publisher = publisher = Held()
    ids = [cid() for _ in range(2)]
    for c in ids:
        await harness.command(c)
    flushing = asyncio.create_task(comp.flush())
    await asyncio.sleep(0.05)
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    assert len(comp.batch) == 2 and all(harness.unacked(c) for c in ids)
    publisher.release.set()
    await comp.stop()
    assert publisher.command_ids() == ids
    assert all(harness.acked(c) for c in ids)


async def test_summary_never_shows_a_command_neither_pending_nor_stored(harness: Harness) -> None:
    """After every message: each command routed so far is pending or stored (commands here
    are all two-sided, so none is dropped as unshadowed)."""
    routed = 0

    def check() -> None:
        summary = harness.comp.summary()
        assert summary["pending"] + summary["total"] == routed, summary

    for _ in range(7):
        c = cid()
        await harness.routed(c)
        routed += 1
        check()
        for impl in ("legacy", "domain"):
            for body in response(c, impl, [PLAY]):
                await harness.comp.on_event(harness._message(c, body))
                check()
    assert harness.comp.summary()["pending"] == 1  # the seventh, not committed yet
    await harness.comp.flush()
    assert (harness.comp.summary()["pending"], harness.comp.summary()["total"]) == (0, 7)


async def test_stop_commits_what_is_batched(harness: Harness) -> None:
    ids = [cid() for _ in range(2)]
    for c in ids:
        await harness.command(c)
    assert harness.reader.count() == 0
    await harness.comp.stop()
    assert set(harness.reader.results()) == set(ids)
    assert all(harness.acked(c) for c in ids)


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def any_store_harness(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """`harness` on SQLite or PostgreSQL (the reader: a second connection to the same store)."""
    store: dict[str, Any] = {}
    if store_kind == "postgres":
        dsn, schema = request.getfixturevalue("postgres_schema")
        store = {"store_dsn": dsn, "store_schema": schema}
    s = settings("nats://127.0.0.1:1", tmp_path, store_batch_max=3, store_batch_seconds=60.0, **store)
    comp = Comparator(s, make_broker(s, name="comparator"))
    comp.publisher = RecordingPublisher()
    reader: ComparisonStore = (
        PostgresComparisonStore(store["store_dsn"], store["store_schema"])
        if store
        else SqliteComparisonStore(tmp_path / "comparator.sqlite")
    )
    yield Harness(comp, reader)
    reader.close()
    comp.store.close()


async def test_a_redelivered_command_already_stored_counts_once(any_store_harness: Harness) -> None:
    """A restarted comparator pairs a command again from redelivered messages; its row is
    stored already (by the previous instance): acked, but not counted nor observed again."""
    harness = any_store_harness
    comp = harness.comp
    stored_before, new = cid(), cid()
    await harness.command(stored_before)
    await comp.flush()
    counted = comparisons_counted()
    samples = guard_samples(comp)
    # A fresh table, as after a restart: the same command resolves again, beside a new one.
    comp.table = type(comp.table)(comp.table.settings)
    await harness.command(stored_before)
    await harness.command(new)
    await comp.flush()
    assert comparisons_counted() == counted + 1
    assert guard_samples(comp) == samples + 1
    assert all(harness.acked(c) for c in (stored_before, new))
    assert harness.reader.count() == 2


async def test_the_timer_commits_a_batch_that_is_not_full_and_retries_after_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings("nats://127.0.0.1:1", tmp_path, store_batch_max=256, store_batch_seconds=0.1)
    comp = Comparator(s, make_broker(s, name="comparator"))
    comp.publisher = RecordingPublisher()
    reader = SqliteComparisonStore(tmp_path / "comparator.sqlite")
    harness = Harness(comp, reader)
    monkeypatch.setattr(app_module, "STORE_RETRY_SECONDS", 0.2)
    await comp.start()
    try:
        ids = [cid() for _ in range(3)]
        for c in ids:
            await harness.command(c)
        assert reader.count() == 0  # not full: it waits for the delay
        await wait_for(lambda: reader.count() == 3, limit=5, what="the timer's commit")
        assert harness.commits == 1
        assert all(harness.acked(c) for c in ids)
        # One failed attempt: the timer tries again after the retry delay.
        real_add_new = comp.store.add_new
        attempts: list[int] = []

        def fails_once(records: list[ComparisonRecord]) -> list[ComparisonRecord]:
            attempts.append(len(records))
            if len(attempts) == 1:
                raise sqlite3.OperationalError("database is locked")
            return real_add_new(records)

        monkeypatch.setattr(comp.store, "add_new", fails_once)
        late = cid()
        await harness.command(late)
        await wait_for(lambda: reader.get(late) is not None, limit=5, what="the retried commit")
        assert attempts == [1, 1]
        assert harness.acked(late)
    finally:
        await comp.stop()
        reader.close()
        comp.store.close()


@pytest.mark.integration
async def test_over_nats_a_store_outage_loses_nothing_and_pending_reaches_zero_only_when_stored(
    clean_topology: Client, nats_url: str, tmp_path: Path
) -> None:
    feed = Feed(clean_topology)
    s = settings(nats_url, tmp_path, store_batch_max=8, store_batch_seconds=0.05)
    app = create_app(s)
    async with app.start_lifespan_context():
        comp: Comparator = app.comparator  # type: ignore[attr-defined]
        real_add_new = comp.store.add_new
        outage = True
        commits: list[int] = []

        def add_new(records: list[ComparisonRecord]) -> list[ComparisonRecord]:
            if outage:
                raise sqlite3.OperationalError("disk I/O error")
            commits.append(len(records))
            return real_add_new(records)

        comp.store.add_new = add_new  # type: ignore[method-assign]
        counted = comparisons_counted()
        ids = [cid() for _ in range(20)]
        for c in ids:
            await feed.pair(c, response(c, "legacy", [PLAY]), response(c, "domain", [PLAY]))
        await wait_for(lambda: len(comp.batch) == 20, what="all 20 resolved")
        # The outage: all 20 compared, none stored, acked or counted; all still pending.
        assert comp.summary()["pending"] == 20 and comp.summary()["total"] == 0
        assert await ack_pending(clean_topology) > 0
        assert comparisons_counted() == counted
        outage = False
        # Polled as the chaos suite does: once pending is 0, every row is there.
        await wait_for(lambda: comp.summary()["pending"] == 0, limit=10, what="pending 0")
        assert comp.summary()["total"] == 20
        await wait_until_acked(clean_topology)
        assert comparisons_counted() == counted + 20
        assert sum(commits) == 20 and len(commits) < 20
