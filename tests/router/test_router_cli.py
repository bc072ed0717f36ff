"""`parallax rollout`: refusals write nothing; every change is audited; show/history/explain."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from parallax_cli.main import app
from parallax_rollout import parse_config
from router_support import purge_buckets
from typer.testing import CliRunner


def _run_async(url: str, work: Any) -> Any:
    async def go() -> Any:
        nc = await nats.connect(url)
        try:
            return await work(nc)
        finally:
            await nc.close()

    return asyncio.run(go())


@pytest.fixture
def cli(nats_url: str) -> Iterator[Any]:
    async def reset(nc: Any) -> None:
        from parallax_runtime.topology import ensure_topology

        await ensure_topology(nc.jetstream())
        await nc.jetstream().purge_stream("AUDIT")
        await purge_buckets(nc)

    _run_async(nats_url, reset)
    runner = CliRunner()
    env = {"NATS_URL": nats_url, "PARALLAX_NATS_URL": nats_url, "USER": "tester", "COLUMNS": "200"}

    def invoke(*args: str) -> Any:
        return runner.invoke(app, ["rollout", *args], env=env)

    yield invoke
    _run_async(nats_url, reset)


def stored(nats_url: str, context: str = "game") -> tuple[int, bytes | None]:
    async def work(nc: Any) -> tuple[int, bytes | None]:
        kv = await nc.jetstream().key_value("parallax_rollout")
        try:
            entry = await kv.get(context)
        except Exception:
            return 0, None
        return entry.revision, entry.value

    return _run_async(nats_url, work)


def audit(nats_url: str) -> list[dict[str, Any]]:
    from parallax_cli.commands.rollout import read_history

    return _run_async(nats_url, lambda nc: read_history(nc))


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--percent", "12.345"], "at most two decimals"),
        (["--percent", "101"], "between 0 and 100"),
        (["--percent", "abc"], "not a number"),
        (["--mode", "blue"], "unknown mode"),
        (["--clear", "allow_everyone"], "not a list field"),
    ],
)
def test_set_refuses_invalid_values_and_writes_nothing(
    cli: Any, nats_url: str, args: list[str], problem: str
) -> None:
    result = cli("set", "game", "--reason", "try", *args)
    assert result.exit_code == 2, result.output
    assert "refused" in result.output and problem in result.output
    assert stored(nats_url) == (0, None)
    assert audit(nats_url) == []


def test_set_refuses_a_file_with_an_unknown_field(cli: Any, nats_url: str, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps({"mode": "canary", "domain_percent": 5, "shadow": True, "kill_switch": False, "x": 1})
    )
    result = cli("set", "game", "--reason", "file", "--file", str(path))
    assert result.exit_code == 2
    assert "x: unknown field" in result.output
    assert stored(nats_url) == (0, None)


def test_set_needs_a_reason(cli: Any) -> None:
    result = cli("set", "game", "--mode", "domain")
    assert result.exit_code != 0
    assert "--reason" in result.output


def test_every_change_is_audited_with_who_when_why_and_the_diff(cli: Any, nats_url: str) -> None:
    result = cli(
        "set", "game", "--mode", "canary", "--percent", "12.5", "--shadow", "--allow-user", "u-7",
        "--reason", "first canary", "--by", "alice",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    revision, raw = stored(nats_url)
    assert raw is not None
    config = parse_config(raw)
    assert (config.mode, str(config.domain_percent), config.shadow, config.allow_users) == (
        "canary", "12.5", True, ("u-7",),
    )  # fmt: skip
    assert (config.updated_by, config.reason) == ("alice", "first canary")
    # Saying the same again changes nothing, writes nothing, audits nothing.
    again = cli("set", "game", "--percent", "12.5", "--reason", "again")
    assert again.exit_code == 0 and "nothing to change" in again.output
    assert stored(nats_url)[0] == revision
    killed = cli("kill", "game", "--reason", "mismatch storm", "--by", "oncall")
    assert killed.exit_code == 0, killed.output
    assert parse_config(stored(nats_url)[1] or b"").kill_switch is True
    unkilled = cli("unkill", "game", "--reason", "fixed")
    assert unkilled.exit_code == 0
    entries = audit(nats_url)
    assert [e["action"] for e in entries] == ["set", "kill", "unkill"]
    first, kill, unkill = entries
    assert first["by"] == "alice" and first["reason"] == "first canary" and first["at"]
    assert first["revision"] == revision
    assert first["diff"]["shadow"] == {"old": False, "new": True}
    assert first["diff"]["domain_percent"]["new"] == 12.5
    assert first["diff"]["allow_users"] == {"added": ["u-7"], "removed": []}
    assert kill["diff"]["kill_switch"] == {"old": False, "new": True}
    assert kill["by"] == "oncall" and kill["reason"] == "mismatch storm"
    assert unkill["by"] == "tester" and unkill["diff"]["kill_switch"] == {"old": True, "new": False}
    history = cli("history", "game")
    assert history.exit_code == 0
    assert "mismatch storm" in history.output and "kill_switch: False → True" in history.output
    show = cli("show", "game")
    assert show.exit_code == 0 and "canary" in show.output and "12.5" in show.output
    shown = json.loads(cli("show", "game", "--json").output)
    assert shown["contexts"]["game"]["revision"] == revision + 2


def test_wait_without_router_warns_and_with_a_stuck_one_times_out(cli: Any, nats_url: str) -> None:
    result = cli("set", "game", "--mode", "domain", "--reason", "r", "--wait", "--timeout", "1")
    assert result.exit_code == 0
    assert "no live router replica" in result.output

    async def stuck(nc: Any) -> None:
        kv = await nc.jetstream().key_value("parallax_routers")
        await kv.put("stuck-9", json.dumps({"replica": "stuck-9", "revisions": {"game": 0}}).encode())

    _run_async(nats_url, stuck)
    result = cli("kill", "game", "--reason", "r", "--wait", "--timeout", "0.5")
    assert result.exit_code == 1
    assert "timed out" in result.output and "stuck-9" in result.output


def test_explain_shows_the_decision(cli: Any, nats_url: str) -> None:
    assert cli("set", "game", "--mode", "canary", "--percent", "25", "--reason", "r").exit_code == 0

    async def record(nc: Any) -> None:
        kv = await nc.jetstream().key_value("parallax_aggregates")
        await kv.put("game.3FA9C1", b'{"sides":["domain"],"owner":"u1"}')

    _run_async(nats_url, record)
    assert cli("kill", "game", "--reason", "r").exit_code == 0
    result = cli("explain", "game", "3FA9C1")
    assert result.exit_code == 0, result.output
    assert "pinned" in result.output and "NOT ROLLBACKABLE" in result.output
    as_json = json.loads(cli("explain", "game", "3FA9C1", "--json").output)
    assert as_json["primary"] == "domain" and as_json["not_rollbackable"] is True
    assert as_json["bucket"] == 7514
    bad = cli("explain", "game", "nope")
    assert bad.exit_code == 1 and "not a game aggregate id" in bad.output


def test_after_an_invalid_write_show_and_set_use_the_last_valid_config(cli: Any, nats_url: str) -> None:
    """What the routers apply (rollout.md: they ignore the invalid entry and keep the last valid
    one) is what `show` reports and what a change is based on; the write names the invalid
    entry's revision, so it lands above it."""
    first = cli(
        "set", "game", "--mode", "canary", "--percent", "30", "--shadow", "--allow-user", "qa-1",
        "--reason", "canary",
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    valid, _ = stored(nats_url)

    async def put_invalid(nc: Any) -> int:
        kv = await nc.jetstream().key_value("parallax_rollout")
        return int(await kv.put("game", b'{"mode": "canary", "domain_percent": "30"}'))

    invalid = _run_async(nats_url, put_invalid)
    shown = json.loads(cli("show", "game", "--json").output)["contexts"]["game"]
    assert (shown["revision"], shown["source"], shown["ignored_invalid_revision"]) == (valid, "kv", invalid)
    assert shown["config"]["domain_percent"] == 30 and shown["config"]["allow_users"] == ["qa-1"]
    text = cli("show", "game").output
    assert f"revision {invalid} is invalid and ignored" in text
    killed = cli("kill", "game", "--reason", "stop")
    assert killed.exit_code == 0, killed.output
    revision, raw = stored(nats_url)
    config = parse_config(raw or b"")
    assert revision == invalid + 1 and config.kill_switch is True
    assert (config.mode, config.domain_percent, config.shadow) == ("canary", 30, True)
    assert config.allow_users == ("qa-1",)
    kill = audit(nats_url)[-1]
    assert {k for k in kill["diff"] if k not in ("updated_at", "updated_by", "reason")} == {"kill_switch"}
