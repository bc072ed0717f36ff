"""`parallax report`: the comparisons the comparator stored, as terminal tables, JSON, Markdown
or a self-contained HTML page (the same page the comparator serves at `/report`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from parallax_comparator.report import Report
    from parallax_comparator.store import ComparisonStore

console = Console()


def _rate_style(rate: float | None) -> str:
    if rate is None:
        return "dim"
    return "green" if rate >= 1 else "yellow" if rate >= 0.99 else "red"


def print_terminal(report: Report, out: Console | None = None) -> None:
    from parallax_comparator.render import fmt_ms, fmt_rate, fmt_time

    c = out or console
    c.print(f"[bold]{escape(report.title)}[/] — {escape(report.source)}")
    c.print(
        f"{report.total} comparisons, match rate "
        f"[{_rate_style(report.match_rate)}]{fmt_rate(report.match_rate)}[/], "
        f"{report.mismatches} not matching"
        + (f" · since {fmt_time(report.since)}" if report.since else "")
        + (f" · until {fmt_time(report.until)}" if report.until else "")
    )
    results = list(report.by_result)
    table = Table(title="by context and command type")
    table.add_column("context")
    table.add_column("command")
    table.add_column("total", justify="right")
    table.add_column("match rate", justify="right")
    for r in results:
        table.add_column(r, justify="right")
    for b in [*report.contexts, *report.command_types]:
        style = _rate_style(b.rate)
        table.add_row(
            b.context,
            b.command_type or "[bold]all[/]",
            str(b.total),
            f"[{style}]{fmt_rate(b.rate)}[/]",
            *(str(b.by_result.get(r, "")) for r in results),
        )
        if b.command_type is None and b is report.contexts[-1]:
            table.add_section()
    c.print(table)
    if report.groups:
        groups = Table(title="mismatch groups (by signature)")
        groups.add_column("count", justify="right")
        groups.add_column("context")
        groups.add_column("command")
        groups.add_column("result")
        groups.add_column("differing paths")
        groups.add_column("example")
        for g in report.groups:
            paths = ", ".join(g.paths[:4]) + (f" (+{len(g.paths) - 4})" if len(g.paths) > 4 else "")
            groups.add_row(
                str(g.count),
                g.context,
                g.command_type,
                g.result,
                escape(paths or "-"),
                g.example.command_id if g.example else "-",
            )
        c.print(groups)
    if report.fields:
        fields = Table(title="fields that differ most")
        fields.add_column("context")
        fields.add_column("command")
        fields.add_column("path")
        fields.add_column("non-matches", justify="right")
        for f in report.fields[:10]:
            fields.add_row(f.context, f.command_type, escape(f.path), f"{f.count} ({f.share:.0%})")
        c.print(fields)
    for n in report.noise:
        c.print(
            f"[yellow]noise candidate[/] {n.context}/{n.event_type} [bold]{escape(n.path)}[/] differs in "
            f"{n.differing}/{n.compared}, {n.distinct_values} distinct values; rule:"
        )
        c.print(escape(n.snippet.rstrip()), highlight=False)
    if report.latency:
        lat = Table(title="handler latency, p95 (recent sample)")
        lat.add_column("context")
        lat.add_column("samples", justify="right")
        lat.add_column("legacy", justify="right")
        lat.add_column("domain", justify="right")
        for row in report.latency:
            lat.add_row(row.context, str(row.samples), fmt_ms(row.legacy_p95_ms), fmt_ms(row.domain_p95_ms))
        c.print(lat)
    if report.extra:
        c.print(
            " · ".join(f"{k}: {json.dumps(v) if isinstance(v, dict) else v}" for k, v in report.extra.items())
        )


def time_window(since: str | None, until: str | None) -> tuple[float | None, float | None]:
    """`--since` and `--until` (2h, 30m, 7d ago, or an ISO 8601 instant) as epoch seconds, None
    where not given, both read against the same `now`; a bad value is a usage error."""
    from parallax_comparator.timespec import parse_time

    now = time.time()
    try:
        return (parse_time(since, now) if since else None, parse_time(until, now) if until else None)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def emit_report(
    store: ComparisonStore,
    *,
    title: str = "Parallax comparison report",
    since: float | None = None,
    until: float | None = None,
    context: str | None = None,
    as_json: bool = False,
    markdown: bool = False,
    html: Path | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    from parallax_comparator.render import to_html, to_json, to_markdown
    from parallax_comparator.report import build_report

    report = build_report(store, since=since, until=until, context=context, title=title)
    report.extra = dict(extra or {})
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(to_html(report), encoding="utf-8")
    if as_json:
        typer.echo(to_json(report))
    elif markdown:
        typer.echo(to_markdown(report), nl=False)
    else:
        print_terminal(report)
        if html is not None:
            console.print(f"HTML report written to {html}")


def report_command(
    data_dir: Annotated[Path, typer.Option(help="where the comparator kept its SQLite store")] = Path(
        "var/demo"
    ),
    store: Annotated[
        Path | None, typer.Option(help="the SQLite file itself (default DATA_DIR/comparator.sqlite)")
    ] = None,
    dsn: Annotated[
        str | None,
        typer.Option(envvar="PARALLAX_COMPARATOR_STORE_DSN", help="read the PostgreSQL store instead"),
    ] = None,
    schema: Annotated[str, typer.Option(envvar="PARALLAX_COMPARATOR_STORE_SCHEMA")] = "parallax_comparator",
    since: Annotated[str | None, typer.Option(help="from: 2h, 30m, 7d ago, or an ISO 8601 instant")] = None,
    until: Annotated[str | None, typer.Option(help="until (exclusive), same forms")] = None,
    context: Annotated[str | None, typer.Option(help="game | campaign (default: both)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="print Markdown (for a pull request)")] = False,
    html: Annotated[Path | None, typer.Option(help="write the HTML report to this file")] = None,
) -> None:
    """Summarise the comparisons the comparator stored (terminal, --json, --markdown, --html FILE)."""
    from parallax_comparator.store import PostgresComparisonStore, SqliteComparisonStore

    t_since, t_until = time_window(since, until)
    db: ComparisonStore
    if dsn:
        try:
            db = PostgresComparisonStore(dsn, schema)
        except Exception as exc:
            console.print(f"[red]cannot open the PostgreSQL store: {exc}[/]")
            raise typer.Exit(1) from exc
    else:
        path = store or data_dir / "comparator.sqlite"
        if not path.exists():
            console.print(
                f"[red]no comparison store at {path}[/] (run `parallax demo` or give --data-dir/--store)"
            )
            raise typer.Exit(1)
        db = SqliteComparisonStore(path)
    try:
        emit_report(
            db, since=t_since, until=t_until, context=context, as_json=as_json, markdown=markdown, html=html
        )
    finally:
        db.close()
