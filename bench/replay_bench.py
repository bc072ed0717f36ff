"""Replay benchmark (performance.md: "recorded commands/s through both implementations offline",
target >= 2,000): a recorded stream of whole games and campaign lifecycles, replayed through
fresh in-memory instances of legacy and domain, compared and stored (SQLite) exactly as
`parallax replay` does. Not a test: `uv run python bench/replay_bench.py`.

Writes bench/results/replay.json and prints the figures, with the time split between the two
handlers and the comparison + store, and the same stream through each handler alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
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


def run(rooms: int, campaigns: int, repeats: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    commands = synthesize(rooms=rooms, campaigns=campaigns, seed=3)
    synth_s = time.perf_counter() - t0
    types = Counter(c.context for c in commands)
    rules = load_default_rules()
    best: dict[str, Any] | None = None
    for _ in range(repeats):
        legacy, domain = handler_factories()
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteComparisonStore(Path(tmp) / "replay.sqlite")
            stats = asyncio.run(Replayer(legacy, domain, rules, store).run(commands))
            store.close()
        if best is None or stats.elapsed_s < best["elapsed_s"]:
            best = stats.to_dict()
    assert best is not None
    legacy, domain = handler_factories()
    legacy_alone = asyncio.run(one_side(legacy, commands))
    domain_alone = asyncio.run(one_side(domain, commands))
    from parallax_domain.factory import in_memory_handler as plain_domain
    from parallax_legacy.factory import in_memory_handler as plain_legacy

    sample = commands[: min(len(commands), 3000)]
    plain_l = asyncio.run(one_side(plain_legacy, sample))
    plain_d = asyncio.run(one_side(plain_domain, sample))
    n = len(commands)
    elapsed = best["elapsed_s"]
    handler_total = best["handler_s"]["legacy"] + best["handler_s"]["domain"]
    return {
        "commands": n,
        "by_context": dict(types),
        "synthesis_s": round(synth_s, 2),
        "replay_commands_per_s": round(n / elapsed, 1),
        "target_commands_per_s": TARGET,
        "meets_target": n / elapsed >= TARGET,
        "replay": best,
        "time_split_s": {
            "legacy_handler": best["handler_s"]["legacy"],
            "domain_handler": best["handler_s"]["domain"],
            "compare_store_and_rest": round(elapsed - handler_total, 3),
        },
        "per_command_ms": {
            "legacy": round(best["handler_s"]["legacy"] / n * 1000, 3),
            "domain": round(best["handler_s"]["domain"] / n * 1000, 3),
            "compare_store_and_rest": round((elapsed - handler_total) / n * 1000, 3),
        },
        "alone_commands_per_s": {
            "legacy (JsonDocumentStore)": round(n / legacy_alone, 1),
            "domain (in memory, aggregate cache)": round(n / domain_alone, 1),
            "legacy (InMemoryDocumentStore, first 3000)": round(len(sample) / plain_l, 1),
            "domain (in memory, no cache, first 3000)": round(len(sample) / plain_d, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=3, help="whole four-player games")
    parser.add_argument("--campaigns", type=int, default=40, help="campaign lifecycles (13 commands each)")
    parser.add_argument("--repeats", type=int, default=2)
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
