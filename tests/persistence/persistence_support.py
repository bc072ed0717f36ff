"""Recorded scripts (whole games, campaign lifecycles) and a NATS driver for the handler services.

A script is the command stream of a game or lifecycle driven by the conformance helpers against
the in-memory legacy handler, with each command's response: what every implementation, on every
store, before and after any restart, must answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faststream.asgi import AsgiFastStream
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from parallax_contracts import subjects
from parallax_contracts.envelopes import Command, EventDraft, Impl
from parallax_contracts.ids import is_aggregate_id
from parallax_legacy.factory import in_memory_handler as legacy_in_memory
from parallax_runtime.http import wait_started
from parallax_runtime.settings import DomainSettings, LegacySettings


@dataclass(frozen=True)
class Step:
    command: Command
    expected: list[EventDraft]


class Recorder:
    """A ContextHandler that gives each command a fresh random id and records it with its answer."""

    def __init__(self, context: str) -> None:
        self.inner = legacy_in_memory(context)
        self.steps: list[Step] = []

    async def handle(self, command: Command) -> list[EventDraft]:
        command = command.model_copy(update={"command_id": str(uuid.uuid4())})
        drafts = await self.inner.handle(command)
        self.steps.append(Step(command, drafts))
        return drafts


async def game_script(seed: int, room: str, *, state_every: int = 9) -> list[Step]:
    """Four connected players play a whole game like automatic players (declining redeals,
    smallest declarations, first pieces), with a `get_room_state` now and then."""
    from game_support import Table

    recorder = Recorder("game")
    table = Table(recorder, room=room)  # type: ignore[arg-type]
    await table.start(seed)
    moves = 0
    while table.phase not in ("game_over", "closed"):
        player = table.awaited()
        assert player is not None, table.phase
        await table.act_like_auto(player)
        moves += 1
        if state_every and moves % state_every == 0:
            await table.state(player)
    assert table.phase == "game_over"
    return recorder.steps


async def campaign_script(*, progress_records: int = 6) -> tuple[list[Step], list[str]]:
    """A campaign lifecycle over three linked campaigns (every transition, progress, reads,
    a few refused commands). Returns the steps and the campaign ids."""
    from campaign._support import BIG_DG_PARAMS, CAROL, Client

    recorder = Recorder("campaign")
    client = Client(recorder)  # type: ignore[arg-type]
    source = await client.create("domain_generation", BIG_DG_PARAMS, name="Source")
    dns = await client.dns(source)
    http = await client.http(dns)
    await client.send("pause", source)  # refused: a draft cannot pause
    await client.ok("update_campaign", dns, {"name": "DNS renamed"})
    await client.ok("start", source)
    for i in range(progress_records):
        await client.progress(source, 10 + i, 7, 3 + i)
    await client.ok("pause", source)
    await client.state(source)
    await client.send("get_campaign", source, actor=CAROL, permissions=[])  # refused: forbidden
    await client.ok("resume", source)
    await client.progress(source, 5, 5, 0)
    await client.ok("complete", source)
    await client.ok("restart", source)
    await client.ok("fail", source, {"reason": "resolver down"})
    await client.ok("retry", source)
    await client.ok("complete", source)
    await client.ok("archive", source)
    await client.ok("start", dns)
    await client.progress(dns, 3, 3, 0)
    await client.ok("cancel", dns)
    await client.ok("start", http)
    await client.progress(http, 2, 1, 1)
    await client.state(http)
    return recorder.steps, [source, dns, http]


def triples(drafts: Sequence[EventDraft]) -> list[tuple[str, dict[str, Any], list[str]]]:
    return [(d.type, d.payload, list(d.audience)) for d in drafts]


# --------------------------------------------------------------------------- services


def legacy_settings(nats_url: str, data_dir: Path) -> LegacySettings:
    return LegacySettings(nats_url=nats_url, data_dir=data_dir)


def domain_settings(nats_url: str, data_dir: Path) -> DomainSettings:
    return DomainSettings(nats_url=nats_url, data_dir=data_dir, store="sqlite")


def handler_app(impl: Impl, nats_url: str, data_dir: Path) -> AsgiFastStream:
    if impl == "legacy":
        from parallax_legacy.app import create_app as legacy_app

        return legacy_app(legacy_settings(nats_url, data_dir))
    from parallax_domain.app import create_app as domain_app

    return domain_app(domain_settings(nats_url, data_dir))


class Services:
    """The legacy and domain service apps, each started, stopped and restarted in process.

    Each app runs in a task of its own: its lifespan holds an anyio task group, which must be
    left by the task that entered it, whatever the order the apps are stopped in."""

    def __init__(self, nats_url: str, data_dir: Path) -> None:
        self.nats_url = nats_url
        self.data_dir = data_dir
        self._running: dict[Impl, tuple[asyncio.Task[None], asyncio.Event]] = {}

    async def start(self, impl: Impl) -> None:
        assert impl not in self._running
        app = handler_app(impl, self.nats_url, self.data_dir)
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        async def run() -> None:
            try:
                async with app.start_lifespan_context():
                    started.set_result(None)
                    await stop.wait()
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                raise

        task = asyncio.create_task(run(), name=f"{impl}-service")
        await started
        self._running[impl] = (task, stop)
        # The lifespan context returns before the broker has started its subscribers; stopping
        # one that is still subscribing fails, and commands published now would wait.
        await wait_started(app)

    async def stop(self, impl: Impl) -> None:
        task, stop = self._running.pop(impl)
        stop.set()
        await task

    async def restart(self, impl: Impl) -> None:
        await self.stop(impl)
        await self.start(impl)

    async def stop_all(self) -> None:
        for impl in list(self._running):
            await self.stop(impl)


@asynccontextmanager
async def services(nats_url: str, data_dir: Path, *impls: Impl) -> AsyncIterator[Services]:
    running = Services(nats_url, data_dir)
    try:
        for impl in impls:
            await running.start(impl)
        yield running
    finally:
        await running.stop_all()


class NatsDriver:
    """Publishes commands to HANDLE as the router does and collects each response from EVENTS."""

    def __init__(self, nc: Nats) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self._events: defaultdict[tuple[Impl, str], list[dict[str, Any]]] = defaultdict(list)
        self._arrived = asyncio.Event()
        self._subs: list[Any] = []

    async def __aenter__(self) -> NatsDriver:
        self._subs.append(await self.nc.subscribe(f"{subjects.PREFIX}.events.>", cb=self._on_event))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for sub in self._subs:
            await sub.unsubscribe()

    async def _on_event(self, msg: Msg) -> None:
        event = json.loads(msg.data)
        event["_subject"] = msg.subject
        self._events[(event["impl"], event["command_id"])].append(event)
        self._arrived.set()

    async def publish(self, impl: Impl, command: Command, *, msg_id_suffix: str = "") -> None:
        await self.publish_raw(
            impl,
            command.model_dump_json().encode(),
            context=command.context,
            aggregate_id=command.aggregate_id,
            msg_id=f"{command.command_id}:{impl}{msg_id_suffix}",
        )

    async def publish_raw(
        self,
        impl: Impl,
        data: bytes,
        *,
        context: str = "game",
        aggregate_id: str = "3FA9C1",
        msg_id: str | None = None,
        subject: str | None = None,
    ) -> None:
        if subject is None:
            if is_aggregate_id(context, aggregate_id):
                subject = subjects.handle(impl, context, aggregate_id)
            else:
                subject = f"{subjects.PREFIX}.handle.{impl}.{context if context.isalnum() else 'x'}.odd"
        headers = {subjects.ROLE: "primary", subjects.MSG_ID: msg_id or str(uuid.uuid4())}
        await self.js.publish(subject, data, headers=headers, stream="HANDLE")

    def forget(self, impl: Impl, command_id: str) -> None:
        self._events.pop((impl, command_id), None)

    def received(self, impl: Impl, command_id: str) -> list[dict[str, Any]]:
        return list(self._events.get((impl, command_id), []))

    async def response(self, impl: Impl, command_id: str, wait: float = 15.0) -> list[dict[str, Any]]:
        """The whole response (all `count` events), in seq order."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            got = self._events.get((impl, command_id), [])
            if got and len({e["seq"] for e in got}) >= got[0]["count"]:
                return sorted(got, key=lambda e: e["seq"])
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no complete {impl} response to {command_id} (have {len(got)})")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.5))

    async def handle(self, impl: Impl, command: Command) -> list[EventDraft]:
        await self.publish(impl, command)
        return drafts_of(await self.response(impl, command.command_id))


def drafts_of(events: Sequence[dict[str, Any]]) -> list[EventDraft]:
    return [EventDraft(type=e["type"], payload=e["payload"], audience=e["audience"]) for e in events]
