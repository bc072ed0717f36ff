"""The staged plan: the pure decision, and the CLI against a real KV (resumable state, advances
after the bake, halts when the guard's kill switch or anyone else changes the config)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from parallax_comparator.plan import PlanState, assess, parse_steps
from parallax_comparator.rollout_io import CurrentConfig
from parallax_rollout import dump_config, parse_config, validate_config
from parallax_runtime.topology import ROLLOUT_BUCKET
from typer.testing import CliRunner

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def state(**kw: object) -> PlanState:
    base: dict[str, object] = {
        "context": "game",
        "steps": [Decimal(1), Decimal(5), Decimal(100)],
        "bake_seconds": 600,
        "step_started_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
        "config_revision": 7,
    }
    base.update(kw)
    return PlanState.model_validate(base)


def current(revision: int = 7, **kw: object) -> CurrentConfig:
    cfg = validate_config({"mode": "canary", "domain_percent": 1, "shadow": True, "kill_switch": False, **kw})
    return CurrentConfig("game", cfg, revision, "kv", latest_revision=revision)


def test_assess() -> None:
    assert assess(state(), current(), NOW + timedelta(seconds=60)).action == "wait"
    assert assess(state(), current(), NOW + timedelta(seconds=60)).remaining_s == 540
    assert assess(state(), current(), NOW + timedelta(seconds=600)).action == "advance"
    assert assess(state(index=2), current(), NOW + timedelta(seconds=601)).action == "finish"
    killed = assess(state(), current(8, kill_switch=True, updated_by="guard", reason="guard: bad"), NOW)
    assert killed.action == "halt" and "guard: bad" in killed.reason
    assert assess(state(), current(9), NOW + timedelta(hours=1)).action == "halt"  # someone else wrote
    # Someone wrote an invalid entry: the routers keep the step's config, the plan halts anyway.
    tampered = current(7)
    tampered = type(tampered)(
        "game",
        tampered.config,
        7,
        "kv",
        latest_revision=9,
        invalid_revision=9,
        invalid_problems=("mode: bad",),
    )
    halted = assess(state(), tampered, NOW + timedelta(hours=1))
    assert halted.action == "halt" and "invalid" in halted.reason and "mode: bad" in halted.reason
    waiting = assess(state(), current(), NOW + timedelta(hours=1), ["mismatch rate 3%"])
    assert waiting.action == "wait" and "guard not satisfied" in waiting.reason
    assert assess(state(status="aborted"), current(), NOW).action == "stopped"
    assert parse_steps("1, 5,10%") == [1, 5, 10]
    with pytest.raises(ValueError):
        state(steps=[Decimal(5), Decimal(1)])
    with pytest.raises(ValueError):
        state(steps=[Decimal("1.234")])


@pytest.mark.integration
async def test_plan_cli_over_kv(clean_topology: object, nats_url: str) -> None:
    import asyncio

    from parallax_cli.main import app

    js = clean_topology.jetstream()  # type: ignore[attr-defined]
    kv = await js.key_value(ROLLOUT_BUCKET)
    await kv.purge("campaign")
    try:
        plans = await js.key_value("parallax_rollout_plans")
        await plans.purge("campaign")
    except Exception:
        pass
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str]:
        out = runner.invoke(app, ["plan", *args, "--nats-url", nats_url])
        return out.exit_code, out.output

    async def invoke(*args: str) -> tuple[int, str]:
        return await asyncio.to_thread(cli, *args)

    code, out = await invoke("start", "campaign", "--steps", "10,50", "--bake", "0")
    assert code == 0, out
    config = parse_config((await kv.get("campaign")).value)
    assert (config.mode, config.domain_percent, config.updated_by) == ("canary", 10, "plan")
    code, out = await invoke("start", "campaign")
    assert code == 1 and "already running" in out
    code, out = await invoke("advance", "campaign")
    assert code == 0 and "advanced to step 2/2 (50 %)" in out, out
    assert parse_config((await kv.get("campaign")).value).domain_percent == 50
    code, out = await invoke("status", "campaign", "--json")
    status = json.loads(out)[0]
    assert status["plan"]["index"] == 1 and status["assessment"]["action"] == "finish"
    # The guard trips (kill switch, written by someone else): the plan halts, never overrides.
    entry = await kv.get("campaign")
    killed = parse_config(entry.value).model_copy(
        update={"kill_switch": True, "updated_by": "guard", "reason": "guard: x"}
    )
    await kv.update("campaign", dump_config(killed), last=entry.revision)
    code, out = await invoke("advance", "campaign")
    assert code == 2 and "kill switch is on by guard" in out
    code, out = await invoke("advance", "campaign", "--resume")
    assert code == 2 and "still on" in out
    assert parse_config((await kv.get("campaign")).value).kill_switch is True
    # A person turns it off; the plan resumes at its step, then finishes.
    entry = await kv.get("campaign")
    await kv.update(
        "campaign", dump_config(killed.model_copy(update={"kill_switch": False})), last=entry.revision
    )
    code, out = await invoke("advance", "campaign", "--resume")
    assert code == 0 and "resumed at step 2" in out, out
    code, out = await invoke("advance", "campaign", "--wait", "--poll", "0.2")
    assert code == 0 and "finish" in out
    code, out = await invoke("status")
    assert code == 0 and "done" in out
    code, out = await invoke("abort", "campaign", "--kill")
    assert code == 0
    assert parse_config((await kv.get("campaign")).value).kill_switch is True
    audit = await js.get_last_msg("AUDIT", "parallax.audit.rollout.campaign")
    assert json.loads(audit.data)["by"] == "plan"
