"""The pending-pairs table: completion, any order, duplicates, deadline, bounds, unshadowed."""

from __future__ import annotations

from typing import Any

import pytest
from parallax_comparator.core import PairingSettings, PairingTable, PairOutcome
from parallax_contracts.envelopes import RoutingRecord

Table = PairingTable[str]


def record(cid: str, shadow: str | None = "domain", primary: str = "legacy") -> dict[str, Any]:
    return {
        "command_id": cid,
        "context": "game",
        "aggregate_id": "3FA9C1",
        "type": "play",
        "primary": primary,
        "shadow": shadow,
    }


def feed(
    table: Table, cid: str, impl: str, count: int, now: float, seqs: list[int] | None = None
) -> list[PairOutcome[str]]:
    out: list[PairOutcome[str]] = []
    for seq in seqs if seqs is not None else range(count):
        out += table.add_event(cid, impl, seq, count, f"{impl}{seq}", now)
    return out


def test_pair_completes_when_both_responses_are_complete() -> None:
    t = Table()
    assert t.add_record(record("c1"), 0.0) == []
    assert feed(t, "c1", "legacy", 2, 0.1, [1, 0]) == []  # out of seq order
    assert len(t) == 1
    [out] = feed(t, "c1", "domain", 3, 0.2)
    assert out.status == "paired" and out.reason == "complete" and out.is_pair
    assert out.legacy == ("legacy0", "legacy1")  # in seq order
    assert out.domain == ("domain0", "domain1", "domain2")
    assert (out.context, out.aggregate_id, out.command_type) == ("game", "3FA9C1", "play")
    assert (out.primary, out.shadow) == ("legacy", "domain")
    assert len(t) == 0 and t.stats.paired == 1
    assert t.expire(100.0) == []


def test_routing_record_model_is_accepted() -> None:
    t = Table()
    rec = RoutingRecord(command_id="c1", context="campaign", aggregate_id="a", type="start",
                        primary="domain", shadow="legacy", rule="percent")  # fmt: skip
    t.add_record(rec, 0.0)
    feed(t, "c1", "legacy", 1, 0.0)
    [out] = feed(t, "c1", "domain", 1, 0.0)
    assert out.context == "campaign" and out.primary == "domain" and out.shadow == "legacy"


def test_events_before_the_routing_record_are_held() -> None:
    t = Table()
    assert feed(t, "c1", "legacy", 1, 0.0) == []
    assert feed(t, "c1", "domain", 2, 0.0, [1]) == []
    assert t.orphans == 1 and len(t) == 0
    assert t.add_record(record("c1"), 1.0) == []
    assert t.orphans == 0 and len(t) == 1
    [out] = feed(t, "c1", "domain", 2, 1.1, [0])
    assert out.status == "paired" and out.domain == ("domain0", "domain1")
    # both sides complete before the record: paired as soon as it arrives
    feed(t, "c2", "legacy", 1, 2.0)
    feed(t, "c2", "domain", 1, 2.0)
    [out] = t.add_record(record("c2"), 2.5)
    assert out.status == "paired" and out.command_type == "play"


def test_duplicates_are_dropped() -> None:
    t = Table()
    t.add_record(record("c1"), 0.0)
    t.add_record(record("c1"), 0.0)  # a redelivered record
    feed(t, "c1", "legacy", 2, 0.0, [0, 0, 1])
    [out] = feed(t, "c1", "domain", 1, 0.0)
    assert out.legacy == ("legacy0", "legacy1")
    assert t.stats.duplicates == 1 and t.stats.late == 1
    # late duplicates of a resolved command do not open a new entry
    assert feed(t, "c1", "domain", 1, 0.0) == [] and t.add_record(record("c1"), 0.0) == []
    assert len(t) == 0 and t.orphans == 0 and t.stats.late == 3


def test_invalid_events_are_counted_and_ignored() -> None:
    t = Table(PairingSettings(max_events_per_response=8))
    t.add_record(record("c1"), 0.0)
    t.add_event("c1", "legacy", 2, 2, "x", 0.0)  # seq out of range
    t.add_event("c1", "legacy", 0, 9, "x", 0.0)  # count over the bound
    t.add_event("c1", "other", 0, 1, "x", 0.0)  # unknown impl
    t.add_event("c1", "legacy", 0, 2, "x", 0.0)
    t.add_event("c1", "legacy", 1, 3, "x", 0.0)  # count disagrees within the response
    assert t.stats.invalid == 4
    assert t.add_record(record("c9", shadow="nope"), 0.0) == [] and t.stats.invalid == 5


