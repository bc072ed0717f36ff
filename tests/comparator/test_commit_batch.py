"""The comparator's group-commit batch, alone: when it is due, and what a failed commit keeps."""

from __future__ import annotations

import pytest
from parallax_comparator.commit_batch import CommitBatch
from parallax_comparator.records import ComparisonRecord


def rec(command_id: str) -> ComparisonRecord:
    return ComparisonRecord(
        command_id=command_id,
        context="game",
        aggregate_id="ABC123",
        command_type="play",
        result="match",
        reason="complete",
        signature=None,
        diffs=[],
        legacy=[],
        domain=[],
        compared_at=0.0,
    )


def test_due_after_the_delay_or_at_once_when_full() -> None:
    batch = CommitBatch(max_records=3, max_delay_s=0.05)
    assert not batch.waiting.is_set()
    batch.add(rec("a"), now=10.0)
    batch.add(rec("b"), now=10.04)
    assert batch.waiting.is_set()
    assert batch.due_at() == pytest.approx(10.05)  # from the oldest, not the latest
    assert not batch.full(now=10.04)
    batch.add(rec("c"), now=10.045)
    assert batch.full(now=10.045)


def test_records_count_until_their_commit_succeeds() -> None:
    batch = CommitBatch(max_records=10, max_delay_s=0.05)
    batch.add(rec("a"), now=1.0)
    taken = batch.take()
    assert [r.command_id for r in taken] == ["a"]
    assert len(batch) == 1 and "a" in batch  # being committed: still pending
    assert not batch.waiting.is_set()
    with pytest.raises(RuntimeError):
        batch.take()  # one commit at a time
    batch.committed()
    assert len(batch) == 0 and "a" not in batch


def test_a_failed_commit_puts_its_records_back_first_and_holds_back_until_the_retry() -> None:
    batch = CommitBatch(max_records=2, max_delay_s=1.0)
    batch.add(rec("a"), now=1.0)
    batch.add(rec("b"), now=1.01)
    batch.take()
    batch.add(rec("c"), now=1.5)  # came in while the commit ran
    batch.failed(retry_at=1.6)
    assert batch.waiting.is_set()
    assert batch.due_at() == 2.0  # the oldest ("a") keeps its age; "c" alone would say 2.5
    assert not batch.full(now=1.55)  # full, but the store failed: wait for the retry time
    assert batch.full(now=1.6)
    assert [r.command_id for r in batch.take()] == ["a", "b", "c"]
    batch.failed(retry_at=3.0)
    # Committed before the retry time (the service stopping): the holding back ends with it.
    batch.take()
    batch.committed()
    batch.add(rec("d"), now=2.1)
    batch.add(rec("e"), now=2.1)
    assert batch.full(now=2.1)
