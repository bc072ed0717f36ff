"""The shell of a handler service (legacy or domain): consume HANDLE, answer on EVENTS.

For each command: parse the envelope, hand it to the context's handler, number the drafts into
one response and publish it, then ack. A command the rules refuse still gets its response (one
`command_rejected`); a failure of the store is not an answer: the command is retried in place, with
backoff, until it goes through, so nothing is dropped or reordered while a database is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from nats.aio.client import Client
from nats.aio.msg import Msg
from parallax_contracts import subjects
from parallax_contracts.envelopes import Command, Event, EventDraft, Impl, Role, rejection, wrap_response
from parallax_contracts.handling import ContextHandler
from parallax_contracts.ids import is_aggregate_id, is_command_id
from pydantic import ValidationError

from parallax_runtime.acked_publisher import AckedPublisher, Message
from parallax_runtime.connection import make_broker
from parallax_runtime.http import service_app
from parallax_runtime.metrics import (
    HANDLED,
    HANDLER_FAILURES,
    HANDLER_SECONDS,
    REJECTIONS,
    UNREADABLE,
    ConsumedMessages,
)
from parallax_runtime.partition_subscriptions import PartitionSubscriptions, document_partition_subscribers
from parallax_runtime.settings import CommonSettings
from parallax_runtime.topology import PartitionConsumer, partition_consumers

log = logging.getLogger("parallax.handler")

RETRY_FIRST_DELAY_SECONDS = 0.2
RETRY_MAX_DELAY_SECONDS = 5.0
# A replica that dies holding a command delays that command's partition by this much; a slow
# store does not hit it (`in_progress` while retrying).
ACK_WAIT_SECONDS = 30.0
# The envelope fields a response echoes (context, aggregate id, type, actor) are refused beyond
# this length: echoed twice in a rejection, a field near NATS's max_payload would make the
# response unpublishable and the command would be retried for ever, blocking its consumer.
MAX_ECHOED_FIELD_CHARS = 256


def _text(value: Any) -> str:
    """A string field as a response may echo it: bounded, and "" for a non-string or a string
    that cannot be encoded (a lone surrogate, which `json.loads` lets through)."""
    if not isinstance(value, str):
        return ""
    value = value[:MAX_ECHOED_FIELD_CHARS]
    try:
        value.encode()
    except UnicodeEncodeError:
        return ""
    return str(value)


def salvage(body: bytes) -> Command | None:
    """The correlatable part of an envelope that failed validation, or None.

    An envelope with a usable `command_id` still gets its `command_rejected`; the other fields
    are taken only if they are strings (bounded), else left empty (so the response goes to the
    `unroutable` subject and to no user)."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not is_command_id(data.get("command_id")):
        return None
    return Command(
        command_id=data["command_id"],
        context=_text(data.get("context")),
        aggregate_id=_text(data.get("aggregate_id")),
        type=_text(data.get("type")),
        actor=_text(data.get("actor")),
    )


def oversized(command: Command) -> bool:
    return any(
        len(field) > MAX_ECHOED_FIELD_CHARS
        for field in (command.context, command.aggregate_id, command.type, command.actor)
    )


def bounded(command: Command) -> Command:
    """The command with its echoed fields cut to MAX_ECHOED_FIELD_CHARS and no payload."""
    return Command(
        command_id=command.command_id,
        context=_text(command.context),
        aggregate_id=_text(command.aggregate_id),
        type=_text(command.type),
        actor=_text(command.actor),
        issued_at=command.issued_at,
    )


def events_subject(impl: Impl, command: Command) -> str:
    if is_aggregate_id(command.context, command.aggregate_id):
        return subjects.events(impl, command.context, command.aggregate_id)
    # Envelopes with a bad id never reach a handler through the router; one published straight
    # to NATS still gets its rejection, on a subject no id can collide with.
    return subjects.events_unroutable(impl)


def response_messages(
    impl: Impl, role: Role, command: Command, drafts: list[EventDraft], handler_ms: float
) -> list[Message]:
    """The EVENTS messages of one response, in order."""
    subject = events_subject(impl, command)
    return [
        (
            subject,
            event.model_dump_json().encode(),
            # The role in a header too: the gateway skips shadow events without parsing them.
            {subjects.MSG_ID: f"{command.command_id}:{impl}:{event.seq}", subjects.ROLE: role},
        )
        for event in wrap_response(command, drafts, impl=impl, role=role, handler_ms=handler_ms)
    ]


