"""The guard: the pure decision (thresholds, minimum sample, latency, window), and the service
tripping on a synthetic mismatch burst over NATS — kill switch in KV, audit entry, alert,
metric — and not below the minimum sample."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from comparator_support import PLAY_EVENT, Feed, cid, comparator, response, settings, wait_for
from nats.aio.client import Client
from parallax_comparator.guard import Guard, GuardSettings, Observation, evaluate, p95
from parallax_rollout import RolloutConfig, dump_config, parse_config, validate_config
from parallax_runtime.topology import ROLLOUT_BUCKET
from prometheus_client import REGISTRY


def obs(
    at: float = 0.0,
    mismatch: bool = False,
    refused: bool = False,
    legacy_ms: float | None = 1.0,
    domain_ms: float | None = 1.0,
) -> Observation:
    return Observation(at, mismatch, refused, legacy_ms, domain_ms)


def test_mismatch_rate_needs_the_minimum_sample() -> None:
    guard = Guard(GuardSettings(min_samples=200))
    for i in range(199):
        guard.observe("game", obs(mismatch=i < 10))  # 5 % mismatches, but only 199 samples
    assert guard.check(1.0) == []
    guard.observe("game", obs())
    trips = guard.check(1.0)
    assert [t.context for t in trips] == ["game"]
    assert "mismatch rate 5.00% > 1.00% over 200 comparisons" in trips[0].reason
    assert guard.check(1.0) == []  # the window was cleared: fresh evidence needed


def test_rate_at_the_threshold_does_not_trip() -> None:
    guard = Guard(GuardSettings(min_samples=200))
    for i in range(200):
        guard.observe("campaign", obs(mismatch=i < 2))  # exactly 1 %
    assert guard.check(0.0) == []
    guard.observe("campaign", obs(mismatch=True))
    assert guard.check(0.0)[0].context == "campaign"


def test_domain_rejections_where_legacy_accepted() -> None:
    s = GuardSettings(min_samples=100, max_mismatch_rate=1.0, max_domain_rejection_rate=0.005)
    guard = Guard(s)
    for i in range(200):
        guard.observe("game", obs(mismatch=i < 2, refused=i < 2))
    trips = guard.check(0.0)
    assert len(trips) == 1 and "domain refused 2 commands legacy accepted" in trips[0].reason


def test_latency_needs_ratio_and_floor() -> None:
    s = GuardSettings(min_samples=50)
    slow_but_fast = Guard(s)  # 150 ms vs 10 ms: > 1.1x but under the 200 ms floor
    for _ in range(60):
        slow_but_fast.observe("game", obs(legacy_ms=10.0, domain_ms=150.0))
    assert slow_but_fast.check(0.0) == []
    both_slow = Guard(s)  # 300 ms vs 290 ms: over the floor but within 1.1x
    for _ in range(60):
        both_slow.observe("game", obs(legacy_ms=290.0, domain_ms=300.0))
    assert both_slow.check(0.0) == []
    slow = Guard(s)
    for _ in range(60):
        slow.observe("game", obs(legacy_ms=100.0, domain_ms=250.0))
    trips = slow.check(0.0)
    assert len(trips) == 1 and "p95 domain latency 250.0 ms > 1.1 x legacy's 100.0 ms" in trips[0].reason


def test_window_slides_by_time_and_count() -> None:
    guard = Guard(GuardSettings(min_samples=10, window_seconds=60, window_max=50))
    for i in range(10):
        guard.observe("game", obs(at=i, mismatch=True))
    assert guard.stats("game", 100.0).samples == 0  # all older than 60 s
    for _ in range(80):
        guard.observe("game", obs(at=100.0))
    assert guard.stats("game", 100.0).samples == 50
    assert guard.check(100.0) == []


def test_p95_and_evaluate_are_pure() -> None:
    assert p95([]) is None
    assert p95([float(i) for i in range(1, 101)]) == 95.0
    assert p95([3.0]) == 3.0
    stats = Guard(GuardSettings()).stats("game", 0.0)
    assert evaluate(stats, GuardSettings()) == ()


# -- the service ---------------------------------------------------------------------------------


async def _burst(feed: Feed, n: int, mismatched: int) -> None:
    for i in range(n):
        c = cid()
        domain = PLAY_EVENT if i >= mismatched else ("pieces_played", {"player": "u1", "value": 0})
        await feed.pair(c, response(c, "legacy", [PLAY_EVENT]), response(c, "domain", [domain]))


def _trips(context: str) -> float:
    return REGISTRY.get_sample_value("parallax_guard_trips_total", {"context": context}) or 0.0


@pytest.mark.integration
async def test_service_trips_on_a_mismatch_burst(
    clean_topology: Client, nats_url: str, tmp_path: Path
) -> None:
    nc = clean_topology
    js = nc.jetstream()
    kv = await js.key_value(ROLLOUT_BUCKET)
    await kv.purge("game")
    before = validate_config({"mode": "canary", "domain_percent": 25, "shadow": True, "kill_switch": False})
    await kv.put("game", dump_config(before))
    alerts: list[dict[str, object]] = []

    async def on_alert(msg: object) -> None:
        alerts.append(json.loads(msg.data))  # type: ignore[attr-defined]

    sub = await nc.subscribe("parallax.alerts.game", cb=on_alert)
    trips_before = _trips("game")
    feed = Feed(nc)
    async with comparator(settings(nats_url, tmp_path)) as comp:
        # 199 comparisons, 10 % mismatched: under the minimum sample, nothing happens.
        await _burst(feed, 199, 20)
        await wait_for(lambda: comp.store.count() == 199, what="199 comparisons")
        await asyncio.sleep(0.5)  # several guard checks
        assert parse_config((await kv.get("game")).value).kill_switch is False
        assert alerts == [] and comp.trips == []
        # The 200th crosses the minimum sample: trip.
        await _burst(feed, 1, 1)
        await wait_for(lambda: len(alerts) == 1, what="the alert")
        status = comp.guard_status()
    await sub.unsubscribe()

    entry = await kv.get("game")
    after = parse_config(entry.value)
    assert after.kill_switch is True and after.updated_by == "guard"
    assert after.reason is not None and "mismatch rate 10.50% > 1.00% over 200 comparisons" in after.reason
    # Read-modify-write: everything else kept.
    assert (after.mode, after.domain_percent, after.shadow) == ("canary", 25, True)
    alert = alerts[0]
    assert alert["kind"] == "guard_trip" and alert["context"] == "game"
    assert alert["config_revision"] == entry.revision
    assert _trips("game") == trips_before + 1
    assert status["trips"][0]["revision"] == entry.revision
    # The audit entry, with the diff.
    msg = await js.get_last_msg("AUDIT", "parallax.audit.rollout.game")
    audit = json.loads(msg.data)
    assert audit["by"] == "guard" and audit["revision"] == entry.revision
    assert audit["diff"]["kill_switch"] == {"old": False, "new": True}
    assert audit["guard"]["samples"] == 200


@pytest.mark.integration
async def test_service_leaves_a_killed_context_alone(
    clean_topology: Client, nats_url: str, tmp_path: Path
) -> None:
    js = clean_topology.jetstream()
    kv = await js.key_value(ROLLOUT_BUCKET)
    await kv.purge("campaign")
    killed = validate_config(
        {"mode": "domain", "domain_percent": 100, "shadow": True, "kill_switch": True, "reason": "by hand"}
    )
    revision = await kv.put("campaign", dump_config(killed))
    feed = Feed(clean_topology)
    room = "7c0b1c8e-3a5e-4d6b-9a7e-0d8f6b1e2c3a"
    async with comparator(settings(nats_url, tmp_path, guard_min_samples=20)) as comp:
        for _ in range(30):
            c = cid()
            await feed.pair(
                c,
                response(c, "legacy", [PLAY_EVENT], context="campaign", room=room),
                response(c, "domain", [("x", {})], context="campaign", room=room),
                context="campaign",
                room=room,
            )
        await wait_for(lambda: comp.store.count() == 30, what="30 comparisons")
        await asyncio.sleep(0.5)
        assert comp.trips == []
    entry = await kv.get("campaign")
    assert entry.revision == revision  # no write: never re-enables, never rewrites


@pytest.mark.integration
async def test_a_trip_after_an_invalid_write_keeps_the_last_valid_config(
    clean_topology: Client, nats_url: str, tmp_path: Path
) -> None:
    """The routers ignore an invalid entry and keep the last valid config (rollout.md): the
    guard's kill switch goes onto that config (lists, percent, shadow kept), not onto the
    comparator's environment defaults, and is written above the invalid entry."""
    nc = clean_topology
    js = nc.jetstream()
    kv = await js.key_value(ROLLOUT_BUCKET)
    await kv.purge("game")
    valid = validate_config(
        {
            "mode": "canary",
            "domain_percent": 37.5,
            "shadow": True,
            "kill_switch": False,
            "allow_users": ["qa-1", "qa-2"],
            "deny_prefixes": ["F"],
        }
    )
    valid_revision = await kv.put("game", dump_config(valid))
    invalid_revision = await kv.put("game", b'{"mode": "blue", "domain_percent": 5, "shadow": true}')
    alerts: list[dict[str, object]] = []

    async def on_alert(msg: object) -> None:
        alerts.append(json.loads(msg.data))  # type: ignore[attr-defined]

    sub = await nc.subscribe("parallax.alerts.game", cb=on_alert)
    feed = Feed(nc)
    async with comparator(settings(nats_url, tmp_path, guard_min_samples=50)) as comp:
        await _burst(feed, 50, 10)
        await wait_for(lambda: len(alerts) == 1, what="the alert")
        assert len(comp.trips) == 1
    await sub.unsubscribe()

    entry = await kv.get("game")
    assert entry.revision == invalid_revision + 1
    after = parse_config(entry.value)
    assert after.kill_switch is True and after.updated_by == "guard"
    assert (after.mode, after.domain_percent, after.shadow) == ("canary", Decimal("37.5"), True)
    assert (after.allow_users, after.deny_prefixes) == (("qa-1", "qa-2"), ("F",))
    audit = json.loads((await js.get_last_msg("AUDIT", "parallax.audit.rollout.game")).data)
    assert audit["revision"] == entry.revision
    # The diff is against the config the routers applied (revision `valid_revision`).
    assert {k for k in audit["diff"] if k not in ("updated_at", "updated_by", "reason")} == {"kill_switch"}
    assert valid_revision < invalid_revision


