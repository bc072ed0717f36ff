"""The comparator service: routing records and both sides' events in, comparisons out (to its
store, and on `parallax.comparisons.<ctx>.<result>`).

Acks are deferred until a command is resolved, stored and published, so a comparator that stops
loses nothing: JetStream redelivers what was pending (consumers allow that many unacked
messages), the store ignores a comparison it already has and the COMPARISONS stream one it
already holds (`Nats-Msg-Id`). Resolved commands are stored in groups, one transaction for
several (`CommitBatch`), then published as one group; each is acked after both.
Run with `parallax run comparator`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.nats import ConsumerConfig, JStream, NatsBroker
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from parallax_contracts import subjects
from parallax_contracts.alerts import GuardAlert
from parallax_contracts.comparisons import ComparisonMessage
from parallax_contracts.ids import CONTEXTS
from parallax_rollout import RolloutAuditEntry
from parallax_runtime.acked_publisher import AckedPublisher
from parallax_runtime.connection import make_broker
from parallax_runtime.http import service_app
from parallax_runtime.metrics import UNREADABLE, ConsumedMessages
from parallax_runtime.partition_subscriptions import subscribe_durable
from parallax_runtime.settings import ComparatorSettings
from parallax_runtime.topology import durable_push
from prometheus_client import Counter, Gauge, Histogram

from parallax_comparator.commit_batch import CommitBatch
from parallax_comparator.core.pairing import (
    IMPL_NAMES,
    PairingSettings,
    PairingStats,
    PairingTable,
    PairOutcome,
)
from parallax_comparator.core.rules import DEFAULT_RULES_PATH, RulesFile
from parallax_comparator.guard import Guard, GuardSettings
from parallax_comparator.guard_actions import TripOutcome, act_on_trip
from parallax_comparator.published import comparison_messages
from parallax_comparator.records import ComparisonRecord, evaluate
from parallax_comparator.render import to_html
from parallax_comparator.report import build_report
from parallax_comparator.store import ComparisonStore, open_store

log = logging.getLogger("parallax.comparator")

COMPARISONS = Counter(
    "parallax_comparisons_total",
    "Comparisons by context, command type and result.",
    ["context", "command_type", "result"],
)
UNSHADOWED = Counter("parallax_comparator_unshadowed_total", "Commands routed to one side only.")
ORPHANED = Counter(
    "parallax_comparator_orphaned_total",
    "Commands whose events came from one implementation only and whose routing record never "
    "arrived (within the orphan age, or before the orphan bound pushed them out): not compared, "
    "not stored (docs/comparison.md). By the events' context (game, campaign or unknown) and "
    "implementation.",
    ["context", "impl"],
)
IGNORED = Counter(
    "parallax_comparator_ignored_total",
    "Routing records and events the pairing ignored, by reason: duplicate (an event already "
    "held), late (for a command already resolved: a redelivery, or a side after its deadline), "
    "invalid (an unknown impl, a seq or count out of range, a count that disagrees within a "
    "response, a malformed routing record).",
    ["reason"],
)
EVICTED = Counter(
    "parallax_comparator_evicted_total",
    "Pending commands resolved as missing_<impl> because a bound pushed them out (max_pending: "
    "PARALLAX_MAX_PENDING commands were waiting) or they reached PARALLAX_MAX_PENDING_AGE_SECONDS "
    "(max_age), rather than at their deadline.",
    ["reason"],
)
# Every series from the start, at 0, so that `increase()` sees the first one.
for _context in (*CONTEXTS, "unknown"):
    for _impl in IMPL_NAMES:
        ORPHANED.labels(_context, _impl)
# The pairing table's counters that the metrics follow, in `_ignored_counts` order.
_IGNORED_COUNTERS = (UNSHADOWED, *(IGNORED.labels(reason) for reason in ("duplicate", "late", "invalid")))
_EVICTED = {reason: EVICTED.labels(reason) for reason in ("max_pending", "max_age")}
PENDING = Gauge("parallax_comparator_pending_pairs", "Commands waiting for both responses.")
PUBLISH_FAILURES = Counter(
    "parallax_comparator_publish_failures_total",
    "Stored comparisons whose publish on COMPARISONS failed (no ack in time, NATS away); they "
    "are published again, their input unacked meanwhile.",
)
PAIRING_SECONDS = Histogram(
    "parallax_comparator_pairing_seconds",
    "From the routing record to the comparison being stored and published.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

EXPIRE_EVERY_SECONDS = 0.25
Body = bytes
# The router's ack_wait (a router killed between the copies and the record redelivers the
# command after it) plus a margin.
ROUTER_REDELIVERY_SECONDS = 30.0
# After a failed commit (PostgreSQL down, disk full) or publish (NATS away), the next attempt:
# not at every message, each of which may wait for a connection timeout on the event loop.
STORE_RETRY_SECONDS = 1.0
# At most one WARNING about orphaned commands per this many seconds (`OrphanWarnings`).
ORPHAN_LOG_SECONDS = 10.0


def consumer_ack_wait(settings: ComparatorSettings) -> float:
    """Acks wait for the pair: redeliver only after a pair could have expired."""
    return settings.ack_wait_seconds or (settings.max_pending_age_seconds + settings.deadline_seconds + 30)


def orphan_max_age(settings: ComparatorSettings) -> float:
    """How long events wait for their routing record. A comparator killed holding a record gets
    it again only after the consumer's ack_wait, while the events that came after the kill
    arrive at once: an orphan given up before that (the old fixed 30 s) was acked as
    `orphaned` and the redelivered record then dropped as late, so the command was never
    compared (found by the chaos suite)."""
    return max(30.0, consumer_ack_wait(settings) + ROUTER_REDELIVERY_SECONDS)


def _ignored_counts(stats: PairingStats) -> tuple[int, int, int, int]:
    return (stats.unshadowed, stats.duplicates, stats.late, stats.invalid)


def _label_context(context: Any) -> str:
    """A context as a metric label: one of the contexts, or `unknown` (labels stay few)."""
    return context if context in CONTEXTS else "unknown"


def orphan_side(outcome: PairOutcome[Body]) -> tuple[str, str]:
    """The context (read from its first event) and the implementation of an `orphaned`
    outcome, whose events all come from one side."""
    impl, events = ("legacy", outcome.legacy) if outcome.legacy else ("domain", outcome.domain)
    context: Any = None
    if events:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            context = json.loads(events[0]).get("context")
    return _label_context(context), impl


class OrphanWarnings:
    """Orphaned commands as WARNING lines, at most one per `interval` seconds: the first orphan
    is logged at once, the ones after it are summed (by context and implementation, with one
    example command id) until `flush` finds the interval over. Under a flood of orphans (the
    routing records stopped arriving) that is one line per interval, not one per command."""

    def __init__(self, interval: float = ORPHAN_LOG_SECONDS) -> None:
        self.interval = interval
        self.count = 0
        self.by_side: dict[tuple[str, str], int] = {}
        self.example: str | None = None
        self.since: float | None = None
        self.next_at = float("-inf")

    def add(self, context: str, impl: str, command_id: str, now: float) -> None:
        if self.since is None:
            self.since = now
        self.count += 1
        self.by_side[(context, impl)] = self.by_side.get((context, impl), 0) + 1
        self.example = self.example or command_id
        self.flush(now)

    def flush(self, now: float, *, force: bool = False) -> None:
        if not self.count or (now < self.next_at and not force):
            return
        sides = ", ".join(f"{c}/{i} {n}" for (c, i), n in sorted(self.by_side.items()))
        span = now - (self.since if self.since is not None else now)
        log.warning(
            "%d command(s) orphaned%s: events from one implementation only and no routing record, "
            "so not compared (%s; e.g. command %s). See parallax_comparator_orphaned_total and "
            "/summary.",
            self.count,
            f" in the last {span:.0f} s" if span >= 1 else "",
            sides,
            self.example,
        )
        self.count, self.by_side, self.example, self.since = 0, {}, None, None
        self.next_at = now + self.interval


class Comparator:
    def __init__(self, settings: ComparatorSettings, broker: NatsBroker) -> None:
        self.settings = settings
        self.broker = broker
        self.table: PairingTable[Body] = PairingTable(
            PairingSettings(
                deadline_s=settings.deadline_seconds,
                max_pending=settings.max_pending,
                max_age_s=settings.max_pending_age_seconds,
                orphan_max_age_s=orphan_max_age(settings),
            )
        )
        self.rules = RulesFile(settings.rules_file or DEFAULT_RULES_PATH)
        self.store: ComparisonStore = open_store(settings)
        self.guard = Guard(GuardSettings.from_settings(settings))
        self.trips: list[TripOutcome] = []
        self.batch = CommitBatch(settings.store_batch_max, settings.store_batch_seconds)
        # Publishes each committed batch on COMPARISONS (`start` makes it, on the broker's
        # connection, unless one was given).
        self.publisher: AckedPublisher | None = None
        # One commit at a time: the publish awaits between the batch's `take` and its end.
        self._flushing = asyncio.Lock()
        # Messages not acked yet, by command id: acked once the command is resolved, stored and
        # published.
        self.unacked: defaultdict[str, list[Msg]] = defaultdict(list)
        self.routed_at: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[JetStreamContext.PushSubscription] = []
        self._records_consumed = ConsumedMessages("parallax-comparator", subjects.ROUTED_ALL).acked
        self._events_consumed = ConsumedMessages("parallax-comparator", subjects.EVENTS_ALL).acked
        self.orphan_warnings = OrphanWarnings()
        # Messages that were not JSON or had no command id (acked, counted, logged).
        self.unreadable = 0

    async def subscribe(self, consumer: Callable[[], ConsumerConfig]) -> None:
        """ROUTED and EVENTS through nats-py's own push subscriptions, on the durable consumers
        (and with the config) the FastStream subscribers declared for the AsyncAPI document
        describe: FastStream's consume path costs more per message than pairing does. nats-py
        calls each subscription's callback for one delivery at a time, as FastStream did."""
        js = self.broker.connection.jetstream()
        for subject, stream, durable, callback in (
            (subjects.ROUTED_ALL, "ROUTED", "comparator-routed", self.on_record),
            (subjects.EVENTS_ALL, "EVENTS", "comparator-events", self.on_event),
        ):
            # A fixed deliver subject of the comparator's own (`topology.durable_push`), which
            # its NATS user may read, rather than an inbox chosen at the first start.
            config = durable_push(consumer(), service="comparator", durable=durable, subject=subject)
            self._subscriptions.append(await subscribe_durable(js, stream=stream, config=config, cb=callback))

    async def start(self) -> None:
        """Before `subscribe`: a resolved command is published in the commit that stores it."""
        if self.publisher is None:
            # The default ack timeout (acked_publisher.PUBLISH_ACK_TIMEOUT_SECONDS): past it
            # the batch waits for its retry, its input unacked.
            self.publisher = AckedPublisher(self.broker.connection)
        await self.publisher.start()
        self._tasks = [
            asyncio.create_task(self._expire_loop()),
            asyncio.create_task(self._retention_loop()),
            asyncio.create_task(self._commit_loop()),
        ]

    async def stop(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.orphan_warnings.flush(time.monotonic(), force=True)
        # Commit what is batched while the connection can still carry the acks (the broker
        # closes after the shutdown hooks).
        if not await self.flush():
            log.error(
                "stopping with %d comparisons not stored or not published: their input is redelivered",
                len(self.batch),
            )
        publisher, self.publisher = self.publisher, None
        if publisher is not None:
            with contextlib.suppress(Exception):  # NATS away: nothing left to wait for
                await publisher.stop()
        # The store stays open: a message handler may still be finishing (the broker stops
        # after the shutdown hooks); it is closed with the process.

    async def _expire_loop(self) -> None:
        next_guard_check = 0.0
        while True:
            await asyncio.sleep(EXPIRE_EVERY_SECONDS)
            self.rules.reload_if_changed()
            try:
                await self.resolve(self.table.expire(time.monotonic()))
            except Exception:
                log.exception("expiring pending pairs failed")
            now = time.monotonic()
            self.orphan_warnings.flush(now)
            if self.settings.guard_enabled and now >= next_guard_check:
                next_guard_check = now + self.settings.guard_check_seconds
                await self.check_guard(now)

    async def _commit_loop(self) -> None:
        """Commits the batch `store_batch_seconds` after its oldest record (a full batch is
        committed at once, in `resolve`), or at the retry time after a failure."""
        while True:
            await self.batch.waiting.wait()
            delay = self.batch.due_at() - time.monotonic()
            try:
                if delay > 0:
                    # Then look again: a full batch may have been committed meanwhile.
                    await asyncio.sleep(delay)
                else:
                    await self.flush()
            except Exception:
                log.exception("committing comparisons failed")

    async def check_guard(self, now: float) -> list[TripOutcome]:
        outcomes = []
        for trip in self.guard.check(now):
            try:
                outcome = await act_on_trip(self.broker.connection, trip)
            except Exception:
                log.exception("guard: could not act on a trip for %s (%s)", trip.context, trip.reason)
                continue
            outcomes.append(outcome)
            if outcome.acted:
                self.trips.append(outcome)
        return outcomes

    async def _retention_loop(self) -> None:
        days = self.settings.retention_days
        if days <= 0:
            return
        while True:
            try:
                deleted = await asyncio.to_thread(self.store.delete_older_than, time.time() - days * 86400)
                if deleted:
                    log.info("retention: deleted %d comparisons older than %g days", deleted, days)
            except Exception:
                log.exception("retention failed")
            await asyncio.sleep(self.settings.retention_check_seconds)

    async def on_record(self, msg: Msg) -> None:
        self._records_consumed.inc()
        try:
            record = json.loads(msg.data)
            command_id = str(record["command_id"])
        except (ValueError, KeyError, TypeError):
            await self._unreadable(msg)
            return
        self.unacked[command_id].append(msg)
        self.routed_at.setdefault(command_id, time.monotonic())
        await self._pair(command_id, lambda now: self.table.add_record(record, now))

    async def on_event(self, msg: Msg) -> None:
        self._events_consumed.inc()
        try:
            event = json.loads(msg.data)
            command_id = str(event["command_id"])
            args = (event["impl"], event["seq"], event["count"])
        except (ValueError, KeyError, TypeError):
            await self._unreadable(msg)
            return
        self.unacked[command_id].append(msg)
        await self._pair(command_id, lambda now: self.table.add_event(command_id, *args, msg.data, now))

    async def _pair(self, command_id: str, add: Callable[[float], list[PairOutcome[Body]]]) -> None:
        """One record or event into the pairing table (`add`, given the time): the table's
        counters it moved go into the metrics, what it resolved to the batch, and the command's
        messages are acked if the table no longer holds it."""
        before = _ignored_counts(self.table.stats)
        outcomes = add(time.monotonic())
        after = _ignored_counts(self.table.stats)
        for counter, was, now in zip(_IGNORED_COUNTERS, before, after, strict=True):
            if now != was:
                counter.inc(now - was)
        await self.resolve(outcomes)
        await self.release_if_done(command_id)

    async def _unreadable(self, msg: Msg) -> None:
        """Not JSON, or no command id to correlate it by: acked (a redelivery would not read
        better), counted and logged."""
        self.unreadable += 1
        UNREADABLE.labels("comparator").inc()
        log.warning("dropping an unreadable message on %s (not JSON, or no command id)", msg.subject)
        with contextlib.suppress(Exception):
            await msg.ack()

    async def release_if_done(self, command_id: str) -> None:
        """Ack the messages of a command the table no longer holds (unshadowed, duplicate),
        unless its comparison waits for a commit: that acks them."""
        if not self.table.holds(command_id) and command_id not in self.batch:
            await self._ack(command_id)

    async def _ack(self, command_id: str) -> None:
        self.routed_at.pop(command_id, None)
        for message in self.unacked.pop(command_id, []):
            with contextlib.suppress(Exception):
                await message.ack()

    async def resolve(self, outcomes: list[PairOutcome[Body]]) -> None:
        """Compare what the table resolved and batch it for the store. No await between the
        table giving a command up and the batch taking it: a reader never sees it in neither."""
        for outcome in outcomes:
            if outcome.status == "orphaned":
                # Nothing to compare, nothing to store: counted and logged (docs/comparison.md).
                self._orphaned(outcome)
                await self._ack(outcome.command_id)
                continue
            evicted = _EVICTED.get(outcome.reason)
            if evicted is not None:
                evicted.inc()
            self.batch.add(self.compare(outcome), time.monotonic())
            if self.batch.full(time.monotonic()):
                await self.flush()
        PENDING.set(self.table.pending)

    async def flush(self) -> bool:
        """Store the batch in one transaction and count what it stored, publish every record of
        it on COMPARISONS as one group, and once JetStream has acked them all, ack the input.
        If the store or the publish fails, nothing is acked: the records wait for a retry,
        their commands still pending (and redelivered if the comparator dies meanwhile). The
        retry stores and counts nothing that was stored (`add_new`) but publishes every record
        again, the copies that had reached the stream dropped by their `Nats-Msg-Id`; so each
        comparison is published at least once and counted once. False if it failed."""
        async with self._flushing:
            records = self.batch.take()
            if not records:
                return True
            try:
                stored = self.store.add_new(records)
            except Exception:
                self._retry_later("storing", len(records))
                return False
            self._count(stored)
            try:
                await self._publish(records)
            except Exception:
                PUBLISH_FAILURES.inc(len(records))
                self._retry_later("publishing", len(records))
                return False
            except BaseException:
                # Cancelled (the commit timer, at `stop`): back in the batch for the last flush.
                self.batch.failed(time.monotonic())
                raise
            self.batch.committed()
            await self._release(records)
            return True

    def _retry_later(self, step: str, count: int) -> None:
        """In the `except` of a failed store or publish: the batch waits for its retry."""
        self.batch.failed(time.monotonic() + STORE_RETRY_SECONDS)
        log.exception(
            "%s %d comparisons failed; their input stays unacked; next attempt in %g s",
            step,
            count,
            STORE_RETRY_SECONDS,
        )

    async def _publish(self, records: list[ComparisonRecord]) -> None:
        if self.publisher is None:
            raise RuntimeError("Comparator.start was not awaited: no publisher for the comparisons")
        await self.publisher.publish(comparison_messages(records))

    def _count(self, stored: list[ComparisonRecord]) -> None:
        """Metrics and the guard, for what the commit stored: a redelivered command that was
        stored already is not in `stored`, and counts once."""
        now = time.monotonic()
        for record in stored:
            COMPARISONS.labels(record.context, record.command_type, record.result).inc()
            if self.settings.guard_enabled:
                self.guard.observe_record(record, now)

    async def _release(self, records: list[ComparisonRecord]) -> None:
        now = time.monotonic()
        for record in records:
            started = self.routed_at.get(record.command_id)
            if started is not None:
                PAIRING_SECONDS.observe(now - started)
            await self._ack(record.command_id)

    def _orphaned(self, outcome: PairOutcome[Body]) -> None:
        context, impl = orphan_side(outcome)
        ORPHANED.labels(context, impl).inc()
        self.orphan_warnings.add(context, impl, outcome.command_id, time.monotonic())

    def compare(self, outcome: PairOutcome[Body]) -> ComparisonRecord:
        return evaluate(
            command_id=outcome.command_id,
            context=outcome.context,
            aggregate_id=outcome.aggregate_id,
            command_type=outcome.command_type,
            status=outcome.status,
            reason=outcome.reason,
            legacy=[json.loads(b) for b in outcome.legacy],
            domain=[json.loads(b) for b in outcome.domain],
            rules=self.rules.rules,
            compared_at=time.time(),
        )

    @property
    def pending(self) -> int:
        """Commands not done yet: waiting for a response, or for the commit and publish that
        end their batch. Pollers take 0 to mean that every command received is in the store
        and on COMPARISONS."""
        return self.table.pending + len(self.batch)

    def summary(self) -> dict[str, Any]:
        # Pending first: a command stored after this read is in the counts read next, while
        # one read pending now and stored meanwhile counts twice, never zero times (as does one
        # stored whose publish has not been acked yet).
        pending = self.pending
        summary = self.store.summary()
        summary["pending"] = pending
        stats = self.table.stats
        summary["unshadowed"] = stats.unshadowed
        summary["guard_trips"] = len(self.trips)
        # What the pairing saw since the comparator started (docs/comparison.md, section 3):
        # every `PairingStats` figure; orphans also at the top, beside `unshadowed`.
        summary["orphaned"] = stats.orphaned
        summary["orphans_held"] = self.table.orphans
        summary["unreadable"] = self.unreadable
        summary["pairing"] = dataclasses.asdict(stats)
        return summary

    def guard_status(self) -> dict[str, Any]:
        return {
            "enabled": self.settings.guard_enabled,
            "settings": dataclasses.asdict(self.guard.settings),
            "windows": self.guard.status(time.monotonic()),
            "trips": [
                {"context": t.trip.context, "reason": t.trip.reason, "revision": t.revision}
                for t in self.trips
            ],
        }

    def report_html(self, query: dict[str, list[str]]) -> str:
        from parallax_comparator.timespec import parse_time

        now = time.time()
        since = parse_time(query["since"][0], now) if query.get("since") else None
        until = parse_time(query["until"][0], now) if query.get("until") else None
        context = query.get("context", [None])[0]
        pending = self.pending  # before the store's counts, as in `summary`
        report = build_report(self.store, since=since, until=until, context=context)
        stats = self.table.stats
        report.extra = {
            "pending pairs": pending,
            "unshadowed": stats.unshadowed,
            # Since the comparator started; not comparisons, so not in the store's figures.
            "orphaned": stats.orphaned,
            "duplicates": stats.duplicates,
            "late": stats.late,
            "invalid or unreadable": stats.invalid + self.unreadable,
            "evicted (bounds)": stats.evicted_max_pending + stats.evicted_max_age,
        }
        return to_html(report)


def register_publishers(broker: NatsBroker) -> None:
    """What the comparator publishes, declared on the broker that the AsyncAPI document
    describes; the running comparator publishes through nats-py (`Comparator.flush` through its
    `AckedPublisher`, `guard_actions.act_on_trip`, `rollout_io.append_audit`), never through
    these publishers."""
    broker.publisher(
        subjects.COMPARISONS_TEMPLATE,
        title="comparator-comparisons",
        description=(
            "One message per comparison the comparator stored, stored in the COMPARISONS stream: "
            "the result, the pairing's reason, the mismatch signature, the field-level diffs, "
            "both handler times and refusals; not the normalized responses (the store has them, "
            "by command id). Published once its batch is committed, before the input is acked: "
            "at least once, a copy within the stream's duplicate window dropped by its header "
            "`Nats-Msg-Id` (the command id). Header `Nats-Expected-Stream: COMPARISONS`. Diffs "
            "that would make the message larger than 64 KiB are left out (`diffs_truncated`). "
            "`{context}`: `game`, `campaign` or `unknown`; `{result}`: `match`, "
            "`payload_mismatch`, `sequence_mismatch`, `rejection_mismatch`, `missing_legacy` or "
            "`missing_domain`."
        ),
        schema=ComparisonMessage,
    )
    broker.publisher(
        subjects.ALERTS_TEMPLATE,
        title="comparator-alerts",
        description=(
            "An alert each time the guard sets a context's kill switch (`kind: guard_trip`): the "
            "thresholds crossed, the window's figures and the rollout config revision written. "
            "Core NATS, not stored. `{context}`: `game` or `campaign`."
        ),
        schema=GuardAlert,
    )
    broker.publisher(
        subjects.AUDIT_TEMPLATE,
        title="comparator-audit",
        description=(
            "One entry per rollout config change the comparator writes (the guard's kill "
            "switch, with the guard's window), stored in the AUDIT stream. Header "
            "`Nats-Msg-Id`: `rollout:<context>:<revision>`. The CLI (`parallax rollout`, "
            "`parallax plan`) appends entries of the same shape. `{context}`: `game` or "
            "`campaign`."
        ),
        schema=RolloutAuditEntry,
    )


def create_app(settings: ComparatorSettings | None = None) -> AsgiFastStream:
    settings = settings or ComparatorSettings()
    broker = make_broker(settings, name="comparator")
    comparator = Comparator(settings, broker)
    # Acks wait for the pair: allow as many unacked messages as pairs may be pending, and
    # redeliver only after a pair could have expired.
    ack_wait = consumer_ack_wait(settings)

    def consumer() -> ConsumerConfig:
        # One object per subscriber: FastStream and nats-py write the durable name into it.
        return ConsumerConfig(max_ack_pending=-1, ack_wait=ack_wait)

    # Never started: it carries the subscribers and publishers for the AsyncAPI document only;
    # the running comparator consumes the same consumers through nats-py (`Comparator.subscribe`).
    documented = make_broker(settings, name="comparator")

    @documented.subscriber(
        subjects.ROUTED_ALL,
        stream=JStream("ROUTED", declare=False),
        durable="comparator-routed",
        config=consumer(),
        queue="comparator-routed",
        ack_policy=AckPolicy.MANUAL,
        title="comparator-routed",
    )
    async def on_record() -> None:
        raise RuntimeError("documentation only")

    @documented.subscriber(
        subjects.EVENTS_ALL,
        stream=JStream("EVENTS", declare=False),
        durable="comparator-events",
        config=consumer(),
        queue="comparator-events",
        ack_policy=AckPolicy.MANUAL,
        title="comparator-events",
    )
    async def on_event() -> None:
        raise RuntimeError("documentation only")

    register_publishers(documented)

    async def start() -> None:
        await comparator.start()  # its publisher first: what the subscriptions resolve is published
        await comparator.subscribe(consumer)

    @get(include_in_schema=False)
    async def summary(scope: Any) -> AsgiResponse:
        body = json.dumps(comparator.summary()).encode()
        return AsgiResponse(body, 200, headers={"content-type": "application/json"})

    @get(include_in_schema=False)
    async def guard(scope: Any) -> AsgiResponse:
        body = json.dumps(comparator.guard_status(), default=str).encode()
        return AsgiResponse(body, 200, headers={"content-type": "application/json"})

    @get(include_in_schema=False)
    async def report(scope: Any) -> AsgiResponse:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            html = await asyncio.to_thread(comparator.report_html, query)
        except ValueError as exc:
            return AsgiResponse(str(exc).encode(), 400, headers={"content-type": "text/plain"})
        return AsgiResponse(html.encode(), 200, headers={"content-type": "text/html; charset=utf-8"})

    app = service_app(
        broker,
        settings=settings,
        extra_routes=[("/summary", summary), ("/guard", guard), ("/report", report)],
        after_startup=[start],
        on_shutdown=[comparator.stop],
        documented=documented,
    )
    app.comparator = comparator  # type: ignore[attr-defined]  # for tests and embedding
    return app
