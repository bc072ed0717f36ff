"""`parallax plan start|status|advance|abort`: the staged rollout plan (top level, beside
`parallax rollout`). The logic is `parallax_comparator.plan`; its state is in KV, so any
machine, and any restart, sees and continues the same plan."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

console = Console()
app = typer.Typer(
    help="Staged rollout: 1 → 5 → … → 100 % with a bake time per step, only while the guard is satisfied.",
    no_args_is_help=True,
)

T = TypeVar("T")
Contexts = ("game", "campaign")


def _nats_url(url: str | None) -> str:
    from parallax_runtime.settings import CommonSettings

    return url or CommonSettings().nats_url


def _with_js(url: str | None, body: Callable[[Any], Awaitable[T]]) -> T:
    from parallax_cli.nats_client import NatsUnreachable, connect

    async def run() -> T:
        nc = await connect(_nats_url(url))
        try:
            return await body(nc.jetstream())
        finally:
            await nc.close()

    try:
        return asyncio.run(run())
    except NatsUnreachable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def _check_context(context: str) -> str:
    if context not in Contexts:
        raise typer.BadParameter(f"unknown context {context!r}; one of {', '.join(Contexts)}")
    return context


def guard_problems(comparator: str | None, context: str) -> list[str] | None:
    """Thresholds the comparator's guard window currently crosses for the context; None when no
    comparator URL was given. An unreachable comparator is a problem (not satisfied)."""
    if not comparator:
        return None
    try:
        with urllib.request.urlopen(f"{comparator.rstrip('/')}/guard", timeout=5) as response:
            status = json.loads(response.read())
    except OSError as exc:
        return [f"comparator guard not reachable at {comparator} ({exc})"]
    problems: list[str] = []
    for window in status.get("windows", []):
        if window.get("context") == context:
            problems.extend(window.get("crossed", []))
    return problems


def _fmt_remaining(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"
        if seconds >= 3600
        else (f"{seconds // 60}m{seconds % 60:02d}s")
    )


@app.command()
def start(
    context: Annotated[str, typer.Argument(help="game | campaign")],
    steps: Annotated[str, typer.Option(help="percentages, increasing")] = "1,5,10,25,50,75,90,100",
    bake: Annotated[str, typer.Option(help="hold time per step: 30s, 10m, 1h")] = "10m",
    by: Annotated[str | None, typer.Option(help="who starts it (audit)")] = None,
    force: Annotated[bool, typer.Option(help="replace a plan that is still running")] = False,
    nats_url: Annotated[str | None, typer.Option(envvar="NATS_URL")] = None,
) -> None:
    """Create the plan and apply its first step (mode canary at the first percentage)."""
    from parallax_comparator.plan import PlanState, StepRefused, apply_step, load, now_utc, parse_steps, save
    from parallax_comparator.timespec import parse_duration
    from pydantic import ValidationError

    _check_context(context)
    try:
        bake_seconds = parse_duration(bake)
        now = now_utc()
        state = PlanState(
            context=context,
            steps=parse_steps(steps),
            bake_seconds=bake_seconds,
            step_started_at=now,
            created_at=now,
            updated_at=now,
            created_by=by,
        )
    except (ValueError, ValidationError) as exc:
        raise typer.BadParameter(str(exc)) from exc

    async def body(js: Any) -> str | None:
        existing, revision = await load(js, context)
        if existing is not None and existing.status == "running" and not force:
            step = existing.index + 1
            return f"a plan is already running for {context} (step {step}); use --force to replace it"
        try:
            await apply_step(js, state)
        except StepRefused as exc:
            return f"not started: {exc}"
        await save(js, state, revision)
        return None

    problem = _with_js(nats_url, body)
    if problem:
        console.print(f"[red]{problem}[/]")
        raise typer.Exit(1)
    console.print(
        f"plan started for [bold]{context}[/]: {', '.join(str(s) for s in state.steps)} %, "
        f"bake {bake}; step 1 applied ({state.percent} %, config revision {state.config_revision})"
    )


@app.command()
def status(
    context: Annotated[str | None, typer.Argument(help="game | campaign (default: both)")] = None,
    comparator: Annotated[str | None, typer.Option(help="comparator URL, to show its guard window")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    nats_url: Annotated[str | None, typer.Option(envvar="NATS_URL")] = None,
) -> None:
    """Where each plan is: step, bake time left, whether the guard lets it advance."""
    from parallax_comparator.plan import assess, load, now_utc
    from parallax_comparator.rollout_io import read_config

    contexts = [_check_context(context)] if context else list(Contexts)

    async def body(js: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for ctx in contexts:
            state, _ = await load(js, ctx)
            current = await read_config(js, ctx)
            if state is None:
                rows.append({"context": ctx, "plan": None, "config": current.config.model_dump(mode="json")})
                continue
            a = assess(state, current, now_utc(), guard_problems(comparator, ctx))
            rows.append(
                {
                    "context": ctx,
                    "plan": json.loads(state.model_dump_json()),
                    "assessment": {"action": a.action, "reason": a.reason, "remaining_s": a.remaining_s},
                    "config_revision": current.revision,
                    "kill_switch": current.config.kill_switch,
                    "domain_percent": str(current.config.domain_percent),
                }
            )
        return rows

    rows = _with_js(nats_url, body)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title="rollout plans")
    for col in ("context", "status", "step", "percent now", "bake left", "next", "why"):
        table.add_column(col)
    for row in rows:
        plan = row["plan"]
        if plan is None:
            table.add_row(
                row["context"], "[dim]no plan[/]", "", str(row["config"]["domain_percent"]), "", "", ""
            )
            continue
        a = row["assessment"]
        colour = {"running": "green", "done": "blue", "halted": "red", "aborted": "yellow"}[plan["status"]]
        table.add_row(
            row["context"],
            f"[{colour}]{plan['status']}[/]",
            f"{plan['index'] + 1}/{len(plan['steps'])} ({plan['steps'][plan['index']]} %)",
            f"{row['domain_percent']} %" + (" [red]KILL SWITCH[/]" if row["kill_switch"] else ""),
            _fmt_remaining(a["remaining_s"]) if a["action"] == "wait" and a["remaining_s"] else "",
            a["action"],
            a["reason"],
        )
    console.print(table)


@app.command()
def advance(
    context: Annotated[str, typer.Argument(help="game | campaign")],
    wait: Annotated[
        bool, typer.Option(help="keep going: wait out each bake and advance until done or halted")
    ] = False,
    resume: Annotated[bool, typer.Option(help="resume a halted plan: re-apply its step, bake again")] = False,
    comparator: Annotated[
        str | None, typer.Option(help="comparator URL: also require its guard window to be within thresholds")
    ] = None,
    poll: Annotated[float, typer.Option(help="seconds between checks with --wait")] = 5.0,
    nats_url: Annotated[str | None, typer.Option(envvar="NATS_URL")] = None,
) -> None:
    """Move to the next step if the current one has baked and the guard is satisfied."""
    from parallax_comparator.plan import StepRefused, apply_step, assess, load, now_utc, save
    from parallax_comparator.rollout_io import read_config

    _check_context(context)

    async def once(js: Any) -> tuple[str, str, float]:
        state, revision = await load(js, context)
        if state is None:
            return "missing", f"no plan for {context} (parallax plan start {context})", 0.0
        current = await read_config(js, context)
        if resume and state.status == "halted":
            if current.config.kill_switch:
                return "halt", "kill switch is still on: turn it off (parallax rollout) before resuming", 0.0
            state.status, state.reason = "running", None
            try:
                await apply_step(js, state)
            except StepRefused as exc:
                return "halt", str(exc), 0.0
            await save(js, state, revision)
            return "resumed", f"resumed at step {state.index + 1} ({state.percent} %)", state.bake_seconds
        a = assess(state, current, now_utc(), guard_problems(comparator, context))
        if a.action == "halt":
            state.status, state.reason = "halted", a.reason
            await save(js, state, revision)
        elif a.action == "finish":
            state.status, state.reason = "done", a.reason
            await save(js, state, revision)
        elif a.action == "advance":
            state.index += 1
            try:
                await apply_step(js, state)
            except StepRefused as exc:
                state.index -= 1
                state.status, state.reason = "halted", str(exc)
                await save(js, state, revision)
                return "halt", str(exc), 0.0
            await save(js, state, revision)
            return (
                "advance",
                f"advanced to step {state.index + 1}/{len(state.steps)} ({state.percent} %)",
                0.0,
            )
        return a.action, a.reason, a.remaining_s

    while True:
        action, reason, remaining = _with_js(nats_url, once)
        stamp = datetime.now().strftime("%H:%M:%S")
        colour = {"advance": "green", "finish": "blue", "resumed": "green", "wait": "dim"}.get(action, "red")
        extra = f" ({_fmt_remaining(remaining)} left)" if action == "wait" and remaining else ""
        console.print(f"{stamp} [{colour}]{action}[/]: {reason}{extra}")
        if action == "finish":
            raise typer.Exit(0)
        if action in ("halt", "stopped", "missing"):
            raise typer.Exit(2)
        if not wait:
            raise typer.Exit(0)
        if action == "wait":
            time.sleep(max(0.2, min(poll, remaining) if remaining else poll))


@app.command()
def abort(
    context: Annotated[str, typer.Argument(help="game | campaign")],
    reason: Annotated[str, typer.Option(help="why (kept in the plan)")] = "aborted by hand",
    kill: Annotated[bool, typer.Option(help="also set the kill switch (primary back to legacy)")] = False,
    nats_url: Annotated[str | None, typer.Option(envvar="NATS_URL")] = None,
) -> None:
    """Stop the plan where it is (the rollout config stays as it is unless --kill)."""
    from parallax_comparator.plan import load, save
    from parallax_comparator.rollout_io import update_config

    _check_context(context)

    async def body(js: Any) -> str | None:
        state, revision = await load(js, context)
        if state is None:
            return f"no plan for {context}"
        state.status, state.reason = "aborted", reason
        await save(js, state, revision)
        if kill:
            await update_config(
                js,
                context,
                lambda c: None if c.kill_switch else c.model_copy(update={"kill_switch": True}),
                action="kill",
                by="plan",
                reason=f"plan aborted: {reason}",
            )
        return None

    problem = _with_js(nats_url, body)
    if problem:
        console.print(f"[red]{problem}[/]")
        raise typer.Exit(1)
    console.print(f"plan for {context} aborted" + (" and kill switch set" if kill else ""))
