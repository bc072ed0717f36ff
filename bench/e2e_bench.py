"""End-to-end benchmark (performance.md; not a test): Parallax against the bare pipeline.

Both measured in this run, on this machine, each on a fresh embedded nats-server:
  * bare pipeline (bench/bare_pipeline.py, plain nats-py, same hops, separate processes):
    maximum commands/s, then command -> first event latency at 25 % (and 10 %) of that maximum;
  * Parallax: gateway -> router -> both handlers (shadow on) -> comparator, simulated users over
    real WebSockets: maximum commands/s with many rooms playing whole games plus campaigns, then
    latency at 25 % of the *bare* maximum (open loop), and the comparator's lag.
The headline is the ratio. Each maximum also records the CPU time per command of every process
(bench/process_cpu.py), nats-server and the load generator included, and of the whole machine.
Results: bench/results/e2e.json.

    uv run python bench/e2e_bench.py [--rooms 100] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
import websockets
from event_loop import NO_UVLOOP, install_uvloop  # bench/, beside this script
from parallax_cli.sim.client import SimClient
from parallax_cli.sim.players import Tally, play_room, run_campaign
from parallax_cli.stack import Stack, running_stack
from parallax_gateway.auth import mint_token
from parallax_runtime.embedded_nats import embedded_nats
from parallax_runtime.settings import GatewaySettings
from process_cpu import CpuMeter
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
console = Console()
FILLER = b"x" * 260  # about the size of a Parallax command envelope


def percentiles(samples: list[float], of: int | None = None) -> dict[str, float | None]:
    """p50/p95/p99 in ms; with `of` (commands sent), the missing answers rank last."""
    count = max(of or 0, len(samples))
    if not samples:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(samples)

    def at(q: float) -> float | None:
        index = min(count - 1, int(q * count))
        return round(ordered[index] * 1000, 2) if index < len(ordered) else None

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


# -- bare pipeline ------------------------------------------------------------------------------
async def bare_run(
    url: str, *, count: int | None, rate: float | None, seconds: float | None
) -> dict[str, Any]:
    """Closed-ish loop at full speed (`count` commands) or open loop at `rate` for `seconds`."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    expected = count or 0
    done = asyncio.Event()

    async def on_event(msg: nats.aio.msg.Msg) -> None:
        started = sent.pop(msg.data[:36], None)
        if started is not None:
            latencies.append(time.perf_counter() - started)
            if count and len(latencies) >= expected:
                done.set()

    await nc.subscribe("bare.events.legacy.>", cb=on_event)
    window = asyncio.Semaphore(512)

    async def publish(i: int) -> None:
        cid = str(uuid.uuid4()).encode()
        sent[cid] = time.perf_counter()
        future = await js.publish_async(
            f"bare.ingress.{i % 997:06X}", cid + FILLER, headers={"Nats-Msg-Id": cid.decode()}
        )
        future.add_done_callback(lambda _: window.release())

    began = time.perf_counter()
    if count:
        for i in range(count):
            await window.acquire()
            await publish(i)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 120)
        elapsed = time.perf_counter() - began
        result = {"commands": len(latencies), "seconds": elapsed, "per_second": len(latencies) / elapsed}
    else:
        assert rate and seconds
        total = int(rate * seconds)
        for i in range(total):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await window.acquire()
            await publish(i)
        await asyncio.sleep(2.0)
        result = {"rate": rate, "commands": total, "answered": len(latencies), **percentiles(latencies)}
    await nc.close()
    return result


BARE_ROLES = ("router", "handler-legacy", "handler-domain")
# The CpuMeter name of this process, in both runs (`target_budget` tells it from the others).
LOAD_GENERATOR = "load generator"


