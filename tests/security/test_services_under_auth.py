"""The five services under deploy/nats/parallax-auth.conf, as in production: a nats-server with
the auth file, the topology provisioned by `admin` (what `parallax init` does), each service a
process connected as its own user with provisioning at start off. Commands played through the
gateway's socket come back as events, both implementations answer (shadow on) and the comparator
records `match` comparisons; every service's replies and deliveries travel on subjects of its
own, which no other service user may subscribe to."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from nats.aio.msg import Msg
from parallax_cli.services import SERVICES
from parallax_cli.sim.client import SimClient
from parallax_cli.sim.players import Tally, play_room, run_campaign
from parallax_cli.stack import Stack, running_stack
from parallax_gateway.auth import mint_token
from parallax_runtime.connection import inbox_prefix
from parallax_runtime.topology import DELIVER_PREFIX

from .auth_server import SERVICE_USERS, Server, Session, auth_server, connect
from .helpers import OWNER_PERMS, SECRET, STACK_ENV, assert_all_ready

pytestmark = pytest.mark.e2e

# Where each service receives: its connection's inboxes and its push consumers' deliveries.
RECEIVING = {user: (f"{inbox_prefix(user)}.>", f"{DELIVER_PREFIX}.{user}.>") for user in SERVICE_USERS}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with auth_server(tmp_path_factory.mktemp("auth-nats")) as running:
        yield running


@pytest.fixture(scope="module")
def auth_stack(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`running_stack` provisions through its NATS URL, here the admin's; each service gets its
    own user's URL, and only checks the topology at start (readiness)."""
    own_user = {
        name: {"NATS_URL": server.url_of(name), "PARALLAX_NATS_URL": server.url_of(name)} for name in SERVICES
    }
    with running_stack(
        tmp_path_factory.mktemp("auth-stack"),
        nats_url=server.url_of("admin"),
        free_ports=True,
        extra_env={**STACK_ENV, "PARALLAX_PROVISION_ON_START": "false"},
        service_env=own_user,
    ) as running:
        yield running


def client(stack: Stack, user: str, permissions: list[str] | None = None) -> SimClient:
    return SimClient(stack.gateway_ws, mint_token(user, SECRET, permissions or []), user)


async def play(stack: Stack, prefix: str, *, game: bool) -> Tally:
    """A campaign's life (and a whole four-player game if `game`) through the gateway."""
    owner, intruder = client(stack, f"{prefix}-owner", OWNER_PERMS), client(stack, f"{prefix}-intruder")
    admin = client(stack, f"{prefix}-admin", ["campaigns:admin"])
    players = [client(stack, f"{prefix}-{i}") for i in range(4)] if game else []
    clients = [owner, intruder, admin, *players]
    for each in clients:
        await each.connect()
    tally = Tally()
    try:
        await run_campaign(owner, intruder, admin, tally, lambda: None)
        if game:
            await asyncio.wait_for(play_room(players, seed=11, tally=tally, on_command=lambda: None), 150)
    finally:
        for each in clients:
            await each.close()
    return tally


def comparator_summary(stack: Stack, *, at_least: int, within: float = 60.0) -> dict[str, Any]:
    """The comparator's `/summary` once it holds nothing pending and has compared `at_least`
    commands (or at the deadline)."""
    deadline = time.monotonic() + within
    while True:
        with urllib.request.urlopen(f"{stack.services['comparator'].url}/summary", timeout=5) as response:
            summary: dict[str, Any] = json.loads(response.read())
        if (summary["pending"] == 0 and summary["total"] >= at_least) or time.monotonic() > deadline:
            return summary
        time.sleep(0.2)


