"""Malformed envelopes published straight to `parallax.handle.<impl>.…`, over the real NATS server.

The consumer survives them all, valid commands after them are still answered, an envelope with
a usable command id gets its `command_rejected`, and nothing stored changes: neither the legacy
document's state nor the domain room's events.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as Nats
from parallax_contracts.envelopes import IMPLS, Command, Impl
from parallax_contracts.ids import new_command_id, new_room_id
from parallax_domain.factory import application_for
from parallax_domain.game.room import room_uuid
from parallax_legacy.handler import document_key
from parallax_runtime.connection import kv_keys
from parallax_runtime.topology import LEGACY_BUCKETS
from persistence_support import NatsDriver, Step, domain_settings, game_script, services, triples

pytestmark = pytest.mark.integration


def envelope(room: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "command_id": new_command_id(),
        "context": "game",
        "aggregate_id": room,
        "type": "get_room_state",
        "actor": "u1",
        "permissions": [],
        "payload": {},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def unreadable(room: str) -> list[bytes]:
    """Envelopes no response can be correlated with: dropped (and acked)."""
    return [
        b"",
        b"not json",
        b"{",
        b"\xff\xfe\x00garbage",
        b"[]",
        b"null",
        b'"a string"',
        b"42",
        json.dumps(envelope(room, command_id=_DROP)).encode(),
        json.dumps(envelope(room, command_id=None)).encode(),
        json.dumps(envelope(room, command_id=17)).encode(),
        json.dumps(envelope(room, command_id="not-a-uuid")).encode(),
        json.dumps(envelope(room, command_id="x" * 10_000)).encode(),
        json.dumps({"hello": "world"}).encode(),
        b'{"command_id": "' + b"\\u0000" * 50 + b'"}',
    ]


def refusable(room: str, member: str, awaited: str) -> list[tuple[dict[str, Any], str]]:
    """Envelopes with a usable command id: each must come back as one command_rejected with
    this code, audience the actor."""
    other_room = next(r for r in iter(new_room_id, None) if r != room)
    return [
        (envelope(room, payload="not an object", type="join_room", actor="u9"), "invalid_input"),
        (envelope(room, payload=[1, 2], type="declare", actor=awaited), "invalid_input"),
        (envelope(room, payload={"value": "3"}, type="declare", actor=awaited), "invalid_input"),
        (envelope(room, payload={"value": 3.5}, type="declare", actor=awaited), "invalid_input"),
        (envelope(room, payload={"pieces": "GENERAL_RED"}, type="play", actor=awaited), "invalid_input"),
        (envelope(room, payload={"pieces": [None]}, type="play", actor=awaited), "invalid_input"),
        (envelope(room, type="no_such_command", actor=member), "invalid_input"),
        (envelope(room, type="start_game", actor="u1", seed="abc"), "invalid_input"),
        (envelope(room, type="start_game", actor="u1", seed=-1), "invalid_input"),
        (envelope(room, type="start_game", actor="u1", seed=2**64), "invalid_input"),
        (envelope(room, type="join_room", actor=member, payload={"name": 7}), "invalid_input"),
        (envelope(room, type="join_room", actor="u9", payload={"name": "x" * 10_000}), "invalid_input"),
        (envelope(room, type="create_room", actor=member, payload={}), "invalid_input"),
        # A leading lower-case letter: `room.lower()` alone is still valid when the id is all digits.
        (envelope("a" + room[1:].lower(), type="get_room_state", actor=member), "invalid_input"),
        (envelope("ZZZZZZ", type="get_room_state", actor=member), "invalid_input"),
        (envelope("../../etc", type="get_room_state", actor=member), "invalid_input"),
        (envelope(room + ".>", type="get_room_state", actor=member), "invalid_input"),
        (envelope("*", type="get_room_state", actor=member), "invalid_input"),
        (envelope("", type="get_room_state", actor=member), "invalid_input"),
        (envelope(other_room, type="get_room_state", actor=member), "not_found"),
        (envelope(room, context="campaign", actor=member), "invalid_input"),
        (envelope(room, context="nope", actor=member), "invalid_input"),
    ]


def wrongly_typed(room: str) -> list[dict[str, Any]]:
    """Envelopes with a usable command id whose other fields have the wrong JSON types: still
    answered with `command_rejected` (invalid_input)."""
    return [
        envelope(room, actor=5),
        envelope(room, actor=None),
        envelope(room, type=["play"]),
        envelope(room, type=_DROP),
        envelope(room, aggregate_id=123456),
        envelope(room, context=_DROP),
        envelope(room, permissions="campaigns:admin"),
        envelope(room, issued_at="yesterday"),
    ]


async def legacy_state(nc: Nats, room: str) -> Any:
    kv = await nc.jetstream().key_value(LEGACY_BUCKETS["game"])
    entry = await kv.get(document_key("game", room))
    assert entry.value is not None
    return json.loads(entry.value)["state"]


def domain_room_events(data_dir: Path, room: str) -> list[tuple[int, str]]:
    app = application_for("game", domain_settings("nats://unused", data_dir).eventsourcing_env("game"))
    try:
        return [(e.originator_version, type(e).__qualname__) for e in app.events.get(room_uuid(room))]
    finally:
        app.close()


async def probe(driver: NatsDriver, impl: Impl, room: str, actor: str) -> str:
    """A read-only valid command; returns its command id."""
    cmd = Command(
        command_id=new_command_id(), context="game", aggregate_id=room, type="get_room_state", actor=actor
    )
    await driver.publish(impl, cmd)
    return cmd.command_id


async def answered(driver: NatsDriver, impl: Impl, step: Step) -> None:
    await driver.publish(impl, step.command)
    got = await driver.response(impl, step.command.command_id)
    assert triples([*map(_draft, got)]) == triples(step.expected), (impl, step.command.type)


def _draft(event: dict[str, Any]) -> Any:
    from persistence_support import drafts_of

    return drafts_of([event])[0]


async def partition_consumers_of(nc: Nats, impl: Impl) -> list[Any]:
    """The HANDLE partition consumers of one implementation (docs/scaling.md)."""
    return [c for c in await nc.jetstream().consumers_info("HANDLE") if c.name.startswith(f"{impl}-p")]


async def delivered(nc: Nats, impl: Impl) -> int:
    """Messages delivered over all partition consumers of `impl`."""
    return sum(c.delivered.consumer_seq for c in await partition_consumers_of(nc, impl))


async def test_malformed_envelopes_change_nothing(
    clean_topology: Nats, nats_url: str, tmp_path: Path
) -> None:
    room = new_room_id()
    steps = await game_script(4242, room)
    played = next(i for i, s in enumerate(steps) if s.command.type == "declare")  # awaits a declaration
    async with services(nats_url, tmp_path, *IMPLS), NatsDriver(clean_topology) as driver:
        for step in steps[:played]:
            for impl in IMPLS:
                await answered(driver, impl, step)
        awaited = steps[played].command.actor
        before_legacy = await legacy_state(clean_topology, room)
        before_domain = domain_room_events(tmp_path, room)
        consumer_before = {impl: await delivered(clean_topology, impl) for impl in IMPLS}

        probes: dict[Impl, list[dict[str, Any]]] = {}
        for impl in IMPLS:
            subject = f"parallax.handle.{impl}.game.{room}"
            for data in unreadable(room):
                await driver.publish_raw(impl, data, subject=subject)
            refused = refusable(room, "u2", awaited)
            for body, _ in refused:
                await driver.publish_raw(impl, json.dumps(body).encode(), subject=subject)
            typed = wrongly_typed(room)
            for body in typed:
                await driver.publish_raw(impl, json.dumps(body).encode(), subject=subject)

            # The next valid command is answered: the consumer survived, in order.
            probes[impl] = await driver.response(impl, await probe(driver, impl, room, awaited))

            for body, code in refused:
                got = await driver.response(impl, body["command_id"], wait=5)
                assert [(e["type"], e["payload"], e["audience"]) for e in got] == [
                    ("command_rejected", {"code": code, "command_type": body["type"]}, [body["actor"]])
                ], (impl, body)
                if body["aggregate_id"] != room or body["context"] != "game":
                    # Never on a subject built from an unchecked id.
                    assert got[0]["_subject"] in (
                        f"parallax.events.{impl}.unroutable",
                        f"parallax.events.{impl}.game.{body['aggregate_id']}",
                    ), got[0]["_subject"]
            for body in typed:
                # Not a Command, but its id can correlate an answer: refused, changing nothing.
                got = await driver.response(impl, str(body["command_id"]), wait=5)
                assert [(e["type"], e["payload"]["code"]) for e in got] == [
                    ("command_rejected", "invalid_input")
                ], (impl, body)

        assert [e["type"] for e in probes["legacy"]] == ["room_state"]
        assert [(e["payload"], e["audience"]) for e in probes["legacy"]] == [
            (e["payload"], e["audience"]) for e in probes["domain"]
        ]

        # The redelivered answer of a valid command is still the first one.
        await answered(driver, "legacy", steps[played - 1])
        await answered(driver, "domain", steps[played - 1])

        # Nothing stored changed: the legacy document's state, the domain room's events.
        assert await legacy_state(clean_topology, room) == before_legacy
        assert domain_room_events(tmp_path, room) == before_domain

        # Every message was acked: nothing left pending or awaiting an ack.
        for impl in IMPLS:
            infos = await partition_consumers_of(clean_topology, impl)
            assert all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos)
            assert await delivered(clean_topology, impl) > consumer_before[impl]

        # And the game goes on to its end on both sides.
        for step in steps[played:]:
            for impl in IMPLS:
                await answered(driver, impl, step)
    assert steps[-1].expected[-1].type == "game_over"


async def test_bad_room_ids_store_nothing(clean_topology: Nats, nats_url: str, tmp_path: Path) -> None:
    """A command on an id that is not a room id is refused and creates no document or stream."""
    bad_ids = [
        "abcdef",
        "ABCDEFG",
        "AB.CDE",
        "AB CDE",
        "AB*CDE",
        "AB>CDE",
        "ÄBCDEF",
        "\uff21BCDEF",
        "A" * 5000,
    ]
    async with services(nats_url, tmp_path, *IMPLS), NatsDriver(clean_topology) as driver:
        for impl in IMPLS:
            for bad in bad_ids:
                cmd = Command(
                    command_id=new_command_id(),
                    context="game",
                    aggregate_id=bad,
                    type="create_room",
                    actor="u1",
                    payload={"name": "Ann"},
                )
                # On a well-formed subject (the router never builds one from a bad id; a
                # message on a malformed HANDLE subject is no command: docs/security.md).
                await driver.publish_raw(
                    impl, cmd.model_dump_json().encode(), subject=f"parallax.handle.{impl}.game.ZZZZZZ"
                )
                got = await driver.response(impl, cmd.command_id)
                assert [(e["type"], e["payload"]["code"]) for e in got] == [
                    ("command_rejected", "invalid_input")
                ]
                assert got[0]["_subject"] == f"parallax.events.{impl}.unroutable"
    keys = await kv_keys(clean_topology.jetstream(), LEGACY_BUCKETS["game"])
    assert not [k for k in keys if k.split(".", 1)[1] in bad_ids]
    app = application_for("game", domain_settings("nats://unused", tmp_path).eventsourcing_env("game"))
    try:
        # Only the receipts of the refused commands were stored, no room.
        assert not [bad for bad in bad_ids if list(app.events.get(room_uuid(bad)))]
    finally:
        app.close()
