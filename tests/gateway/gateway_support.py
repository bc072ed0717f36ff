"""Gateway apps served in this test process (uvicorn on a free port, the app's own lifespan:
broker, provisioning, presence) against the session's NATS, and what they publish."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from nats.aio.client import Client
from nats.aio.msg import Msg
from parallax_gateway.app import Gateway, create_app
from parallax_gateway.auth import mint_token
from parallax_runtime.settings import GatewaySettings
from starlette.applications import Starlette

SECRET = GatewaySettings().jwt_secret


@dataclass
class RunningGateway:
    app: Starlette
    port: int

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    def ws_url(self, user: str, permissions: list[str] | None = None) -> str:
        return f"ws://127.0.0.1:{self.port}/ws?token={mint_token(user, SECRET, permissions or [])}"


@asynccontextmanager
async def serving(nats_url: str, **settings: Any) -> AsyncIterator[RunningGateway]:
    """One gateway replica, served until the context exits (its sockets closed first)."""
    app = create_app(GatewaySettings(nats_url=nats_url, **settings))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the gateway stopped while starting")
                await asyncio.sleep(0.01)
        yield RunningGateway(app, port)
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Ingress:
    """Every command published on `parallax.ingress.>` (a core subscription sees JetStream
    publishes too), parsed."""

    commands: list[dict[str, Any]] = field(default_factory=list)

    def of(self, type_: str, actor: str) -> list[dict[str, Any]]:
        return [c for c in self.commands if c.get("type") == type_ and c.get("actor") == actor]


@asynccontextmanager
async def watching_ingress(nc: Client) -> AsyncIterator[Ingress]:
    seen = Ingress()

    async def keep(msg: Msg) -> None:
        seen.commands.append(json.loads(msg.data))

    sub = await nc.subscribe("parallax.ingress.>", cb=keep)
    await nc.flush()
    try:
        yield seen
    finally:
        await sub.unsubscribe()


def new_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_room() -> str:
    return uuid.uuid4().hex[:6].upper()


async def joined(nc: Client, room: str, user: str) -> None:
    """A primary `player_joined` of `user` in `room`, as a handler emits it: every gateway
    learns the membership it sends `disconnect` for."""
    event = {
        "command_id": str(uuid.uuid4()),
        "impl": "legacy",
        "role": "primary",
        "context": "game",
        "aggregate_id": room,
        "seq": 0,
        "count": 1,
        "type": "player_joined",
        "payload": {"seat": 1, "player": user},
        "audience": [user],
        "emitted_at": "2024-01-01T00:00:00+00:00",
        "handler_ms": 0.1,
    }
    await nc.publish(f"parallax.events.legacy.game.{room}", json.dumps(event).encode())
    await nc.flush()


async def until(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, f"not within {within:g} s: {what}"
        await asyncio.sleep(0.02)
