"""Helpers of the router tests: apps in this process, commands, reading streams back."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from typing import Any

from faststream.asgi import AsgiFastStream
from nats.aio.client import Client
from nats.js.api import DeliverPolicy
from parallax_contracts import subjects
from parallax_contracts.envelopes import Command


def router_app(nats_url: str, replica: str, *, shadow: bool = True, percent: str = "50") -> AsgiFastStream:
    from parallax_router.app import create_app
    from parallax_runtime.settings import RouterSettings

    return create_app(
        RouterSettings(
            nats_url=nats_url,
            replica_id=replica,
            shadow_enabled=shadow,
            domain_adapters_enabled=True,
            domain_rollout_percentage=Decimal(percent),
        )
    )


@asynccontextmanager
async def running(*apps: AsgiFastStream) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.start_lifespan_context())
        yield


def room_id(n: int) -> str:
    return f"{n:06X}"


def command(room: str, ctype: str = "play", actor: str = "u-1", **payload: Any) -> Command:
    return Command(
        command_id=str(uuid.uuid4()),
        context="game",
        aggregate_id=room,
        type=ctype,
        actor=actor,
        payload=payload,
        seed=1,
    )


async def publish(nc: Client, cmd: Command) -> None:
    await nc.jetstream().publish(
        subjects.ingress(cmd.context, cmd.aggregate_id),
        cmd.model_dump_json().encode(),
        headers={subjects.MSG_ID: cmd.command_id},
    )


async def read_stream(
    nc: Client, subject: str, *, idle: float = 0.5
) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """Everything stored under `subject` (subject, JSON body, headers), in stream order."""
    js = nc.jetstream()
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    out: list[tuple[str, dict[str, Any], dict[str, str]]] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=idle)
            except TimeoutError:
                return out
            out.append((msg.subject, json.loads(msg.data), dict(msg.headers or {})))
    finally:
        await sub.unsubscribe()


async def wait_for_count(nc: Client, subject: str, want: int, timeout: float = 20.0) -> int:  # noqa: ASYNC109
    """Wait until the stream of `subject` holds `want` messages under it; returns the count."""
    js = nc.jetstream()
    stream = await js.find_stream_name_by_subject(subject)
    deadline = asyncio.get_running_loop().time() + timeout
    count = 0
    while asyncio.get_running_loop().time() < deadline:
        info = await js.stream_info(stream, subjects_filter=subject)
        count = sum((info.state.subjects or {}).values())
        if count >= want:
            return count
        await asyncio.sleep(0.05)
    return count


async def purge_buckets(nc: Client) -> None:
    """Empty the rollout, aggregate and heartbeat buckets (they outlive a test otherwise)."""
    from parallax_runtime.topology import AGGREGATES_BUCKET, ROLLOUT_BUCKET, ROUTERS_BUCKET

    js = nc.jetstream()
    for bucket in (ROLLOUT_BUCKET, AGGREGATES_BUCKET, ROUTERS_BUCKET):
        await js.purge_stream(f"KV_{bucket}")


async def routed_records(nc: Client) -> list[dict[str, Any]]:
    return [body for _, body, _ in await read_stream(nc, subjects.ROUTED_ALL)]


async def handle_copies(nc: Client) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    return await read_stream(nc, subjects.HANDLE_ALL)


async def wait_replicas(nc: Client, *names: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Until each named router replica heartbeats (FastStream's lifespan context returns
    before the broker and the after-startup hooks have run)."""
    from parallax_cli.commands.rollout import router_beats

    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if set(names) <= set(await router_beats(nc)):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"router replicas {names} never heartbeat")
