"""Helpers for the comparator service tests: crafted routing records and responses on a real
NATS server, and a comparator running in process."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.js.api import RawStreamMsg
from parallax_comparator.app import Comparator, create_app
from parallax_runtime.acked_publisher import AckedPublisher, Message
from parallax_runtime.http import wait_started
from parallax_runtime.settings import ComparatorSettings
from prometheus_client import REGISTRY

ROOM = "ABC123"
PLAY_EVENT = ("pieces_played", {"player": "u1", "pieces": ["GENERAL_RED"], "value": 14})


def settings(nats_url: str, data_dir: Path, **overrides: Any) -> ComparatorSettings:
    base: dict[str, Any] = {
        "nats_url": nats_url,
        "data_dir": data_dir,
        "deadline_seconds": 0.5,
        "max_pending_age_seconds": 5.0,
        "ack_wait_seconds": 3.0,
        "guard_check_seconds": 0.1,
    }
    base.update(overrides)
    return ComparatorSettings(**base)


@asynccontextmanager
async def comparator(s: ComparatorSettings) -> AsyncIterator[Comparator]:
    app = create_app(s)
    async with app.start_lifespan_context():
        await wait_started(app)  # subscribed, its publisher started
        yield app.comparator  # type: ignore[attr-defined]


class RecordingPublisher(AckedPublisher):
    """The comparator's publisher without NATS: each group it is given, in `groups`; `fail`
    makes `publish` raise as a publish with no ack in time does."""

    def __init__(self) -> None:
        self.groups: list[list[Message]] = []
        self.fail: Exception | None = None

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, messages: Sequence[Message]) -> None:
        if self.fail is not None:
            raise self.fail
        self.groups.append(list(messages))

    def command_ids(self) -> list[str]:
        """The `Nats-Msg-Id` of every message published, in order."""
        return [headers["Nats-Msg-Id"] for group in self.groups for _, _, headers in group]


def cid() -> str:
    return str(uuid.uuid4())


def record(
    command_id: str,
    *,
    command_type: str = "play",
    shadow: str | None = "domain",
    primary: str = "legacy",
    room: str = ROOM,
    context: str = "game",
) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "context": context,
        "aggregate_id": room,
        "type": command_type,
        "primary": primary,
        "shadow": shadow,
        "rule": "percent",
        "config_revision": 0,
        "routed_at": "2025-01-01T00:00:00Z",
    }


def event(
    command_id: str,
    impl: str,
    seq: int,
    count: int,
    kind: str,
    payload: dict[str, Any],
    *,
    handler_ms: float = 1.0,
    room: str = ROOM,
    context: str = "game",
    command_type: str = "play",
) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "impl": impl,
        "role": "primary" if impl == "legacy" else "shadow",
        "context": context,
        "aggregate_id": room,
        "seq": seq,
        "count": count,
        "type": kind,
        "payload": payload,
        "audience": ["u1", "u2"],
        "emitted_at": f"2025-01-01T00:00:00.{time.time_ns() // 1000 % 1_000_000:06d}Z",
        "handler_ms": handler_ms,
        "command_type": command_type,
    }


class Feed:
    """Publishes crafted messages on ROUTED and EVENTS."""

    def __init__(self, nc: Client) -> None:
        self.js = nc.jetstream()
        self.n = 0

    async def record(self, rec: dict[str, Any]) -> None:
        await self.js.publish(
            f"parallax.routed.{rec['context']}.{rec['aggregate_id']}",
            json.dumps(rec).encode(),
            headers={"Nats-Msg-Id": f"{rec['command_id']}:{uuid.uuid4().hex}"},
        )

    async def events(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            self.n += 1
            await self.js.publish(
                f"parallax.events.{e['impl']}.{e['context']}.{e['aggregate_id']}",
                json.dumps(e).encode(),
                # Unique ids: a duplicated delivery must reach the comparator to be tested.
                headers={"Nats-Msg-Id": f"{e['command_id']}:{e['impl']}:{e['seq']}:{uuid.uuid4().hex}"},
            )

    async def pair(
        self, command_id: str, legacy: list[dict[str, Any]], domain: list[dict[str, Any]], **rec: Any
    ) -> None:
        await self.record(record(command_id, **rec))
        await self.events(legacy)
        await self.events(domain)


def response(
    command_id: str, impl: str, events: list[tuple[str, dict[str, Any]]], **kw: Any
) -> list[dict[str, Any]]:
    return [
        event(command_id, impl, i, len(events), kind, payload, **kw)
        for i, (kind, payload) in enumerate(events)
    ]


async def wait_for(predicate: Callable[[], bool], limit: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def comparisons_counted(result: str = "match") -> float:
    labels = {"context": "game", "command_type": "play", "result": result}
    return REGISTRY.get_sample_value("parallax_comparisons_total", labels) or 0.0


def guard_samples(comp: Comparator) -> int:
    return sum(int(w["samples"]) for w in comp.guard_status()["windows"])


async def ack_pending(nc: Client) -> int:
    js = nc.jetstream()
    total = 0
    for stream, durable in (("ROUTED", "comparator-routed"), ("EVENTS", "comparator-events")):
        info = await js.consumer_info(stream, durable)
        total += info.num_ack_pending + info.num_pending
    return total


async def wait_until_acked(nc: Client, limit: float = 10.0) -> None:
    """Both comparator consumers with nothing undelivered and nothing unacked."""
    deadline = time.monotonic() + limit
    left = await ack_pending(nc)
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        left = await ack_pending(nc)
    assert left == 0, f"{left} messages not acked"


async def stream_messages(nc: Client, stream: str = "COMPARISONS") -> list[RawStreamMsg]:
    """Every message a stream holds, in order (a test's stream: purged, nothing deleted)."""
    js = nc.jetstream()
    state = (await js.stream_info(stream)).state
    if not state.messages:
        return []
    return [await js.get_msg(stream, seq) for seq in range(state.first_seq, state.last_seq + 1)]


async def wait_for_stream(nc: Client, count: int, stream: str = "COMPARISONS", limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while (held := (await nc.jetstream().stream_info(stream)).state.messages) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{stream} holds {held} messages, not {count}")
        await asyncio.sleep(0.05)
