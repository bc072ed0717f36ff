"""Router tests: a real NATS (the session's), provisioned, emptied before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from parallax_runtime.topology import ensure_topology
from router_support import purge_buckets


@pytest.fixture
async def router_nats(clean_topology: Client) -> AsyncIterator[Client]:
    await ensure_topology(clean_topology.jetstream())
    await purge_buckets(clean_topology)
    yield clean_topology
    await purge_buckets(clean_topology)
