"""A subscription the NATS server refuses makes the service not ready, and is counted.

Under deploy/nats/parallax-auth.conf a service whose user may not read one of its subjects (a
wrong user, an auth file from before the service's deliver subject) used to connect, subscribe
without an error and answer `/readyz` with 200 while receiving nothing: nats-py reports the
server's permissions violation to the connection's error callback only. Here the services run in
this process against a real nats-server whose auth file lacks the domain user's deliver subjects
and the gateway user's events: both answer `/readyz` 503 naming the refused subject, and
`parallax_nats_permission_violations_total{kind="subscribe"}` counts it; legacy, under the file's
own permissions, stays ready. A server restarted with the right permissions makes a refused
service ready again (nats-py subscribes again after a reconnect). Unit tests below read the error
texts and the reconnect rule (parallax_runtime.nats_permissions)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from parallax_runtime.connection import make_broker
from parallax_runtime.http import service_app
from parallax_runtime.nats_permissions import PermissionViolations, Violation, parse_violation
from parallax_runtime.settings import CommonSettings
from parallax_runtime.topology import DELIVER_PREFIX

from .auth_server import CONF, Server, auth_server, connect, provision_as_admin

# The domain user without its deliver subjects, the gateway user without the events.
GRANTS = {
    '"_INBOX_domain.>", "_parallax.deliver.domain.>"': '"_INBOX_domain.>"',
    '"parallax.events.>", "_INBOX_gateway.>"': '"_INBOX_gateway.>"',
}


def metric(text: str, series: str) -> float:
    """A series' value in a /metrics answer."""
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert found is not None, f"{series} is not exported"
    return float(found[1])


# -- on a real server ---------------------------------------------------------------------------


def narrowed_conf(directory: Path) -> Path:
    """deploy/nats/parallax-auth.conf without GRANTS, in `directory`."""
    conf = CONF.read_text()
    for grant, narrowed in GRANTS.items():
        assert conf.count(grant) == 1, grant
        conf = conf.replace(grant, narrowed)
    path = directory / "narrowed-auth.conf"
    path.write_text(conf)
    return path


@pytest.fixture(scope="module")
def narrowed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("refused-nats")
    with auth_server(directory, narrowed_conf(directory)) as running:
        yield running


@asynccontextmanager
async def running_apps(server: Server, data: Path) -> AsyncIterator[dict[str, Any]]:
    """Domain (refused its deliver subjects), legacy (as configured) and the gateway (refused
    the events), each connected as its own user, provisioning off as in production. Entered
    and left in the test's task (FastStream's lifespan holds a cancel scope)."""
    from parallax_domain.app import create_app as domain_app
    from parallax_gateway.app import create_app as gateway_app
    from parallax_legacy.app import create_app as legacy_app
    from parallax_runtime.http import wait_started
    from parallax_runtime.settings import DomainSettings, GatewaySettings, LegacySettings

    def settings(cls: Any, user: str) -> Any:
        return cls(nats_url=server.url_of(user), data_dir=data, provision_on_start=False)

    handlers = {
        "domain": domain_app(settings(DomainSettings, "domain")),
        "legacy": legacy_app(settings(LegacySettings, "legacy")),
    }
    gateway = gateway_app(settings(GatewaySettings, "gateway"))
    async with (
        handlers["domain"].start_lifespan_context(),
        handlers["legacy"].start_lifespan_context(),
        gateway.router.lifespan_context(gateway),
    ):
        for app in handlers.values():
            await wait_started(app)
        yield {**handlers, "gateway": gateway}


