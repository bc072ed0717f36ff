"""Renderers of the report model: JSON, Markdown (for a pull request) and one self-contained
HTML page (inline CSS and SVG; no CDN, no JavaScript). The terminal tables are the CLI's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from parallax_comparator.report import Report, SeriesPoint

TEMPLATES = Path(__file__).with_name("templates")


def fmt_time(t: float | None, with_date: bool = True) -> str:
    if t is None:
        return "-"
    d = datetime.fromtimestamp(t, UTC)
    return d.strftime("%Y-%m-%d %H:%M:%S UTC" if with_date else "%H:%M:%S")


def fmt_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f} %"


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def fmt_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def fmt_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str)


# -- SVG chart ---------------------------------------------------------------------------------


def match_rate_svg(
    series: list[SeriesPoint], bucket_seconds: float, width: int = 760, height: int = 240
) -> str:
    """Match rate per time bucket as a line (left axis) over comparison volume as bars (right
    axis). Plain SVG with <title> tooltips: no script, renders anywhere."""
    left, right, top, bottom = 52, 52, 14, 34
    w, h = width - left - right, height - top - bottom
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="match rate over time" class="chart">'
    ]
    if not series:
        out.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="muted">no comparisons</text>'
        )
        out.append("</svg>")
        return "".join(out)
    rates = [p.rate for p in series if p.rate is not None]
    low = min(rates) if rates else 1.0
    # Zoom in on high rates (a 99.5 % line at the top of a 0-100 axis shows nothing).
    if low < 0.5:
        floor = 0.0
    elif low < 0.9:
        floor = int(low * 10) / 10 - 0.1
    else:
        floor = int(low * 100) / 100 - 0.01
    floor = max(0.0, min(floor, 0.99))
    t0 = series[0].start
    t1 = series[-1].start + bucket_seconds
    span = max(t1 - t0, 1e-9)
    vmax = max(p.total for p in series) or 1

    def x(t: float) -> float:
        return left + (t - t0) / span * w

    def y(rate: float) -> float:
        return top + (1 - (rate - floor) / (1 - floor)) * h

    for i in range(5):
        r = floor + (1 - floor) * i / 4
        yy = y(r)
        out.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + w}" y2="{yy:.1f}" class="grid"/>')
        out.append(
            f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" class="axis">{r * 100:.1f}%</text>'
        )
    for i in range(3):
        v = vmax * i / 2
        yy = top + h - (v / vmax) * h
        out.append(f'<text x="{left + w + 6}" y="{yy + 4:.1f}" class="axis">{v:.0f}</text>')
    bar_w = max(1.0, w * bucket_seconds / span - 1)
    for p in series:
        bh = p.total / vmax * h
        out.append(
            f'<rect x="{x(p.start):.1f}" y="{top + h - bh:.1f}" width="{bar_w:.1f}" '
            f'height="{bh:.1f}" class="bar">'
            f"<title>{escape(fmt_time(p.start))}: {p.total} comparisons</title></rect>"
        )
    points = [(x(p.start + bucket_seconds / 2), y(p.rate), p) for p in series if p.rate is not None]
    if len(points) > 1:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
        out.append(f'<polyline points="{path}" class="line"/>')
    for px, py, p in points:
        cls = "dot bad" if p.rate is not None and p.rate < 1 else "dot"
        out.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" class="{cls}"><title>{escape(fmt_time(p.start))}: '
            f"{fmt_rate(p.rate)} of {p.total}</title></circle>"
        )
    ticks = min(6, len(series))
    for i in range(ticks):
        t = t0 + span * i / max(1, ticks - 1)
        anchor = "start" if i == 0 else "end" if i == ticks - 1 else "middle"
        with_date = span > 86400
        label = fmt_time(t, with_date=with_date).replace(" UTC", "")
        out.append(
            f'<text x="{x(t):.1f}" y="{height - 12}" text-anchor="{anchor}" class="axis">'
            f"{escape(label)}</text>"
        )
    out.append(
        f'<text x="{left}" y="{height - 1}" class="axis muted">match rate (line, left) · comparisons per '
        f"{escape(fmt_duration(bucket_seconds))} (bars, right) · UTC</text>"
    )
    out.append("</svg>")
    return "".join(out)


# -- HTML ----------------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(time=fmt_time, rate=fmt_rate, ms=fmt_ms, value=fmt_value, duration=fmt_duration)
    return env


def to_html(report: Report) -> str:
    template = _environment().get_template("report.html.j2")
    chart = match_rate_svg(report.series, report.bucket_seconds)
    return template.render(r=report, chart=Markup(chart), results=_result_columns(report))


def _result_columns(report: Report) -> list[str]:
    seen: list[str] = []
    for b in [*report.contexts, *report.command_types]:
        for r in b.by_result:
            if r not in seen:
                seen.append(r)
    order = list(report.by_result)
    return sorted(seen, key=lambda r: order.index(r) if r in order else len(order))


# -- Markdown ------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report, *, examples: int = 5) -> str:
    lines = [f"## {report.title}", ""]
    lines.append(
        f"**{report.total}** comparisons, **{report.matches}** matches "
        f"(**{fmt_rate(report.match_rate)}**), **{report.mismatches}** not matching · "
        f"{_md(report.source)} · generated {fmt_time(report.generated_at)}"
    )
    lines.append("")
    if report.by_result:
        lines += ["| result | count |", "|---|---:|"]
        lines += [f"| {r} | {n} |" for r, n in report.by_result.items()]
        lines.append("")
    if report.contexts:
        lines += ["### By context", "", "| context | comparisons | match rate |", "|---|---:|---:|"]
        lines += [f"| {c.context} | {c.total} | {fmt_rate(c.rate)} |" for c in report.contexts]
        lines.append("")
    worst = [b for b in report.command_types if b.matches < b.total]
    if report.command_types:
        lines += ["### By command type (worst first)", ""]
        lines += [
            "| context | command | comparisons | match rate | not matching |",
            "|---|---|---:|---:|---|",
        ]
        for b in worst or report.command_types[:10]:
            bad = ", ".join(f"{r} {n}" for r, n in b.by_result.items() if r != "match") or "-"
            lines.append(f"| {b.context} | {_md(b.command_type)} | {b.total} | {fmt_rate(b.rate)} | {bad} |")
        lines.append("")
    if report.fields:
        lines += [
            "### Fields that differ most",
            "",
            "| context | command | path | non-matches |",
            "|---|---|---|---:|",
        ]
        lines += [
            f"| {f.context} | {_md(f.command_type)} | `{_md(f.path)}` | {f.count} ({f.share:.0%}) |"
            for f in report.fields
        ]
        lines.append("")
    if report.groups:
        lines += ["### Mismatch groups (by signature)", ""]
        lines += ["| count | context | command | result | differing paths |", "|---:|---|---|---|---|"]
        for g in report.groups:
            paths = ", ".join(f"`{_md(p)}`" for p in g.paths[:6]) or "-"
            if len(g.paths) > 6:
                paths += f" (+{len(g.paths) - 6})"
            lines.append(f"| {g.count} | {g.context} | {_md(g.command_type)} | {g.result} | {paths} |")
        lines.append("")
        for g in report.groups[:examples]:
            if g.example is None:
                continue
            lines += [
                "<details>",
                f"<summary>{g.count} x {_md(g.signature)}: e.g. command "
                f"<code>{g.example.command_id}</code></summary>",
                "",
                "| path | legacy | domain |",
                "|---|---|---|",
            ]
            for d in g.example.diffs[:20]:
                left = f"`{_md(fmt_value(d['left']))}`" if "left" in d else "*absent*"
                right = f"`{_md(fmt_value(d['right']))}`" if "right" in d else "*absent*"
                lines.append(f"| `{_md(d.get('path'))}` | {left} | {right} |")
            lines += ["", "</details>", ""]
    if report.noise:
        lines += [
            "### Noise candidates",
            "",
            "Fields that differ in most comparisons and take many values:",
            "",
        ]
        for n in report.noise:
            lines.append(
                f"* `{n.context}` / `{n.event_type}` / `{n.path}` — differs in {n.differing} of {n.compared} "
                f"({n.ratio:.0%}), {n.distinct_values} distinct values. Rule:"
            )
            lines += [
                "",
                "  ```yaml",
                *[f"  {line}" for line in n.snippet.rstrip().splitlines()],
                "  ```",
                "",
            ]
    if report.latency:
        lines += ["### Handler latency (p95, recent sample)", "", "| context | samples | legacy | domain |"]
        lines += ["|---|---:|---:|---:|"]
        lines += [
            f"| {lat.context} | {lat.samples} | {fmt_ms(lat.legacy_p95_ms)} | {fmt_ms(lat.domain_p95_ms)} |"
            for lat in report.latency
        ]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
