"""Per-aggregate order with two router replicas and two replicas of each handler.

The handler replicas here consume HANDLE exactly as docs/scaling.md prescribes for a handler
service (one durable consumer per partition, `partition_consumers`, shared by the replicas as a
queue group); they record what they see instead of running the rules.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from typing import Any

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream
from faststream.nats import JStream, NatsBroker, NatsMessage
from nats.aio.client import Client
from parallax_contracts import subjects
from parallax_contracts.envelopes import Impl
from parallax_runtime.topology import partition_consumers
from router_support import command, publish, room_id, router_app, running, wait_for_count, wait_replicas

ROOMS = [room_id(0x400 + i) for i in range(24)]
PER_ROOM = 15


class Recorder:
    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.by_replica: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.in_flight: set[tuple[str, str]] = set()
        self.overlaps = 0
        self.started: list[asyncio.Event] = []


def handler_replica(nats_url: str, impl: Impl, replica: str, recorder: Recorder) -> AsgiFastStream:
    broker = NatsBroker(nats_url)
    for consumer in partition_consumers(impl, lambda p, impl=impl: subjects.handle_partition(impl, p)):

        async def on_command(msg: NatsMessage) -> None:
            body: dict[str, Any] = json.loads(msg.body)
            key = (impl, body["aggregate_id"])
            if key in recorder.in_flight:
                recorder.overlaps += 1
            recorder.in_flight.add(key)
            try:
                await asyncio.sleep(random.uniform(0, 0.004))  # let the replicas race
                recorder.seen[key].append(body["payload"]["n"])
                recorder.by_replica[key].add(replica)
            finally:
                recorder.in_flight.discard(key)
            await msg.ack()

        broker.subscriber(
            consumer.subject,
            stream=JStream("HANDLE", declare=False),
            durable=consumer.durable,
            queue=consumer.durable,
            config=consumer.config(),
            ack_policy=AckPolicy.MANUAL,
        )(on_command)
    started = asyncio.Event()
    recorder.started.append(started)

    async def ready() -> None:  # after the broker and its subscriptions have started
        started.set()

    return AsgiFastStream(broker, after_startup=[ready])


async def test_order_per_aggregate_with_two_replicas_everywhere(router_nats: Client, nats_url: str) -> None:
    nc = router_nats
    recorder = Recorder()
    apps = [
        router_app(nats_url, "order-r1", shadow=True),
        router_app(nats_url, "order-r2", shadow=True),
        *(
            handler_replica(nats_url, impl, f"{impl}-{n}", recorder)
            for impl in ("legacy", "domain")
            for n in (1, 2)
        ),
    ]
    async with running(*apps):
        await wait_replicas(nc, "order-r1", "order-r2")
        for started in recorder.started:
            await asyncio.wait_for(started.wait(), 30)
        sends = []
        for n in range(PER_ROOM):
            for room in ROOMS:
                sends.append(publish(nc, command(room, "create_room" if n == 0 else "play", n=n)))
        for send in sends:  # in order, one at a time: INGRESS holds them in this order
            await send
        total = len(ROOMS) * PER_ROOM
        await wait_for_count(nc, "parallax.routed.>", total, timeout=30)
        deadline = asyncio.get_running_loop().time() + 30
        while sum(len(v) for v in recorder.seen.values()) < 2 * total:
            assert asyncio.get_running_loop().time() < deadline, "handlers did not get every copy"
            await asyncio.sleep(0.05)
    assert recorder.overlaps == 0, "two replicas handled one aggregate at the same time"
    for room in ROOMS:
        for impl in ("legacy", "domain"):
            assert recorder.seen[(impl, room)] == list(range(PER_ROOM)), (impl, room)
    # Both replicas of each handler did take part.
    replicas = set().union(*recorder.by_replica.values())
    assert replicas == {"legacy-1", "legacy-2", "domain-1", "domain-2"}