async def get(app: Any, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        return await client.get(path)


async def readyz_once_settled(app: Any, expected: int = 503, within: float = 10.0) -> httpx.Response:
    """`/readyz` once it answers `expected`, or at the deadline (the server's -ERR is
    asynchronous; a reconnect takes a second or so)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        response = await get(app, "/readyz")
        if response.status_code == expected or loop.time() > deadline:
            return response
        await asyncio.sleep(0.1)


@pytest.mark.integration
async def test_services_refused_a_subscription_are_not_ready_and_count_it(
    narrowed_server: Server, tmp_path: Path
) -> None:
    await provision_as_admin(narrowed_server)
    async with running_apps(narrowed_server, tmp_path) as apps:
        domain = await readyz_once_settled(apps["domain"])
        assert domain.status_code == 503, domain.text
        # nats-py lowercases the server's error line, subject included.
        assert f'refused the subscription to "{DELIVER_PREFIX}.domain.'.lower() in domain.text, domain.text

        gateway = await readyz_once_settled(apps["gateway"])
        assert gateway.status_code == 503, gateway.text
        assert 'refused the subscription to "parallax.events.>"' in gateway.text, gateway.text

        # Domain's partition consumers (one refused subscription each) and the gateway's events.
        exported = (await get(apps["domain"], "/metrics")).text
        assert metric(exported, 'parallax_nats_permission_violations_total{kind="subscribe"}') >= 2
        assert metric(exported, "parallax_nats_refused_subscriptions") >= 2

        legacy = await get(apps["legacy"], "/readyz")
        assert (legacy.status_code, legacy.text) == (200, "ready")


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.mark.integration
async def test_a_refusal_holds_until_a_reconnect_where_the_server_allows_it(tmp_path: Path) -> None:
    """nats-py subscribes again after a reconnect: once the server (restarted with the right
    permissions) accepts the subscription, the service is ready and the subscription receives."""
    deliveries = f"{DELIVER_PREFIX}.domain.refused-test"
    received: list[bytes] = []

    async def keep(msg: Msg) -> None:
        received.append(msg.data)

    with ExitStack() as servers:
        narrowed = servers.enter_context(auth_server(tmp_path, narrowed_conf(tmp_path)))
        await provision_as_admin(narrowed)
        broker = make_broker(CommonSettings(nats_url=narrowed.url_of("domain")), name="domain")
        app = service_app(broker)
        await broker.start()
        try:
            await broker.connection.subscribe(deliveries, cb=keep)
            ready = await readyz_once_settled(app)
            assert (ready.status_code, deliveries in ready.text) == (503, True), ready.text

            # The server stops; the same one (same store, port and passwords) starts again with
            # the file as it is.
            servers.close()
            port = int(narrowed.host_port.rsplit(":", 1)[1])
            fixed = servers.enter_context(auth_server(tmp_path, port=port, passwords=narrowed.passwords))
            ready = await readyz_once_settled(app, expected=200)
            assert (ready.status_code, ready.text) == (200, "ready")
            admin = await connect(fixed, "admin")
            await admin.nc.publish(deliveries, b"now")
            await admin.nc.close()
            await until(lambda: received == [b"now"])
        finally:
            await broker.stop()


# -- the error texts and the reconnect rule --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # As nats-py reports them: `nats: ` and the server's line, lowercased.
        (
            'nats: permissions violation for subscription to "_parallax.deliver.domain.handle-domain-0"',
            Violation("subscribe", "_parallax.deliver.domain.handle-domain-0"),
        ),
        (
            'nats: permissions violation for subscription to "_parallax.deliver.x.d" using queue "d"',
            Violation("subscribe", "_parallax.deliver.x.d", "d"),
        ),
        (
            'nats: permissions violation for publish to "parallax.events.x"',
            Violation("publish", "parallax.events.x"),
        ),
        (
            'nats: permissions violation for publish with reply of "_inbox.x"',
            Violation("publish", "_inbox.x"),
        ),
        # As the server sends it (another client, or a future nats-py that keeps the case).
        (
            "'Permissions Violation for Subscription to \"parallax.events.>\"'",
            Violation("subscribe", "parallax.events.>"),
        ),
        ('nats: permissions violation for subscription to ""', Violation("subscribe", "")),
        # Not permissions violations.
        ("nats: authorization violation", None),
        ("nats: maximum subscriptions exceeded", None),
        ("nats: slow consumer, messages dropped subject: parallax.events.x", None),
        ("nats: permissions violation", None),  # no subject: nothing to name
        ("", None),
    ],
)
def test_the_violation_an_error_text_reports(text: str, expected: Violation | None) -> None:
    assert parse_violation(text) == expected


def sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(name, labels)
    assert value is not None, name
    return value


def counted(kind: str) -> float:
    return sample("parallax_nats_permission_violations_total", kind=kind)


def refused_now() -> float:
    return sample("parallax_nats_refused_subscriptions")


def refused(subject: str) -> NatsError:
    return NatsError(f'nats: permissions violation for subscription to "{subject}"')


async def test_a_refused_subscription_keeps_the_service_not_ready_until_a_reconnect_accepts_it() -> None:
    violations = PermissionViolations("domain")
    before = counted("subscribe"), counted("publish")
    gauge = refused_now()
    assert violations.not_ready_reason() is None

    await violations.error_cb(refused("a.b"))
    await violations.error_cb(refused("c.d"))
    await violations.error_cb(NatsError('nats: permissions violation for publish to "e.f"'))
    await violations.error_cb(NatsError("nats: slow consumer, messages dropped"))
    await violations.error_cb(OSError("connection reset"))
    assert violations.refused_subscriptions() == ["a.b", "c.d"]  # publishes are counted only
    assert (
        violations.not_ready_reason()
        == 'NATS refused the subscription to "a.b", "c.d" (permissions violation)'
    )
    assert (counted("subscribe"), counted("publish")) == (before[0] + 2, before[1] + 1)
    assert refused_now() == gauge + 2

    # A reconnect: nats-py sends the subscriptions again; the server refuses `c.d` again before
    # the reconnected callback (a PONG after the SUBs).
    await violations.disconnected_cb()
    assert violations.refused_subscriptions() == ["a.b", "c.d"]  # still refused while away
    await violations.error_cb(refused("c.d"))
    await violations.reconnected_cb()
    assert violations.refused_subscriptions() == ["c.d"]
    assert (counted("subscribe"), refused_now()) == (before[0] + 3, gauge + 1)

    await violations.disconnected_cb()
    await violations.reconnected_cb()
    assert violations.not_ready_reason() is None
    assert refused_now() == gauge

    for partition in range(5):
        await violations.error_cb(refused(f"p.{partition}"))
    assert violations.not_ready_reason() == (
        'NATS refused the subscription to "p.0", "p.1", "p.2" and 2 more (permissions violation)'
    )
    await violations.disconnected_cb()
    await violations.reconnected_cb()
    assert refused_now() == gauge


async def test_reading_an_error_never_raises_into_nats_py() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    await PermissionViolations("router").error_cb(Unprintable())