async def test_commands_come_back_and_are_compared_under_each_services_own_user(
    auth_stack: Stack, server: Server
) -> None:
    tally = await play(auth_stack, "auth", game=True)
    assert tally.games_over == 1 and tally.campaigns_completed == 1
    assert tally.sent > 50 and tally.answered == tally.sent, tally.unanswered
    summary = comparator_summary(auth_stack, at_least=tally.sent)
    # Every command ran on both implementations (shadow on) and was compared.
    assert summary["total"] >= tally.sent and summary["pending"] == 0, summary
    assert summary["by_result"].get("match", 0) >= tally.sent, summary
    # ... and published by the comparator's user: one message per stored comparison.
    admin = await connect(server, "admin")
    try:
        published = (await admin.nc.jetstream().stream_info("COMPARISONS")).state.messages
    finally:
        await admin.nc.close()
    assert published == summary["total"], (published, summary)
    # The gateway keeps the users' presence (KV parallax_presence) under its own user: each
    # client's last close was decided from KV, and no KV operation was refused.
    closes = gateway_series(auth_stack, "parallax_gateway_last_local_closes_total", at_least=7)
    assert closes.get('outcome="disconnect"', 0) >= 7, closes
    assert sum(gateway_series(auth_stack, "parallax_gateway_presence_errors_total").values()) == 0
    assert_all_ready(auth_stack)


def gateway_series(
    stack: Stack, metric: str, *, at_least: float = 0, within: float = 10.0
) -> dict[str, float]:
    """The gateway's series of `metric` (labels -> value), once they add up to `at_least` (or
    at the deadline: the sockets' closes are handled after the clients have gone)."""
    pattern = re.compile(rf"^{re.escape(metric)}\{{(.*)\}} (\S+)$", re.M)
    deadline = time.monotonic() + within
    while True:
        with urllib.request.urlopen(f"{stack.services['gateway'].url}/metrics", timeout=5) as response:
            text = response.read().decode()
        series = {labels: float(value) for labels, value in pattern.findall(text)}
        if sum(series.values()) >= at_least or time.monotonic() > deadline:
            return series
        time.sleep(0.2)


async def subscribe_all(session: Session, subjects: list[str], into: list[str]) -> None:
    """Subscribe `session` to each of `subjects`; each message appends the subject it was
    subscribed to (a JetStream delivery carries its stream subject, not the deliver subject)."""

    def keep(subject: str) -> Callable[[Msg], Awaitable[None]]:
        async def append(_msg: Msg) -> None:
            into.append(subject)

        return append

    for subject in subjects:
        await session.nc.subscribe(subject, cb=keep(subject))
    await session.nc.flush()
    await asyncio.sleep(0.3)  # the server's -ERR per refused subscription arrives after the PONG


async def test_no_service_user_can_read_another_services_replies_or_deliveries(
    auth_stack: Stack, server: Server
) -> None:
    # Every service user tries every other service's inboxes and deliver subjects.
    spies = {user: await connect(server, user) for user in SERVICE_USERS}
    # The admin sees (copies of) everything that travels there, to show it is real traffic.
    admin = await connect(server, "admin")
    stolen: list[str] = []
    seen: list[str] = []
    try:
        for user, spy in spies.items():
            others = [subject for other in SERVICE_USERS if other != user for subject in RECEIVING[other]]
            await subscribe_all(spy, others, stolen)
            refused = " ".join(spy.violations())  # nats-py lowercases the server's -ERR
            assert all(f'"{subject.lower()}"' in refused for subject in others), (user, spy.errors)
        await subscribe_all(admin, [s for subjects in RECEIVING.values() for s in subjects], seen)
        assert admin.violations() == []
        await play(auth_stack, "spied", game=False)
        await asyncio.sleep(0.5)  # the last acks and comparisons
    finally:
        for session in [*spies.values(), admin]:
            await session.nc.close()
    assert stolen == []
    received = Counter(seen)
    # PubAcks of the gateway's INGRESS publishes, the router's and the handlers' publishes, and
    # the deliveries of the router's, the handlers' and the comparator's consumers.
    for user in ("gateway", "router", "legacy", "domain"):
        assert received[RECEIVING[user][0]] > 0, (user, received)
    for user in ("router", "legacy", "domain", "comparator"):
        assert received[RECEIVING[user][1]] > 0, (user, received)
