"""nats-py push subscriptions on a service's partition consumers (docs/scaling.md).

The router (INGRESS) and the handler shell (HANDLE) consume the same way: one subscription per
`PartitionConsumer`, durable, in the consumer's deliver group, with the consumer's config (one
message in flight). nats-py calls a subscription's callback for one delivery at a time, so a
partition's messages are handled in order, each acknowledged by the callback. FastStream's
consume path (context, middlewares, dependency injection) cost more CPU than the routing or the
handling itself (docs/performance.md), hence nats-py here; the FastStream subscribers on the same
consumers are declared only for the AsyncAPI documents.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from parallax_runtime.topology import PartitionConsumer

MessageCallback = Callable[[Msg], Awaitable[None]]

DRAIN_TIMEOUT_SECONDS = 5.0


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
                    js.subscribe(
                        consumer.subject,
                        queue=consumer.durable,
                        durable=consumer.durable,
                        stream=stream,
                        config=consumer.config(),
                        manual_ack=True,
                        cb=callback_for(consumer),
                    )
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
