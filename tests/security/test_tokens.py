"""Tokens: every forged, expired or missing token is closed with 4401 before a frame is read;
and whatever a frame says, the actor of a command is the token's `sub` with the token's
permissions (another user's id in a frame or payload changes nothing)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

import jwt
import nats
import pytest
import websockets
from jwt.warnings import InsecureKeyLengthWarning
from nats.aio.msg import Msg
from parallax_cli.sim.client import SimClient
from parallax_cli.stack import Stack
from parallax_gateway.auth import mint_token

from .helpers import SECRET

pytestmark = pytest.mark.e2e

PERMS = ["campaigns:create", "campaigns:read", "campaigns:execute", "campaigns:update"]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _hs512(claims: dict[str, Any]) -> str:
    # The test secret is shorter than HS512's recommended key; PyJWT warns, and that is beside
    # the point here: the gateway must refuse any algorithm but the one it is configured with.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, SECRET, algorithm="HS512")


def forged_tokens() -> dict[str, str | None]:
    now = int(time.time())
    claims = {"sub": "victim", "permissions": ["campaigns:admin"], "exp": now + 600}
    wrong_secret = "an-attackers-guess-at-the-secret-0123456789"
    signed = jwt.encode(claims, SECRET, algorithm="HS256")
    header, payload, _ = signed.split(".")
    return {
        "missing": None,
        "empty": "",
        "garbage": "not-a-jwt",
        "expired": jwt.encode({**claims, "exp": now - 1}, SECRET, algorithm="HS256"),
        "no exp": jwt.encode({"sub": "victim", "permissions": []}, SECRET, algorithm="HS256"),
        "no sub": jwt.encode({"exp": now + 600}, SECRET, algorithm="HS256"),
        "another user's sub, wrong signature": jwt.encode(claims, wrong_secret, algorithm="HS256"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg none, signature kept": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signed.split('.')[2]}",
        "payload swapped under a valid signature": f"{header}.{_b64({**claims, 'sub': 'admin'})}."
        + signed.split(".")[2],
        "HS512 with the right secret": _hs512(claims),
        "sub not a user id": jwt.encode({**claims, "sub": "a.b.>"}, SECRET, algorithm="HS256"),
        "sub not a string": jwt.encode({**claims, "sub": 17}, SECRET, algorithm="HS256"),
        "permissions not a list": jwt.encode({**claims, "permissions": "campaigns:admin"}, SECRET, "HS256"),
    }


@pytest.mark.parametrize("name", list(forged_tokens()))
async def test_a_bad_token_is_closed_with_4401_before_any_frame(stack: Stack, name: str) -> None:
    token = forged_tokens()[name]
    url = stack.gateway_ws if token is None else f"{stack.gateway_ws}?token={token}"
    async with websockets.connect(url) as ws:
        # A frame sent at once is never read: the close comes first, nothing is published.
        frame = {"type": "create_room", "context": "game", "payload": {"name": "x"}, "ref": "r"}
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(json.dumps(frame))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401, name


@pytest.fixture
async def ingress(stack: Stack) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """Every envelope the gateway publishes while the test runs, by command id."""
    seen: dict[str, dict[str, Any]] = {}
    nc = await nats.connect(stack.nats_url)

    async def keep(msg: Msg) -> None:
        envelope = json.loads(msg.data)
        seen[envelope["command_id"]] = envelope

    await nc.subscribe("parallax.ingress.>", cb=keep)
    yield seen
    await nc.close()


# Event frames that arrived before their command's `accepted` (protocol.md allows it), per socket.
_EARLY: dict[int, list[dict[str, Any]]] = {}


async def _send_raw(ws: Any, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(frame))
    while True:
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if answer.get("type") in ("accepted", "error"):
            return dict(answer)
        _EARLY.setdefault(id(ws), []).append(answer)


async def test_the_actor_is_always_the_tokens_sub(stack: Stack, ingress: dict[str, dict[str, Any]]) -> None:
    victim = SimClient(stack.gateway_ws, mint_token("t-victim", SECRET, PERMS), "t-victim")
    await victim.connect()
    try:
        room = (await victim.send("game", "create_room", {"name": "Victim"})).aggregate_id
        params = {"pattern_type": "prefix", "variable_length": 1, "character_set": "ab",
                  "constant_string": "shop", "tld": ".com"}  # fmt: skip
        created = await victim.send(
            "campaign", "create_campaign", {"name": "Mine", "kind": "domain_generation", "params": params}
        )
        campaign = created.aggregate_id
        victim_events_before = len(victim.all_events)

        url = f"{stack.gateway_ws}?token={mint_token('t-attacker', SECRET, ['campaigns:read'])}"
        impersonation = {"actor": "t-victim", "user": "t-victim", "sub": "t-victim", "owner": "t-victim",
                         "permissions": ["campaigns:admin"]}  # fmt: skip
        async with websockets.connect(url) as ws:
            answers = [
                # Extra top-level fields naming someone else: ignored, the actor is the token's.
                await _send_raw(
                    ws,
                    {
                        "type": "start",
                        "context": "campaign",
                        "aggregate_id": campaign,
                        "payload": {},
                        **impersonation,
                    },
                ),
                await _send_raw(
                    ws,
                    {
                        "type": "get_campaign",
                        "context": "campaign",
                        "aggregate_id": campaign,
                        "payload": {},
                        **impersonation,
                    },
                ),
                # Someone else's id inside the payload: a shape error for the rules.
                await _send_raw(
                    ws,
                    {
                        "type": "start",
                        "context": "campaign",
                        "aggregate_id": campaign,
                        "payload": {"actor": "t-victim"},
                    },
                ),
                await _send_raw(
                    ws,
                    {
                        "type": "join_room",
                        "context": "game",
                        "aggregate_id": room,
                        "payload": {"name": "Me", "player": "t-victim"},
                    },
                ),
                await _send_raw(
                    ws,
                    {
                        "type": "leave_room",
                        "context": "game",
                        "aggregate_id": room,
                        "payload": {"player": "t-victim"},
                    },
                ),
                await _send_raw(
                    ws,
                    {
                        "type": "start_game",
                        "context": "game",
                        "aggregate_id": room,
                        "payload": {},
                        **impersonation,
                    },
                ),
            ]
            assert all(a["type"] == "accepted" for a in answers), answers
            ids = [a["command_id"] for a in answers]
            codes = await _rejections(ws, ids)
        assert codes == [
            "forbidden",
            "forbidden",
            "invalid_input",
            "invalid_input",
            "invalid_input",
            "forbidden",
        ]
        for command_id in ids:
            envelope = ingress[command_id]
            assert envelope["actor"] == "t-attacker"
            assert envelope["permissions"] == ["campaigns:read"]
        # The victim's campaign and room are as they were; the victim was told nothing.
        state = (await victim.send("campaign", "get_campaign", {}, campaign)).first("campaign_state")
        assert state is not None and state["payload"]["status"] == "draft"
        assert state["payload"]["owner"] == "t-victim"
        room_state = (await victim.send("game", "get_room_state", {}, room)).first("room_state")
        assert room_state is not None
        assert [p["player"] for p in room_state["payload"]["players"]] == ["t-victim"]
        assert room_state["payload"]["phase"] == "waiting"
        later = victim.all_events[victim_events_before:]
        assert {e["event"] for e in later} <= {"campaign_state", "room_state"}, later
    finally:
        await victim.close()


async def _rejections(ws: Any, command_ids: list[str]) -> list[str]:
    codes: dict[str, str] = {}
    early = _EARLY.pop(id(ws), [])
    while len(codes) < len(command_ids):
        frame = early.pop(0) if early else json.loads(await asyncio.wait_for(ws.recv(), 15))
        if frame.get("type") == "event" and frame["command_id"] in command_ids:
            assert frame["event"] == "command_rejected", frame
            codes[frame["command_id"]] = frame["payload"]["code"]
    return [codes[c] for c in command_ids]