def measure_bare(count: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, embedded_nats(Path(tmp) / "nats") as server:
        script = str(HERE / "bare_pipeline.py")
        subprocess.run([sys.executable, script, "provision", server.url], check=True)
        roles = [subprocess.Popen([sys.executable, script, role, server.url]) for role in BARE_ROLES]
        try:
            time.sleep(1.0)
            asyncio.run(bare_run(server.url, count=2000, rate=None, seconds=None))  # warm-up
            meter = CpuMeter(
                {
                    "nats-server": server.process.pid,
                    **{role: process.pid for role, process in zip(BARE_ROLES, roles, strict=True)},
                    LOAD_GENERATOR: os.getpid(),
                }
            )
            meter.start()
            maximum = asyncio.run(bare_run(server.url, count=count, rate=None, seconds=None))
            maximum["cpu"] = meter.stop(maximum["commands"])
            top = maximum["per_second"]
            at25 = asyncio.run(bare_run(server.url, count=None, rate=0.25 * top, seconds=seconds))
            at10 = asyncio.run(bare_run(server.url, count=None, rate=0.10 * top, seconds=seconds))
        finally:
            for process in roles:
                process.terminate()
                process.wait(10)
    return {"max": maximum, "at_25_percent": at25, "at_10_percent": at10}


# -- Parallax -----------------------------------------------------------------------------------
SECRET = GatewaySettings().jwt_secret


class LoadSocket:
    """Open-loop sender: frames go out on schedule; replies are matched by ref and command id."""

    def __init__(self, url: str, user: str) -> None:
        self.url = f"{url}?token={mint_token(user, SECRET, ['campaigns:read'])}"
        self.sent: dict[str, float] = {}
        self.by_command: dict[str, float] = {}
        self.first_event: dict[str, float] = {}
        self.latencies: list[float] = []
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=2**20, compression=None)
        self.reader = asyncio.create_task(self._read())

    def _settle(self, command_id: str) -> None:
        if command_id in self.by_command and command_id in self.first_event:
            self.latencies.append(self.first_event.pop(command_id) - self.by_command.pop(command_id))

    async def _read(self) -> None:
        async for raw in self.ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            if frame["type"] == "accepted":
                started = self.sent.pop(frame["ref"], None)
                if started is not None:
                    self.by_command[frame["command_id"]] = started
                    self._settle(frame["command_id"])
            elif frame["type"] == "event":
                self.first_event.setdefault(frame["command_id"], now)
                self._settle(frame["command_id"])

    async def send(self, frame: dict[str, Any]) -> None:
        ref = str(uuid.uuid4())
        self.sent[ref] = time.perf_counter()
        await self.ws.send(json.dumps({**frame, "ref": ref}))

    async def close(self) -> None:
        await self.ws.close()
        if self.reader:
            self.reader.cancel()


async def parallax_max(
    stack: Stack, rooms: int, campaigns: int, seconds: float, meter: CpuMeter
) -> dict[str, Any]:
    tally = Tally()
    players = [
        [SimClient(stack.gateway_ws, mint_token(f"b{r}-{i}", SECRET, []), f"b{r}-{i}") for i in range(4)]
        for r in range(rooms)
    ]
    owners = [
        (
            SimClient(
                stack.gateway_ws,
                mint_token(
                    f"o{c}",
                    SECRET,
                    [
                        "campaigns:create",
                        "campaigns:read",
                        "campaigns:execute",
                        "campaigns:update",
                        "campaigns:delete",
                    ],
                ),
                f"o{c}",
            ),
            SimClient(stack.gateway_ws, mint_token(f"x{c}", SECRET, []), f"x{c}"),
            SimClient(stack.gateway_ws, mint_token(f"a{c}", SECRET, ["campaigns:admin"]), f"a{c}"),
        )
        for c in range(campaigns)
    ]
    everyone = [c for room in players for c in room] + [c for trio in owners for c in trio]
    for chunk in range(0, len(everyone), 50):
        await asyncio.gather(*(c.connect() for c in everyone[chunk : chunk + 50]))

    async def games(room: list[SimClient], seed: int) -> None:
        while True:  # a finished game starts another room with the same players
            await play_room(room, seed, tally, lambda: None)
            seed += 1000

    async def lifecycles(trio: tuple[SimClient, SimClient, SimClient]) -> None:
        while True:
            await run_campaign(*trio, tally, lambda: None)

    tasks = [asyncio.create_task(games(room, i)) for i, room in enumerate(players)]
    tasks += [asyncio.create_task(lifecycles(trio)) for trio in owners]
    await asyncio.sleep(3.0)  # warm-up
    before = tally.sent
    began = time.perf_counter()
    meter.start()
    await asyncio.sleep(seconds)
    counted = tally.sent - before
    elapsed = time.perf_counter() - began
    cpu = meter.stop(counted)
    # Cancel until every script stopped: on Python 3.11, `asyncio.wait_for` can swallow a
    # cancellation that races its inner wait (the players' clients use it), and a script whose
    # cancellation was swallowed would play on for ever.
    pending: set[asyncio.Task[None]] = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=2.0)
    await asyncio.gather(*(c.close() for c in everyone), return_exceptions=True)
    return {
        "rooms": rooms,
        "campaigns": campaigns,
        "commands": counted,
        "seconds": elapsed,
        "per_second": counted / elapsed,
        "cpu": cpu,
    }


