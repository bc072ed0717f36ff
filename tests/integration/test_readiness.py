"""`/readyz` of a real broker names what is wrong: an unprovisioned server, a missing stream, a
NATS server gone. On a nats-server of its own: the test deletes a stream and stops the server."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from parallax_runtime.connection import make_broker
from parallax_runtime.embedded_nats import embedded_nats
from parallax_runtime.http import health_routes
from parallax_runtime.settings import CommonSettings
from parallax_runtime.topology import BUCKETS, STREAMS, ensure_topology

pytestmark = pytest.mark.integration


async def probe(readyz: Any) -> tuple[int, str]:
    transport = httpx.ASGITransport(app=readyz)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get("/readyz")
    return response.status_code, response.text


async def probe_until(readyz: Any, prefix: str, within: float = 10.0) -> tuple[int, str]:
    """The first answer whose body starts with `prefix`, or the last one at the deadline (the
    client notices a server gone asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        answer = await probe(readyz)
        if answer[1].startswith(prefix) or loop.time() > deadline:
            return answer
        await asyncio.sleep(0.1)


async def test_readyz_names_what_is_missing_and_a_server_gone(tmp_path: Path) -> None:
    with ExitStack() as stack:
        server = stack.enter_context(embedded_nats(tmp_path / "nats"))
        broker = make_broker(CommonSettings(nats_url=server.url), name="router")
        readyz = dict(health_routes(broker))["/readyz"]
        # Not started: no connection yet.
        assert await probe(readyz) == (503, "not ready: not connected to NATS within 2s")
        await broker.start()
        try:
            more = len(STREAMS) + len(BUCKETS) - 3
            assert await probe(readyz) == (
                503,
                f"not ready: stream INGRESS, stream HANDLE, stream ROUTED and {more} more missing"
                " (run parallax init)",
            )
            js = broker.connection.jetstream()
            await ensure_topology(js)
            assert await probe(readyz) == (200, "ready")
            await js.delete_stream("HANDLE")
            assert await probe(readyz) == (503, "not ready: stream HANDLE missing (run parallax init)")
            await ensure_topology(js)
            assert await probe(readyz) == (200, "ready")

            server.stop()
            assert await probe_until(readyz, "not ready: not connected") == (
                503,
                "not ready: not connected to NATS within 2s",
            )
            # The same server again (same port and store): the broker reconnects, ready again.
            restarted = stack.enter_context(embedded_nats(server.store_dir, port=server.port))
            assert await probe_until(readyz, "ready") == (200, "ready"), restarted.url
        finally:
            if broker.connection.is_reconnecting:  # failed above with the server down: drain refuses
                await broker.connection.close()
            else:
                await broker.stop()
