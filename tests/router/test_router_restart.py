"""Router replicas stopping and starting (cleanly or killed) lose and duplicate nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from nats.aio.client import Client
from parallax_runtime.embedded_nats import free_port
from router_support import (
    command,
    handle_copies,
    publish,
    room_id,
    routed_records,
    router_app,
    running,
    wait_for_count,
    wait_replicas,
)

ROOMS = [room_id(0x300 + i) for i in range(16)]


def start_router_process(nats_url: str, replica: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "PARALLAX_NATS_URL": nats_url,
        "PARALLAX_REPLICA_ID": replica,
        "PARALLAX_HTTP_PORT": str(free_port()),
        "SHADOW_ENABLED": "true",
        "DOMAIN_ADAPTERS_ENABLED": "true",
        "DOMAIN_ROLLOUT_PERCENTAGE": "50",
    }
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "parallax_cli.main", "run", "router"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def test_restarts_and_kills_lose_and_duplicate_nothing(
    router_nats: Client, nats_url: str, tmp_path: Path
) -> None:
    nc = router_nats
    sent: list[str] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        i = 0
        while not stop.is_set():
            cmd = command(ROOMS[i % len(ROOMS)], "create_room" if i < len(ROOMS) else "play", n=i)
            await publish(nc, cmd)
            sent.append(cmd.command_id)
            i += 1
            await asyncio.sleep(0.003)

    proc = start_router_process(nats_url, "proc-1", tmp_path / "router-1.log")
    try:
        async with running(router_app(nats_url, "inproc-1")):
            await wait_replicas(nc, "inproc-1", "proc-1", timeout=30)
            task = asyncio.create_task(traffic())
            await asyncio.sleep(1.0)
            proc.send_signal(signal.SIGKILL)  # dies holding whatever it holds
            proc.wait(10)
            await asyncio.sleep(0.5)
            proc = start_router_process(nats_url, "proc-2", tmp_path / "router-2.log")
            await wait_replicas(nc, "proc-2", timeout=30)
            await asyncio.sleep(0.5)
        # inproc-1 stopped cleanly; a new in-process replica takes its place.
        async with running(router_app(nats_url, "inproc-2")):
            await wait_replicas(nc, "inproc-2")
            await asyncio.sleep(1.0)
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # A killed replica's command comes back after the consumer's ack wait (10 s).
            await wait_for_count(nc, "parallax.routed.>", len(sent), timeout=30)
            await asyncio.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)

    records = await routed_records(nc)
    per_command = Counter(r["command_id"] for r in records)
    assert set(per_command) == set(sent), "lost commands"
    assert max(per_command.values()) == 1, "duplicated routing records"
    copies = await handle_copies(nc)
    per_copy = Counter((body["command_id"], subject.split(".")[2]) for subject, body, _ in copies)
    assert max(per_copy.values()) == 1, "duplicated HANDLE copies"
    expected = sum(2 if r["shadow"] else 1 for r in records)
    assert len(copies) == expected
    for record in records:
        assert (record["command_id"], record["primary"]) in per_copy
        if record["shadow"]:
            assert (record["command_id"], record["shadow"]) in per_copy
    # Per room, commands were routed in the order they were published.
    order = {cid: n for n, cid in enumerate(sent)}
    for room in ROOMS:
        seen = [order[r["command_id"]] for r in records if r["aggregate_id"] == room]
        assert seen == sorted(seen), f"{room} reordered"