async def parallax_latency(stack: Stack, rate: float, seconds: float, sockets: int = 50) -> dict[str, Any]:
    """Open loop: `get_room_state` at a fixed rate over `sockets` members' sockets, each query a
    full trip through the pipeline with a one-event response to the sender."""
    owners = [SimClient(stack.gateway_ws, mint_token(f"q{i}", SECRET, []), f"q{i}") for i in range(sockets)]
    for owner in owners:
        await owner.connect()
    room_ids = [(await owner.send("game", "create_room", {"name": "Q"})).aggregate_id for owner in owners]
    for owner in owners:
        await owner.close()
    senders = [LoadSocket(stack.gateway_ws, f"q{i}") for i in range(sockets)]
    for sender in senders:
        await sender.connect()
    total = int(rate * seconds)
    began = time.perf_counter()
    sent = 0
    for i in range(total):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif time.perf_counter() - began > seconds:
            break  # the gateway pushes back (sends block): the rate is beyond what it takes
        k = i % sockets
        await senders[k].send(
            {"type": "get_room_state", "context": "game", "aggregate_id": room_ids[k], "payload": {}}
        )
        sent += 1
    sending = time.perf_counter() - began
    # Answers still in the pipeline get a few seconds; the rest count as unanswered.
    for _ in range(50):
        if sum(len(s.latencies) for s in senders) >= sent:
            break
        await asyncio.sleep(0.1)
    latencies = [x for s in senders for x in s.latencies]
    for sender in senders:
        await sender.close()
    return {
        "rate": rate,
        "commands": sent,
        "offered_rate": round(sent / sending, 1),
        "answered": len(latencies),
        # Unanswered commands count as slower than any answer: a percentile they reach is None.
        **percentiles(latencies, of=sent),
    }


def comparator_lag(stack: Stack, timeout: float = 120.0) -> dict[str, Any]:
    """Seconds from the end of the load until the comparator has nothing pending."""
    began = time.perf_counter()
    summary: dict[str, Any] = {}
    while time.perf_counter() - began < timeout:
        with urllib.request.urlopen(f"{stack.services['comparator'].url}/summary", timeout=5) as response:
            summary = json.loads(response.read())
        if summary.get("pending", 1) == 0:
            break
        time.sleep(0.2)
    return {
        "lag_seconds": round(time.perf_counter() - began, 2),
        "by_result": summary.get("by_result"),
        "pending": summary.get("pending"),
    }


def measure_parallax(rooms: int, campaigns: int, seconds: float, bare_max: float) -> dict[str, Any]:
    env = {
        "SHADOW_ENABLED": "true",
        "DOMAIN_ADAPTERS_ENABLED": "true",
        "DOMAIN_ROLLOUT_PERCENTAGE": "50",
        "PARALLAX_LOG_LEVEL": "WARNING",
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_stack(Path(tmp), free_ports=True, extra_env=env) as stack,
    ):
        meter = CpuMeter(
            {
                **({"nats-server": stack.embedded.process.pid} if stack.embedded else {}),
                **{name: service.process.pid for name, service in stack.services.items()},
                LOAD_GENERATOR: os.getpid(),
            }
        )
        maximum = asyncio.run(parallax_max(stack, rooms, campaigns, seconds, meter))
        lag_after_max = comparator_lag(stack)
        at25 = asyncio.run(parallax_latency(stack, 0.25 * bare_max, seconds))
        lag_after_latency = comparator_lag(stack)
        # For orientation: the same at 25 % of Parallax's own maximum (below saturation, where
        # the figure is the code's latency rather than a queue's).
        own25 = asyncio.run(parallax_latency(stack, 0.25 * maximum["per_second"], seconds))
        comparator_lag(stack)
    return {
        "max": maximum,
        "comparator_after_max": lag_after_max,
        "at_25_percent_of_bare": at25,
        "comparator_after_latency": lag_after_latency,
        "at_25_percent_of_own_max": own25,
    }


TARGET_RATIO = 0.5


