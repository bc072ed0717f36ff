"""The bare pipeline of performance.md: plain nats-py doing Parallax's NATS hops, no logic.

JetStream publish to INGRESS; a "router" consumes it and publishes two HANDLE copies and a
ROUTED record; two "handlers" consume their copy and publish one event each; a client
subscribes to the primary side's events. Nothing written in Python on NATS does less, and it
does it in the fastest shape plain nats-py offers: push consumers whose deliveries are taken in
batches (whatever arrived meanwhile), every publish of a batch in flight at once
(`publish_async`), acks after the publishes are acknowledged. (An earlier version used push
callbacks awaiting each publish in turn: ~340 commands/s, a baseline of nats-py's per-message
round trips rather than of NATS.)

Roles run as separate processes, like Parallax's services:
    python bench/bare_pipeline.py provision|router|handler-legacy|handler-domain <nats url>
"""

from __future__ import annotations

import asyncio
import sys

import nats
from event_loop import install_uvloop  # bench/, beside this script
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

STREAMS = {
    "BARE_INGRESS": "bare.ingress.>",
    "BARE_HANDLE": "bare.handle.>",
    "BARE_ROUTED": "bare.routed.>",
    "BARE_EVENTS": "bare.events.>",
}


async def provision(url: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    for name, subject in STREAMS.items():
        await js.add_stream(StreamConfig(name=name, subjects=[subject], duplicate_window=120))
    await nc.close()


class Batches:
    """A push consumer whose deliveries are handled in batches: whatever arrived while the
    previous batch was being handled is taken at once (low latency when idle, one round trip
    per batch under load)."""

    def __init__(self) -> None:
        self.pending: list[Msg] = []
        self.arrived = asyncio.Event()

    async def on_message(self, msg: Msg) -> None:
        self.pending.append(msg)
        self.arrived.set()

    async def take(self) -> list[Msg]:
        await self.arrived.wait()
        self.arrived.clear()
        msgs, self.pending = self.pending, []
        return msgs


async def _consume(js: JetStreamContext, subject: str, durable: str) -> Batches:
    batches = Batches()
    await js.subscribe(
        subject,
        durable=durable,
        cb=batches.on_message,
        manual_ack=True,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=10_000),
        pending_msgs_limit=100_000,
    )
    return batches


async def router(url: str) -> None:
    """Take what INGRESS delivered, publish every copy with the acks in flight together, wait
    for them, ack the batch: the fastest plain nats-py shape of the hop (acks after publish)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    batches = await _consume(js, "bare.ingress.>", "bare-router")
    while True:
        msgs = await batches.take()
        acks = []
        for msg in msgs:
            agg = msg.subject.rsplit(".", 1)[-1]
            acks.append(await js.publish_async(f"bare.handle.legacy.{agg}", msg.data))
            acks.append(await js.publish_async(f"bare.handle.domain.{agg}", msg.data))
            acks.append(await js.publish_async(f"bare.routed.{agg}", msg.data))
        await asyncio.gather(*acks)
        for msg in msgs:
            await msg.ack()


async def handler(url: str, impl: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    batches = await _consume(js, f"bare.handle.{impl}.>", f"bare-{impl}")
    while True:
        msgs = await batches.take()
        acks = [
            await js.publish_async(f"bare.events.{impl}.{msg.subject.rsplit('.', 1)[-1]}", msg.data)
            for msg in msgs
        ]
        await asyncio.gather(*acks)
        for msg in msgs:
            await msg.ack()


def main() -> None:
    role, url = sys.argv[1], sys.argv[2]
    install_uvloop()
    if role == "provision":
        asyncio.run(provision(url))
    elif role == "router":
        asyncio.run(router(url))
    elif role.startswith("handler-"):
        asyncio.run(handler(url, role.removeprefix("handler-")))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