@pytest.mark.integration
async def test_update_config_bases_on_the_last_valid_entry_and_checks_the_latest_revision(
    clean_topology: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read-modify-write: the base is the newest valid entry, the revision check names the key's
    latest entry (the invalid one), and a concurrent write makes it read again."""
    from nats.js.kv import KeyValue
    from parallax_comparator.rollout_io import update_config

    js = clean_topology.jetstream()
    kv = await js.key_value(ROLLOUT_BUCKET)
    await kv.purge("campaign")
    first = validate_config({"mode": "domain", "domain_percent": 10, "shadow": True, "kill_switch": False})
    await kv.put("campaign", dump_config(first))
    invalid_revision = await kv.put("campaign", b"not json")
    concurrent = first.model_copy(update={"domain_percent": 20, "allow_users": ["late"]})
    bases: list[RolloutConfig] = []
    checked: list[int | None] = []

    def kill(current: RolloutConfig) -> RolloutConfig:
        bases.append(current)
        return current.model_copy(update={"kill_switch": True})

    real_update = KeyValue.update
    concurrent_revision = 0

    async def update(self: KeyValue, key: str, value: bytes, last: int | None = None) -> int:
        nonlocal concurrent_revision
        checked.append(last)
        if len(checked) == 1:  # someone else writes between the first read and its update
            concurrent_revision = await kv.put("campaign", dump_config(concurrent))
        return await real_update(self, key, value, last=last)

    monkeypatch.setattr(KeyValue, "update", update)
    written = await update_config(js, "campaign", kill, action="guard", by="guard", reason="test")
    assert written is not None
    old, new, revision = written
    assert checked == [invalid_revision, concurrent_revision]
    assert [b.domain_percent for b in bases] == [10, 20]  # the last valid one, then the concurrent one
    assert old == concurrent and new.kill_switch is True and new.allow_users == ("late",)
    entry = await kv.get("campaign")
    assert parse_config(entry.value) == new and entry.revision == revision
