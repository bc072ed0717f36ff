"""Helpers of the security suite: tokens, readiness, stream counts, socket answers."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import nats
from parallax_cli.stack import Stack
from parallax_gateway.auth import mint_token
from parallax_runtime.settings import GatewaySettings
from websockets.asyncio.client import ClientConnection

SECRET = GatewaySettings().jwt_secret
STACK_ENV = {"SHADOW_ENABLED": "true", "DOMAIN_ADAPTERS_ENABLED": "true", "DOMAIN_ROLLOUT_PERCENTAGE": "50"}
# A campaign owner's token permissions (`run_campaign`).
OWNER_PERMS = [
    "campaigns:create",
    "campaigns:read",
    "campaigns:execute",
    "campaigns:update",
    "campaigns:delete",
]


def ws_url(stack: Stack, user: str, permissions: list[str] | None = None) -> str:
    return f"{stack.gateway_ws}?token={mint_token(user, SECRET, permissions or [])}"


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def assert_all_ready(stack: Stack) -> None:
    for name, service in stack.services.items():
        assert service.process.poll() is None, f"{name} exited"
        assert http_status(f"{service.url}/readyz") == 200, f"{name} not ready"


async def stream_messages(nats_url: str, stream: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await nc.close()


async def next_answer(ws: ClientConnection, within: float = 10.0) -> dict[str, Any]:
    """The next `accepted` or `error` frame (event frames in between are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - loop.time())))
        if frame.get("type") in ("accepted", "error"):
            return dict(frame)
