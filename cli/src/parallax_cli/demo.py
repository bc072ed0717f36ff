"""`parallax demo`: the stack, simulated players over real WebSockets, and the comparison."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parallax_gateway.auth import mint_token
from parallax_runtime.settings import GatewaySettings
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parallax_cli.sim.client import SimClient
from parallax_cli.sim.players import Tally, play_room, run_campaign
from parallax_cli.stack import Stack, running_stack

CAMPAIGN_USER_PERMISSIONS = [
    "campaigns:create",
    "campaigns:read",
    "campaigns:execute",
    "campaigns:update",
    "campaigns:delete",
]


@dataclass
class DemoOptions:
    rooms: int
    campaigns: int
    percent: str
    shadow: bool
    data_dir: Path
    seed: int
    settle_seconds: float = 30.0


def comparator_summary(stack: Stack) -> dict[str, Any]:
    url = f"{stack.services['comparator'].url}/summary"
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


async def drive(stack: Stack, options: DemoOptions, console: Console) -> Tally:
    secret = GatewaySettings().jwt_secret
    tally = Tally()
    estimated = options.rooms * 400 + options.campaigns * 13
    with Progress(
        TextColumn("[bold]simulated users"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("commands"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("commands", total=estimated)

        def tick() -> None:
            progress.advance(task)

        def client(user: str, permissions: list[str]) -> SimClient:
            return SimClient(stack.gateway_ws, mint_token(user, secret, permissions), user)

        rooms = [[client(f"r{r}-p{i}", []) for i in range(4)] for r in range(options.rooms)]
        campaign_users = [
            (
                client(f"owner{c}", CAMPAIGN_USER_PERMISSIONS),
                client(f"intruder{c}", []),
                client(f"admin{c}", ["campaigns:admin"]),
            )
            for c in range(options.campaigns)
        ]
        everyone = [c for room in rooms for c in room] + [c for trio in campaign_users for c in trio]
        await asyncio.gather(*(c.connect() for c in everyone))
        try:
            results = await asyncio.gather(
                *(play_room(room, options.seed + i, tally, tick) for i, room in enumerate(rooms)),
                *(run_campaign(o, x, a, tally, tick) for o, x, a in campaign_users),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    tally.unanswered.append(repr(result))
            progress.update(task, total=tally.sent, completed=tally.sent)
        finally:
            await asyncio.gather(*(c.close() for c in everyone), return_exceptions=True)
    return tally


def wait_for_comparator(stack: Stack, settle_seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + settle_seconds
    summary = comparator_summary(stack)
    stable_since = time.monotonic()
    last = summary.get("total")
    while time.monotonic() < deadline:
        summary = comparator_summary(stack)
        if (
            summary.get("pending", 0) == 0
            and summary.get("total") == last
            and time.monotonic() - stable_since > 1.0
        ):
            break
        if summary.get("total") != last:
            last, stable_since = summary.get("total"), time.monotonic()
        time.sleep(0.25)
    return summary


def run_demo(options: DemoOptions, console: Console) -> int:
    if options.data_dir.exists():
        shutil.rmtree(options.data_dir)
    env = {
        "DOMAIN_ROLLOUT_PERCENTAGE": options.percent,
        "DOMAIN_ADAPTERS_ENABLED": "true",
        "SHADOW_ENABLED": "true" if options.shadow else "false",
    }
    console.print(
        f"[bold]parallax demo[/]: {options.rooms} rooms, {options.campaigns} campaigns, "
        f"domain {options.percent} %, shadow {'on' if options.shadow else 'off'}"
    )
    with running_stack(options.data_dir, free_ports=True, extra_env=env) as stack:
        console.print(f"stack up: NATS {stack.nats_url}, gateway {stack.gateway_ws}")
        started = time.perf_counter()
        tally = asyncio.run(drive(stack, options, console))
        elapsed = time.perf_counter() - started
        summary = wait_for_comparator(stack, options.settle_seconds)
    print_summary(console, tally, summary, elapsed)
    ok = not tally.unanswered and tally.answered == tally.sent
    compared_all = not options.shadow or summary.get("mismatches", 1) == 0
    if not ok:
        console.print("[red]some commands were not answered:[/]")
        for problem in tally.unanswered[:10]:
            console.print(f"  {problem}")
    if not compared_all:
        console.print("[yellow]the comparator found differences: `parallax report` shows them[/]")
    return 0 if ok else 1


def print_summary(console: Console, tally: Tally, summary: dict[str, Any], elapsed: float) -> None:
    table = Table(title="simulated traffic")
    table.add_column("figure")
    table.add_column("value", justify="right")
    latencies = sorted(tally.first_event_latencies)

    def p(q: float) -> str:
        if not latencies:
            return "-"
        return f"{latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000:.1f} ms"

    for name, value in [
        ("commands sent", tally.sent),
        ("answered", tally.answered),
        ("rejected by the rules", tally.rejected),
        ("games played to game_over", tally.games_over),
        ("campaigns completed", tally.campaigns_completed),
        ("commands/s", f"{tally.sent / elapsed:.0f}" if elapsed else "-"),
        ("command -> first event p50", p(0.5)),
        ("command -> first event p99", p(0.99)),
    ]:
        table.add_row(name, str(value))
    console.print(table)
    results = Table(title="comparison (legacy vs domain)")
    results.add_column("result")
    results.add_column("count", justify="right")
    for result, count in sorted(summary.get("by_result", {}).items()):
        style = "green" if result == "match" else "red"
        results.add_row(f"[{style}]{result}[/]", str(count))
    results.add_row("pending", str(summary.get("pending", 0)))
    console.print(results)