def test_a_malformed_routing_record_is_counted_as_invalid_not_raised() -> None:
    t = Table()
    without_type = {k: v for k, v in record("c1").items() if k != "type"}
    assert t.add_record(without_type, 0.0) == []
    assert t.add_record({**record("c2"), "context": 7}, 0.0) == []  # not text
    assert t.stats.invalid == 2 and t.stats.records == 2
    assert len(t) == 0 and t.orphans == 0


def test_deadline_after_the_first_side_completed() -> None:
    t = Table(PairingSettings(deadline_s=5.0))
    t.add_record(record("c1"), 0.0)
    feed(t, "c1", "domain", 1, 1.0)  # domain complete at 1.0
    feed(t, "c1", "legacy", 3, 2.0, [0])  # legacy partial
    assert t.next_deadline() == 6.0
    assert t.expire(5.99) == []
    [out] = t.expire(6.0)
    assert out.status == "missing_legacy" and out.reason == "deadline"
    assert out.legacy == ("legacy0",) and out.domain == ("domain0",)
    assert t.stats.missing_legacy == 1 and t.stats.deadline_expired == 1 and len(t) == 0
    assert t.next_deadline() is None
    # late events of the missing side are ignored, not re-opened
    assert feed(t, "c1", "legacy", 3, 7.0, [1, 2]) == [] and len(t) == t.orphans == 0


def test_max_age_evicts_commands_where_no_side_completed() -> None:
    t = Table(PairingSettings(max_age_s=30.0))
    t.add_record(record("c1"), 0.0)  # primary legacy, shadow domain
    feed(t, "c1", "legacy", 2, 1.0, [0])
    t.add_record(record("c2", primary="domain", shadow="legacy"), 10.0)
    [out] = t.expire(30.0)
    # neither side complete: the shadow is the one reported missing
    assert out.command_id == "c1" and out.status == "missing_domain" and out.reason == "max_age"
    assert out.legacy == ("legacy0",)
    [out] = t.expire(40.0)
    assert out.command_id == "c2" and out.status == "missing_legacy"
    assert t.stats.evicted_max_age == 2


def test_max_pending_evicts_the_oldest_as_missing() -> None:
    t = Table(PairingSettings(max_pending=2))
    for i in range(2):
        t.add_record(record(f"c{i}"), float(i))
    feed(t, "c0", "legacy", 1, 2.0)
    [out] = t.add_record(record("c2"), 3.0)
    assert out.command_id == "c0" and out.status == "missing_domain"
    assert out.reason == "max_pending" and out.legacy == ("legacy0",)
    assert len(t) == 2 and t.stats.evicted_max_pending == 1
    # the evicted command is no longer waiting on a deadline
    assert t.expire(2.0 + 4.9) == []


def test_unshadowed_commands_are_counted_not_compared() -> None:
    t = Table()
    feed(t, "c1", "legacy", 1, 0.0)  # arrives before the record
    assert t.add_record(record("c1", shadow=None), 0.1) == []
    assert t.stats.unshadowed == 1 and t.orphans == 0 and len(t) == 0
    assert feed(t, "c1", "legacy", 1, 0.2) == [] and t.orphans == 0
    assert t.expire(1000.0) == []


def test_orphans_are_bounded_and_reported() -> None:
    t = Table(PairingSettings(max_orphans=2, orphan_max_age_s=10.0))
    feed(t, "o1", "legacy", 1, 0.0)
    feed(t, "o2", "legacy", 1, 1.0)
    feed(t, "o2", "domain", 1, 1.0)
    [out] = feed(t, "o3", "domain", 2, 2.0, [0])  # evicts o1 (count bound)
    assert out.command_id == "o1" and out.status == "orphaned" and out.legacy == ("legacy0",)
    outs = t.expire(11.0)
    # o2 was seen from both sides: evidently shadowed, so it is compared
    assert [(o.command_id, o.status, o.reason) for o in outs] == [("o2", "paired", "no_routing_record")]
    [out] = t.expire(12.0)
    assert out.command_id == "o3" and out.status == "orphaned"
    assert t.stats.orphaned == 2
    assert t.add_record(record("o3"), 13.0) == [] and len(t) == 0  # too late: already reported


def test_drain_resolves_everything() -> None:
    t = Table()
    t.add_record(record("c1"), 0.0)
    feed(t, "c1", "domain", 1, 0.0)
    feed(t, "o1", "legacy", 1, 0.0)
    assert sorted((o.command_id, o.status) for o in t.drain()) == [
        ("c1", "missing_legacy"),
        ("o1", "orphaned"),
    ]
    assert len(t) == t.orphans == 0


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        PairingSettings(max_pending=0)
    with pytest.raises(ValueError):
        PairingSettings(deadline_s=-1)
