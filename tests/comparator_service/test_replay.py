"""Replay: recorded commands through fresh instances of both implementations; the same results
as the live comparison of a recorded run; bisect finds a planted divergence."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from parallax_cli.commands.replay import handler_factories, synthesize
from parallax_comparator.core.rules import load_default_rules
from parallax_comparator.replay import Replayer, bisect, read_ingress, read_jsonl, write_jsonl
from parallax_comparator.store import SqliteComparisonStore
from parallax_contracts.envelopes import Command, EventDraft


@pytest.fixture(scope="module")
def recorded() -> list[Command]:
    return synthesize(rooms=1, campaigns=2, seed=11, max_moves=60)


class Planted:
    """Wraps a real handler; for one command id it alters what the handler sees or answers."""

    def __init__(self, inner: Any, target: str, mode: str) -> None:
        self.inner, self.target, self.mode = inner, target, mode

    async def handle(self, command: Command) -> list[EventDraft]:
        if command.command_id != self.target:
            return list(await self.inner.handle(command))
        if self.mode == "response":  # state untouched, one answer altered
            drafts = list(await self.inner.handle(command))
            first = drafts[0]
            return [
                EventDraft(type=first.type, payload={**first.payload, "planted": 1}, audience=first.audience),
                *drafts[1:],
            ]
        if self.mode == "raise":
            raise RuntimeError("planted")
        # "swallow": answers like the real thing would, without applying the command
        return [
            EventDraft(
                type="command_rejected",
                payload={"code": "invalid_state", "command_type": command.type},
                audience=[command.actor],
            )
        ]


def planted_domain(target: str, mode: str) -> Any:
    _, domain = handler_factories()
    return lambda ctx: Planted(domain(ctx), target, mode)


async def test_replay_compares_every_command(recorded: list[Command], tmp_path: Path) -> None:
    legacy, domain = handler_factories()
    store = SqliteComparisonStore(tmp_path / "r.sqlite")
    stats = await Replayer(legacy, domain, load_default_rules(), store).run([*recorded, recorded[0]])
    assert stats.compared == len(recorded) and stats.duplicates == 1
    assert dict(stats.by_result) == {"match": len(recorded)}
    assert store.count() == len(recorded)


async def test_a_planted_response_difference_is_reported(recorded: list[Command], tmp_path: Path) -> None:
    target = next(c for c in recorded if c.type == "play")
    legacy, _ = handler_factories()
    store = SqliteComparisonStore(tmp_path / "r.sqlite")
    await Replayer(legacy, planted_domain(target.command_id, "response"), load_default_rules(), store).run(
        recorded
    )
    bad = {cid: r for cid, r in store.results().items() if r != "match"}
    assert bad == {target.command_id: "payload_mismatch"}
    assert store.get(target.command_id)["diffs"] == [{"path": "[0].payload.planted", "right": 1}]  # type: ignore[index]


def _rows(store: SqliteComparisonStore) -> list[tuple[Any, ...]]:
    """Every stored column but the handler timings, by command id."""
    from parallax_comparator.store import COLUMNS

    kept = [c for c in COLUMNS if not c.endswith("_ms")]
    return store._all(f"SELECT {', '.join(kept)} FROM comparisons ORDER BY command_id")


async def test_worker_processes_give_the_sequential_results(recorded: list[Command], tmp_path: Path) -> None:
    """Each side in a process of its own, in chunks (small here, so there are many, several in
    flight): the same stored rows and counts as one process, with a planted payload difference,
    a side that raises, a duplicate and an unknown context among the commands."""
    differing = next(c for c in recorded if c.type == "play").command_id
    raising = next(c for c in recorded if c.type == "get_room_state").command_id  # changes no state
    legacy, _ = handler_factories()
    _, domain = handler_factories()

    def planted(ctx: str) -> Any:
        return Planted(Planted(domain(ctx), differing, "response"), raising, "raise")

    unknown = recorded[0].model_copy(update={"command_id": "not-a-context", "context": "chess"})
    commands = [*recorded, recorded[3], unknown]
    outcomes = {}
    for workers in (0, 2):
        store = SqliteComparisonStore(tmp_path / f"w{workers}.sqlite")
        clock = itertools.count().__next__  # compared_at: the same sequence both ways
        replayer = Replayer(
            legacy, planted, load_default_rules(), store, workers=workers, chunk=16, in_flight=3,
            clock=lambda clock=clock: float(clock()),
        )  # fmt: skip
        stats = await replayer.run(commands)
        outcomes[workers] = (_rows(store), {k: v for k, v in stats.to_dict().items() if k in SAME_STATS})
        store.close()
    assert outcomes[0] == outcomes[2]
    rows, stats = outcomes[2]
    assert len(rows) == len(recorded)
    assert stats["duplicates"] == 1 and stats["skipped"] == 1 and stats["errors"] == {"domain": 1}
    assert stats["by_result"] == {"match": len(recorded) - 2, "payload_mismatch": 1, "missing_domain": 1}


SAME_STATS = ("commands", "compared", "duplicates", "skipped", "errors", "by_result")


async def test_the_text_path_classifies_as_evaluate_does(recorded: list[Command]) -> None:
    """The replay compares each side's normalized JSON text and parses only when the texts
    differ: its records are those `records.evaluate` makes from the events as the live
    comparator receives them, mismatches and a missing side included."""
    from parallax_comparator.records import evaluate
    from parallax_comparator.replay import Sides

    plays = [c for c in recorded if c.type == "play"]
    query = next(c for c in recorded if c.type == "get_room_state")
    legacy, _ = handler_factories()
    _, domain = handler_factories()

    def planted(ctx: str) -> Any:
        inner = Planted(Planted(domain(ctx), plays[0].command_id, "response"), query.command_id, "raise")
        return Planted(inner, plays[2].command_id, "swallow")  # the states differ from here on

    rules = load_default_rules()
    replayer = Replayer(legacy, planted, rules, clock=lambda: 1.0)
    await replayer.run(recorded)
    reference = Sides(legacy, planted, rules)
    for command, record in zip(recorded, replayer.records, strict=True):
        left, _ = await reference.run("legacy", command)
        right, _ = await reference.run("domain", command)
        status = "missing_legacy" if left is None else "missing_domain" if right is None else "paired"
        expected = evaluate(
            command_id=command.command_id,
            context=command.context,
            aggregate_id=command.aggregate_id,
            command_type=command.type,
            status=status,
            reason="complete" if status == "paired" else "error",
            legacy=left or [],
            domain=right or [],
            rules=rules,
            compared_at=1.0,
        )
        got = (record.result, record.signature, record.diffs, record.legacy, record.domain)
        assert got == (expected.result, expected.signature, expected.diffs, expected.legacy, expected.domain)
        assert (record.legacy_rejected, record.domain_rejected) == (
            expected.legacy_rejected,
            expected.domain_rejected,
        )
        assert (record.legacy_ms is None, record.domain_ms is None) == (
            expected.legacy_ms is None,
            expected.domain_ms is None,
        )
    results = {r.command_id: r.result for r in replayer.records if r.result != "match"}
    assert results[plays[0].command_id] == "payload_mismatch"
    assert results[query.command_id] == "missing_domain"
    assert results[plays[2].command_id] in ("rejection_mismatch", "sequence_mismatch")


async def test_bisect_finds_the_planted_divergence(recorded: list[Command]) -> None:
    room = recorded[0].aggregate_id
    own = [c for c in recorded if c.aggregate_id == room]
    target_index = next(i for i, c in enumerate(own) if c.type == "declare")
    target = own[target_index]
    legacy, _ = handler_factories()
    # Only the response differs: the states never do.
    clean = await bisect(
        recorded, room, legacy, planted_domain(target.command_id, "response"), load_default_rules()
    )
    assert clean.first_divergence is None
    assert clean.first_response_mismatch is not None and clean.first_response_mismatch.command == target
    # The domain side never applies that declaration: its state differs from then on.
    found = await bisect(
        recorded, room, legacy, planted_domain(target.command_id, "swallow"), load_default_rules()
    )
    step = found.first_divergence
    assert step is not None and step.index == target_index and step.command == target
    assert any(v.result != "match" for v in step.views)
    assert all(not s.diverged for s in found.steps[:-1])


def test_jsonl_round_trip_and_cli(recorded: list[Command], tmp_path: Path) -> None:
    from parallax_cli.main import app
    from typer.testing import CliRunner

    path = tmp_path / "commands.jsonl"
    assert write_jsonl(path, recorded) == len(recorded)
    assert read_jsonl(path) == recorded
    runner = CliRunner()
    store = tmp_path / "replay.sqlite"
    out = runner.invoke(app, ["replay", "--file", str(path), "--store", str(store), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["total"] == len(recorded) and report["by_result"] == {"match": len(recorded)}
    assert report["extra"]["compared"] == len(recorded)
    room = recorded[0].aggregate_id
    out = runner.invoke(app, ["replay", "--file", str(path), "--bisect", room])
    assert out.exit_code == 0 and "states agree" in out.output
    out = runner.invoke(
        app, ["replay", "--file", str(path), "--context", "campaign", "--store", str(store), "--markdown"]
    )
    assert out.exit_code == 0 and "| match |" in out.output


def test_cli_workers_option(recorded: list[Command], tmp_path: Path) -> None:
    from parallax_cli.main import app
    from typer.testing import CliRunner

    path = tmp_path / "commands.jsonl"
    write_jsonl(path, recorded)
    runner = CliRunner()
    reports = {}
    for workers in ("0", "2"):
        store = tmp_path / f"replay{workers}.sqlite"
        out = runner.invoke(
            app, ["replay", "-f", str(path), "--store", str(store), "--workers", workers, "--json"]
        )
        assert out.exit_code == 0, out.output
        report = json.loads(out.output)
        assert report["extra"]["workers"] == int(workers)
        reports[workers] = SqliteComparisonStore(store).results()
    assert reports["0"] == reports["2"] and len(reports["0"]) == len(recorded)
    out = runner.invoke(app, ["replay", "-f", str(path), "--workers", "3"])
    assert out.exit_code == 2 and "--workers" in out.output


@pytest.mark.e2e
def test_replay_of_a_recorded_run_matches_the_live_comparison(tmp_path: Path) -> None:
    """The whole stack (shadow on, half the aggregates on domain), simulated players over real
    WebSockets; then INGRESS replayed offline: the same command ids, the same results."""
    from parallax_cli.demo import DemoOptions, drive, wait_for_comparator
    from parallax_cli.stack import running_stack
    from rich.console import Console

    env = {"DOMAIN_ROLLOUT_PERCENTAGE": "50", "DOMAIN_ADAPTERS_ENABLED": "true", "SHADOW_ENABLED": "true"}
    options = DemoOptions(1, 2, "50", True, tmp_path / "stack", seed=5)
    with running_stack(options.data_dir, free_ports=True, extra_env=env) as stack:
        asyncio.run(drive(stack, options, Console(quiet=True)))
        time.sleep(1.0)  # the gateway's disconnect commands after the sockets closed
        summary = wait_for_comparator(stack, 30)
        assert summary["pending"] == 0

        async def read() -> list[Command]:
            import nats

            nc = await nats.connect(stack.nats_url)
            try:
                return await read_ingress(nc)
            finally:
                await nc.close()

        commands = asyncio.run(read())
    live = SqliteComparisonStore(options.data_dir / "comparator.sqlite")
    live_results = live.results()
    assert len(live_results) > 100
    legacy, domain = handler_factories()
    replayed = SqliteComparisonStore(tmp_path / "replay.sqlite")
    asyncio.run(Replayer(legacy, domain, load_default_rules(), replayed).run(commands))
    assert replayed.results() == live_results
    live_sigs = {g["signature"]: g["count"] for g in live.signature_groups()}
    assert {g["signature"]: g["count"] for g in replayed.signature_groups()} == live_sigs


@pytest.mark.integration
async def test_replay_of_crafted_ingress_matches_the_comparator_service(
    clean_topology: Any, nats_url: str, tmp_path: Path, recorded: list[Command]
) -> None:
    """Without the router: the commands go to INGRESS, and a stand-in for router + handlers
    (both implementations in process, the real envelopes) feeds ROUTED and EVENTS to the
    comparator service. Replaying INGRESS offline gives the same results, planted mismatch
    included."""
    from comparator_support import comparator, settings, wait_for
    from parallax_contracts import subjects
    from parallax_contracts.envelopes import wrap_response

    js = clean_topology.jetstream()
    target = next(c for c in recorded if c.type == "play")
    legacy_f, _ = handler_factories()
    sides = {"legacy": {}, "domain": {}}  # type: dict[str, dict[str, Any]]
    factories = {"legacy": legacy_f, "domain": planted_domain(target.command_id, "response")}
    async with comparator(settings(nats_url, tmp_path)) as comp:
        for command in recorded:
            await js.publish(
                subjects.ingress(command.context, command.aggregate_id),
                command.model_dump_json().encode(),
                headers={subjects.MSG_ID: command.command_id},
            )
            record = {
                "command_id": command.command_id,
                "context": command.context,
                "aggregate_id": command.aggregate_id,
                "type": command.type,
                "primary": "legacy",
                "shadow": "domain",
                "rule": "percent",
                "config_revision": 0,
            }
            await js.publish(
                subjects.routed(command.context, command.aggregate_id), json.dumps(record).encode()
            )
            for impl in ("legacy", "domain"):
                handler = sides[impl].get(command.context)
                if handler is None:
                    handler = sides[impl][command.context] = factories[impl](command.context)
                drafts = await handler.handle(command)
                role = "primary" if impl == "legacy" else "shadow"
                for event in wrap_response(command, drafts, impl=impl, role=role, handler_ms=0.5):  # type: ignore[arg-type]
                    await js.publish(
                        subjects.events(impl, command.context, command.aggregate_id),  # type: ignore[arg-type]
                        event.model_dump_json().encode(),
                    )
        await wait_for(lambda: comp.store.count() == len(recorded), limit=60, what="every live comparison")
        live = comp.store.results()
    commands = await read_ingress(clean_topology)
    assert commands == recorded
    replayed = SqliteComparisonStore(tmp_path / "replay.sqlite")
    await Replayer(
        legacy_f, planted_domain(target.command_id, "response"), load_default_rules(), replayed
    ).run(commands)
    assert replayed.results() == live
    assert live[target.command_id] == "payload_mismatch"
    game_only = await read_ingress(clean_topology, context="campaign")
    assert game_only == [c for c in recorded if c.context == "campaign"]
