"""The whole stack as `parallax up` runs it: five service processes on a real NATS server,
driven through real WebSockets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from parallax_cli.sim.client import SimClient
from parallax_cli.stack import Stack, running_stack
from parallax_gateway.auth import mint_token
from parallax_runtime.embedded_nats import free_port
from parallax_runtime.settings import GatewaySettings

pytestmark = pytest.mark.e2e

SECRET = GatewaySettings().jwt_secret


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"SHADOW_ENABLED": "true", "DOMAIN_ADAPTERS_ENABLED": "true", "DOMAIN_ROLLOUT_PERCENTAGE": "50"}
    with running_stack(tmp_path_factory.mktemp("stack"), free_ports=True, extra_env=env) as running:
        yield running


async def test_four_players_each_get_exactly_their_events(stack: Stack) -> None:
    clients = [SimClient(stack.gateway_ws, mint_token(f"p{i}", SECRET, []), f"p{i}") for i in range(4)]
    outsider = SimClient(stack.gateway_ws, mint_token("outsider", SECRET, []), "outsider")
    for client in [*clients, outsider]:
        await client.connect()
    try:
        created = await clients[0].send("game", "create_room", {"name": "Ann"})
        room = created.aggregate_id
        assert [e["event"] for e in created.events] == ["room_created"]
        for i, client in enumerate(clients[1:], start=1):
            joined = await client.send("game", "join_room", {"name": f"P{i}"}, room)
            assert [e["event"] for e in joined.events] == ["player_joined"]
        started = await clients[0].send("game", "start_game", {}, room)
        await asyncio.sleep(1.0)  # let every socket receive the deal
        assert started.events
    finally:
        for client in [*clients, outsider]:
            await client.close()

    joins_seen = [sum(1 for e in c.all_events if e["event"] == "player_joined") for c in clients]
    # Each join goes to the room as it is after the join: p0 sees 3, p1 sees 3 (its own and two
    # later), p2 sees 2, p3 sees 1.
    assert joins_seen == [3, 3, 2, 1]
    for client in clients:
        hands = [e for e in client.all_events if e["event"] == "hand_dealt"]
        assert hands, f"{client.user} got no hand"
        assert all(e["payload"]["player"] == client.user for e in hands)
        assert all(e["aggregate_id"] == room for e in client.all_events)
    assert outsider.all_events == []


async def test_a_bad_token_is_closed_with_4401(stack: Stack) -> None:
    for token in ["", "not-a-jwt", mint_token("p0", "another-secret-that-is-long-enough-0123456789", [])]:
        async with websockets.connect(f"{stack.gateway_ws}?token={token}") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_malformed_frames_get_errors_and_the_socket_lives(stack: Stack) -> None:
    async with websockets.connect(f"{stack.gateway_ws}?token={mint_token('p9', SECRET, [])}") as ws:
        frames: list[tuple[str, str]] = [
            ("not json", "bad_json"),
            (json.dumps({"type": "fly", "context": "game", "payload": {}, "ref": "r"}), "unknown_command"),
            (
                json.dumps({"type": "play", "context": "game", "aggregate_id": "a.b.>", "payload": {}}),
                "invalid_input",
            ),
            ("x" * (GatewaySettings().max_frame_bytes + 1), "too_large"),
        ]
        for frame, code in frames:
            await ws.send(frame)
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (reply["type"], reply["code"]) == ("error", code)
        await ws.send(
            json.dumps(
                {"type": "create_room", "context": "game", "payload": {"name": "Still here"}, "ref": "ok"}
            )
        )
        replies = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
        assert {r["type"] for r in replies} == {"accepted", "event"}


async def test_a_flood_of_bad_frames_is_rate_limited_then_closed(stack: Stack) -> None:
    async with websockets.connect(f"{stack.gateway_ws}?token={mint_token('flooder', SECRET, [])}") as ws:
        codes: list[str] = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(60):
                await ws.send("{")
                codes.append(json.loads(await asyncio.wait_for(ws.recv(), 5))["code"])
        assert codes[:20] == ["bad_json"] * 20
        assert set(codes[20:]) == {"rate_limited"}
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429


def _descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.split("\n"):
        if line.strip():
            child, parent = (int(x) for x in line.split())
            children.setdefault(parent, []).append(child)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_up_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "PARALLAX_NATS_URL")}
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "parallax_cli.main",
            "up",
            "--data-dir",
            str(tmp_path),
            "--gateway-port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        ready = False
        while time.monotonic() < deadline and not ready:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                    ready = response.status == 200
            except OSError:
                time.sleep(0.3)
        assert ready, "gateway never became ready"
        # Five services and nats-server, started in their own sessions, are still ours to stop.
        children = _descendants(up.pid)
        assert len(children) >= 6, children
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0, output
    assert "nothing left running" in output
    leftovers = [pid for pid in children if _alive(pid)]
    assert leftovers == []


def _metrics(stack: Stack, name: str) -> str:
    with urllib.request.urlopen(f"{stack.services[name].url}/metrics", timeout=5) as response:  # type: ignore[index]
        return str(response.read().decode())


def test_every_service_serves_health_and_metrics(stack: Stack) -> None:
    for name, service in stack.services.items():
        for path in ("/healthz", "/readyz"):
            with urllib.request.urlopen(f"{service.url}{path}", timeout=5) as response:
                assert response.status == 200, (name, path)
        assert "# TYPE" in _metrics(stack, name)
    summary: Any = json.loads(urllib.request.urlopen(f"{stack.services['comparator'].url}/summary").read())
    assert "by_result" in summary
