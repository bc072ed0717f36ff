"""The `parallax` command (typer)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from parallax_cli.commands import bench, plan, replay, report, rollout
from parallax_cli.services import DEFAULT_PORTS, SERVICES, ServiceName, build_app

app = typer.Typer(
    help="Parallax: legacy and event-sourced side by side — route, shadow, compare.", no_args_is_help=True
)
console = Console()
app.command(name="report")(report.report_command)
app.command(name="replay")(replay.replay_command)
app.command(name="bench", help=bench.HELP, context_settings=bench.CONTEXT_SETTINGS)(bench.bench_command)
# Top level (`parallax plan ...`), beside the `rollout` sub-app.
app.add_typer(plan.app, name="plan")
app.add_typer(rollout.app, name="rollout")


@app.command()
def run(
    service: Annotated[str, typer.Argument(help="gateway | router | legacy | domain | comparator")],
) -> None:
    """Run one service (its settings come from the environment; see docs/configuration.md)."""
    import uvicorn
    from parallax_runtime.settings import CommonSettings, GatewaySettings

    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    name: ServiceName = service
    common = CommonSettings()
    port = int(os.environ.get("PARALLAX_HTTP_PORT", "0")) or DEFAULT_PORTS[name]
    uvicorn.run(
        build_app(name),
        host=common.http_host,
        port=port,
        log_level=common.log_level.lower(),
        ws_max_size=GatewaySettings().transport_max_bytes,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


@app.command()
def init(nats_url: Annotated[str | None, typer.Option(envvar="NATS_URL")] = None) -> None:
    """Create (or bring up to date) the JetStream streams and KV buckets. Safe to run again."""
    from parallax_runtime.settings import CommonSettings

    from parallax_cli.stack import provision

    url = nats_url or CommonSettings().nats_url
    for line in asyncio.run(provision(url, CommonSettings().stream_replicas)):
        console.print(line)


@app.command()
def token(
    user: str,
    perm: Annotated[list[str] | None, typer.Option("--perm", help="a permission; repeat for several")] = None,
    ttl: Annotated[int, typer.Option(help="seconds until it expires")] = 3600,
) -> None:
    """Mint a development JWT for the gateway (HS256 with the gateway's secret)."""
    from parallax_gateway.auth import mint_token
    from parallax_runtime.settings import GatewaySettings

    try:
        typer.echo(mint_token(user, GatewaySettings().jwt_secret, perm or [], ttl))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.command()
def schema(
    out: Annotated[Path, typer.Option(help="directory for the JSON Schema files")] = Path("schemas"),
) -> None:
    """Write the JSON Schema of every envelope and frame."""
    from parallax_contracts.schema import write_json_schemas

    for path in write_json_schemas(out):
        console.print(f"wrote {path}")


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option(help="NATS store, SQLite files, logs")] = Path("var/stack"),
    gateway_port: Annotated[int, typer.Option()] = 8000,
    nats_url: Annotated[
        str | None, typer.Option(envvar="NATS_URL", help="use this NATS instead of the embedded one")
    ] = None,
) -> None:
    """Start NATS (embedded unless NATS_URL), provision it, run all five services until Ctrl-C."""
    from parallax_cli.stack import StackError, running_stack

    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        with running_stack(data_dir, nats_url=nats_url, gateway_port=gateway_port) as stack:
            table = Table(title="parallax is up (Ctrl-C stops it)")
            table.add_column("service")
            table.add_column("address")
            table.add_row("nats", stack.nats_url + (" (embedded)" if stack.embedded else ""))
            for name, service in stack.services.items():
                table.add_row(name, service.url + ("  ws: /ws" if name == "gateway" else ""))
            console.print(table)
            while not stopping:
                for service in stack.services.values():
                    if service.process.poll() is not None:
                        console.print(f"[red]{service.name} exited; see {service.log_path}[/]")
                        stopping = True
                time.sleep(0.2)
            console.print("stopping...")
    except StackError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print("stopped; nothing left running.")


@app.command()
def demo(
    rooms: Annotated[int, typer.Option(help="rooms of four players, each playing a whole game")] = 4,
    campaigns: Annotated[int, typer.Option(help="campaign lifecycles, with intruders and admins")] = 4,
    percent: Annotated[str, typer.Option(help="share of aggregates whose primary is domain")] = "50",
    shadow: Annotated[bool, typer.Option(help="mirror every command to the other side")] = True,
    data_dir: Annotated[Path, typer.Option(help="wiped at the start")] = Path("var/demo"),
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Start the stack, drive simulated players through real WebSockets, print the comparison."""
    from parallax_cli.demo import DemoOptions, run_demo

    code = run_demo(DemoOptions(rooms, campaigns, percent, shadow, data_dir, seed), console)
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
