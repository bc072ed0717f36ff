"""protocol.md: "More than 20 refused frames in 10 s → `rate_limited`", and `ref` is echoed as
sent (null when absent or unparseable), `rate_limited` answers included. On a gateway app in
this process, over the session's NATS."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from nats.aio.client import Client
from parallax_runtime.settings import GatewaySettings
from websockets.asyncio.client import ClientConnection

from .gateway_support import new_user, serving, until, watching_ingress

pytestmark = pytest.mark.integration

LIMIT = GatewaySettings().refusals_before_rate_limit


def create_room(ref: str) -> str:
    return json.dumps({"type": "create_room", "context": "game", "payload": {"name": "R"}, "ref": ref})


async def answer(ws: ClientConnection) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] in ("accepted", "error"):
            return frame


async def test_exactly_the_limit_of_refusals_does_not_limit_and_refs_are_echoed(
    clean_topology: Client, nats_url: str
) -> None:
    user = new_user("limit")
    async with serving(nats_url) as gateway, watching_ingress(clean_topology) as ingress:
        async with websockets.connect(gateway.ws_url(user)) as ws:
            for _ in range(LIMIT):
                await ws.send("{not json")
                assert (await answer(ws))["code"] == "bad_json"
            # Exactly LIMIT refusals: not more than LIMIT, so a valid command goes through.
            await ws.send(create_room("after-limit"))
            accepted = await answer(ws)
            assert (accepted["type"], accepted["ref"]) == ("accepted", "after-limit"), accepted

            # The refusal over the limit, and every frame after it, is `rate_limited`, its ref
            # echoed as sent (null when absent or unparseable).
            frames = [
                (json.dumps({"type": "fly", "context": "game", "payload": {}, "ref": "over"}), "over"),
                (create_room("valid-while-limited"), "valid-while-limited"),
                ("{not json", None),
                (json.dumps({"type": "create_room", "context": "game", "payload": {}, "ref": 7}), None),
                (json.dumps({"type": "create_room", "context": "game", "payload": {"name": "R"}}), None),
            ]
            for frame, ref in frames:
                await ws.send(frame)
                refused = await answer(ws)
                assert (refused["type"], refused["code"], refused["ref"]) == ("error", "rate_limited", ref)
        await until(lambda: len(ingress.of("create_room", user)) >= 1, "the accepted command published")
        await asyncio.sleep(0.5)
        # Only the command sent before the limit was published.
        assert [c["type"] for c in ingress.of("create_room", user)] == ["create_room"]
