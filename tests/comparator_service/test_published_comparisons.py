"""The comparisons on `parallax.comparisons.<ctx>.<result>` (COMPARISONS stream), over a real
NATS server: every stored comparison is published once, with the store's content; a publish
that fails (the stream gone, acks lost) or a comparator stopped between its commit and its
publish still publishes every comparison later, counted once; a command compared again is not
a second message; a comparison too large for the message keeps everything but its diffs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from comparator_support import (
    PLAY_EVENT,
    Feed,
    ack_pending,
    cid,
    comparator,
    comparisons_counted,
    guard_samples,
    record,
    response,
    settings,
    stream_messages,
    wait_for,
    wait_for_stream,
    wait_until_acked,
)
from nats.aio.client import Client
from nats.js.api import RawStreamMsg
from parallax_comparator import app as app_module
from parallax_contracts.comparisons import MAX_COMPARISON_MESSAGE_BYTES, ComparisonMessage
from parallax_runtime import acked_publisher
from parallax_runtime.acked_publisher import Message
from parallax_runtime.topology import ensure_topology
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration

PLAYED_15 = ("pieces_played", {**PLAY_EVENT[1], "value": 15})
# What a message says as the store does (the store has no column for the refusals).
STORED = (
    "command_id", "context", "aggregate_id", "command_type", "result", "reason", "signature", "diffs",
    "legacy_ms", "domain_ms",
)  # fmt: skip


def by_command(messages: list[RawStreamMsg]) -> dict[str, ComparisonMessage]:
    """The stream's comparisons by their `Nats-Msg-Id`, each checked to be its command's once."""
    out: dict[str, ComparisonMessage] = {}
    for msg in messages:
        headers = msg.headers or {}
        body = ComparisonMessage.model_validate_json(msg.data or b"")
        assert headers["Nats-Msg-Id"] == body.command_id not in out, headers
        assert msg.subject == f"parallax.comparisons.{body.context}.{body.result}"
        out[body.command_id] = body
    return out


async def matches(feed: Feed, ids: list[str]) -> None:
    for c in ids:
        await feed.pair(c, response(c, "legacy", [PLAY_EVENT]), response(c, "domain", [PLAY_EVENT]))


async def test_every_stored_comparison_is_published_once_with_the_stores_content(
    clean_topology: Client, nats_url: str, tmp_path: Path
) -> None:
    feed = Feed(clean_topology)
    match, mismatch, missing, campaign = cid(), cid(), cid(), cid()
    campaign_id = str(uuid.uuid4())
    created = [("campaign_created", {"campaign_id": campaign_id, "name": "c"})]
    async with comparator(settings(nats_url, tmp_path)) as comp:
        await matches(feed, [match])
        await feed.pair(
            mismatch, response(mismatch, "legacy", [PLAY_EVENT]), response(mismatch, "domain", [PLAYED_15])
        )
        await feed.record(record(missing))
        await feed.events(response(missing, "legacy", [PLAY_EVENT]))  # domain never answers
        on_campaign: dict[str, Any] = {
            "room": campaign_id,
            "context": "campaign",
            "command_type": "create_campaign",
        }
        await feed.pair(
            campaign,
            response(campaign, "legacy", created, **on_campaign),
            response(campaign, "domain", created, **on_campaign),
            **on_campaign,
        )
        ids = [match, mismatch, missing, campaign]
        await wait_for(
            lambda: comp.store.count() == 4 and comp.pending == 0, what="all 4 stored and published"
        )
        rows = {c: comp.store.get(c) for c in ids}
    published = by_command(await stream_messages(clean_topology))
    assert set(published) == set(ids)
    for c, row in rows.items():
        assert row is not None
        message = published[c].model_dump(mode="json")
        assert {k: message[k] for k in STORED} == {k: row[k] for k in STORED}
        assert published[c].compared_at.timestamp() == pytest.approx(row["compared_at"])
        assert (message["diffs_truncated"], message["legacy_rejected"], message["domain_rejected"]) == (
            False,
            False,
            False,
        )
    assert {c: published[c].result for c in ids} == {
        match: "match",
        mismatch: "payload_mismatch",
        missing: "missing_domain",
        campaign: "match",
    }
    assert published[mismatch].diffs[0].path == "[0].payload.value"
    assert (published[mismatch].diffs[0].left, published[mismatch].diffs[0].right) == (14, 15)
    assert published[missing].domain_ms is None and published[campaign].context == "campaign"


async def test_a_publish_that_fails_is_retried_and_nothing_is_counted_twice(
    clean_topology: Client, nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The COMPARISONS stream is gone: each commit stores and counts its comparisons, then the
    publish fails; the input stays unacked and the comparisons pending. The stream back, the
    retries (which store and count nothing new) publish every one, and the input is acked."""
    monkeypatch.setattr(app_module, "STORE_RETRY_SECONDS", 0.2)
    js = clean_topology.jetstream()
    feed = Feed(clean_topology)
    counted = comparisons_counted()
    failures = REGISTRY.get_sample_value("parallax_comparator_publish_failures_total") or 0.0
    ids = [cid() for _ in range(6)]
    async with comparator(settings(nats_url, tmp_path, store_batch_seconds=0.05)) as comp:
        await js.delete_stream("COMPARISONS")  # after the comparator's start, which provisions
        await matches(feed, ids)
        await wait_for(lambda: comp.store.count() == 6 and len(comp.batch) == 6, what="all 6 stored")
        await wait_for(
            lambda: (
                (REGISTRY.get_sample_value("parallax_comparator_publish_failures_total") or 0)
                >= failures + 12
            ),
            what="a second attempt that failed",
        )
        assert comp.summary()["pending"] == 6 and comp.summary()["total"] == 6
        assert await ack_pending(clean_topology) > 0
        assert comparisons_counted() == counted + 6 and guard_samples(comp) == 6
        await ensure_topology(js)  # the stream back
        await wait_for(lambda: comp.pending == 0, what="all published")
        await wait_until_acked(clean_topology)
        assert comparisons_counted() == counted + 6 and guard_samples(comp) == 6
    assert set(by_command(await stream_messages(clean_topology))) == set(ids)


