"""What the pairing resolves or ignores without a comparison is visible: orphans (events of one
side, no routing record), duplicates, late and invalid input, unreadable messages and
evictions show up in the comparator's metrics, in `/summary` (every `PairingStats` figure)
and in the live HTML report; orphans are logged, one WARNING per interval, not per command.

The first tests drive a `Comparator` in process with stand-in messages and publisher (as
test_group_commit.py does); the last one runs over a real NATS server and reads `/summary`
through the app's HTTP route."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from comparator_support import (
    Feed,
    RecordingPublisher,
    cid,
    record,
    response,
    settings,
    wait_for,
    wait_until_acked,
)
from nats.aio.client import Client
from parallax_comparator import app as app_module
from parallax_comparator.app import ORPHAN_LOG_SECONDS, Comparator, create_app
from parallax_runtime.connection import make_broker
from parallax_runtime.http import wait_started
from prometheus_client import REGISTRY

PLAY = ("pieces_played", {"player": "u1", "pieces": ["GENERAL_RED"], "value": 14})
PAIRING_FIGURES = {
    "records",
    "events",
    "duplicates",
    "invalid",
    "late",
    "unshadowed",
    "paired",
    "missing_legacy",
    "missing_domain",
    "orphaned",
    "evicted_max_pending",
    "evicted_max_age",
    "deadline_expired",
}


class Message:
    """A delivery as the comparator sees it (`subject`, `data`, `ack()`)."""

    def __init__(self, data: bytes, subject: str = "parallax.events.legacy.game.ABC123") -> None:
        self.subject = subject
        self.data = data
        self.acked = False

    async def ack(self) -> None:
        self.acked = True


class Harness:
    def __init__(self, comp: Comparator) -> None:
        self.comp = comp
        self.messages: list[Message] = []

    def _message(self, body: Any, subject: str = "parallax.events.legacy.game.ABC123") -> Any:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        message = Message(data, subject)
        self.messages.append(message)
        return message

    async def routed(self, body: Any) -> None:
        await self.comp.on_record(self._message(body, "parallax.routed.game.ABC123"))

    async def event(self, body: Any) -> None:
        await self.comp.on_event(self._message(body))

    async def side(self, command_id: str, impl: str, **kw: Any) -> None:
        for body in response(command_id, impl, [PLAY], **kw):
            await self.event(body)

    async def pass_time(self, seconds: float) -> None:
        """What the expire timer does once `seconds` have passed."""
        await self.comp.resolve(self.comp.table.expire(time.monotonic() + seconds))

    def all_acked(self) -> bool:
        return all(m.acked for m in self.messages)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    s = settings("nats://127.0.0.1:1", tmp_path, max_pending=2)
    comp = Comparator(s, make_broker(s, name="comparator"))
    comp.publisher = RecordingPublisher()
    yield Harness(comp)
    comp.store.close()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def orphaned(context: str, impl: str) -> float:
    return sample("parallax_comparator_orphaned_total", context=context, impl=impl)


def ignored(reason: str) -> float:
    return sample("parallax_comparator_ignored_total", reason=reason)


def orphan_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "parallax.comparator" and r.levelno == logging.WARNING and "orphaned" in r.getMessage()
    ]


async def test_orphans_are_counted_summarized_and_logged_once_per_interval(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="parallax.comparator")
    comp = harness.comp
    before = {(c, i): orphaned(c, i) for c in ("game", "campaign", "unknown") for i in ("legacy", "domain")}
    legacy_only = [cid() for _ in range(150)]
    for c in legacy_only:
        await harness.side(c, "legacy")
    domain_only = cid()
    await harness.side(domain_only, "domain", context="campaign")
    odd_context = cid()
    await harness.side(odd_context, "legacy", context="not-a-context")
    assert comp.table.orphans == 152 and comp.summary()["orphans_held"] == 152
    assert not any(m.acked for m in harness.messages)  # held, waiting for their records

    await harness.pass_time(3600)  # the orphan age passed: no routing record came

    assert orphaned("game", "legacy") == before[("game", "legacy")] + 150
    assert orphaned("campaign", "domain") == before[("campaign", "domain")] + 1
    # A context off the wire is not a label value of its own.
    assert orphaned("unknown", "legacy") == before[("unknown", "legacy")] + 1
    summary = comp.summary()
    assert summary["orphaned"] == 152 and summary["orphans_held"] == 0
    assert summary["pairing"]["orphaned"] == 152
    assert set(summary["pairing"]) == PAIRING_FIGURES
    assert summary["pending"] == 0 and summary["total"] == 0  # not comparisons: not stored
    assert harness.all_acked()
    assert isinstance(comp.publisher, RecordingPublisher) and comp.publisher.groups == []
    # The first orphan is logged at once, the other 151 are summed into the next line.
    [first] = orphan_warnings(caplog)
    assert "1 command(s) orphaned" in first.getMessage()
    comp.orphan_warnings.flush(time.monotonic())  # within the interval: nothing yet
    assert len(orphan_warnings(caplog)) == 1
    comp.orphan_warnings.flush(time.monotonic() + ORPHAN_LOG_SECONDS)
    [_, second] = orphan_warnings(caplog)
    text = second.getMessage()
    assert "151 command(s) orphaned" in text and "game/legacy 149" in text and "campaign/domain 1" in text
    assert "unknown/legacy 1" in text
    comp.orphan_warnings.flush(time.monotonic() + 10 * ORPHAN_LOG_SECONDS)
    assert len(orphan_warnings(caplog)) == 2  # nothing new, nothing logged


async def test_duplicate_late_invalid_and_unreadable_input_is_counted(harness: Harness) -> None:
    comp = harness.comp
    before = {reason: ignored(reason) for reason in ("duplicate", "late", "invalid")}
    unreadable = sample("parallax_unreadable_messages_total", service="comparator")
    unshadowed = sample("parallax_comparator_unshadowed_total")
    c = cid()
    await harness.routed(record(c))
    legacy = response(c, "legacy", [PLAY, PLAY])
    await harness.event(legacy[0])
    await harness.event(legacy[0])  # duplicate
    await harness.event({**legacy[1], "seq": 5})  # invalid: seq out of range
    await harness.event(legacy[1])
    await harness.side(c, "domain")  # the pair resolves
    await harness.event(legacy[1])  # late
    await harness.routed(record(c))  # late
    await harness.routed({k: v for k, v in record(cid()).items() if k != "primary"})  # invalid
    await harness.routed(record(cid(), shadow=None))  # unshadowed
    await harness.event(b"not json")  # unreadable
    await harness.event({"impl": "legacy"})  # unreadable: no command id
    await comp.flush()

    assert ignored("duplicate") == before["duplicate"] + 1
    assert ignored("late") == before["late"] + 2
    assert ignored("invalid") == before["invalid"] + 2
    assert sample("parallax_unreadable_messages_total", service="comparator") == unreadable + 2
    assert sample("parallax_comparator_unshadowed_total") == unshadowed + 1
    summary = comp.summary()
    pairing = summary["pairing"]
    assert (pairing["duplicates"], pairing["late"], pairing["invalid"]) == (1, 2, 2)
    assert (pairing["paired"], pairing["unshadowed"], pairing["records"]) == (1, 1, 4)
    assert summary["unreadable"] == 2 and summary["unshadowed"] == 1
    assert summary["total"] == 1
    assert harness.all_acked()


async def test_evictions_by_a_bound_are_counted(harness: Harness) -> None:
    """`max_pending=2`: a third two-sided command pushes the oldest out as missing; the other
    two, with neither side complete (so no deadline runs), reach the maximum age."""
    comp = harness.comp
    evicted = sample("parallax_comparator_evicted_total", reason="max_pending")
    aged = sample("parallax_comparator_evicted_total", reason="max_age")
    for c in [cid() for _ in range(3)]:
        await harness.routed(record(c))
    assert sample("parallax_comparator_evicted_total", reason="max_pending") == evicted + 1
    await harness.pass_time(3600)
    await comp.flush()
    assert sample("parallax_comparator_evicted_total", reason="max_age") == aged + 2
    pairing = comp.summary()["pairing"]
    assert pairing["evicted_max_pending"] == 1 and pairing["evicted_max_age"] == 2
    assert pairing["missing_domain"] == 3
    html = comp.report_html({})
    assert "evicted (bounds)" in html and "orphaned" in html


@pytest.mark.integration
async def test_an_orphan_over_nats_shows_in_the_summary_route_and_metrics(
    clean_topology: Client, nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events of one side and no routing record, through the running service: the expire timer
    gives them up after the orphan age (shortened here), acks them, and counts them."""
    monkeypatch.setattr(app_module, "orphan_max_age", lambda s: 0.5)
    feed = Feed(clean_topology)
    c = cid()
    before = orphaned("game", "domain")
    app = create_app(settings(nats_url, tmp_path))
    async with app.start_lifespan_context():
        await wait_started(app)
        comp: Comparator = app.comparator  # type: ignore[attr-defined]
        await feed.events(response(c, "domain", [PLAY]))
        await wait_for(lambda: comp.table.stats.orphaned == 1, what="the orphan given up")
        await wait_until_acked(clean_topology)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://comparator"
        ) as http:
            summary = (await http.get("/summary")).json()
            metrics = (await http.get("/metrics")).text
    assert summary["orphaned"] == 1 and summary["pairing"]["orphaned"] == 1
    assert summary["total"] == 0 and summary["pending"] == 0
    assert orphaned("game", "domain") == before + 1
    assert 'parallax_comparator_orphaned_total{context="game",impl="domain"}' in metrics