def response_publisher(nc: Client) -> AckedPublisher:
    """The publisher of a handler replica's responses (start it before use), with the default
    ack timeout: a response not acknowledged in time is retried in place."""
    return AckedPublisher(nc)


async def publish_response(
    publisher: AckedPublisher,
    impl: Impl,
    role: Role,
    command: Command,
    drafts: list[EventDraft],
    handler_ms: float,
) -> None:
    """Published back to back on one connection (so stored in order), acknowledged together.

    A publish lost in a NATS restart is never acknowledged: the publisher's timeout
    (acked_publisher.PUBLISH_ACK_TIMEOUT_SECONDS) raises, so the command is retried in place and published
    again, the duplicates dropped by their Nats-Msg-Id. Without it the partition would wait for
    ever (found by the chaos suite)."""
    await publisher.publish(response_messages(impl, role, command, drafts, handler_ms))


async def handle_and_answer(
    publisher: AckedPublisher,
    impl: Impl,
    role: Role,
    command: Command,
    handler: ContextHandler | None,
    context: str,
) -> None:
    started = time.perf_counter()
    if handler is None or oversized(command):
        command = bounded(command)
        drafts = [rejection("invalid_input", command.type, command.actor)]
    else:
        drafts = await handler.handle(command)
    elapsed = time.perf_counter() - started
    HANDLER_SECONDS.labels(impl, context).observe(elapsed)
    rejected = len(drafts) == 1 and drafts[0].type == "command_rejected"
    await publish_response(publisher, impl, role, command, drafts, round(elapsed * 1000, 3))
    HANDLED.labels(impl, context, role, "rejected" if rejected else "accepted").inc()
    if rejected:
        REJECTIONS.labels(impl, context, str(drafts[0].payload.get("code"))).inc()


def handler_consumers(impl: Impl) -> list[PartitionConsumer]:
    """The HANDLE partition consumers of `impl`: the ones the service consumes and the ones its
    AsyncAPI document describes."""
    return partition_consumers(
        impl, lambda p: subjects.handle_partition(impl, p), ack_wait_seconds=ACK_WAIT_SECONDS
    )


class HandlerService:
    """Consumes HANDLE for one implementation: one push subscription per partition
    (docs/scaling.md), each with one message in flight, so an aggregate's commands are applied
    in order, by one replica at a time, while the partitions of different aggregates proceed
    side by side.

    The subscriptions are nats-py's own (nats-py calls `on_message` for one delivery at a time
    per subscription), on the same durable consumers, with the same config, as the FastStream
    subscribers declared for the AsyncAPI document (`register_handler_subscriber`):
    FastStream's consume path (context, middlewares, dependency injection) cost a quarter of a
    handler's CPU, measured (docs/performance.md)."""

    def __init__(self, broker: NatsBroker, impl: Impl, handlers: Mapping[str, ContextHandler]) -> None:
        self.broker = broker
        self.impl = impl
        self.handlers = handlers
        self._publisher: AckedPublisher | None = None
        self._subscriptions = PartitionSubscriptions()
        self._consumed = ConsumedMessages(f"parallax-{impl}", subjects.handle_all(impl))

    async def start(self) -> None:
        self._publisher = response_publisher(self.broker.connection)
        await self._publisher.start()
        impl = self.impl
        await self._subscriptions.subscribe(
            self.broker.connection.jetstream(),
            stream="HANDLE",
            consumers=handler_consumers(impl),
            callback_for=lambda _consumer: self.on_message,
        )

    async def stop(self) -> None:
        # Finish the commands in hand (each acked after its response), then take no more.
        await self._subscriptions.drain()
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with contextlib.suppress(Exception):  # NATS away: nothing left to wait for
                await publisher.stop()

    async def on_message(self, msg: Msg) -> None:
        impl, handlers, publisher = self.impl, self.handlers, self._publisher
        assert publisher is not None, "HandlerService.start was not awaited"
        readable = True
        try:
            command: Command | None = Command.model_validate_json(msg.data)
        except ValidationError:
            # Still answered (`invalid_input`) if its command id can correlate a response.
            readable = False
            command = salvage(msg.data)
        if command is None or not is_command_id(command.command_id):
            # An id that cannot correlate a response: dropped, as unreadable.
            UNREADABLE.labels(impl).inc()
            log.warning("dropping an unreadable command envelope on %s", msg.subject)
            await msg.ack()
            self._consumed.acked.inc()
            return
        role: Role = "shadow" if (msg.headers or {}).get(subjects.ROLE) == "shadow" else "primary"
        context = command.context if command.context in handlers else "unknown"
        handler = handlers.get(command.context) if readable else None
        delay = RETRY_FIRST_DELAY_SECONDS
        while True:
            try:
                await handle_and_answer(publisher, impl, role, command, handler, context)
                break
            except Exception:
                # Retried here rather than nacked: a nack would let the aggregate's next
                # commands overtake this one. Handling is idempotent (receipts), so a retry
                # after a failed publish answers again without changing state twice.
                HANDLER_FAILURES.labels(impl, context).inc()
                log.exception("handling %s failed; retrying in %.1fs", command.command_id, delay)
                with contextlib.suppress(Exception):  # NATS away: the retry finds out
                    await msg.in_progress()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY_SECONDS)
        await msg.ack()
        self._consumed.acked.inc()


