"""`parallax replay`: recorded commands (INGRESS or a JSON-lines file) through fresh, isolated
in-process instances of both implementations, compared like the live comparator, same reports.

`--bisect <aggregate>` names the first command after which the two sides' states differ.
`synthesize()` makes a realistic recorded stream offline (whole games, campaign lifecycles),
for the benchmark and the tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from parallax_contracts.envelopes import Command
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()

CAMPAIGN_PERMISSIONS = [
    "campaigns:create",
    "campaigns:read",
    "campaigns:execute",
    "campaigns:update",
    "campaigns:delete",
]


def handler_factories(aggregate_cache: int = 1000) -> tuple[Any, Any]:
    """Fresh in-memory instances: legacy over `InMemoryDocumentStore` (the KV store's semantics:
    documents kept as JSON text, a fresh copy per read), domain's Application in
    memory with the production aggregate cache (without it every command replays the whole
    aggregate)."""
    from parallax_domain.factory import application_for
    from parallax_domain.handler import DomainContextHandler
    from parallax_legacy.factory import legacy_handler
    from parallax_legacy.store import InMemoryDocumentStore

    def legacy(context: str) -> Any:
        return legacy_handler(context, InMemoryDocumentStore())

    def domain(context: str) -> Any:
        env = {"AGGREGATE_CACHE_MAXSIZE": str(aggregate_cache)} if aggregate_cache else {}
        return DomainContextHandler(application_for(context, env), in_thread=False)

    return legacy, domain


# -- offline recording ------------------------------------------------------------------------------


class _Recorder:
    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.clock = start
        self.commands: list[Command] = []

    def command(
        self,
        context: str,
        aggregate: str,
        kind: str,
        actor: str,
        payload: dict[str, Any],
        permissions: list[str] | None = None,
    ) -> Command:
        self.clock += timedelta(milliseconds=10)
        c = Command(
            command_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            context=context,
            aggregate_id=aggregate,
            type=kind,
            actor=actor,
            permissions=permissions or [],
            payload=payload,
            seed=self.rng.getrandbits(64),
            issued_at=self.clock,
        )
        self.commands.append(c)
        return c


async def _synth_room(rec: _Recorder, handler: Any, room: str, players: list[str], max_moves: int) -> None:
    from parallax_cli.sim.game_bot import choose_move

    async def send(actor: str, kind: str, payload: dict[str, Any]) -> list[Any]:
        return list(await handler.handle(rec.command("game", room, kind, actor, payload)))

    def state_of(drafts: list[Any]) -> dict[str, Any]:
        return next(dict(d.payload) for d in drafts if d.type == "room_state")

    await send(players[0], "create_room", {"name": f"Host {players[0]}"})
    for p in players[1:]:
        await send(p, "join_room", {"name": f"Player {p}"})
    await send(players[0], "start_game", {})
    histories: dict[str, list[int]] = {p: [] for p in players}
    for _ in range(max_moves):
        view = state_of(await send(players[0], "get_room_state", {}))
        if view["phase"] == "game_over" or not view["awaiting"]:
            return
        mover = view["awaiting"][0]
        own = state_of(await send(mover, "get_room_state", {}))
        move = choose_move(own, mover, histories[mover], rec.rng)
        if move is None:
            return
        await send(mover, move[0], move[1])
        if move[0] == "declare":
            histories[mover].append(int(move[1]["value"]))


async def _synth_campaign(rec: _Recorder, handler: Any, n: int) -> None:
    from parallax_cli.sim.players import DOMAIN_PARAMS

    cid = str(uuid.UUID(int=rec.rng.getrandbits(128), version=4))
    owner, intruder, admin = f"owner{n}", f"intruder{n}", f"admin{n}"

    async def send(actor: str, kind: str, payload: dict[str, Any], perms: list[str]) -> None:
        await handler.handle(rec.command("campaign", cid, kind, actor, payload, perms))

    p, no, adm = CAMPAIGN_PERMISSIONS, list[str](), ["campaigns:admin"]
    await send(
        owner,
        "create_campaign",
        {"name": f"Leads {n}", "kind": "domain_generation", "params": DOMAIN_PARAMS},
        p,
    )
    await send(intruder, "start", {}, no)
    await send(owner, "update_campaign", {"name": "Leads, renamed"}, p)
    await send(owner, "start", {}, p)
    await send(owner, "record_progress", {"processed": 4, "succeeded": 3, "failed": 1}, p)
    await send(admin, "pause", {}, adm)
    await send(intruder, "get_campaign", {}, no)
    await send(owner, "record_progress", {"processed": 1, "succeeded": 1, "failed": 0}, p)
    await send(owner, "resume", {}, p)
    await send(owner, "record_progress", {"processed": 5, "succeeded": 5, "failed": 0}, p)
    await send(owner, "get_campaign", {}, p)
    await send(owner, "archive", {}, p)
    await send(owner, "pause", {}, p)


def synthesize(rooms: int = 4, campaigns: int = 4, seed: int = 7, max_moves: int = 2000) -> list[Command]:
    """A recorded command stream made offline: `rooms` whole games of four players (with the
    players' `get_room_state` polls, as the simulated clients send them) and `campaigns`
    campaign lifecycles, driven through a scratch legacy instance. Interleaved per aggregate
    like live traffic would be; deterministic for a seed."""
    from parallax_legacy.factory import legacy_handler
    from parallax_legacy.store import InMemoryDocumentStore

    async def build() -> list[list[Command]]:
        streams: list[list[Command]] = []
        start = datetime(2025, 1, 1, tzinfo=UTC)
        game = legacy_handler("game", InMemoryDocumentStore())
        campaign = legacy_handler("campaign", InMemoryDocumentStore())
        for r in range(rooms):
            rec = _Recorder(seed * 1_000_003 + r, start)
            room = f"{(seed * 7919 + r * 104_729) % 0xFFFFFF:06X}"
            await _synth_room(rec, game, room, [f"r{r}-p{i}" for i in range(4)], max_moves)
            streams.append(rec.commands)
        for c in range(campaigns):
            rec = _Recorder(seed * 2_000_003 + c, start)
            await _synth_campaign(rec, campaign, c)
            streams.append(rec.commands)
        return streams

    streams = asyncio.run(build())
    # Interleave the aggregates round-robin (per-aggregate order kept), like concurrent users.
    out: list[Command] = []
    cursors = [0] * len(streams)
    while True:
        progressed = False
        for i, s in enumerate(streams):
            if cursors[i] < len(s):
                out.append(s[cursors[i]])
                cursors[i] += 1
                progressed = True
        if not progressed:
            return out


# -- the command ----------------------------------------------------------------------------------


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
    )


async def _load(
    file: Path | None, nats_url: str, context: str | None, since: float | None, until: float | None
) -> list[Command]:
    from parallax_comparator.replay import read_ingress, read_jsonl

    if file is not None:
        commands = read_jsonl(file)
        return [c for c in commands if context is None or c.context == context]
    from parallax_cli.nats_client import connect

    nc = await connect(nats_url)
    try:
        with _progress() as progress:
            task = progress.add_task("reading INGRESS", total=None, rate="")
            return await read_ingress(
                nc, context=context, since=since, until=until, on_message=lambda n: progress.advance(task, n)
            )
    finally:
        await nc.close()


def replay_command(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="JSON-lines file of command envelopes (else INGRESS)")
    ] = None,
    nats_url: Annotated[str | None, typer.Option(envvar="NATS_URL", help="where INGRESS is")] = None,
    context: Annotated[str | None, typer.Option(help="game | campaign (default: both)")] = None,
    since: Annotated[str | None, typer.Option(help="from: 2h, 30m, 7d ago, or an ISO 8601 instant")] = None,
    until: Annotated[str | None, typer.Option(help="until (exclusive), same forms")] = None,
    store: Annotated[
        Path, typer.Option(help="SQLite file for the replay's comparisons (wiped first)")
    ] = Path("var/replay/replay.sqlite"),
    rules: Annotated[
        Path | None, typer.Option(help="rules file (default: the comparator's defaults)")
    ] = None,
    save: Annotated[
        Path | None, typer.Option(help="also write the commands read to this JSON-lines file")
    ] = None,
    bisect_aggregate: Annotated[
        str | None,
        typer.Option("--bisect", help="find the first command after which this aggregate's states differ"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="0: both implementations in this process, one command after the other; 2: each in"
            " a worker process of its own (same results). Default: 2 when there are 2+ CPUs",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="print the report as Markdown")] = False,
    html: Annotated[Path | None, typer.Option(help="write the HTML report to this file")] = None,
) -> None:
    """Feed recorded commands through fresh instances of both implementations and compare them."""
    import time

    from parallax_comparator.core.rules import DEFAULT_RULES_PATH, load_rules
    from parallax_comparator.replay import BadCommandLine, Replayer
    from parallax_comparator.store import SqliteComparisonStore
    from parallax_runtime.settings import CommonSettings

    from parallax_cli.commands.report import emit_report, time_window
    from parallax_cli.nats_client import NatsUnreachable

    t_since, t_until = time_window(since, until)
    if context is not None and context not in ("game", "campaign"):
        raise typer.BadParameter(f"unknown context {context!r}")
    if workers is None:
        workers = 2 if (os.cpu_count() or 1) >= 2 else 0
    elif workers not in (0, 2):
        raise typer.BadParameter("--workers is 0 (in process) or 2 (one process per implementation)")
    try:
        commands = asyncio.run(_load(file, nats_url or CommonSettings().nats_url, context, t_since, t_until))
    except (BadCommandLine, NatsUnreachable, OSError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    if file is not None and (t_since is not None or t_until is not None):
        commands = [
            c
            for c in commands
            if (t_since is None or c.issued_at.timestamp() >= t_since)
            and (t_until is None or c.issued_at.timestamp() < t_until)
        ]
    if save is not None:
        from parallax_comparator.replay import write_jsonl

        write_jsonl(save, commands)
        console.print(f"wrote {len(commands)} commands to {save}")
    if not commands:
        console.print("[yellow]no commands to replay[/]")
        raise typer.Exit(1)
    rule_set = load_rules(rules or DEFAULT_RULES_PATH)
    legacy, domain = handler_factories()
    if bisect_aggregate is not None:
        code = run_bisect(commands, bisect_aggregate, legacy, domain, rule_set, as_json)
        raise typer.Exit(code)

    if store.exists():
        store.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    db = SqliteComparisonStore(store)
    replayer = Replayer(legacy, domain, rule_set, db, workers=workers)
    quiet = as_json or markdown
    replayer.start()  # fork the workers before the progress display starts its thread
    try:
        if quiet:
            stats = asyncio.run(replayer.run(commands))
        else:
            with _progress() as progress:
                task = progress.add_task("replaying", total=len(commands), rate="")
                started = time.perf_counter()

                def tick(n: int) -> None:
                    progress.advance(task, n)
                    done = progress.tasks[0].completed
                    elapsed = time.perf_counter() - started
                    progress.update(task, rate=f"{done / elapsed:,.0f}/s" if elapsed > 0 else "")

                stats = asyncio.run(replayer.run(commands, progress=tick))
    finally:
        replayer.close()
    if not quiet:
        console.print(
            f"replayed {stats.compared} commands in {stats.elapsed_s:.2f}s "
            f"({stats.per_second:,.0f}/s, {'a worker process per side' if workers else 'in process'}); "
            f"{stats.duplicates} duplicates skipped; store {store}"
        )
    emit_report(
        db,
        title="Parallax replay report",
        as_json=as_json,
        markdown=markdown,
        html=html,
        extra=stats.to_dict(),
    )
    db.close()


def run_bisect(
    commands: list[Command], aggregate: str, legacy: Any, domain: Any, rules: Any, as_json: bool
) -> int:
    from parallax_comparator.replay import bisect

    result = asyncio.run(bisect(commands, aggregate, legacy, domain, rules))
    step = result.first_divergence
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "aggregate_id": aggregate,
                    "context": result.context,
                    "commands": result.commands,
                    "replayed": len(result.steps),
                    "first_divergence": None
                    if step is None
                    else {
                        "index": step.index,
                        "command": step.command.model_dump(mode="json"),
                        "response_result": step.response_result,
                        "views": [v.__dict__ for v in step.views if v.result != "match"],
                    },
                    "first_response_mismatch": None
                    if result.first_response_mismatch is None
                    else result.first_response_mismatch.command.command_id,
                },
                indent=2,
                default=str,
            )
        )
        return 0 if step is None else 3
    if result.commands == 0:
        console.print(f"[red]no commands for aggregate {aggregate}[/]")
        return 1
    if step is None:
        console.print(f"[green]{aggregate}: the states agree after each of its {result.commands} commands[/]")
        return 0
    c = step.command
    console.print(
        f"[bold red]{aggregate} diverges after command {step.index + 1} of {result.commands}[/]: "
        f"[bold]{c.type}[/] by {c.actor} ({c.command_id}, issued {c.issued_at.isoformat()})"
    )
    console.print(f"payload: {json.dumps(c.payload)}; its own responses: {step.response_result}")
    for view in step.views:
        if view.result == "match":
            continue
        table = Table(title=f"state as seen by {view.actor}: {view.result}")
        table.add_column("path")
        table.add_column("legacy")
        table.add_column("domain")
        for d in view.diffs[:40]:
            table.add_row(
                d["path"],
                json.dumps(d["left"]) if "left" in d else "(absent)",
                json.dumps(d["right"]) if "right" in d else "(absent)",
            )
        console.print(table)
    return 3
