"""Provisioning over a real NATS server."""

from __future__ import annotations

from nats.aio.client import Client
from parallax_runtime.topology import BUCKETS, STREAMS, ensure_topology, missing_topology


async def test_provisioning_is_idempotent(nc: Client) -> None:
    js = nc.jetstream()
    first = await ensure_topology(js)
    second = await ensure_topology(js)
    assert all(line.endswith(("created", "present")) for line in first)
    assert all(line.endswith("present") for line in second), second
    assert len(second) == len(STREAMS) + len(BUCKETS)
    assert await missing_topology(js) == []
    info = await js.stream_info("INGRESS")
    assert info.config.subjects == ["parallax.ingress.>"]
    assert info.config.duplicate_window == 120.0


async def test_provisioning_repairs_a_changed_stream(nc: Client) -> None:
    js = nc.jetstream()
    await ensure_topology(js)
    info = await js.stream_info("EVENTS")
    info.config.max_age = 600.0
    await js.update_stream(info.config)
    await ensure_topology(js)
    assert (await js.stream_info("EVENTS")).config.max_age == 24 * 3600.0