def register_handler_subscriber(broker: NatsBroker, impl: Impl) -> None:
    """Declares the HANDLE partition subscribers of `impl` on `broker`, for the AsyncAPI
    document: the running service consumes the same consumers through `HandlerService`."""
    document_partition_subscribers(
        broker,
        stream="HANDLE",
        consumers=handler_consumers(impl),
        title=lambda consumer: f"{impl}-p{consumer.partition}",
        description=lambda consumer: (
            f"Commands of HANDLE partition {consumer.partition} for the {impl} implementation."
        ),
    )


def register_handler_publishers(broker: NatsBroker, impl: Impl) -> None:
    """Declares what the `impl` service publishes (its responses, on EVENTS) on `broker`, for
    the AsyncAPI document: the running service publishes through its own `AckedPublisher`
    (`publish_response`), never through these publishers."""
    broker.publisher(
        subjects.events_template(impl),
        title=f"{impl}-events",
        description=(
            f"The {impl} implementation's response to each HANDLE command, one message per event "
            "(`seq` 0 to `count` - 1, published in order), stored in the EVENTS stream for the "
            "comparator and the gateway: the events the rules emitted, or one `command_rejected` "
            "(payload `{code, command_type}`, audience the actor) when they refused the command. "
            "`role` (also the header `Parallax-Role`) says whether it answers as primary (the "
            "gateway relays it to the `audience`) or as shadow (only compared). Header "
            f"`Nats-Msg-Id`: `<command id>:{impl}:<seq>`. `{{context}}`: `game` or `campaign`; "
            "`{aggregate_id}`: a room id or a campaign UUID."
        ),
        schema=Event,
    )
    broker.publisher(
        subjects.events_unroutable(impl),
        title=f"{impl}-events-unroutable",
        description=(
            f"The `command_rejected` (`invalid_input`) the {impl} implementation answers a HANDLE "
            "message with whose context or aggregate id cannot be a subject token (the router "
            "forwards no such command; one published straight to NATS still gets its answer), "
            "stored in the EVENTS stream. Same headers as the other responses."
        ),
        schema=Event,
    )


def handler_app(
    settings: CommonSettings, broker: NatsBroker, impl: Impl, handlers: Mapping[str, ContextHandler]
) -> AsgiFastStream:
    """The app of a handler service: `broker` (from make_broker) runs, HandlerService consumes."""
    service = HandlerService(broker, impl, handlers)
    documented = make_broker(settings, name=impl)
    register_handler_subscriber(documented, impl)
    register_handler_publishers(documented, impl)
    return service_app(
        broker,
        settings=settings,
        after_startup=[service.start],
        on_shutdown=[service.stop],
        documented=documented,
    )
