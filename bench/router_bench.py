"""Router benchmark (performance.md): throughput and added latency of the router against
(a) a bare nats-py hop doing the same JetStream consume/publish with no logic, and
(b) NATS's own weighted subject mapping (server-side split, a second embedded server whose
config file has `mappings`). All in one run, on this machine. Not a test:

    uv run python bench/router_bench.py [--commands 20000] [--seconds 5] [--profile router.pstats]

Writes bench/results/router.json and prints a table. Throughput: INGRESS preloaded with the
commands, then the hop drains it (HANDLE x2 + ROUTED published and acknowledged; shadow on).
Latency: command published (JetStream, acked) -> copy received by a HANDLE consumer, at 10 % of
the bare hop's measured maximum, open loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
from event_loop import install_uvloop  # bench/, beside this script
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from parallax_contracts import subjects
from parallax_contracts.envelopes import Command
from parallax_runtime.embedded_nats import EmbeddedNats, free_port, nats_server_binary, start_nats
from parallax_runtime.topology import STREAMS, ensure_topology

RESULTS_PATH = Path(__file__).parent / "results" / "router.json"
ROOMS = 1000


# --------------------------------------------------------------------------- servers


def start_split_server(store: Path) -> EmbeddedNats:
    """A nats-server whose config maps INGRESS subjects to HANDLE, 50/50, server-side."""
    store.mkdir(parents=True, exist_ok=True)
    port, monitor = free_port(), free_port()
    config = store / "split.conf"
    config.write_text(
        "max_payload: 1048576\n"
        "mappings = {\n"
        '  "parallax.ingress.*.*": [\n'
        '    { destination: "parallax.handle.legacy.{{wildcard(1)}}.{{wildcard(2)}}", weight: 50% },\n'
        '    { destination: "parallax.handle.domain.{{wildcard(1)}}.{{wildcard(2)}}", weight: 50% }\n'
        "  ]\n"
        "}\n"
    )
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(config), "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor),
         "-js", "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    server = EmbeddedNats(port, monitor, store, process)
    from parallax_runtime.embedded_nats import _wait_ready

    _wait_ready(server, 15.0)
    return server


async def reset(nc: Client) -> None:
    js = nc.jetstream()
    await ensure_topology(js)
    for spec in STREAMS:
        await js.purge_stream(spec.name)
        for consumer in await js.consumers_info(spec.name):
            await js.delete_consumer(spec.name, consumer.name)
    for bucket in ("parallax_aggregates", "parallax_rollout", "parallax_routers"):
        await js.purge_stream(f"KV_{bucket}")


async def stream_count(nc: Client, stream: str) -> int:
    return (await nc.jetstream().stream_info(stream)).state.messages


async def wait_count(nc: Client, stream: str, want: int, timeout: float = 120.0) -> float:  # noqa: ASYNC109
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if await stream_count(nc, stream) >= want:
            return time.perf_counter()
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{stream} did not reach {want} messages (at {await stream_count(nc, stream)})")


# --------------------------------------------------------------------------- commands


def make_command(i: int, stamp: int = 0) -> Command:
    room = f"{i % ROOMS:06X}"
    return Command(
        command_id=str(uuid.uuid4()),
        context="game",
        aggregate_id=room,
        type="create_room" if i < ROOMS else "play",
        actor=f"u-{i % 4}",
        payload={"pieces": [1, 2, 3], "t": stamp},
        seed=i,
    )


async def publish_many(nc: Client, commands: list[Command], window: int = 256) -> None:
    js = nc.jetstream()
    for start in range(0, len(commands), window):
        await asyncio.gather(
            *(
                js.publish(
                    subjects.ingress(c.context, c.aggregate_id),
                    c.model_dump_json().encode(),
                    headers={subjects.MSG_ID: c.command_id},
                )
                for c in commands[start : start + window]
            )
        )


# --------------------------------------------------------------------------- the hops


@contextlib.asynccontextmanager
async def bare_hop(url: str) -> AsyncIterator[None]:
    """Plain nats-py: pull batches off INGRESS, publish HANDLE x2 + ROUTED (every publish of
    the batch in flight at once, `publish_async`: ~20 % faster than awaiting `publish` calls
    gathered, so the baseline is the fastest plain shape), ack. No logic."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        subjects.INGRESS_ALL,
        durable="bare",
        stream="INGRESS",
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=10_000),
    )
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(256, timeout=0.2)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            sends = []
            for msg in msgs:
                tokens = msg.subject.split(".")
                ctx, agg = tokens[2], tokens[3]
                cid = (msg.headers or {}).get(subjects.MSG_ID, "")
                for impl in ("legacy", "domain"):
                    sends.append(
                        await js.publish_async(f"parallax.handle.{impl}.{ctx}.{agg}", msg.data,
                                               stream="HANDLE", headers={subjects.MSG_ID: f"{cid}:{impl}"})
                    )  # fmt: skip
                sends.append(
                    await js.publish_async(f"parallax.routed.{ctx}.{agg}", b'{"command_id":"x"}',
                                           stream="ROUTED", headers={subjects.MSG_ID: cid})
                )  # fmt: skip
            await asyncio.gather(*sends)
            await asyncio.gather(*(m.ack() for m in msgs))

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        stop.set()
        await task
        await nc.close()