def target_budget(
    bare_max: float, bare_cpu: dict[str, Any] | None, parallax_cpu: dict[str, Any] | None, cpus: int
) -> dict[str, Any]:
    """What the throughput target leaves each command, and what is spent before Parallax's own work.

    At ``TARGET_RATIO`` x the bare maximum, the machine's cores give each command ``cpus / rate``
    of CPU in all. Parallax does at least the bare pipeline's NATS hops (its processes' CPU per
    command, without its load generator), and its players' WebSocket sockets (this run's load
    generator) share the cores: what is left is all the gateway, both implementations' rules
    and stores and the comparator may spend. The result says so with every run rather than
    once in a document.
    """
    rate = TARGET_RATIO * bare_max
    budget = cpus * 1e6 / rate if rate > 0 else 0.0

    def per_command(cpu: dict[str, Any] | None, names: Callable[[str], bool]) -> float:
        processes = (cpu or {}).get("processes", {})
        return float(sum(f["us_per_command"] for name, f in processes.items() if names(name)))

    players = per_command(parallax_cpu, lambda name: name == LOAD_GENERATOR)
    hops = per_command(bare_cpu, lambda name: name != LOAD_GENERATOR)
    return {
        "rate_at_target": round(rate, 1),
        "budget_us_per_command": round(budget, 1),
        "players_us_per_command": round(players, 1),
        "bare_hops_us_per_command": round(hops, 1),
        "left_for_parallax_us_per_command": round(budget - players - hops, 1),
        "gateway_us_per_command": round(per_command(parallax_cpu, lambda name: name == "gateway"), 1),
    }


def _cpu_cell(cpu: dict[str, Any] | None, key: str) -> str:
    if not cpu:
        return "-"
    figures = cpu["processes"].get(key) or cpu.get(key)
    return "-" if figures is None else f"{figures['us_per_command']:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--bare-count", type=int, default=20000)
    parser.add_argument(
        "--no-uvloop", action="store_true", help="asyncio's own loop for the load generator and bare roles"
    )
    args = parser.parse_args()
    if args.no_uvloop:
        os.environ[NO_UVLOOP] = "1"  # inherited by the bare pipeline's role processes
    uvloop = install_uvloop()
    load_before = os.getloadavg()
    console.print("[bold]bare pipeline[/] ...")
    bare = measure_bare(args.bare_count, args.seconds)
    console.print(bare)
    console.print("[bold]parallax[/] ...")
    parallax = measure_parallax(args.rooms, args.campaigns, args.seconds, bare["max"]["per_second"])
    console.print(parallax)
    ratio = parallax["max"]["per_second"] / bare["max"]["per_second"]
    budget = target_budget(
        bare["max"]["per_second"], bare["max"].get("cpu"), parallax["max"].get("cpu"), os.cpu_count() or 1
    )
    result = {
        "machine": {"cpus": os.cpu_count()},
        "bare": bare,
        "parallax": parallax,
        "throughput_ratio": round(ratio, 3),
        "target_budget": budget,
        # Other work on this shared machine skews every figure: the load when this run began.
        "load_average_before": load_before,
        "uvloop": uvloop,
        "targets": {"throughput_ratio": ">= 0.5", "p99_at_25_percent_ms": "<= 50"},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "e2e.json").write_text(json.dumps(result, indent=2))
    table = Table(title="end to end (same machine, same run)")
    table.add_column("figure")
    table.add_column("bare pipeline", justify="right")
    table.add_column("parallax", justify="right")
    table.add_row(
        "commands/s (max)", f"{bare['max']['per_second']:.0f}", f"{parallax['max']['per_second']:.0f}"
    )
    table.add_row(
        "p50 / p99 ms at 25 % of bare max",
        f"{bare['at_25_percent']['p50']} / {bare['at_25_percent']['p99']}",
        f"{parallax['at_25_percent_of_bare']['p50']} / {parallax['at_25_percent_of_bare']['p99']}",
    )
    own = parallax["at_25_percent_of_own_max"]
    table.add_row(
        "p50 / p99 ms at 25 % of parallax max", "", f"{own['p50']} / {own['p99']} (at {own['rate']:.0f}/s)"
    )
    table.add_row(
        "comparator lag after max load (s)", "-", str(parallax["comparator_after_max"]["lag_seconds"])
    )
    table.add_row("throughput ratio (target >= 0.5)", "", f"{ratio:.2f}")
    for label, key in (("nats-server", "nats-server"), ("whole machine", "machine"), ("other work", "other")):
        table.add_row(
            f"CPU per command at max: {label} (us)",
            _cpu_cell(bare["max"].get("cpu"), key),
            _cpu_cell(parallax["max"].get("cpu"), key),
        )
    table.add_row(
        f"CPU per command at {TARGET_RATIO} x bare max (us)",
        "",
        f"{budget['budget_us_per_command']:.0f} in all; players' sockets "
        f"{budget['players_us_per_command']:.0f} + the bare hops {budget['bare_hops_us_per_command']:.0f} "
        f"leave {budget['left_for_parallax_us_per_command']:.0f} (gateway alone: "
        f"{budget['gateway_us_per_command']:.0f})",
    )
    console.print(table)
    console.print(f"wrote {RESULTS / 'e2e.json'}")


if __name__ == "__main__":
    main()
