"""Domain vs legacy handler benchmark (performance.md, "domain vs legacy" and "long games").

Not a test: `uv run python -m bench handlers` (or `uv run python bench/handlers_bench.py`).

1. Records command streams from seeds: N whole games played by a deterministic bot (the
   conformance suite's `Table`: four connected players, redeals declined, smallest declarations,
   first pieces, a `get_room_state` now and then), interleaved round-robin across rooms as live
   traffic would be; and M campaign lifecycles. The recording is the in-memory legacy handler's.
2. Feeds the same streams, one command at a time as the service's ordered consumer does, through
   the ContextHandler each service builds: legacy over an in-memory document store and over a
   real NATS KV bucket (embedded nats-server); domain over a SQLite file and over PostgreSQL
   (and in memory, for reference). Every answer is checked against the recording.
3. Long games: the time to load a room (no cache) at the end of round 1 vs round 20.

Writes bench/results/handlers.json and prints a table with the domain/legacy ratios
(targets: throughput ≥ 0.9 x, p95 ≤ 1.1 x; long games ≤ 2 x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "conformance"))

import nats  # noqa: E402
from parallax_contracts.envelopes import Command, EventDraft  # noqa: E402
from parallax_contracts.handling import ContextHandler  # noqa: E402
from parallax_contracts.ids import new_room_id  # noqa: E402
from parallax_domain.factory import application_for  # noqa: E402
from parallax_domain.handler import DomainContextHandler  # noqa: E402
from parallax_legacy.factory import legacy_handler  # noqa: E402
from parallax_legacy.store import InMemoryDocumentStore, KvDocumentStore  # noqa: E402
from parallax_runtime.embedded_nats import embedded_nats  # noqa: E402
from parallax_runtime.settings import DomainSettings  # noqa: E402
from parallax_runtime.topology import LEGACY_BUCKETS, ensure_topology  # noqa: E402

RESULTS_PATH = Path(__file__).parent / "results" / "handlers.json"
DEFAULT_PG_DSN = os.environ.get("PARALLAX_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")

Step = tuple[Command, list[EventDraft]]


# --------------------------------------------------------------------------- recording


class Recorder:
    def __init__(self, context: str) -> None:
        self.inner = legacy_handler(context, InMemoryDocumentStore())
        self.steps: list[Step] = []

    async def handle(self, command: Command) -> list[EventDraft]:
        command = command.model_copy(update={"command_id": str(uuid.uuid4())})
        drafts = await self.inner.handle(command)
        self.steps.append((command, drafts))
        return drafts


async def record_game(seed: int, room: str, state_every: int = 9) -> list[Step]:
    from game_support import Table

    recorder = Recorder("game")
    table = Table(recorder, room=room)  # type: ignore[arg-type]
    await table.start(seed)
    moves = 0
    while table.phase not in ("game_over", "closed"):
        player = table.awaited()
        assert player is not None
        await table.act_like_auto(player)
        moves += 1
        if moves % state_every == 0:
            await table.state(player)
    return recorder.steps


async def record_campaigns(count: int, progress: int) -> list[list[Step]]:
    from campaign._support import BIG_DG_PARAMS, CAROL, Client

    out = []
    for _ in range(count):
        recorder = Recorder("campaign")
        client = Client(recorder)  # type: ignore[arg-type]
        source = await client.create("domain_generation", BIG_DG_PARAMS, name="Source")
        dns = await client.dns(source)
        await client.ok("start", source)
        for i in range(progress):
            await client.progress(source, 10 + i, 7, 3 + i)
            if i % 10 == 0:
                await client.state(source)
        await client.ok("pause", source)
        await client.send("get_campaign", source, actor=CAROL, permissions=[])
        await client.ok("resume", source)
        await client.ok("complete", source)
        await client.ok("archive", source)
        await client.ok("start", dns)
        await client.progress(dns, 3, 3, 0)
        await client.ok("cancel", dns)
        out.append(recorder.steps)
    return out


def interleave(streams: list[list[Step]]) -> list[Step]:
    out: list[Step] = []
    for i in range(max(len(s) for s in streams)):
        out.extend(s[i] for s in streams if i < len(s))
    return out


# --------------------------------------------------------------------------- backends


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    mismatches: int = 0


def triples(drafts: list[EventDraft]) -> list[tuple[str, dict[str, Any], list[str]]]:
    return [(d.type, d.payload, d.audience) for d in drafts]


async def feed(handler: ContextHandler, steps: list[Step]) -> Run:
    run = Run()
    perf = time.perf_counter
    started = perf()
    for command, expected in steps:
        t0 = perf()
        got = await handler.handle(command)
        run.latencies_ms.append((perf() - t0) * 1000)
        if triples(got) != triples(expected):
            run.mismatches += 1
    run.seconds = perf() - started
    return run


Factory = Callable[[str, AsyncExitStack], Awaitable[ContextHandler]]


class Backends:
    """Fresh handlers per (backend, context, repeat), each over an empty store."""

    def __init__(self, workdir: Path, nats_url: str | None, pg_dsn: str | None) -> None:
        self.workdir = workdir
        self.nats_url = nats_url
        self.pg_dsn = pg_dsn
        self.counter = 0

    def names(self) -> list[str]:
        names = ["legacy-memory"]
        if self.nats_url:
            names.append("legacy-nats-kv")
        names += ["domain-memory", "domain-sqlite"]
        if self.pg_dsn:
            names.append("domain-postgres")
        return names

    async def make(self, name: str, context: str, stack: AsyncExitStack) -> ContextHandler:
        self.counter += 1
        if name == "legacy-memory":
            return legacy_handler(context, InMemoryDocumentStore())
        if name == "legacy-nats-kv":
            assert self.nats_url
            nc = await nats.connect(self.nats_url)
            stack.push_async_callback(nc.close)
            # An empty bucket per run, as provisioned.
            js = nc.jetstream()
            await js.delete_key_value(LEGACY_BUCKETS[context])
            await ensure_topology(js)
            kv = await js.key_value(LEGACY_BUCKETS[context])
            return legacy_handler(context, KvDocumentStore(kv))
        if name == "domain-memory":
            return DomainContextHandler(
                application_for(context), in_thread=DomainSettings(store="memory").handle_in_thread()
            )
        if name == "domain-sqlite":
            settings = DomainSettings(store="sqlite", data_dir=self.workdir / f"sqlite-{self.counter}")
        elif name == "domain-postgres":
            assert self.pg_dsn
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            await asyncio.to_thread(self._pg_exec, f'CREATE SCHEMA "{schema}"')
            stack.push_async_callback(asyncio.to_thread, self._pg_exec, f'DROP SCHEMA "{schema}" CASCADE')
            settings = DomainSettings(store="postgres", postgres_dsn=self.pg_dsn, postgres_schema=schema)
        else:
            raise ValueError(name)
        app = application_for(context, settings.eventsourcing_env(context))
        stack.callback(app.close)
        # As the service runs it: on the event loop for SQLite, in a worker thread for PostgreSQL
        # (DomainSettings.handle_in_thread).
        return DomainContextHandler(app, in_thread=settings.handle_in_thread())

    def _pg_exec(self, sql: str) -> None:
        import psycopg

        assert self.pg_dsn
        with psycopg.connect(self.pg_dsn, autocommit=True) as conn:
            conn.execute(sql)


def pg_available(dsn: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=3):
            return dsn
    except Exception as exc:
        print(f"PostgreSQL not reachable ({type(exc).__name__}): domain-postgres skipped", file=sys.stderr)
        return None


# --------------------------------------------------------------------------- figures


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summarize(runs: list[Run]) -> dict[str, Any]:
    pooled = [x for r in runs for x in r.latencies_ms]
    rates = [len(r.latencies_ms) / r.seconds for r in runs]
    return {
        "commands": len(runs[0].latencies_ms),
        "repeats": len(runs),
        "commands_per_s": round(statistics.median(rates), 1),
        "commands_per_s_runs": [round(x, 1) for x in rates],
        "p50_ms": round(pct(pooled, 50), 3),
        "p95_ms": round(pct(pooled, 95), 3),
        "p99_ms": round(pct(pooled, 99), 3),
        "mean_ms": round(statistics.fmean(pooled), 3),
        "mismatches": sum(r.mismatches for r in runs),
    }


def ratios(backends: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for d in (n for n in backends if n.startswith("domain-")):
        for legacy in (n for n in backends if n.startswith("legacy-")):
            dom, leg = backends[d], backends[legacy]
            throughput = dom["commands_per_s"] / leg["commands_per_s"]
            p95 = dom["p95_ms"] / leg["p95_ms"]
            out[f"{d} / {legacy}"] = {
                "throughput": round(throughput, 3),
                "p95": round(p95, 3),
                "p99": round(dom["p99_ms"] / leg["p99_ms"], 3),
                "throughput_target_met": throughput >= 0.9,
                "p95_target_met": p95 <= 1.1,
            }
    return out


# --------------------------------------------------------------------------- long games


def long_game_loads(steps: list[Step], env: dict[str, str], loads: int) -> dict[str, Any]:
    """Load time (no cache) of one room at the end of round 1 and at the end of the game."""
    from parallax_domain.game.room import room_uuid

    app = application_for("game", env)
    try:
        round_end_versions: dict[int, int] = {}
        room = steps[0][0].aggregate_id
        for command, _ in steps:
            drafts = app.handle(command)
            scored = [d for d in drafts if d.type == "round_scored"]
            if scored:
                round_end_versions[int(scored[0].payload["round"])] = app.repository.get(
                    room_uuid(room)
                ).version
        last_round = max(round_end_versions)
        final_version = app.repository.get(room_uuid(room)).version

        def timed(version: int) -> float:
            samples = []
            for _ in range(loads):
                t0 = time.perf_counter()
                app.repository.get(room_uuid(room), version=version)
                samples.append((time.perf_counter() - t0) * 1000)
            return statistics.median(samples)

        def replay_all(version: int) -> float:
            samples = []
            for _ in range(max(3, loads // 10)):
                t0 = time.perf_counter()
                aggregate: Any = None
                for event in app.events.get(room_uuid(room), lte=version):
                    aggregate = event.mutate(aggregate)
                samples.append((time.perf_counter() - t0) * 1000)
            return statistics.median(samples)

        v1 = round_end_versions[1]
        first, last = timed(v1), timed(final_version)
        return {
            "rounds": last_round,
            "version_round_1": v1,
            "version_final": final_version,
            "load_ms_round_1": round(first, 3),
            "load_ms_round_last": round(last, 3),
            "ratio": round(last / first, 3),
            "target_met": last / first <= 2.0,
            "replay_without_snapshots_ms_round_last": round(replay_all(final_version), 3),
        }
    finally:
        app.close()


# --------------------------------------------------------------------------- main


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    games = [await record_game(args.seed + i, new_room_id()) for i in range(args.games)]
    streams = {
        "game": interleave(games),
        "campaign": interleave(await record_campaigns(args.campaigns, args.progress)),
    }
    pg_dsn = None if args.no_postgres else pg_available(args.postgres_dsn)
    results: dict[str, Any] = {
        "meta": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "games": args.games,
            "seed": args.seed,
            "campaigns": args.campaigns,
            "repeats": args.repeats,
            "commands": {ctx: len(s) for ctx, s in streams.items()},
            "note": "one command at a time through the service's ContextHandler, built as the "
            "service builds it: domain on SQLite (synchronous=NORMAL under WAL) runs the "
            "Application on the event loop, on PostgreSQL in a worker thread; legacy over NATS KV "
            "with its cache of its own last writes",
        },
        "contexts": {},
    }
    with tempfile.TemporaryDirectory(prefix="parallax-bench-") as tmp, ExitStack() as outer:
        workdir = Path(tmp)
        nats_url = None
        if not args.no_nats:
            server = outer.enter_context(embedded_nats(workdir / "nats"))
            nats_url = server.url
            nc = await nats.connect(nats_url)
            await ensure_topology(nc.jetstream())
            await nc.close()
        backends = Backends(workdir, nats_url, pg_dsn)
        for context, steps in streams.items():
            runs: dict[str, list[Run]] = {name: [] for name in backends.names()}
            for repeat in range(args.repeats):
                order = backends.names() if repeat % 2 == 0 else backends.names()[::-1]
                for name in order:
                    async with AsyncExitStack() as stack:
                        handler = await backends.make(name, context, stack)
                        runs[name].append(await feed(handler, steps))
                    rate = len(steps) / runs[name][-1].seconds
                    print(f"  {context:8} {name:16} run {repeat + 1}: {rate:8.0f} cmd/s", file=sys.stderr)
            summary = {name: summarize(r) for name, r in runs.items()}
            results["contexts"][context] = {"backends": summary, "ratios": ratios(summary)}

        long_games: dict[str, Any] = {}
        long_steps = games[0]
        settings = DomainSettings(store="sqlite", data_dir=workdir / "long-sqlite")
        long_games["domain-sqlite"] = long_game_loads(
            long_steps, settings.eventsourcing_env("game"), args.loads
        )
        if pg_dsn:
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            backends._pg_exec(f'CREATE SCHEMA "{schema}"')
            try:
                pg = DomainSettings(store="postgres", postgres_dsn=pg_dsn, postgres_schema=schema)
                long_games["domain-postgres"] = long_game_loads(
                    long_steps, pg.eventsourcing_env("game"), args.loads
                )
            finally:
                backends._pg_exec(f'DROP SCHEMA "{schema}" CASCADE')
        results["long_games"] = long_games
    return results


def print_table(results: dict[str, Any]) -> None:
    for context, block in results["contexts"].items():
        meta = results["meta"]
        print(f"\n{context}: {meta['commands'][context]} commands, median of {meta['repeats']} runs")
        print(f"  {'backend':18}{'cmd/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'bad':>5}")
        for name, s in block["backends"].items():
            print(
                f"  {name:18}{s['commands_per_s']:>9.0f}{s['p50_ms']:>9.3f}{s['p95_ms']:>9.3f}"
                f"{s['p99_ms']:>9.3f}{s['mismatches']:>5}"
            )
        print(f"  {'domain / legacy':34}{'cmd/s':>8}{'p95':>8}{'p99':>8}   targets ≥0.9 / ≤1.1")
        for pair, r in block["ratios"].items():
            ok = (
                ("ok" if r["throughput_target_met"] else "LOW")
                + "/"
                + ("ok" if r["p95_target_met"] else "HIGH")
            )
            print(f"  {pair:34}{r['throughput']:>8.2f}{r['p95']:>8.2f}{r['p99']:>8.2f}   {ok}")
    print("\nlong games: room load (no cache) at the end of the last round vs round 1 (target ≤ 2x)")
    for name, g in results["long_games"].items():
        print(
            f"  {name:18} v{g['version_round_1']:<5} {g['load_ms_round_1']:7.3f} ms   "
            f"v{g['version_final']:<5} {g['load_ms_round_last']:7.3f} ms   x{g['ratio']:.2f}   "
            f"(full replay without snapshots {g['replay_without_snapshots_ms_round_last']:.2f} ms)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--games", type=int, default=4, help="whole games recorded (interleaved)")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the first game")
    parser.add_argument("--campaigns", type=int, default=6)
    parser.add_argument("--progress", type=int, default=60, help="progress records per campaign")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loads", type=int, default=200, help="loads timed per version (long games)")
    parser.add_argument("--postgres-dsn", default=DEFAULT_PG_DSN)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-nats", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    results = asyncio.run(bench(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
