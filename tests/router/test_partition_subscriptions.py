"""`parallax_runtime.partition_subscriptions`, the consumption shared by the router (INGRESS) and
the handler shell (HANDLE), on the real NATS: every partition's messages reach the callback
built for that partition, in stream order, and `drain` finishes the message in hand (acked)
before it stops taking more."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from parallax_contracts import subjects
from parallax_runtime.partition_subscriptions import MessageCallback, PartitionSubscriptions
from parallax_runtime.topology import PartitionConsumer, partition_consumers
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
