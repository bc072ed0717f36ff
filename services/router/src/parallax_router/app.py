"""The router service: INGRESS in, HANDLE copies and a routing record out.

Run standalone with `parallax run router` or
`faststream run --factory parallax_router.app:create_app`. Any number of replicas may run: the
router consumes INGRESS through one durable consumer per partition, each with one message in
flight, shared by all replicas as a queue group (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import time
from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from parallax_contracts import subjects
from parallax_contracts.envelopes import IMPLS, Command, Impl, RoutingRecord, utc_now
from parallax_contracts.ids import is_aggregate_id, is_command_id
from parallax_rollout.decision import Decision, decide_command
from parallax_runtime.acked_publisher import EXPECTED_STREAM, AckedPublisher, Message
from parallax_runtime.connection import kv_bucket, make_broker
from parallax_runtime.http import service_app
from parallax_runtime.metrics import LATENCY_BUCKETS, UNREADABLE, ConsumedMessages
from parallax_runtime.partition_subscriptions import PartitionSubscriptions, document_partition_subscribers
from parallax_runtime.rollout_store import rollout_defaults
from parallax_runtime.settings import RouterSettings
from parallax_runtime.topology import (
    AGGREGATES_BUCKET,
    ROLLOUT_BUCKET,
    ROUTERS_BUCKET,
    PartitionConsumer,
    partition_consumers,
)
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from parallax_router.aggregates import AggregateRecords
from parallax_router.live_config import LiveConfig

log = logging.getLogger("parallax.router")

ROUTED = Counter(
    "parallax_router_routed_total",
    "Commands routed, by context, primary, shadow side (none) and the rule that decided.",
    ["context", "primary", "shadow", "rule"],
)
PINNED = Counter(
    "parallax_router_pinned_total", "Commands kept off their desired primary by history.", ["context"]
)
NOT_ROLLBACKABLE = Counter(
    "parallax_router_not_rollbackable_total",
    "Commands the kill switch wanted on legacy but legacy lacks the aggregate's history.",
    ["context"],
)
ROUTING_SECONDS = Histogram(
    "parallax_router_routing_seconds",
    "From taking a command off INGRESS to its copies and record being acknowledged.",
    ["context"],
    buckets=LATENCY_BUCKETS,
)
REFUSED_COMMANDS = Counter(
    "parallax_router_unroutable_total",
    "INGRESS messages that cannot be routed (bad envelope or id) and were dropped.",
)
FAILURES = Counter(
    "parallax_router_failures_total",
    "Routing attempts that failed (NATS, an invalid aggregate record...) and were redelivered.",
    ["context"],
)

HEARTBEAT_SECONDS = 2.0
# A replica that dies holding a command delays that command's partition by this much.
ACK_WAIT_SECONDS = 10.0
RETRY_DELAY_SECONDS = 1.0


def router_consumers() -> list[PartitionConsumer]:
    """The INGRESS partition consumers: the ones the router consumes and the ones its AsyncAPI
    document describes."""
    return partition_consumers("router", subjects.ingress_partition, ack_wait_seconds=ACK_WAIT_SECONDS)


class Router:
    def __init__(self, settings: RouterSettings, broker: NatsBroker) -> None:
        self.settings = settings
        self.broker = broker
        self.replica = settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"
        self.live = LiveConfig(rollout_defaults(settings), self.replica)
        self.records: AggregateRecords | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._routers_kv: KeyValue | None = None
        self._publisher: AckedPublisher | None = None
        # Subscribers start with the broker, before `start` has the buckets: wait for it.
        self._ready = asyncio.Event()
        # Metric children, by label values (labels() costs a lock and a dict per call).
        self._routed: dict[tuple[str, str, str, str], Any] = {}
        self._seconds: dict[str, Any] = {}
        self._subscriptions = PartitionSubscriptions()
        self._consumed = ConsumedMessages("parallax-router", subjects.INGRESS_ALL)

    async def start(self) -> None:
        js = self.broker.connection.jetstream()
        # The default ack timeout (acked_publisher.PUBLISH_ACK_TIMEOUT_SECONDS): past it the
        # command is nacked and redelivered.
        self._publisher = AckedPublisher(self.broker.connection)
        await self._publisher.start()
        self.records = AggregateRecords(await kv_bucket(self.broker, AGGREGATES_BUCKET))
        await self.live.start(await kv_bucket(self.broker, ROLLOUT_BUCKET), js)
        self._routers_kv = await kv_bucket(self.broker, ROUTERS_BUCKET)
        self._ready.set()
        # Consuming before the first heartbeat: a replica that reports itself routes.
        await self.subscribe(js)
        self._heartbeat = asyncio.create_task(self._beat(self._routers_kv))

    async def subscribe(self, js: JetStreamContext) -> None:
        """One push subscription per INGRESS partition (docs/scaling.md), through nats-py.

        The same consumers, with the same config, as the FastStream subscribers declared for the
        AsyncAPI document (`register_partition_subscribers`): durable, a deliver group shared by
        all replicas, one message in flight. nats-py calls `on_message` for one delivery at a
        time per subscription. FastStream's consume path (context, middlewares, dependency
        injection) cost more CPU than routing itself: ~45 % of the router's time, measured."""
        await self._subscriptions.subscribe(
            js,
            stream="INGRESS",
            consumers=router_consumers(),
            callback_for=lambda consumer: functools.partial(self.on_message, consumer.partition),
        )

    async def stop(self) -> None:
        # Finish the commands in hand (each is acked after its copies), then stop taking more.
        await self._subscriptions.drain()
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                await self._publisher.stop()
        if self._heartbeat:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._routers_kv is not None:
            # Leave the replica set at once, so `rollout set --wait` does not wait for us.
            with contextlib.suppress(Exception):
                await self._routers_kv.delete(self.replica)
        await self.live.stop()

    async def _beat(self, kv: KeyValue) -> None:
        """Report the revisions this replica applies (read by `parallax rollout set --wait`):
        every HEARTBEAT_SECONDS, and at once after each applied change."""
        while True:
            self.live.changed.clear()
            beat = {"replica": self.replica, "revisions": self.live.revisions(), "at": utc_now().isoformat()}
            try:
                await kv.put(self.replica, json.dumps(beat).encode())
            except Exception:  # NATS away: the next beat tries again
                log.debug("heartbeat failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.live.changed.wait(), HEARTBEAT_SECONDS)

    async def on_message(self, partition: int, msg: Msg) -> None:
        """One INGRESS delivery: route it, then ack (or nak for a redelivery in place)."""
        if not self._ready.is_set():
            await self._ready.wait()
        assert self.records is not None
        delivery = _consumer_sequence(msg.reply)
        if delivery is not None:  # None: not a JetStream delivery (tests), no continuity
            self.records.continuity(partition, delivery)
        try:
            command = Command.model_validate_json(msg.data)
        except ValidationError:
            command = None
        if (
            command is None
            or not is_command_id(command.command_id)
            or not is_aggregate_id(command.context, command.aggregate_id)
        ):
            # The gateway never publishes such a thing; whatever did gets no routing.
            UNREADABLE.labels("router").inc()
            REFUSED_COMMANDS.inc()
            await msg.ack()
            self._consumed.acked.inc()
            return
        try:
            await self.route(partition, command, msg.data)
        except Exception:
            FAILURES.labels(command.context).inc()
            log.exception("routing %s failed; it will be redelivered", command.command_id)
            # The partition's cache may hold what was not written: read KV again.
            self.records.forget(partition)
            # Still pending while delayed, so nothing of the partition overtakes it.
            await msg.nak(delay=RETRY_DELAY_SECONDS)
            self._consumed.nacked.inc()
            return
        await msg.ack()
        self._consumed.acked.inc()

    async def route(self, partition: int, command: Command, body: bytes) -> Decision:
        started = time.perf_counter()
        assert self.records is not None and self._publisher is not None
        context, aggregate_id, command_id = command.context, command.aggregate_id, command.command_id
        applied = self.live.current(context)
        record = await self.records.get(partition, context, aggregate_id)
        decision = decide_command(applied.config, record, command)
        handle_subjects, routed_subject = _subjects(context, aggregate_id)
        messages: list[Message] = [
            (
                handle_subjects[impl],
                body,
                {subjects.MSG_ID: f"{command_id}:{impl}", subjects.ROLE: role, EXPECTED_STREAM: "HANDLE"},
            )
            for impl, role in decision.copies
        ]
        messages.append(
            (
                routed_subject,
                _routing_record(command, decision, applied.revision),
                {subjects.MSG_ID: command_id, EXPECTED_STREAM: "ROUTED"},
            )
        )
        # All three in flight at once (one round trip, not three); each is acknowledged by
        # the server before the command is, and duplicates are dropped by Nats-Msg-Id.
        # On an error ack or a timeout (NATS away) this raises and the command is redelivered.
        await self._publisher.publish(messages)
        # The record is written after the copies: a crash in between redelivers the command,
        # which is decided again from the old record and published again (deduplicated).
        if decision.record_update is not None:
            await self.records.put(partition, context, aggregate_id, decision.record_update)
        self._count(context, decision, time.perf_counter() - started)
        return decision

    def _count(self, context: str, decision: Decision, seconds: float) -> None:
        key = (context, decision.primary, decision.shadow or "none", decision.rule)
        child = self._routed.get(key)
        if child is None:
            child = self._routed[key] = ROUTED.labels(*key)
        child.inc()
        if decision.pinned:
            PINNED.labels(context).inc()
        if decision.not_rollbackable:
            NOT_ROLLBACKABLE.labels(context).inc()
        hist = self._seconds.get(context)
        if hist is None:
            hist = self._seconds[context] = ROUTING_SECONDS.labels(context)
        hist.observe(seconds)


@functools.lru_cache(maxsize=8192)
def _subjects(context: str, aggregate_id: str) -> tuple[dict[Impl, str], str]:
    """The HANDLE subject of each implementation and the ROUTED subject of an aggregate.

    Cached: the builders check their tokens with regular expressions, three times per command
    otherwise, and an aggregate's commands keep coming to the replica that has its partition."""
    handle = {impl: subjects.handle(impl, context, aggregate_id) for impl in IMPLS}
    return handle, subjects.routed(context, aggregate_id)


# What `json.dumps` writes for a string (ensure_ascii, its default): quoted and escaped.
_json_string = json.encoder.encode_basestring_ascii


def _routing_record(command: Command, decision: Decision, revision: int) -> bytes:
    """The routing record (protocol.md), byte for byte what `json.dumps(record,
    separators=(",", ":"))` gives, written without building a dict and walking it: it is built
    for every command."""
    shadow = "null" if decision.shadow is None else _json_string(decision.shadow)
    return (
        f'{{"command_id":{_json_string(command.command_id)},'
        f'"context":{_json_string(command.context)},'
        f'"aggregate_id":{_json_string(command.aggregate_id)},'
        f'"type":{_json_string(command.type)},'
        f'"primary":{_json_string(decision.primary)},'
        f'"shadow":{shadow},'
        f'"rule":{_json_string(decision.rule)},'
        f'"config_revision":{int(revision)},'
        f'"routed_at":{_json_string(utc_now().isoformat())}}}'
    ).encode()


def _consumer_sequence(reply: str | None) -> int | None:
    """The consumer sequence of a JetStream delivery, from its ack subject (None otherwise).

    `msg.metadata` parses every token, the timestamp into a datetime, for this one number.
    `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`, or
    with `<domain>.<account hash>.` after `$JS.ACK.` and a random token at the end."""
    if not reply or not reply.startswith("$JS.ACK."):
        return None
    tokens = reply.split(".")
    token = tokens[6] if len(tokens) == 9 else tokens[8] if len(tokens) >= 12 else ""
    return int(token) if token.isdigit() else None


def register_partition_subscribers(broker: NatsBroker) -> None:
    """One subscriber per INGRESS partition (docs/scaling.md), declared on the broker that the
    AsyncAPI document describes; the running router consumes the same consumers through
    nats-py (`Router.subscribe`)."""
    document_partition_subscribers(
        broker,
        stream="INGRESS",
        consumers=router_consumers(),
        title=lambda consumer: f"router-p{consumer.partition}",
        description=lambda consumer: (
            f"Commands of INGRESS partition {consumer.partition}, routed to primary and shadow."
        ),
    )


def register_publishers(broker: NatsBroker) -> None:
    """What the router publishes, declared on the broker that the AsyncAPI document describes;
    the running router publishes through its own `AckedPublisher` (`Router.route`), never
    through these publishers."""
    for impl in IMPLS:
        broker.publisher(
            subjects.handle_template(impl),
            title=f"router-handle-{impl}",
            description=(
                f"The commands routed to the {impl} implementation, byte for byte as taken off "
                "INGRESS, stored in the HANDLE stream: the primary copy (its events answer the "
                "user) or the shadow copy (its events are only compared), as the header "
                "`Parallax-Role: primary | shadow` says. Header `Nats-Msg-Id`: "
                f"`<command id>:{impl}`. `{{context}}`: `game` or `campaign`; `{{aggregate_id}}`: "
                "a room id or a campaign UUID. The stream stores it under one more token, the "
                "aggregate's partition (docs/scaling.md)."
            ),
            schema=Command,
        )
    broker.publisher(
        subjects.ROUTED_TEMPLATE,
        title="router-routed",
        description=(
            "One routing record per routed command, stored in the ROUTED stream for the "
            "comparator: the primary implementation, the shadow one (or null), the rule that "
            "decided and the rollout config revision applied. Header `Nats-Msg-Id`: the command "
            "id. `{context}`: `game` or `campaign`; `{aggregate_id}`: a room id or a campaign UUID."
        ),
        schema=RoutingRecord,
    )


def create_app(settings: RouterSettings | None = None) -> AsgiFastStream:
    settings = settings or RouterSettings()
    broker = make_broker(settings, name="router")
    router = Router(settings, broker)
    # Never started: it carries the subscribers and publishers for the AsyncAPI document only.
    documented = make_broker(settings, name="router")
    register_partition_subscribers(documented)
    register_publishers(documented)
    return service_app(
        broker,
        settings=settings,
        after_startup=[router.start],
        on_shutdown=[router.stop],
        documented=documented,
    )