@contextlib.asynccontextmanager
async def router_hop(url: str, nc: Client) -> AsyncIterator[None]:
    from parallax_router.app import create_app
    from parallax_runtime.settings import RouterSettings

    app = create_app(
        RouterSettings(
            nats_url=url,
            replica_id="bench",
            shadow_enabled=True,
            domain_adapters_enabled=True,
            domain_rollout_percentage=Decimal(50),
        )
    )
    async with app.start_lifespan_context():
        kv = await nc.jetstream().key_value("parallax_routers")
        for _ in range(400):
            with contextlib.suppress(Exception):
                await kv.get("bench")
                break
            await asyncio.sleep(0.025)
        yield


@contextlib.asynccontextmanager
async def no_hop(url: str) -> AsyncIterator[None]:
    yield


# --------------------------------------------------------------------------- measures


async def throughput(
    nc: Client,
    hop: Callable[[], contextlib.AbstractAsyncContextManager[None]],
    n: int,
    out_stream: str,
    per: int,
    profile: Path | None = None,
) -> float:
    await reset(nc)
    await publish_many(nc, [make_command(i) for i in range(n)])
    # The hop runs in this process and thread, so cProfile sees it (and the bench's polling of
    # the stream count, a small share).
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    try:
        async with hop():
            started = time.perf_counter()
            done = await wait_count(nc, out_stream, n * per)
    finally:
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
    return n / (done - started)


async def split_throughput(nc: Client, n: int) -> float:
    """Server-side split: the publisher is the only Python; the server maps into HANDLE."""
    await reset(nc)
    commands = [make_command(i) for i in range(n)]
    started = time.perf_counter()
    await publish_many(nc, commands)
    done = await wait_count(nc, "HANDLE", n)
    return n / (done - started)


async def latency(
    nc: Client,
    hop: Callable[[], contextlib.AbstractAsyncContextManager[None]],
    rate: float,
    seconds: float,
    out_stream: str = "ROUTED",
) -> dict[str, float]:
    """Open loop at `rate`/s: publish (acked) -> first copy received from HANDLE."""
    await reset(nc)
    js = nc.jetstream()
    sent: dict[str, float] = {}
    received: dict[str, float] = {}

    async def on_copy(msg: Any) -> None:
        cid = json.loads(msg.data)["command_id"]
        if cid not in received:
            received[cid] = time.perf_counter()

    # A "handler": a push consumer on HANDLE that acks nothing (AckNone), receipt only.
    sub = await js.subscribe(
        subjects.HANDLE_ALL,
        cb=on_copy,
        stream="HANDLE",
        config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.NEW),
        manual_ack=True,
    )
    async with hop():
        # Warm up (creates aggregates), then measure.
        await publish_many(nc, [make_command(i) for i in range(ROOMS)])
        await wait_count(nc, out_stream, ROOMS)
        await asyncio.sleep(0.5)
        received.clear()
        interval = 1.0 / rate
        total = int(rate * seconds)
        pending: set[asyncio.Task[Any]] = set()
        start = time.perf_counter()
        for k in range(total):
            target = start + k * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            c = make_command(ROOMS + k)
            sent[c.command_id] = time.perf_counter()
            task = asyncio.create_task(
                js.publish(
                    subjects.ingress(c.context, c.aggregate_id),
                    c.model_dump_json().encode(),
                    headers={subjects.MSG_ID: c.command_id},
                )
            )
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.sleep(2.0)
    await sub.unsubscribe()
    samples = sorted((received[c] - t) * 1000 for c, t in sent.items() if c in received)
    if not samples:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "received": 0, "sent": len(sent)}
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
        "received": len(samples),
        "sent": len(sent),
    }


