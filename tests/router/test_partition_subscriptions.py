"""`parallax_runtime.partition_subscriptions`, the consumption shared by the router (INGRESS) and
the handler shell (HANDLE), on the real NATS: every partition's messages reach the callback
built for that partition, in stream order, and `drain` finishes the message in hand (acked)
before it stops taking more; consumers an older version created with another deliver subject
move to this version's in place, keeping their position, once that version stopped."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from parallax_contracts import subjects
from parallax_runtime.partition_subscriptions import (
    ConsumerBoundElsewhere,
    MessageCallback,
    PartitionSubscriptions,
)
from parallax_runtime.topology import PartitionConsumer, deliver_subject, partition_consumers
from router_support import command, publish, room_id

pytestmark = pytest.mark.integration

ROOMS = [room_id(0x700 + i) for i in range(12)]
PER_ROOM = 5


def consumers() -> list[PartitionConsumer]:
    return partition_consumers("subs-test", subjects.ingress_partition, ack_wait_seconds=5.0)


async def test_each_partition_reaches_its_callback_in_order(router_nats: Client) -> None:
    seen: dict[str, list[tuple[int, int]]] = defaultdict(list)
    received = asyncio.Event()
    total = len(ROOMS) * PER_ROOM

    def callback_for(consumer: PartitionConsumer) -> MessageCallback:
        async def on_message(msg: Msg) -> None:
            # The stored subject ends with its partition (docs/scaling.md).
            assert int(msg.subject.rsplit(".", 1)[1]) == consumer.partition
            room = msg.subject.split(".")[3]
            seen[room].append((consumer.partition, int(msg.headers[subjects.MSG_ID].rsplit("-", 1)[1])))
            await msg.ack()
            if sum(map(len, seen.values())) == total:
                received.set()

        return on_message

    subscriptions = PartitionSubscriptions()
    await subscriptions.subscribe(
        router_nats.jetstream(), stream="INGRESS", consumers=consumers(), callback_for=callback_for
    )
    assert len(subscriptions) == subjects.PARTITIONS
    try:
        js = router_nats.jetstream()
        for n in range(PER_ROOM):
            for room in ROOMS:
                cmd = command(room)
                await js.publish(
                    subjects.ingress("game", room),
                    cmd.model_dump_json().encode(),
                    headers={subjects.MSG_ID: f"{room}-{n}"},
                )
        await asyncio.wait_for(received.wait(), 20)
    finally:
        await subscriptions.drain()
    assert len(subscriptions) == 0
    for room in ROOMS:
        partitions = {p for p, _ in seen[room]}
        assert len(partitions) == 1, f"{room} seen in partitions {partitions}"
        assert [n for _, n in seen[room]] == list(range(PER_ROOM))


async def test_drain_finishes_the_message_in_hand(router_nats: Client) -> None:
    started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def on_message(msg: Msg) -> None:
        started.set()
        await release.wait()
        await msg.ack()
        finished.set()

    subscriptions = PartitionSubscriptions()
    await subscriptions.subscribe(
        router_nats.jetstream(), stream="INGRESS", consumers=consumers(), callback_for=lambda _c: on_message
    )
    await publish(router_nats, command(ROOMS[0]))
    await asyncio.wait_for(started.wait(), 10)
    drain = asyncio.create_task(subscriptions.drain())
    await asyncio.sleep(0.2)
    assert not drain.done()  # waits for the callback
    release.set()
    await asyncio.wait_for(drain, 10)
    assert finished.is_set()
    pending = [
        info.num_ack_pending for info in await router_nats.jetstream().consumers_info("INGRESS")
        if info.name.startswith("subs-test-")
    ]  # fmt: skip
    assert sum(pending) == 0


def previous_configs() -> list[ConsumerConfig]:
    """The consumers as the version before per-service deliver subjects created them."""
    return [
        dataclasses.replace(consumer.config(), deliver_subject=f"_parallax.deliver.{consumer.durable}")
        for consumer in consumers()
    ]


async def subscribe_as_before(
    nc: Client, configs: list[ConsumerConfig], cb: MessageCallback
) -> list[JetStreamContext.PushSubscription]:
    """The previous version's subscriptions: nats-py binds to the consumers as stored."""
    js = nc.jetstream()
    for config in configs:
        await js.add_consumer("INGRESS", config)
    return [
        await js.subscribe(
            str(config.filter_subject),
            queue=config.durable_name,
            durable=config.durable_name,
            stream="INGRESS",
            config=config,
            manual_ack=True,
            cb=cb,
        )
        for config in configs
    ]


async def test_an_older_deliver_subject_moves_in_place_keeping_the_position(router_nats: Client) -> None:
    taken: asyncio.Queue[str] = asyncio.Queue()

    async def take(msg: Msg) -> None:
        await msg.ack()
        await taken.put(msg.headers[subjects.MSG_ID])

    first, second = command(ROOMS[0]), command(ROOMS[0])
    await publish(router_nats, first)
    previous = await subscribe_as_before(router_nats, previous_configs(), take)
    assert await asyncio.wait_for(taken.get(), 10) == first.command_id
    for subscription in previous:  # the previous version stops
        await subscription.unsubscribe()
    await publish(router_nats, second)

    subscriptions = PartitionSubscriptions()
    await subscriptions.subscribe(
        router_nats.jetstream(), stream="INGRESS", consumers=consumers(), callback_for=lambda _c: take
    )
    try:
        # The acked command is not delivered again: the consumer kept its position.
        assert await asyncio.wait_for(taken.get(), 10) == second.command_id
        await asyncio.sleep(0.3)
        assert taken.empty()
    finally:
        await subscriptions.drain()
    for info in await router_nats.jetstream().consumers_info("INGRESS"):
        if info.name.startswith("subs-test-"):
            assert info.config.deliver_subject == deliver_subject("subs-test", info.name)


async def test_a_deliver_subject_still_listened_to_is_not_moved(router_nats: Client) -> None:
    async def ignore(msg: Msg) -> None:
        pass

    previous = await subscribe_as_before(router_nats, previous_configs()[:1], ignore)
    try:
        # JetStream refuses to move a deliver subject with subscribers: the previous version
        # still runs, and this one says so rather than binding to a subject it may not read.
        with pytest.raises(ConsumerBoundElsewhere, match="subs-test-p0"):
            await PartitionSubscriptions().subscribe(
                router_nats.jetstream(),
                stream="INGRESS",
                consumers=consumers()[:1],
                callback_for=lambda _c: ignore,
            )
    finally:
        for subscription in previous:
            await subscription.unsubscribe()
