"""`disconnect` goes out when the user's last socket closes on *every* gateway replica
(protocol.md), whichever replicas the user's sockets are on: two gateway apps on one NATS, each
keeping its part of the user's presence in KV `parallax_presence` (presence.py,
docs/gateway.md). The bucket is made with a short TTL here, so that the replicas' periodic
refresh (a third of the TTL) and the expiry of a dead replica's keys happen within a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import websockets
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from parallax_gateway.presence import presence_key
from parallax_runtime.connection import kv_keys
from parallax_runtime.topology import PRESENCE_BUCKET, ensure_topology

from .gateway_support import (
    Ingress,
    RunningGateway,
    joined,
    new_room,
    new_user,
    serving,
    until,
    watching_ingress,
)

pytestmark = pytest.mark.integration

TTL = 1.5
# How long a wrong `disconnect` is given to show up (the old gateway published it at once).
SETTLE = 1.0


@pytest.fixture
async def presence_nats(clean_topology: Client) -> AsyncIterator[Client]:
    """The presence bucket with a TTL of TTL seconds (the gateways read it at start)."""
    js = clean_topology.jetstream()
    await js.delete_key_value(PRESENCE_BUCKET)
    await js.create_key_value(KeyValueConfig(bucket=PRESENCE_BUCKET, ttl=TTL))
    try:
        yield clean_topology
    finally:
        await js.delete_key_value(PRESENCE_BUCKET)
        await ensure_topology(js)


async def in_room(nc: Client, room: str, user: str, *gateways: RunningGateway) -> None:
    await joined(nc, room, user)
    await until(
        lambda: all(room in g.gateway.membership.rooms_of(user) for g in gateways),
        "every replica saw the user join the room",
    )


async def closed_on(gateway: RunningGateway, user: str) -> None:
    """Until `gateway` has no socket of `user` and has finished deciding about it."""
    await until(lambda: gateway.gateway.sockets.count(user) == 0, "the socket is gone")
    await until(lambda: not gateway.gateway.presence.busy(), "the close is decided")


def disconnects(ingress: Ingress, user: str) -> list[tuple[str, str]]:
    return [(c["context"], c["aggregate_id"]) for c in ingress.of("disconnect", user)]


async def live_keys(kv: KeyValue, nc: Client, user: str) -> list[str]:
    live = []
    for key in await kv_keys(nc.jetstream(), PRESENCE_BUCKET, f"{user}.*"):
        try:
            await kv.get(key)
        except KeyNotFoundError:
            continue
        live.append(key)
    return live


async def test_no_disconnect_while_another_replica_holds_a_socket(
    presence_nats: Client, nats_url: str
) -> None:
    nc = presence_nats
    kv = await nc.jetstream().key_value(PRESENCE_BUCKET)
    user, room = new_user("two_tabs"), new_room()
    async with serving(nats_url) as a, serving(nats_url) as b, watching_ingress(nc) as ingress:
        tab_a = await websockets.connect(a.ws_url(user))
        tab_b = await websockets.connect(b.ws_url(user))
        await in_room(nc, room, user, a, b)
        assert sorted(await live_keys(kv, nc, user)) == sorted(
            presence_key(user, g.gateway.presence.replica) for g in (a, b)
        )
        # Open for longer than the TTL: the replicas' refreshes keep their keys.
        await asyncio.sleep(2 * TTL)

        await tab_a.close()
        await closed_on(a, user)
        await asyncio.sleep(SETTLE)
        assert disconnects(ingress, user) == [], "the user still has a socket on the other replica"
        assert await live_keys(kv, nc, user) == [presence_key(user, b.gateway.presence.replica)]

        await tab_b.close()
        await until(lambda: bool(disconnects(ingress, user)), "a disconnect for the user's last socket")
        await asyncio.sleep(SETTLE)
        assert disconnects(ingress, user) == [("game", room)]
        assert await live_keys(kv, nc, user) == []
        assert a.gateway.presence.refresh_seconds == pytest.approx(TTL / 3)


async def test_a_dead_replicas_key_holds_a_disconnect_back_for_the_ttl_only(
    presence_nats: Client, nats_url: str
) -> None:
    nc = presence_nats
    kv = await nc.jetstream().key_value(PRESENCE_BUCKET)
    user, room = new_user("dead-peer"), new_room()
    async with serving(nats_url) as b, watching_ingress(nc) as ingress:
        tab = await websockets.connect(b.ws_url(user))
        await in_room(nc, room, user, b)
        # A replica that held a socket of the user and died: its key is never refreshed.
        dead = presence_key(user, "dead-replica")
        await kv.put(dead, b"1")

        await tab.close()
        await closed_on(b, user)
        await asyncio.sleep(SETTLE)
        assert disconnects(ingress, user) == [], "within the TTL, the dead replica's key counts"

        tab = await websockets.connect(b.ws_url(user))
        await until(lambda: b.gateway.sockets.count(user) == 1, "the socket is open")
        await until_gone(kv, dead, within=TTL + 10)
        await tab.close()
        await until(lambda: bool(disconnects(ingress, user)), "a disconnect once the dead key expired")
        await asyncio.sleep(SETTLE)
        assert disconnects(ingress, user) == [("game", room)]


async def until_gone(kv: KeyValue, key: str, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            await kv.get(key)
        except KeyNotFoundError:
            return
        assert loop.time() < deadline, f"{key} did not expire"
        await asyncio.sleep(0.1)


async def test_closes_at_the_same_moment_on_two_replicas(presence_nats: Client, nats_url: str) -> None:
    """Two closes at once while a third socket stays open: no `disconnect`. The last two at
    once: one, or at worst two (each replica deletes its key before it lists the others, so
    at least one of them sees none left); a second `disconnect` is rejected by both
    implementations and reaches only the actor, who has no socket left."""
    nc = presence_nats
    user, room = new_user("racer"), new_room()
    async with serving(nats_url) as a, serving(nats_url) as b, watching_ingress(nc) as ingress:
        tab_a = await websockets.connect(a.ws_url(user))
        tab_b1 = await websockets.connect(b.ws_url(user))
        tab_b2 = await websockets.connect(b.ws_url(user))
        await in_room(nc, room, user, a, b)

        await asyncio.gather(tab_a.close(), tab_b1.close())
        await closed_on(a, user)
        await until(lambda: b.gateway.sockets.count(user) == 1, "one socket left on b")
        await asyncio.sleep(SETTLE)
        assert disconnects(ingress, user) == []

        tab_a = await websockets.connect(a.ws_url(user))
        await until(lambda: a.gateway.sockets.count(user) == 1, "the socket is open")
        await asyncio.gather(tab_a.close(), tab_b2.close())
        await until(lambda: bool(disconnects(ingress, user)), "a disconnect")
        await asyncio.sleep(SETTLE)
        sent = disconnects(ingress, user)
        assert sent in ([("game", room)], [("game", room)] * 2), sent


async def test_kv_keys_lists_the_keys_a_filter_matches(clean_topology: Client) -> None:
    js = clean_topology.jetstream()
    kv = await js.key_value(PRESENCE_BUCKET)
    for key in ("u-1.r1", "u-1.r2", "u-10.r1", "u.r1", "u-1.r1.x"):
        await kv.put(key, b"1")
    await kv.delete("u-1.r2")
    assert await kv_keys(js, PRESENCE_BUCKET, "u-1.*") == ["u-1.r1", "u-1.r2"]
    assert await kv_keys(js, PRESENCE_BUCKET, "u-1.>") == ["u-1.r1", "u-1.r1.x", "u-1.r2"]
    assert len(await kv_keys(js, PRESENCE_BUCKET)) == 5
