"""A command published to INGRESS reaches both handlers with shadow on, exactly one without.

Router, legacy and domain run in this process; NATS is the real server of the session."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from nats.aio.client import Client
from parallax_contracts import subjects
from parallax_contracts.envelopes import Command

from integration.services import handler_apps, router_app, running


async def publish(nc: Client, command: Command) -> None:
    await nc.jetstream().publish(
        subjects.ingress(command.context, command.aggregate_id),
        command.model_dump_json().encode(),
        headers={subjects.MSG_ID: command.command_id},
    )


async def collect(
    nc: Client, subject: str, predicate: object, want: int, wait: float = 10.0
) -> list[dict[str, object]]:
    """Messages of `subject` in its stream (from the start) until `want` match `predicate`."""
    js = nc.jetstream()
    sub = await js.subscribe(subject, ordered_consumer=True)
    found: list[dict[str, object]] = []
    try:
        async with asyncio.timeout(wait):
            while len(found) < want:
                msg = await sub.next_msg(timeout=wait)
                data = json.loads(msg.data)
                if predicate(data):  # type: ignore[operator]
                    found.append(data)
    except TimeoutError:
        pass
    finally:
        await sub.unsubscribe()
    return found


def create_room(room: str) -> Command:
    return Command(
        command_id=str(uuid.uuid4()),
        context="game",
        aggregate_id=room,
        type="create_room",
        actor="u-1",
        payload={"name": "Ann"},
        seed=42,
    )


@pytest.mark.parametrize("shadow", [True, False])
async def test_command_reaches_both_sides_only_with_shadow(
    clean_topology: Client, nats_url: str, tmp_path: Path, shadow: bool
) -> None:
    nc = clean_topology
    command = create_room("ABC123" if shadow else "ABC124")
    async with running(router_app(nats_url, shadow=shadow), *handler_apps(nats_url, tmp_path)):
        await publish(nc, command)
        events = await collect(
            nc, subjects.EVENTS_ALL, lambda e: e["command_id"] == command.command_id, want=2, wait=8.0
        )
        records = await collect(
            nc, subjects.ROUTED_ALL, lambda r: r["command_id"] == command.command_id, want=1
        )
    assert len(records) == 1
    record = records[0]
    impls = sorted(str(e["impl"]) for e in events)
    if shadow:
        assert impls == ["domain", "legacy"]
        assert record["shadow"] is not None and record["shadow"] != record["primary"]
        roles = {str(e["impl"]): e["role"] for e in events}
        assert roles[str(record["primary"])] == "primary"
        assert roles[str(record["shadow"])] == "shadow"
    else:
        assert impls == [record["primary"]]
        assert record["shadow"] is None
        assert events[0]["role"] == "primary"
    assert all(e["type"] == "room_created" and e["audience"] == ["u-1"] for e in events)


async def test_a_redelivered_ingress_message_is_not_routed_twice(
    clean_topology: Client, nats_url: str, tmp_path: Path
) -> None:
    nc = clean_topology
    command = create_room("ABC125")
    async with running(router_app(nats_url, shadow=True), *handler_apps(nats_url, tmp_path)):
        await publish(nc, command)
        await publish(nc, command)  # the same id again: JetStream's dedupe window drops it
        events = await collect(
            nc, subjects.EVENTS_ALL, lambda e: e["command_id"] == command.command_id, want=3, wait=4.0
        )
    assert sorted(str(e["impl"]) for e in events) == ["domain", "legacy"]
