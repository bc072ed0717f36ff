"""nats-py push subscriptions on a service's partition consumers (docs/scaling.md).

The router (INGRESS) and the handler shell (HANDLE) consume the same way: one subscription per
`PartitionConsumer`, durable, in the consumer's deliver group, with the consumer's config (one
message in flight). nats-py calls a subscription's callback for one delivery at a time, so a
partition's messages are handled in order, each acknowledged by the callback. FastStream's
consume path (context, middlewares, dependency injection) cost more CPU than the routing or the
handling itself (docs/performance.md), hence nats-py here; the FastStream subscribers on the same
consumers are declared only for the AsyncAPI documents. `subscribe_durable` is the comparator's
way in too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.js.errors import BadRequestError

from parallax_runtime.topology import PartitionConsumer

MessageCallback = Callable[[Msg], Awaitable[None]]

DRAIN_TIMEOUT_SECONDS = 5.0
# JetStream's answer to an update of a push consumer's deliver subject while something still
# listens on the old one ("consumer name already in use").
CONSUMER_NAME_IN_USE = 10013


class ConsumerBoundElsewhere(RuntimeError):
    """A durable consumer delivers to another subject, where subscribers still listen."""


async def subscribe_durable(
    js: JetStreamContext, *, stream: str, config: ConsumerConfig, cb: MessageCallback
) -> JetStreamContext.PushSubscription:
    """Create the durable push consumer `config` describes (`topology.durable_push`), or bring
    an existing one to it, then subscribe to its deliver subject in its deliver group, with
    manual acks.

    `js.subscribe` would bind to an existing consumer as stored, with whatever deliver subject
    an older version gave it: one the service's NATS user may not be allowed to subscribe to
    (deploy/nats/parallax-auth.conf), which only shows as a permissions violation and a
    service that receives nothing. Here the create request is a create-or-update: a no-op for
    the same config (replicas starting together), an update of `ack_wait` or the deliver
    subject otherwise, in place, keeping the consumer's position. JetStream refuses to move the
    deliver subject while subscribers listen on the old one (the older version still runs):
    then this fails, naming the consumer (docs/scaling.md, "Upgrades")."""
    try:
        info = await js.add_consumer(stream, config)
    except BadRequestError as exc:
        if exc.err_code != CONSUMER_NAME_IN_USE:
            raise
        raise ConsumerBoundElsewhere(
            f"consumer {config.durable_name} of stream {stream} still delivers to the subscribers "
            f"of its old deliver subject; it cannot move to {config.deliver_subject} until every "
            "replica of the previous version has stopped (docs/scaling.md, Upgrades)"
        ) from exc
    return await js.subscribe_bind(
        stream=stream, config=info.config, consumer=info.name, cb=cb, manual_ack=True
    )


class PartitionSubscriptions:
    """The subscriptions of one service replica to its partition consumers."""

    def __init__(self) -> None:
        self._subscriptions: list[JetStreamContext.PushSubscription] = []

    def __len__(self) -> int:
        return len(self._subscriptions)

    async def subscribe(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        consumers: Iterable[PartitionConsumer],
        callback_for: Callable[[PartitionConsumer], MessageCallback],
    ) -> None:
        """Subscribe to every consumer of `stream`, each delivery to `callback_for(consumer)`
        (which acks or naks it: manual acks)."""
        self._subscriptions = list(
            await asyncio.gather(
                *(
                    subscribe_durable(js, stream=stream, config=consumer.config(), cb=callback_for(consumer))
                    for consumer in consumers
                )
            )
        )

    async def drain(self, timeout: float = DRAIN_TIMEOUT_SECONDS) -> None:  # noqa: ASYNC109
        """Finish the messages in hand, then take no more: each subscription's current message
        is handled (and acked) before its interest is removed, within `timeout` seconds each."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(Exception):  # NATS away: the consumer redelivers
                await asyncio.wait_for(subscription.drain(), timeout)  # type: ignore[no-untyped-call]


def document_partition_subscribers(
    broker: NatsBroker,
    *,
    stream: str,
    consumers: Iterable[PartitionConsumer],
    title: Callable[[PartitionConsumer], str],
    description: Callable[[PartitionConsumer], str],
) -> None:
    """Declare one FastStream subscriber per consumer on `broker`, which is never started: it
    carries the subscribers for the service's AsyncAPI document, while the running service
    consumes the same durable consumers, with the same config, through `PartitionSubscriptions`.
    """

    async def documentation_only() -> None:  # never called: `broker` is never started
        raise RuntimeError("documentation only")

    for consumer in consumers:
        broker.subscriber(
            consumer.subject,
            stream=JStream(stream, declare=False),
            durable=consumer.durable,
            # Push with a deliver group and one message in flight: one replica at a time per
            # partition (docs/scaling.md).
            queue=consumer.durable,
            config=consumer.config(),
            ack_policy=AckPolicy.MANUAL,
            title=title(consumer),
            description=description(consumer),
        )(documentation_only)
