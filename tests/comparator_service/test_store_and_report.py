"""Both comparison stores (SQLite, PostgreSQL) answer the report queries the same way; retention;
the report model's pure aggregation; the renderers; the HTML in headless Chromium."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from parallax_comparator.core.rules import load_default_rules
from parallax_comparator.records import ComparisonRecord, evaluate
from parallax_comparator.render import match_rate_svg, to_html, to_json, to_markdown
from parallax_comparator.report import (
    SeriesPoint,
    breakdown,
    bucket_size,
    build_report,
    series_from_counts,
    side_by_side,
    top_fields,
)
from parallax_comparator.store import ComparisonStore, PostgresComparisonStore, SqliteComparisonStore

T0 = 1_750_000_000.0


def records() -> list[ComparisonRecord]:
    """600 game `play`s over an hour (1 in 6 with a wrong value, every one with a random
    trace id: noise) and 40 campaign `start`s, 4 of them refused by domain."""
    rules = load_default_rules()
    out: list[ComparisonRecord] = []
    for i in range(600):
        left = [
            {
                "type": "pieces_played",
                "payload": {"value": 3, "trace": uuid.uuid4().hex},
                "audience": ["u1"],
                "handler_ms": 1.0,
            }
        ]
        right = [
            {
                "type": "pieces_played",
                "payload": {"value": 3 if i % 6 else 4, "trace": uuid.uuid4().hex},
                "audience": ["u1"],
                "handler_ms": 2.0,
            }
        ]
        out.append(
            evaluate(
                command_id=f"g{i:04d}",
                context="game",
                aggregate_id="ABC123",
                command_type="play",
                status="paired",
                reason="complete",
                legacy=left,
                domain=right,
                rules=rules,
                compared_at=T0 + i * 6,
            )
        )
    for i in range(40):
        ok = [{"type": "campaign_started", "payload": {}, "audience": ["o"], "handler_ms": 1.0}]
        no = [
            {
                "type": "command_rejected",
                "payload": {"code": "forbidden", "command_type": "start"},
                "audience": ["o"],
                "handler_ms": 1.0,
            }
        ]
        out.append(
            evaluate(
                command_id=f"c{i:04d}",
                context="campaign",
                aggregate_id=None,
                command_type="start",
                status="paired",
                reason="complete",
                legacy=ok,
                domain=no if i < 4 else ok,
                rules=rules,
                compared_at=T0 + i * 90,
            )
        )
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ComparisonStore]:
    if request.param == "sqlite":
        s: ComparisonStore = SqliteComparisonStore(tmp_path / "c.sqlite")
    else:
        dsn, schema = request.getfixturevalue("postgres_schema")
        s = PostgresComparisonStore(dsn, schema)
    yield s
    s.close()


def test_store_queries_and_retention(store: ComparisonStore) -> None:
    recs = records()
    assert store.add_many(recs) == 640
    assert store.add_many(recs[:5]) == 0  # redelivery: stored once
    assert store.add(recs[0]) is False
    assert store.count() == 640
    assert store.summary()["by_result"] == {"match": 36, "payload_mismatch": 600, "rejection_mismatch": 4}
    row = store.get("g0000")
    assert row is not None and row["result"] == "payload_mismatch" and row["legacy_ms"] == 1.0
    assert {d["path"] for d in row["diffs"]} == {"[0].payload.value", "[0].payload.trace"}
    buckets = store.counts_by_bucket(600, context="game")
    assert sum(n for *_, n in buckets) == 600 and buckets[0][0] == (T0 // 600) * 600
    assert ("campaign", "start", "rejection_mismatch", 4) in store.counts_by_type()
    groups = store.signature_groups()
    assert [(g["count"], g["signature"]) for g in groups] == [
        (500, "play payload_mismatch [*].payload.trace"),
        (100, "play payload_mismatch [*].payload.trace,[*].payload.value"),
        (4, "start rejection_mismatch [*].type"),
    ]
    assert groups[0]["example"]["command_id"] == "g0599"  # the latest
    assert len(store.mismatch_diffs(limit=10)) == 10
    assert len(list(store.sample(context="campaign"))) == 40
    store.bump("replays", 2)
    store.bump("replays")
    assert store.summary()["counters"] == {"replays": 3}
    # Retention: everything before T0 + 1800 goes.
    deleted = store.delete_older_than(T0 + 1800)
    assert deleted == 300 + 20
    assert store.count() == 320


def test_add_new_returns_what_it_stored(store: ComparisonStore) -> None:
    recs = records()
    assert store.add_new(recs[:5]) == recs[:5]
    # Stored before (3, 4), new (5, 6), and 5 twice in the batch: stored and returned once.
    assert store.add_new([recs[3], recs[5], recs[4], recs[5], recs[6]]) == [recs[5], recs[6]]
    assert store.add_new([]) == []
    assert store.count() == 7


def test_a_failed_batch_stores_nothing_and_the_store_keeps_working(store: ComparisonStore) -> None:
    recs = records()
    broken = dataclasses.replace(recs[2], context=None)  # type: ignore[arg-type]  # NOT NULL
    with pytest.raises(Exception, match=r"(?i)not.null"):
        store.add_new([recs[0], recs[1], broken])
    assert store.count() == 0  # one transaction: the valid rows went with it
    assert store.add_new(recs[:3]) == recs[:3]


def test_old_sqlite_store_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE comparisons (command_id TEXT PRIMARY KEY, context TEXT NOT NULL, aggregate_id TEXT,"
            " command_type TEXT, result TEXT NOT NULL, reason TEXT, signature TEXT, diffs TEXT, legacy TEXT,"
            " domain TEXT, compared_at REAL NOT NULL)"
        )
        conn.execute(
            "INSERT INTO comparisons VALUES ('x','game',NULL,'play','match','complete',NULL,'[]','[]','[]',1)"
        )
    store = SqliteComparisonStore(path)
    assert store.get("x")["legacy_ms"] is None  # type: ignore[index]
    assert store.add(records()[0])


def test_report_model_from_the_store(store: ComparisonStore) -> None:
    store.add_many(records())
    report = build_report(store, now=T0 + 4000)
    assert report.total == 640 and report.mismatches == 604
    assert report.bucket_seconds == 60.0 and sum(p.total for p in report.series) == 640
    assert [(c.context, c.total, c.matches) for c in report.contexts] == [
        ("campaign", 40, 36),
        ("game", 600, 0),
    ]
    assert report.command_types[0].command_type == "play"  # worst match rate first
    assert (report.fields[0].path, report.fields[0].count) == ("[*].payload.trace", 600)
    assert report.groups[0].count == 500 and report.groups[0].example is not None
    noise = {(n.event_type, n.path) for n in report.noise}
    assert noise == {("pieces_played", "payload.trace")}  # the value bug is not noise: 2 values only
    assert 'drop: ["payload.trace"]' in report.noise[0].snippet
    assert report.latency[1].context == "game" and report.latency[1].domain_p95_ms == 2.0
    only_campaign = build_report(store, context="campaign", since=T0, until=T0 + 600)
    assert only_campaign.total == 7 and only_campaign.by_result == {"match": 3, "rejection_mismatch": 4}
    json.loads(to_json(report))


def test_pure_aggregation() -> None:
    assert bucket_size(30) == 1 and bucket_size(3600) == 60 and bucket_size(86400 * 3) == 3 * 3600
    series = series_from_counts(
        [(0.0, "game", "match", 9), (0.0, "campaign", "payload_mismatch", 1), (60.0, "game", "match", 5)]
    )
    assert [(p.start, p.total, p.rate) for p in series] == [(0.0, 10, 0.9), (60.0, 5, 1.0)]
    contexts, types = breakdown(
        [
            ("game", "play", "match", 3),
            ("game", "play", "payload_mismatch", 1),
            ("game", "join_room", "match", 8),
        ]
    )
    assert [(c.context, c.total, c.rate) for c in contexts] == [("game", 12, 11 / 12)]
    assert [t.command_type for t in types] == ["play", "join_room"]
    fields = top_fields(
        [
            (
                "game",
                "play",
                "payload_mismatch",
                [{"path": "[0].payload.a[3]"}, {"path": "[1].payload.a[0]"}],
            ),
            ("game", "play", "payload_mismatch", [{"path": "[0].payload.b"}]),
        ]
    )
    assert [(f.path, f.count, f.share) for f in fields] == [
        ("[*].payload.a[*]", 1, 0.5),
        ("[*].payload.b", 1, 0.5),
    ]
    rows = side_by_side([{"a": 1, "b": 2}], [{"a": 1, "b": 3}])
    changed = [r for r in rows if r.tag != "equal"]
    assert [(r.left, r.right) for r in changed] == [('    "b": 2', '    "b": 3')]
    svg = match_rate_svg([SeriesPoint(0, 10, 9), SeriesPoint(60, 10, 10)], 60)
    assert svg.startswith("<svg") and "<polyline" in svg and "90.00 % of 10" in svg
    assert "no comparisons" in match_rate_svg([], 60)


def test_markdown_and_html_renderers(tmp_path: Path) -> None:
    store = SqliteComparisonStore(tmp_path / "c.sqlite")
    store.add_many(records())
    report = build_report(store)
    md = to_markdown(report)
    assert "| payload_mismatch | 600 |" in md and "### Noise candidates" in md and "```yaml" in md
    html = to_html(report)
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert html.count('<details class="group"') == 3 and "<polyline" in html


def test_cli_report_formats(tmp_path: Path) -> None:
    from parallax_cli.main import app
    from typer.testing import CliRunner

    path = tmp_path / "comparator.sqlite"
    SqliteComparisonStore(path).add_many(records())
    runner = CliRunner()
    out = runner.invoke(app, ["report", "--data-dir", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["total"] == 640
    out = runner.invoke(app, ["report", "--store", str(path), "--markdown", "--context", "campaign"])
    assert out.exit_code == 0 and "| rejection_mismatch | 4 |" in out.output
    html = tmp_path / "r.html"
    out = runner.invoke(app, ["report", "--store", str(path), "--html", str(html)])
    assert (
        out.exit_code == 0
        and "mismatch groups" in out.output
        and html.read_text().startswith("<!DOCTYPE html>")
    )
    out = runner.invoke(app, ["report", "--data-dir", str(tmp_path / "nothing")])
    assert out.exit_code == 1


# -- the HTML in a real browser -------------------------------------------------------------------


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_html_report_renders_in_headless_chromium(tmp_path: Path, artifacts_dir: Path) -> None:
    browser = _chromium()
    if browser is None:
        reason = "chromium not installed (Debian: apt-get install -y chromium)"
        if os.environ.get("PARALLAX_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " — PARALLAX_REQUIRE_BROWSER=1 makes this a failure", pytrace=False)
        pytest.skip(reason)
    store = SqliteComparisonStore(tmp_path / "c.sqlite")
    store.add_many(records())
    page = tmp_path / "report.html"
    page.write_text(to_html(build_report(store)), encoding="utf-8")
    flags = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]

    def console_messages(url: str) -> tuple[str, list[str]]:
        run = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        # With --enable-logging=stderr every console message (errors, uncaught exceptions,
        # failed loads) is a `CONSOLE` log line. The report has no script: any message is wrong.
        return run.stdout, [
            line for line in run.stderr.splitlines() if ":CONSOLE" in line or "CONSOLE(" in line
        ]

    # The check itself: it does see a console error.
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><script>console.error("boom")</script></body></html>')
    assert any("boom" in line for line in console_messages(bad.as_uri())[1])
    dom, errors = console_messages(page.as_uri())
    assert errors == []
    assert "<svg" in dom and 'id="by-type"' in dom and "payload.trace" in dom
    shot = artifacts_dir / "comparator-report.png"
    shot.unlink(missing_ok=True)
    taken = subprocess.run(
        [*flags, "--window-size=1280,2600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000
