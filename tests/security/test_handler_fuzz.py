"""Fuzzing the handlers with malformed envelopes published straight to HANDLE, and NATS's own
payload limit.

What must hold: both handler processes survive (ready, and a valid command afterwards is still
answered); every envelope with a usable `command_id` is answered by exactly one
`command_rejected {invalid_input}` from the implementation it was sent to (on
`parallax.events.<impl>.unroutable` when its context or id cannot be a subject token); nothing
without a usable id is answered; nothing stored changes (the legacy documents' states, and the
domain events of every existing aggregate; a rejection's receipt is the only thing written).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import MaxPayloadError
from nats.js.errors import KeyNotFoundError
from parallax_cli.sim.client import SimClient
from parallax_cli.stack import Stack
from parallax_contracts.ids import is_aggregate_id
from parallax_domain.game.room import room_uuid
from parallax_gateway.auth import mint_token
from parallax_runtime.connection import kv_keys
from parallax_runtime.topology import LEGACY_BUCKETS

from .helpers import SECRET, assert_all_ready

pytestmark = pytest.mark.e2e

OWNER = "h-owner"
CAMPAIGN_PERMS = ["campaigns:create", "campaigns:read", "campaigns:execute", "campaigns:update"]
HOSTILE = ["a.b", "*", ">", "A B", "3fa9c1", "", "\u00c4\u00d6\u00dc123", "x" * 300, "$JS.API.>"]
NOT_A_STRING: list[Any] = [None, 7, 2.5, True, [], ["game"], {}, {"a": 1}]


@dataclass
class World:
    stack: Stack
    nc: Client
    room: str
    campaign: str
    events: defaultdict[str, list[Msg]]


@pytest.fixture(scope="module")
async def world(stack: Stack) -> AsyncIterator[World]:
    owner = SimClient(stack.gateway_ws, mint_token(OWNER, SECRET, CAMPAIGN_PERMS), OWNER)
    await owner.connect()
    try:
        room = (await owner.send("game", "create_room", {"name": "Fuzzed"})).aggregate_id
        params = {"pattern_type": "prefix", "variable_length": 2, "character_set": "ab",
                  "constant_string": "shop", "tld": ".com"}  # fmt: skip
        created = await owner.send(
            "campaign", "create_campaign", {"name": "Fuzzed", "kind": "domain_generation", "params": params}
        )
        assert created.first("campaign_created"), created.events
        campaign = created.aggregate_id
        nc = await nats.connect(stack.nats_url)
        events: defaultdict[str, list[Msg]] = defaultdict(list)

        async def collect(msg: Msg) -> None:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                events[json.loads(msg.data)["command_id"]].append(msg)

        await nc.subscribe("parallax.events.>", cb=collect)
        yield World(stack, nc, room, campaign, events)
        await nc.close()
    finally:
        await owner.close()


# -- what is stored ------------------------------------------------------------------------------
async def legacy_documents(nc: Client) -> dict[str, tuple[int, Any]]:
    """Every legacy document: key -> (revision, state)."""
    js = nc.jetstream()
    found: dict[str, tuple[int, Any]] = {}
    for bucket in LEGACY_BUCKETS.values():
        kv = await js.key_value(bucket)
        for key in await kv_keys(js, bucket):
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:  # deleted (a closed room): no document
                continue
            assert entry.value is not None
            found[f"{bucket}/{key}"] = (int(entry.revision or 0), json.loads(entry.value)["state"])
    return found


def domain_rows(stack: Stack) -> dict[str, tuple[int, set[str]]]:
    """Per domain originator: (number of stored events, their topics)."""
    rows: dict[str, tuple[int, set[str]]] = {}
    for context in ("game", "campaign"):
        with sqlite3.connect(stack.data_dir / f"domain-{context}.sqlite") as db:
            for originator, count, topics in db.execute(
                "SELECT originator_id, COUNT(*), GROUP_CONCAT(topic, '|') FROM stored_events"
                " GROUP BY originator_id"
            ):
                rows[f"{context}/{originator}"] = (int(count), set(str(topics).split("|")))
    return rows


def ours(world: World, docs: dict[str, tuple[int, Any]]) -> dict[str, tuple[int, Any]]:
    """The legacy documents of the aggregates the fuzzed envelopes name. The stack is shared
    with the other security tests, whose rooms may still change (or close, deleting their
    document) when their sockets' disconnects arrive after those tests ended."""
    names = {f"game.{world.room}", f"campaign.{world.campaign}"}
    return {key: value for key, value in docs.items() if key.split("/", 1)[1] in names}