async def run(n: int, seconds: float, tmp: Path, profile: Path | None = None) -> dict[str, Any]:
    main = start_nats(tmp / "main")
    split = start_split_server(tmp / "split")
    try:
        nc = await nats.connect(main.url)
        snc = await nats.connect(split.url)
        bare_tp = await throughput(nc, lambda: bare_hop(main.url), n, "ROUTED", 1)
        router_tp = await throughput(nc, lambda: router_hop(main.url, nc), n, "ROUTED", 1, profile)
        split_tp = await split_throughput(snc, n)
        rate = max(50.0, 0.1 * bare_tp)
        bare_lat = await latency(nc, lambda: bare_hop(main.url), rate, seconds)
        router_lat = await latency(nc, lambda: router_hop(main.url, nc), rate, seconds)
        split_lat = await latency(snc, lambda: no_hop(split.url), rate, seconds, "HANDLE")
        await nc.close()
        await snc.close()
    finally:
        main.stop()
        split.stop()
    return {
        "commands": n,
        "throughput_per_s": {
            "bare_hop": round(bare_tp, 1),
            "router": round(router_tp, 1),
            "server_split": round(split_tp, 1),
        },
        "latency_rate_per_s": round(rate, 1),
        "latency": {"bare_hop": bare_lat, "router": router_lat, "server_split": split_lat},
        "ratios": {
            "router_vs_bare_throughput": round(router_tp / bare_tp, 3),
            "router_vs_bare_p99": round(router_lat["p99_ms"] / bare_lat["p99_ms"], 3),
            "router_minus_split_p99_ms": round(router_lat["p99_ms"] - split_lat["p99_ms"], 3),
        },
        "targets": {
            "throughput": ">= 0.6 x bare hop",
            "p99": "<= 2 x bare, and within 3 ms of the server-side split",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="PSTATS",
        help="cProfile the router's throughput phase into this pstats file "
        "(slows the router: its figures are then not comparable)",
    )
    args = parser.parse_args()
    if not args.no_uvloop:
        install_uvloop()
    import logging

    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="router-bench-"))
    try:
        result = asyncio.run(run(args.commands, args.seconds, tmp, args.profile))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["machine"] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    result["uvloop"] = not args.no_uvloop
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")

    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"router bench ({args.commands} commands; latency at {result['latency_rate_per_s']}/s)"
    )
    for column in ("hop", "commands/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "hop" else "right")
    for name in ("bare_hop", "router", "server_split"):
        lat = result["latency"][name]
        table.add_row(name, str(result["throughput_per_s"][name]), str(lat["p50_ms"]), str(lat["p99_ms"]))
    Console().print(table)
    r = result["ratios"]
    Console().print(
        f"router/bare throughput {r['router_vs_bare_throughput']} (target >= 0.6); "
        f"p99 router/bare {r['router_vs_bare_p99']} (target <= 2); "
        f"p99 router - split {r['router_minus_split_p99_ms']} ms (target <= 3)"
    )
    Console().print(f"wrote {RESULTS_PATH}")


if __name__ == "__main__":
    main()
