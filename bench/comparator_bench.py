"""Comparator core benchmark (performance.md): pairs diffed per second in process, and RSS with
100,000 pending pairs. Not a test: run `uv run python bench/comparator_bench.py`.

Writes bench/results/comparator.json and prints the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from parallax_comparator.core import PairingSettings, PairingTable, compare, load_default_rules
from parallax_comparator.core.diff import classify

KINDS = [
    "GENERAL_RED", "GENERAL_BLACK", "ADVISOR_RED", "ADVISOR_BLACK", "ELEPHANT_RED",
    "ELEPHANT_BLACK", "CHARIOT_RED", "CHARIOT_BLACK", "HORSE_RED", "HORSE_BLACK",
    "CANNON_RED", "CANNON_BLACK", "SOLDIER_RED", "SOLDIER_BLACK",
]  # fmt: skip
RESULTS_PATH = Path(__file__).parent / "results" / "comparator.json"


def _players(rng: random.Random) -> list[str]:
    return [f"u-{rng.randrange(10_000)}" for _ in range(4)]


def _response(rng: random.Random) -> tuple[str, list[tuple[str, dict[str, Any], list[str]]]]:
    """(command type, [(event type, payload, audience)]) for a realistic game command mix."""
    ps = _players(rng)
    r = rng.random()
    rnd, turn = rng.randint(1, 20), rng.randint(1, 8)
    pieces = rng.sample(KINDS, rng.randint(1, 3))
    played = {"player": ps[0], "pieces": pieces, "play_type": "PAIR", "value": 24, "auto": False}
    if r < 0.35:  # a play in the middle of a turn
        return "play", [("pieces_played", played, ps)]
    if r < 0.50:  # the last play of a turn
        plays = [{"player": p, "pieces": rng.sample(KINDS, 2), "play_type": "PAIR", "value": 20}
                 for p in ps]  # fmt: skip
        return "play", [
            ("pieces_played", played, ps),
            (
                "turn_completed",
                {"round": rnd, "turn": turn, "winner": ps[1], "piles": 2, "plays": plays},
                ps,
            ),
            ("turn_started", {"round": rnd, "turn": turn + 1, "starter": ps[1]}, ps),
        ]
    if r < 0.65:
        return "declare", [("declared", {"player": ps[0], "value": 3, "auto": False}, ps)]
    if r < 0.75:
        state = {
            "phase": "turn", "room_id": "3FA9C1", "host": ps[0],
            "players": [{"seat": i, "player": p, "name": f"Player {i}", "connected": True,
                         "declared": 2, "captured": 1, "total": 7, "hand_size": 6}
                        for i, p in enumerate(ps)],
            "round": rnd, "turn": turn, "multiplier": 1, "starter": ps[2], "awaiting": [ps[3]],
            "hand": rng.sample(KINDS, 6),
            "turn_plays": [{"player": ps[2], "pieces": pieces, "play_type": "PAIR", "value": 24}],
            "required": len(pieces),
        }  # fmt: skip
        return "get_room_state", [("room_state", state, [ps[0]])]
    if r < 0.85:
        code = rng.choice(["not_your_turn", "invalid_input", "invalid_state"])
        return "play", [("command_rejected", {"code": code, "command_type": "play"}, [ps[0]])]
    if r < 0.92:
        return "join_room", [("player_joined", {"seat": 3, "player": ps[3], "name": "Dana"}, ps)]
    # a deal: game start or a round's end (6-8 events)
    events: list[tuple[str, dict[str, Any], list[str]]] = [
        (
            "game_started",
            {"players": [{"seat": i, "player": p, "name": f"P{i}"} for i, p in enumerate(ps)]},
            ps,
        ),
    ]
    for p in ps:
        hand = [rng.choice(KINDS) for _ in range(8)]
        events.append(("hand_dealt", {"round": 1, "attempt": 0, "player": p, "hand": hand}, [p]))
    events.append(("round_started", {"round": 1, "starter": ps[0], "multiplier": 1, "order": ps}, ps))
    return "start_game", events


def _envelopes(
    cid: str, impl: str, role: str, events: list[tuple[str, dict[str, Any], list[str]]]
) -> list[dict[str, Any]]:
    n = len(events)
    return [
        {
            "command_id": cid, "impl": impl, "role": role, "context": "game",
            "aggregate_id": "3FA9C1", "seq": seq, "count": n, "type": t,
            # JSON round trip: the two sides never share objects (as off the wire)
            "payload": json.loads(json.dumps(payload)), "audience": list(audience),
            "emitted_at": f"2025-01-01T12:00:00.{random.randrange(10**6):06d}Z",
            "handler_ms": random.random(), "command_type": "play",
        }
        for seq, (t, payload, audience) in enumerate(events)
    ]  # fmt: skip


def make_pairs(n: int, mismatch_rate: float, seed: int = 7) -> list[tuple[list[Any], list[Any]]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        cid = str(uuid.UUID(int=rng.getrandbits(128)))
        _, events = _response(rng)
        legacy = _envelopes(cid, "legacy", "primary", events)
        domain = _envelopes(cid, "domain", "shadow", events)
        if rng.random() < mismatch_rate:  # a realistic bug: one field differs
            ev = domain[rng.randrange(len(domain))]
            key = next(iter(ev["payload"]))
            ev["payload"][key] = "different"
        pairs.append((legacy, domain))
    return pairs


def bench_throughput(n: int, repeats: int) -> dict[str, Any]:
    rules = load_default_rules()
    pairs = make_pairs(n, mismatch_rate=0.02)
    events = sum(len(a) for a, _ in pairs) / len(pairs)
    results: dict[str, Any] = {"pairs": n, "mean_events_per_response": round(events, 2)}

    best = best_cpu = float("inf")
    counts: dict[str, int] = {}
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for legacy, domain in pairs:
            cmp_, _, _ = compare(legacy, domain, "game", rules)
            counts[cmp_.result] = counts.get(cmp_.result, 0) + 1
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    results["normalize_and_classify_pairs_per_s"] = round(n / best)
    results["normalize_and_classify_pairs_per_cpu_s"] = round(n / best_cpu)
    results["result_mix"] = {k: v // repeats for k, v in sorted(counts.items())}

    from parallax_comparator.core import normalize

    normalized = [(normalize(a, "game", rules), normalize(b, "game", rules)) for a, b in pairs]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for left, right in normalized:
            classify(left, right, context="game", rules=rules)
        best = min(best, time.perf_counter() - t0)
    results["classify_only_pairs_per_s"] = round(n / best)

    try:
        from deepdiff import DeepDiff

        sample = normalized[: min(2_000, n)]
        t0 = time.perf_counter()
        for left, right in sample:
            DeepDiff(left, right)
        results["deepdiff_pairs_per_s"] = round(len(sample) / (time.perf_counter() - t0))
    except ImportError:  # pragma: no cover
        results["deepdiff_pairs_per_s"] = None
    return results


def calibration_s() -> float:
    """CPU seconds for 1M iterations of a trivial Python loop: how loaded/slow this machine is
    (~0.03-0.05 s on an idle modern core with Python 3.11)."""
    best = float("inf")
    for _ in range(3):
        c0 = time.process_time()
        x = 0
        for i in range(1_000_000):
            x += i
        best = min(best, time.process_time() - c0)
    return round(best, 4)


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def memory_child(n: int, body: str) -> dict[str, Any]:
    """Run in a fresh interpreter: RSS before/after filling a table with n pending pairs, each
    routed to two sides with one side's response complete (waiting for the other)."""
    gc.collect()
    base = _rss_kb()
    rng = random.Random(11)
    table: PairingTable[Any] = PairingTable(PairingSettings(max_pending=n))
    now = 0.0
    body_bytes = 0
    events_held = 0
    for _ in range(n):
        cid = str(uuid.UUID(int=rng.getrandbits(128)))
        _, evs = _response(rng)
        envs = _envelopes(cid, "legacy", "primary", evs)
        table.add_record(
            {"command_id": cid, "context": "game", "aggregate_id": "3FA9C1", "type": "play",
             "primary": "legacy", "shadow": "domain"}, now)  # fmt: skip
        for env in envs:
            data = json.dumps(env, separators=(",", ":")).encode()
            held: Any = data if body == "bytes" else json.loads(data)
            body_bytes += len(data)
            events_held += 1
            out = table.add_event(cid, "legacy", env["seq"], env["count"], held, now)
            assert not out
        now += 0.00001
    gc.collect()
    rss = _rss_kb()
    assert len(table) == n
    # bounded: feeding n/2 more evicts n/2 as missing_domain, the table stays at n
    evicted = 0
    for _ in range(n // 2):
        cid = str(uuid.UUID(int=rng.getrandbits(128)))
        evicted += len(table.add_record(
            {"command_id": cid, "context": "game", "aggregate_id": "3FA9C1", "type": "play",
             "primary": "legacy", "shadow": "domain"}, now))  # fmt: skip
    gc.collect()
    return {
        "body": body,
        "pending_pairs": n,
        "events_held": events_held,
        "json_bytes_held": body_bytes,
        "baseline_rss_mb": round(base / 1024, 1),
        "rss_mb": round(rss / 1024, 1),
        "table_delta_mb": round((rss - base) / 1024, 1),
        "after_overfeed_pending": len(table),
        "after_overfeed_evicted_as_missing": evicted,
        "after_overfeed_rss_mb": round(_rss_kb() / 1024, 1),
    }


def bench_memory(n: int, body: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", body, "--pending", str(n)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pending", type=int, default=100_000)
    ap.add_argument("--memory-child", choices=["bytes", "dict"])
    args = ap.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.pending, args.memory_child)))
        return
    report: dict[str, Any] = {
        "bench": "comparator",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "calibration_1m_loop_cpu_s": calibration_s(),
        "throughput": bench_throughput(args.pairs, args.repeats),
        "memory": [bench_memory(args.pending, "bytes"), bench_memory(args.pending, "dict")],
        "targets": {"pairs_per_s": 50_000, "rss_mb_at_100k_pending": 300},
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2) + "\n")
    t = report["throughput"]
    print(f"comparator bench (python {report['python']}, {report['cpus']} cpus)")
    print(f"  responses: {t['pairs']} pairs, {t['mean_events_per_response']} events/response, "
          f"mix {t['result_mix']}")  # fmt: skip
    print(f"  load average {report['load_average']}, 1M-iteration loop "
          f"{report['calibration_1m_loop_cpu_s']} CPU s")  # fmt: skip
    print(f"  normalize + classify : {t['normalize_and_classify_pairs_per_s']:>9,} pairs/s wall, "
          f"{t['normalize_and_classify_pairs_per_cpu_s']:,} per CPU second "
          "(target >= 50,000)")  # fmt: skip
    print(f"  classify only        : {t['classify_only_pairs_per_s']:>9,} pairs/s")
    print(f"  deepdiff (reference) : {t['deepdiff_pairs_per_s']:>9,} pairs/s")
    for m in report["memory"]:
        print(f"  {m['pending_pairs']:,} pending pairs, bodies as {m['body']:<5}: RSS "
              f"{m['rss_mb']} MB (baseline {m['baseline_rss_mb']} MB, table "
              f"{m['table_delta_mb']} MB for {m['json_bytes_held'] / 2**20:.1f} MB of JSON; "
              "target <= 300 MB); overfeed by 50%: "
              f"{m['after_overfeed_pending']:,} pending, "
              f"{m['after_overfeed_evicted_as_missing']:,} evicted as missing")  # fmt: skip
    print(f"  written to {RESULTS_PATH}")


if __name__ == "__main__":
    main()
