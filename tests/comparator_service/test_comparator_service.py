"""The comparator service over a real NATS server, fed crafted response streams: every
classification and diff lands in the store; late, missing and duplicated input; a restart
mid-stream loses nothing; the rules file reloads without a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from comparator_support import Feed, cid, comparator, record, response, settings, wait_for
from nats.aio.client import Client
from parallax_comparator.store import SqliteComparisonStore

pytestmark = pytest.mark.integration

PLAY = ("pieces_played", {"player": "u1", "pieces": ["GENERAL_RED"], "value": 14})
TURN = ("turn_won", {"player": "u1", "captured": 4})


async def test_every_classification_and_diff_is_stored(
    clean_topology: Client, nats_url: str, tmp_path: Path
) -> None:
    feed = Feed(clean_topology)
    ids = {
        name: cid()
        for name in (
            "match",
            "payload",
            "sequence",
            "rejection",
            "missing_domain",
            "missing_legacy",
            "late",
            "duplicated",
            "orphan_first",
            "unshadowed",
        )
    }
    async with comparator(settings(nats_url, tmp_path)) as comp:
        c = ids["match"]
        await feed.pair(c, response(c, "legacy", [PLAY]), response(c, "domain", [PLAY]))
        c = ids["payload"]
        other = ("pieces_played", {**PLAY[1], "value": 13})
        await feed.pair(c, response(c, "legacy", [PLAY]), response(c, "domain", [other]))
        c = ids["sequence"]
        await feed.pair(c, response(c, "legacy", [PLAY, TURN]), response(c, "domain", [PLAY]))
        c = ids["rejection"]
        refused = ("command_rejected", {"code": "not_your_turn", "command_type": "play"})
        await feed.pair(c, response(c, "legacy", [PLAY]), response(c, "domain", [refused]))
        c = ids["missing_domain"]
        await feed.pair(c, response(c, "legacy", [PLAY]), [])
        c = ids["missing_legacy"]
        await feed.pair(c, [], response(c, "domain", [PLAY]))
        # Late: the domain side completes only after the deadline resolved it as missing.
        c = ids["late"]
        await feed.pair(c, response(c, "legacy", [PLAY]), [])
        # Duplicated delivery: the record and every event twice.
        c = ids["duplicated"]
        legacy, domain = response(c, "legacy", [PLAY, TURN]), response(c, "domain", [PLAY, TURN])
        await feed.record(record(c))
        await feed.events(legacy + legacy[:1])
        await feed.record(record(c))
        await feed.events(domain + domain)
        # Events before their routing record (orphans until it arrives).
        c = ids["orphan_first"]
        await feed.events(response(c, "legacy", [PLAY]) + response(c, "domain", [PLAY]))
        await asyncio.sleep(0.2)
        await feed.record(record(c))
        # One-sided: routed without a shadow, never compared.
        c = ids["unshadowed"]
        await feed.record(record(c, shadow=None))
        await feed.events(response(c, "legacy", [PLAY]))

        store = comp.store
        await wait_for(lambda: store.count() >= 9, what="nine comparisons")
        c = ids["late"]
        await feed.events(response(c, "domain", [PLAY]))
        await asyncio.sleep(1.0)
        results = store.results()
        # Copies before the pair resolved are duplicates; after it, late (both dropped).
        assert comp.table.stats.duplicates >= 1
        assert comp.table.stats.late >= 4
        assert comp.table.pending == 0

    assert results == {
        ids["match"]: "match",
        ids["payload"]: "payload_mismatch",
        ids["sequence"]: "sequence_mismatch",
        ids["rejection"]: "rejection_mismatch",
        ids["missing_domain"]: "missing_domain",
        ids["missing_legacy"]: "missing_legacy",
        ids["late"]: "missing_domain",
        ids["duplicated"]: "match",
        ids["orphan_first"]: "match",
    }
    payload = store.get(ids["payload"])
    assert payload is not None
    assert payload["diffs"] == [{"path": "[0].payload.value", "left": 14, "right": 13}]
    assert payload["signature"] == "play payload_mismatch [*].payload.value"
    assert payload["legacy"][0] == {"type": "pieces_played", "payload": PLAY[1], "audience": ["u1", "u2"]}
    assert payload["legacy_ms"] == 1.0 and payload["domain_ms"] == 1.0
    sequence = store.get(ids["sequence"])
    assert sequence is not None
    assert [d["path"] for d in sequence["diffs"]] == ["[1]"]
    assert "right" not in sequence["diffs"][0] and sequence["diffs"][0]["left"]["type"] == "turn_won"
    rejection = store.get(ids["rejection"])
    assert rejection is not None
    assert rejection["diffs"] == [{"path": "[0].type", "left": "pieces_played", "right": "command_rejected"}]
    missing = store.get(ids["missing_domain"])
    assert missing is not None
    assert missing["reason"] == "deadline" and missing["domain"] == [] and len(missing["legacy"]) == 1
    assert missing["signature"] == "play missing_domain"
    assert store.get(ids["match"])["diffs"] == []  # type: ignore[index]


async def test_restart_mid_stream_loses_nothing(
    clean_topology: Client, nats_url: str, tmp_path: Path
) -> None:
    feed = Feed(clean_topology)
    first = [cid() for _ in range(20)]
    second = [cid() for _ in range(20)]
    s = settings(
        nats_url, tmp_path, deadline_seconds=30.0, max_pending_age_seconds=60.0, ack_wait_seconds=2.0
    )
    async with comparator(s) as comp:
        for c in first:
            await feed.pair(c, response(c, "legacy", [PLAY]), response(c, "domain", [PLAY]))
        # Half of each of the second batch: the comparator holds them, unacked, when it stops.
        for c in second:
            await feed.record(record(c))
            await feed.events(response(c, "legacy", [PLAY, TURN]))
        await wait_for(lambda: comp.store.count() == 20 and comp.table.pending == 20, what="first batch")
    # Down: the rest of the responses arrive meanwhile.
    for c in second:
        await feed.events(response(c, "domain", [PLAY, TURN]))
    async with comparator(s) as comp:
        await wait_for(lambda: comp.store.count() == 40, limit=30, what="all 40 after the restart")
        results = comp.store.results()
    assert set(results) == set(first) | set(second)
    assert set(results.values()) == {"match"}


async def test_rules_file_reloads_without_restart(
    clean_topology: Client, nats_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules: []\n")
    feed = Feed(clean_topology)
    before, after = cid(), cid()
    noisy_l = ("pieces_played", {**PLAY[1], "trace": "a1"})
    noisy_d = ("pieces_played", {**PLAY[1], "trace": "b2"})
    async with comparator(settings(nats_url, tmp_path, rules_file=rules)) as comp:
        await feed.pair(before, response(before, "legacy", [noisy_l]), response(before, "domain", [noisy_d]))
        await wait_for(lambda: comp.store.count() == 1, what="first comparison")
        rules.write_text(
            "version: 1\nrules:\n  - context: game\n    event: pieces_played\n    drop: [payload.trace]\n"
        )
        await wait_for(lambda: comp.rules.rules is not None and _drops_trace(comp), what="reload")
        await feed.pair(after, response(after, "legacy", [noisy_l]), response(after, "domain", [noisy_d]))
        await wait_for(lambda: comp.store.count() == 2, what="second comparison")
        results = comp.store.results()
    assert results == {before: "payload_mismatch", after: "match"}


def _drops_trace(comp: object) -> bool:
    from parallax_comparator.core.normalize import normalize

    rules = comp.rules.rules  # type: ignore[attr-defined]
    out = normalize([{"type": "pieces_played", "payload": {"trace": 1}, "audience": []}], "game", rules)
    return "trace" not in out[0]["payload"]


async def test_summary_and_report_routes(clean_topology: Client, nats_url: str, tmp_path: Path) -> None:
    feed = Feed(clean_topology)
    async with comparator(settings(nats_url, tmp_path)) as comp:
        c = cid()
        await feed.pair(c, response(c, "legacy", [PLAY]), response(c, "domain", [("pieces_played", {})]))
        await wait_for(lambda: comp.store.count() == 1, what="a comparison")
        html = comp.report_html({"since": ["1h"]})
        summary = comp.summary()
        guard = comp.guard_status()
    assert "<svg" in html and "payload_mismatch" in html and "pending pairs" in html
    assert summary["total"] == 1 and summary["by_result"] == {"payload_mismatch": 1}
    assert guard["windows"][0]["samples"] == 1


def test_sqlite_store_is_file_backed(tmp_path: Path) -> None:
    # A store the service wrote is readable by another process (the CLI) at the same time.
    path = tmp_path / "comparator.sqlite"
    writer = SqliteComparisonStore(path)
    writer.record(
        command_id="c1",
        context="game",
        aggregate_id="ABC123",
        command_type="play",
        result="match",
        reason="complete",
        signature=None,
        diffs=[],
        legacy=[],
        domain=[],
    )
    assert SqliteComparisonStore(path).count() == 1
