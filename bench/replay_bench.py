"""Replay benchmark (performance.md: "recorded commands/s through both implementations offline",
target >= 2,000): a recorded stream of whole games and campaign lifecycles, replayed through
fresh in-memory instances of legacy and domain, compared and stored (SQLite) exactly as
`parallax replay` does. Not a test: `uv run python bench/replay_bench.py`.

Both modes, interleaved, the median of `--repeats` runs each: `sequential` (both sides in this
process; its time splits into the two handlers and the comparison + store) and `workers_2` (each
side in a worker process, `parallax replay`'s default on 2+ CPUs). Also CPU time per command
(all processes), and the same stream through each handler alone. Writes
bench/results/replay.json and prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from parallax_cli.commands.replay import handler_factories, synthesize
from parallax_comparator.core.rules import load_default_rules
from parallax_comparator.replay import Replayer
from parallax_comparator.store import SqliteComparisonStore
from parallax_contracts.envelopes import Command

RESULTS_PATH = Path(__file__).parent / "results" / "replay.json"
TARGET = 2000


async def one_side(factory: Any, commands: list[Command]) -> float:
    handlers: dict[str, Any] = {}
    started = time.perf_counter()
    for c in commands:
        h = handlers.get(c.context)
        if h is None:
            h = handlers[c.context] = factory(c.context)
        await h.handle(c)
    return time.perf_counter() - started


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the replay's worker processes):
    on a shared machine, a figure the other tenants disturb less than wall time."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def replay_once(commands: list[Command], rules: Any, workers: int) -> dict[str, Any]:
    legacy, domain = handler_factories()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteComparisonStore(Path(tmp) / "replay.sqlite")
        cpu = _cpu_s()
        stats = asyncio.run(Replayer(legacy, domain, rules, store, workers=workers).run(commands))
        cpu = _cpu_s() - cpu
        store.close()
    return {**stats.to_dict(), "cpu_s": round(cpu, 3)}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run (by elapsed time), with every run's rate."""
    ordered = sorted(runs, key=lambda r: r["elapsed_s"])
    median = ordered[len(ordered) // 2]
    n = median["compared"]
    handler_total = median["handler_s"]["legacy"] + median["handler_s"]["domain"]
    out = {
        "commands_per_s": median["commands_per_s"],
        "runs_commands_per_s": [r["commands_per_s"] for r in runs],
        "cpu_ms_per_command": round(median["cpu_s"] / n * 1000, 3),
        "replay": median,
        "per_command_ms": {
            "legacy_handler": round(median["handler_s"]["legacy"] / n * 1000, 3),
            "domain_handler": round(median["handler_s"]["domain"] / n * 1000, 3),
        },
    }
    if median["workers"] == 0:  # one process: wall time = handlers + the rest
        out["per_command_ms"]["compare_store_and_rest"] = round(
            (median["elapsed_s"] - handler_total) / n * 1000, 3
        )
    return out


def run(rooms: int, campaigns: int, repeats: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    commands = synthesize(rooms=rooms, campaigns=campaigns, seed=3)
    synth_s = time.perf_counter() - t0
    types = Counter(c.context for c in commands)
    rules = load_default_rules()
    modes = {"sequential": 0, "workers_2": 2}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in modes}
    for _ in range(repeats):  # interleaved, so a noisy neighbour hits both modes alike
        for name, workers in modes.items():
            runs[name].append(replay_once(commands, rules, workers))
    results = {name: summarize(r) for name, r in runs.items()}
    # The CLI's default: worker processes on 2+ CPUs.
    default = "workers_2" if (os.cpu_count() or 1) >= 2 else "sequential"
    legacy, domain = handler_factories()
    legacy_alone = asyncio.run(one_side(legacy, commands))
    domain_alone = asyncio.run(one_side(domain, commands))
    from parallax_domain.factory import in_memory_handler as plain_domain
    from parallax_legacy.factory import in_memory_handler as plain_legacy

    sample = commands[: min(len(commands), 3000)]
    plain_l = asyncio.run(one_side(plain_legacy, sample))
    plain_d = asyncio.run(one_side(plain_domain, sample))
    n = len(commands)
    rate = results[default]["commands_per_s"]
    return {
        "commands": n,
        "by_context": dict(types),
        "synthesis_s": round(synth_s, 2),
        "repeats": repeats,
        "replay_commands_per_s": rate,
        "mode": default,
        "target_commands_per_s": TARGET,
        "meets_target": rate >= TARGET,
        **results,
        "alone_commands_per_s": {
            "legacy (in memory, as replayed)": round(n / legacy_alone, 1),
            "domain (in memory, aggregate cache)": round(n / domain_alone, 1),
            "legacy (in_memory_handler, first 3000)": round(len(sample) / plain_l, 1),
            "domain (in memory, no cache, first 3000)": round(len(sample) / plain_d, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=3, help="whole four-player games")
    parser.add_argument("--campaigns", type=int, default=40, help="campaign lifecycles (13 commands each)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each mode; the median is kept")
    args = parser.parse_args()
    results = run(args.rooms, args.campaigns, args.repeats)
    report = {
        "bench": "replay",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        **results,
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
