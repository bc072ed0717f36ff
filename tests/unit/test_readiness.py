"""`/readyz` says why a service is not ready (parallax_runtime.http.Readiness), and logs it once.

The broker here is a stand-in: `health_routes` needs only its `ping` and its connection's
JetStream context (`stream_info`, `key_value`). tests/integration/test_readiness.py runs the
same route on a real broker and nats-server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from nats.js.errors import BucketNotFoundError, NotFoundError
from parallax_runtime.http import ReadyCheck, health_routes
from parallax_runtime.topology import BUCKETS, STREAMS, missing_topology


class FakeJetStream:
    def __init__(self, missing: set[str] | None = None, error: Exception | None = None) -> None:
        self.missing = missing or set()
        self.error = error

    async def stream_info(self, name: str) -> object:
        if self.error is not None:
            raise self.error
        if name in self.missing:
            raise NotFoundError
        return object()

    async def key_value(self, bucket: str) -> object:
        if bucket in self.missing:
            raise BucketNotFoundError
        return object()


class FakeConnection:
    def __init__(self, js: FakeJetStream) -> None:
        self.js = js

    def jetstream(self) -> FakeJetStream:
        return self.js


class FakeBroker:
    """What `/readyz` reads of a NatsBroker: whether the connection is up, and JetStream."""

    def __init__(self, js: FakeJetStream | None = None, connected: bool = True) -> None:
        self.connected = connected
        self.connection = FakeConnection(js or FakeJetStream())

    async def ping(self, timeout: float | None) -> bool:  # noqa: ASYNC109 (NatsBroker.ping's signature)
        return self.connected


def readyz_of(broker: FakeBroker, extra_ready: ReadyCheck | None = None) -> Any:
    return dict(health_routes(broker, extra_ready))["/readyz"]  # type: ignore[arg-type]


async def probe(readyz: Any) -> tuple[int, str]:
    transport = httpx.ASGITransport(app=readyz)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get("/readyz")
    return response.status_code, response.text


async def test_ready_answers_as_before() -> None:
    async def fine() -> str | None:
        return None

    assert await probe(readyz_of(FakeBroker(), fine)) == (200, "ready")


async def test_a_connection_that_is_down_is_named() -> None:
    assert await probe(readyz_of(FakeBroker(connected=False))) == (
        503,
        "not ready: not connected to NATS within 2s",
    )


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        ({"HANDLE"}, "stream HANDLE missing (run parallax init)"),
        (
            {"EVENTS", "parallax_rollout"},
            "stream EVENTS, bucket parallax_rollout missing (run parallax init)",
        ),
        # A server nobody provisioned: the first three, and how many more.
        (
            {spec.name for spec in STREAMS} | {bucket.name for bucket in BUCKETS},
            f"stream INGRESS, stream HANDLE, stream ROUTED and {len(STREAMS) + len(BUCKETS) - 3} more"
            " missing (run parallax init)",
        ),
    ],
)
async def test_missing_streams_and_buckets_are_named(missing: set[str], reason: str) -> None:
    assert await probe(readyz_of(FakeBroker(FakeJetStream(missing)))) == (503, f"not ready: {reason}")


async def test_missing_topology_lists_what_is_missing_in_declaration_order() -> None:
    js: Any = FakeJetStream({"parallax_aggregates", "AUDIT", "INGRESS"})
    assert await missing_topology(js) == ["stream INGRESS", "stream AUDIT", "bucket parallax_aggregates"]
    assert await missing_topology(FakeJetStream()) == []  # type: ignore[arg-type]


async def test_the_extra_checks_reason_is_given() -> None:
    async def store_down() -> str | None:
        return "the comparison store does not answer"

    assert await probe(readyz_of(FakeBroker(), store_down)) == (
        503,
        "not ready: the comparison store does not answer",
    )


async def test_an_unexpected_exception_is_named_on_one_bounded_line() -> None:
    broker = FakeBroker(FakeJetStream(error=RuntimeError("no\nresponders   here")))
    assert await probe(readyz_of(broker)) == (503, "not ready: RuntimeError: no responders here")

    async def raises() -> str | None:
        raise TimeoutError

    assert await probe(readyz_of(FakeBroker(), raises)) == (503, "not ready: TimeoutError")

    long = FakeBroker(FakeJetStream(error=ValueError("x" * 1000)))
    status, text = await probe(readyz_of(long))
    assert status == 503 and text.startswith("not ready: ValueError: xxx") and text.endswith("...")
    assert len(text) == len("not ready: ") + 300


async def test_a_change_of_readiness_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    broker = FakeBroker(connected=False)
    readyz = readyz_of(broker)

    def logged() -> list[tuple[int, str]]:
        return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "parallax.readiness"]

    async def probes(times: int, expected: int) -> None:
        for _ in range(times):
            assert (await probe(readyz))[0] == expected

    caplog.set_level(logging.INFO, logger="parallax.readiness")
    steps: list[tuple[Callable[[], None], int]] = [
        (lambda: None, 503),  # never ready yet: the first reason is logged too
        (lambda: setattr(broker, "connected", True), 200),
        (lambda: setattr(broker.connection.js, "missing", {"HANDLE"}), 503),
    ]
    for change, expected in steps:
        change()
        await probes(3, expected)
    assert logged() == [
        (logging.WARNING, "service: not ready: not connected to NATS within 2s"),
        (logging.INFO, "service: ready again"),
        (logging.WARNING, "service: not ready: stream HANDLE missing (run parallax init)"),
    ]