def assert_nothing_stored_changed(
    before_docs: dict[str, tuple[int, Any]],
    after_docs: dict[str, tuple[int, Any]],
    before_rows: dict[str, tuple[int, set[str]]],
    after_rows: dict[str, tuple[int, set[str]]],
    world: World,
) -> None:
    assert f"{LEGACY_BUCKETS['game']}/game.{world.room}" in ours(world, before_docs), sorted(before_docs)
    campaign_key = f"{LEGACY_BUCKETS['campaign']}/campaign.{world.campaign}"
    assert campaign_key in ours(world, before_docs), sorted(before_docs)
    for key, (_, state) in ours(world, before_docs).items():
        assert after_docs[key][1] == state, f"state of {key} changed"
    for key, (_, state) in after_docs.items():
        if key not in before_docs:
            assert state is None, f"{key} was created with a state"
    # Stored as hex without dashes (eventsourcing's SQLite recorder).
    targeted = {f"game/{room_uuid(world.room).hex}", f"campaign/{uuid.UUID(world.campaign).hex}"}
    assert targeted <= set(before_rows), sorted(before_rows)
    for originator, (count, _) in before_rows.items():
        if originator in targeted:
            assert after_rows[originator][0] == count, f"events of {originator} changed"
        else:
            # Another test's room may still get its late disconnect events; none may lose any.
            assert after_rows[originator][0] >= count, f"events of {originator} lost"
    for originator, (_, topics) in after_rows.items():
        if originator not in before_rows:
            assert all("CommandReceipt" in t for t in topics), (originator, topics)


# -- malformed envelopes ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    body: bytes
    impl: str
    subject: str
    headers: dict[str, str] | None
    command_id: str | None  # usable: an answer is due
    envelope: dict[str, Any] | None


@st.composite
def cases(draw: st.DrawFn, room: str, campaign: str) -> Case:
    impl = draw(st.sampled_from(["legacy", "domain"]))
    context = draw(st.sampled_from(["game", "campaign"]))
    aggregate = room if context == "game" else campaign
    envelope: dict[str, Any] = {
        "command_id": str(uuid.uuid4()),
        "context": context,
        "aggregate_id": aggregate,
        "type": "get_room_state" if context == "game" else "get_campaign",
        "actor": OWNER,
        "permissions": CAMPAIGN_PERMS,
        "payload": {},
        "seed": 1,
        "issued_at": "2026-01-01T00:00:00Z",
    }
    mutations = draw(
        st.lists(
            st.sampled_from(
                ["drop", "retype", "hostile_id", "context", "type", "payload", "huge", "permissions", "when"]
            ),
            min_size=1,
            max_size=3,
        )
    )
    for mutation in mutations:
        if mutation == "drop":
            envelope.pop(draw(st.sampled_from(["context", "aggregate_id", "type", "actor"])), None)
        elif mutation == "retype":
            field = draw(st.sampled_from(["context", "aggregate_id", "type", "actor"]))
            envelope[field] = draw(st.sampled_from(NOT_A_STRING))
        elif mutation == "hostile_id":
            envelope["aggregate_id"] = draw(st.sampled_from(HOSTILE) | st.text(max_size=20))
        elif mutation == "context":
            envelope["context"] = draw(st.sampled_from(["rollout", "game.>", "", "GAME", "*"]))
        elif mutation == "type":
            envelope["type"] = draw(st.sampled_from(["disconnect_all", "", "play.>", "x" * 400]) | st.text())
        elif mutation == "payload":
            envelope["payload"] = draw(
                st.sampled_from([[], "x", 3, None, {"name": "a"}, {"value": "2"}, {"hand": ["GENERAL_RED"]}])
            )
        elif mutation == "huge":
            field = draw(st.sampled_from(["payload", "type", "actor", "aggregate_id"]))
            size = draw(st.sampled_from([300, 70_000, 400_000]))
            envelope[field] = {"blob": "z" * size} if field == "payload" else "z" * size
        elif mutation == "permissions":
            envelope["permissions"] = draw(st.sampled_from(["campaigns:admin", [1], {"a": 1}]))
        elif mutation == "when":
            envelope["issued_at"] = draw(st.sampled_from(["yesterday", 12, [], "2026-13-45T99:00:00Z"]))
    if envelope.get("type") in ("get_room_state", "get_campaign") and not {"huge", "payload"} & set(
        mutations
    ):
        # Mutations that left a readable, valid command: make it an unknown one.
        envelope["type"] = "no_such_command"
    subject_context = draw(st.sampled_from([context, "weird"]))
    subject_aggregate = draw(st.sampled_from([aggregate, "XXXXXX", "3FA9C1"]))
    headers = draw(st.sampled_from([None, {"Parallax-Role": "primary"}, {"Parallax-Role": "shadow"},
                                    {"Parallax-Role": "nonsense"}]))  # fmt: skip
    command_id = envelope["command_id"]
    return Case(
        json.dumps(envelope).encode(),
        impl,
        f"parallax.handle.{impl}.{subject_context}.{subject_aggregate}",
        headers,
        command_id,
        envelope,
    )