async def test_a_comparator_stopped_between_commit_and_publish_publishes_after_its_restart(
    clean_topology: Client, nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first comparator's publishes are lost on the way (as in a NATS restart: no ack ever
    comes, its publisher times out); it stores and counts every comparison and stops with its
    input unacked. The next one gets the input again, stores and counts nothing new, and
    publishes every comparison."""
    monkeypatch.setattr(acked_publisher, "PUBLISH_ACK_TIMEOUT_SECONDS", 0.3)
    feed = Feed(clean_topology)
    s = settings(nats_url, tmp_path, store_batch_seconds=0.05, ack_wait_seconds=2.0)
    counted = comparisons_counted()
    ids = [cid() for _ in range(5)]
    async with comparator(s) as first:
        assert first.publisher is not None

        async def lost(*args: Any) -> None:
            pass

        monkeypatch.setattr(first.publisher, "_send", lost)
        await matches(feed, ids)
        await wait_for(lambda: first.store.count() == 5, what="all 5 stored")
        assert first.pending == 5 and comparisons_counted() == counted + 5
    assert await stream_messages(clean_topology) == []
    assert await ack_pending(clean_topology) > 0
    async with comparator(s) as second:
        await wait_for_stream(clean_topology, 5)
        await wait_for(lambda: second.pending == 0, what="pending 0")
        await wait_until_acked(clean_topology)
        assert second.store.count() == 5 and guard_samples(second) == 0
    assert set(by_command(await stream_messages(clean_topology))) == set(ids)
    assert comparisons_counted() == counted + 5


async def test_a_command_compared_again_is_not_a_second_message(
    clean_topology: Client, nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first comparator publishes, then stops before acking its input (as if killed there):
    the next one gets the command again, compares it again and publishes it again, and the
    stream drops the copy by its `Nats-Msg-Id`."""
    feed = Feed(clean_topology)
    s = settings(nats_url, tmp_path, store_batch_seconds=0.05, ack_wait_seconds=2.0)
    counted = comparisons_counted()
    c = cid()
    async with comparator(s) as first:

        async def never_acked(command_id: str) -> None:
            pass

        monkeypatch.setattr(first, "_ack", never_acked)
        await matches(feed, [c])
        await wait_for_stream(clean_topology, 1)
    assert await ack_pending(clean_topology) > 0
    published: list[str] = []
    async with comparator(s) as second:
        assert second.publisher is not None
        publish = second.publisher.publish

        async def spied(messages: list[Message]) -> None:
            published.extend(json.loads(body)["command_id"] for _, body, _ in messages)
            await publish(messages)

        monkeypatch.setattr(second.publisher, "publish", spied)
        await wait_for(lambda: published == [c], what="the redelivered command published again")
        await wait_until_acked(clean_topology)
    assert list(by_command(await stream_messages(clean_topology))) == [c]
    assert comparisons_counted() == counted + 1


async def test_a_comparison_too_large_for_its_message_keeps_everything_but_its_diffs(
    clean_topology: Client, nats_url: str, tmp_path: Path
) -> None:
    feed = Feed(clean_topology)
    c = cid()
    left = ("pieces_played", {**PLAY_EVENT[1], "note": "a" * 60_000})
    right = ("pieces_played", {**PLAY_EVENT[1], "note": "b" * 60_000})
    async with comparator(settings(nats_url, tmp_path)) as comp:
        await feed.pair(c, response(c, "legacy", [left]), response(c, "domain", [right]))
        await wait_for(lambda: comp.store.count() == 1 and comp.pending == 0, what="stored and published")
        row = comp.store.get(c)
    [msg] = await stream_messages(clean_topology)
    assert len(msg.data or b"") <= MAX_COMPARISON_MESSAGE_BYTES
    message = by_command([msg])[c]
    assert message.diffs == [] and message.diffs_truncated is True
    assert row is not None and (message.result, message.signature) == (row["result"], row["signature"])
    assert [d["path"] for d in row["diffs"]] == ["[0].payload.note"]  # the store keeps them
