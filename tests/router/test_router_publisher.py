"""Acknowledged group publishing (`parallax_runtime.acked_publisher`: the router's copies and
record, the handlers' responses) and its hand-written encodings, on the real NATS: a group
returns only once JetStream stored every message, in order; an error ack, a subject no stream
takes and silence each fail the group, and nothing is left behind."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from nats.js.errors import APIError, NoStreamResponseError
from parallax_contracts import subjects
from parallax_rollout.decision import AggregateRecord, Decision
from parallax_router.app import _consumer_sequence, _routing_record
from parallax_runtime.acked_publisher import EXPECTED_STREAM, AckedPublisher, header_block
from router_support import command, read_stream

pytestmark = pytest.mark.integration

ROOM = "0A0B0C"


@pytest.fixture
async def publisher(router_nats: Client) -> AsyncIterator[AckedPublisher]:
    publisher = AckedPublisher(router_nats, ack_timeout=0.5)
    await publisher.start()
    yield publisher
    await publisher.stop()


async def test_a_group_returns_once_stored_in_order(router_nats: Client, publisher: AckedPublisher) -> None:
    handle = subjects.handle("legacy", "game", ROOM)
    await publisher.publish(
        [
            (handle, b'{"n":1}', {subjects.MSG_ID: "m-1", EXPECTED_STREAM: "HANDLE"}),
            (handle, b'{"n":2}', {subjects.MSG_ID: "m-2", EXPECTED_STREAM: "HANDLE"}),
            (subjects.routed("game", ROOM), b'{"n":3}', {subjects.MSG_ID: "m-3", EXPECTED_STREAM: "ROUTED"}),
        ]
    )
    stored = await read_stream(router_nats, subjects.HANDLE_ALL)
    assert [body["n"] for _, body, _ in stored] == [1, 2]
    assert [headers[subjects.MSG_ID] for _, _, headers in stored] == ["m-1", "m-2"]
    assert [body["n"] for _, body, _ in await read_stream(router_nats, subjects.ROUTED_ALL)] == [3]
    assert publisher.pending() == 0
    # Published again (a redelivered command): acknowledged, and dropped as a duplicate.
    await publisher.publish([(handle, b'{"n":1}', {subjects.MSG_ID: "m-1", EXPECTED_STREAM: "HANDLE"})])
    assert len(await read_stream(router_nats, subjects.HANDLE_ALL)) == 2


async def test_an_error_ack_fails_the_group(router_nats: Client, publisher: AckedPublisher) -> None:
    # HANDLE stores the subject, but the message expects ROUTED: JetStream refuses it.
    wrong = (
        subjects.handle("domain", "game", ROOM),
        b"{}",
        {subjects.MSG_ID: "w-1", EXPECTED_STREAM: "ROUTED"},
    )
    with pytest.raises(APIError):
        await publisher.publish([wrong])
    assert await read_stream(router_nats, subjects.HANDLE_ALL) == []
    assert publisher.pending() == 0


async def test_a_subject_no_stream_takes_fails_the_group(publisher: AckedPublisher) -> None:
    with pytest.raises(NoStreamResponseError):
        await publisher.publish([("parallax.nowhere.game.0A0B0C", b"{}", {subjects.MSG_ID: "x-1"})])
    assert publisher.pending() == 0


async def test_a_group_without_acks_times_out(router_nats: Client, publisher: AckedPublisher) -> None:
    # A core subscriber takes the message and never answers.
    silent = await router_nats.subscribe("parallax.silent.test")
    try:
        with pytest.raises(TimeoutError):
            await publisher.publish([("parallax.silent.test", b"{}", {subjects.MSG_ID: "s-1"})])
    finally:
        await silent.unsubscribe()
    assert publisher.pending() == 0


def test_a_header_block_is_nats_header_lines() -> None:
    assert header_block({"A": "1", "B-C": "x:y"}) == b"NATS/1.0\r\nA: 1\r\nB-C: x:y\r\n\r\n"
    for value in ("a\r\nB: 2", "a\nb", "a\rb"):
        with pytest.raises(ValueError, match="line break"):
            header_block({"A": value})


def test_the_routing_record_is_what_json_dumps_writes() -> None:
    # A type with quotes, a backslash and non-ASCII text: escaped exactly as json.dumps does.
    cmd = command(ROOM, ctype='pl"ay\\ é ☃')
    for shadow in ("domain", None):
        decision = Decision(
            "legacy", shadow, "percent", AggregateRecord.of(["legacy"]), "legacy", "percent", 17
        )
        raw = _routing_record(cmd, decision, 42)
        record = json.loads(raw)
        expected = {
            "command_id": cmd.command_id,
            "context": "game",
            "aggregate_id": ROOM,
            "type": cmd.type,
            "primary": "legacy",
            "shadow": shadow,
            "rule": "percent",
            "config_revision": 42,
            "routed_at": record["routed_at"],
        }
        assert raw == json.dumps(expected, separators=(",", ":")).encode()


def test_the_consumer_sequence_comes_from_the_ack_subject() -> None:
    assert _consumer_sequence("$JS.ACK.INGRESS.router-p3.1.812.57.1700000000000000000.4") == 57
    assert (
        _consumer_sequence("$JS.ACK.hub.ACCHASH.INGRESS.router-p3.1.812.58.1700000000000000000.4.xyz") == 58
    )
    assert _consumer_sequence(None) is None
    assert _consumer_sequence("_INBOX.abc") is None
    assert _consumer_sequence("$JS.ACK.short") is None