def unanswerable(draw_id: str) -> st.SearchStrategy[bytes]:
    """Bodies that carry no usable command id: nothing can be correlated, nothing is answered."""
    bad_ids = st.sampled_from(["", "x", "A.B", str(uuid.uuid4()).upper(), "*", 42, None, [draw_id]])
    return st.one_of(
        st.binary(max_size=64),
        st.sampled_from([b"", b"{", b"[]", b"null", b'"x"', b"[" * 5000, b"\xff\xfe"]),
        bad_ids.map(
            lambda cid: json.dumps(
                {
                    "command_id": cid,
                    "context": "game",
                    "aggregate_id": "3FA9C1",
                    "type": "get_room_state",
                    "actor": OWNER,
                }
            ).encode()
        ),
        st.just(json.dumps({"context": "game", "aggregate_id": "3FA9C1", "type": "play"}).encode()),
    )


async def publish(nc: Client, subject: str, body: bytes, headers: dict[str, str] | None) -> None:
    js = nc.jetstream()
    msg_headers = {"Nats-Msg-Id": str(uuid.uuid4()), **(headers or {})}
    await js.publish(subject, body, stream="HANDLE", headers=msg_headers)


async def wait_for_answers(world: World, command_ids: list[str], within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if all(world.events.get(cid) for cid in command_ids):
            await asyncio.sleep(0.2)  # anything extra would show now
            return
        await asyncio.sleep(0.02)
    missing = [cid for cid in command_ids if not world.events.get(cid)]
    raise AssertionError(f"{len(missing)} envelopes got no command_rejected: {missing[:3]}")


def check_answer(case: Case, answers: list[Msg]) -> None:
    # A core subscriber sees a publish the handler retried (JetStream deduplicates it in EVENTS).
    distinct = {(json.loads(m.data)["impl"], json.loads(m.data)["seq"]): m for m in answers}
    assert len(distinct) == 1, [m.data[:200] for m in answers]
    msg = next(iter(distinct.values()))
    event = json.loads(msg.data)
    assert (event["type"], event["payload"]["code"]) == ("command_rejected", "invalid_input"), event
    assert event["impl"] == case.impl and event["count"] == 1 and event["seq"] == 0
    role = "shadow" if (case.headers or {}).get("Parallax-Role") == "shadow" else "primary"
    assert event["role"] == role
    assert case.envelope is not None
    context, aggregate = case.envelope.get("context"), case.envelope.get("aggregate_id")
    if isinstance(context, str) and is_aggregate_id(context, aggregate):
        assert msg.subject == f"parallax.events.{case.impl}.{context}.{aggregate}"
    else:
        assert msg.subject == f"parallax.events.{case.impl}.unroutable"
    assert len(msg.data) < 4096, "a rejection never echoes a huge field"


FUZZ = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@FUZZ
@given(data=st.data())
async def test_malformed_envelopes_are_rejected_and_change_nothing(world: World, data: st.DataObject) -> None:
    batch = data.draw(st.lists(cases(world.room, world.campaign), min_size=3, max_size=8))
    junk = data.draw(st.lists(unanswerable(str(uuid.uuid4())), max_size=4))
    docs_before = await legacy_documents(world.nc)
    rows_before = domain_rows(world.stack)
    for i, case in enumerate(batch):
        await publish(world.nc, case.subject, case.body, case.headers)
        if i < len(junk):
            impl = case.impl
            await publish(world.nc, f"parallax.handle.{impl}.game.XXXXXX", junk[i], None)
    await wait_for_answers(world, [c.command_id for c in batch if c.command_id])
    for case in batch:
        assert case.command_id is not None
        check_answer(case, world.events[case.command_id])
    assert_nothing_stored_changed(
        docs_before, await legacy_documents(world.nc), rows_before, domain_rows(world.stack), world
    )


async def test_near_the_payload_limit_and_the_handlers_still_answer(world: World) -> None:
    """An envelope just under max_payload is rejected like any other; then, after everything
    above, both handlers are ready and a valid command is still answered through the gateway."""
    limit = world.nc.max_payload
    ids = []
    for impl in ("legacy", "domain"):
        command_id = str(uuid.uuid4())
        envelope = {"command_id": command_id, "context": "game", "aggregate_id": world.room,
                    "type": "get_room_state", "actor": OWNER, "payload": {"blob": ""}}  # fmt: skip
        body = json.dumps(envelope).encode()
        envelope["payload"] = {"blob": "z" * (limit - len(body) - 200)}
        await publish(
            world.nc, f"parallax.handle.{impl}.game.{world.room}", json.dumps(envelope).encode(), None
        )
        ids.append(command_id)
    await wait_for_answers(world, ids)
    assert_all_ready(world.stack)
    owner = SimClient(world.stack.gateway_ws, mint_token(OWNER, SECRET, CAMPAIGN_PERMS), OWNER)
    await owner.connect()
    try:
        reply = await owner.send("game", "get_room_state", {}, world.room)
        assert reply.first("room_state"), reply.events
        reply = await owner.send("campaign", "get_campaign", {}, world.campaign)
        assert reply.first("campaign_state"), reply.events
    finally:
        await owner.close()
    for name in ("legacy", "domain"):
        log = (world.stack.data_dir / "logs" / f"{name}.log").read_text(errors="replace")
        assert "failed; retrying" not in log, f"{name} had to retry a malformed command"


async def test_nats_refuses_a_message_over_max_payload(world: World) -> None:
    """The server advertises max_payload (1 MiB, embedded_nats.py); nats-py refuses to send more,
    and the server itself refuses a client that ignores it (raw protocol)."""
    assert world.nc.max_payload == 1024 * 1024
    with pytest.raises(MaxPayloadError):
        await world.nc.publish("parallax.handle.legacy.game.XXXXXX", b"z" * (world.nc.max_payload + 1))
    host, port = world.stack.nats_url.removeprefix("nats://").split(":")
    reply = await asyncio.to_thread(_raw_oversized_publish, host, int(port), world.nc.max_payload + 1)
    assert "Maximum Payload Violation" in reply, reply


def _raw_oversized_publish(host: str, port: int, size: int) -> str:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.recv(4096)  # INFO
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
        sock.sendall(f"PUB parallax.ingress.game.ABCDEF {size}\r\n".encode())
        received = b""
        try:
            while b"-ERR" not in received:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
        return received.decode(errors="replace")
