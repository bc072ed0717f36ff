"""Comparisons evaluated but not committed yet: the service's group commit.

One store transaction per command cost most of the comparator's CPU under load (the commit,
not the rows). The service gathers resolved commands here and commits them together: when
`max_records` wait, or `max_delay_s` after the oldest, whichever comes first. A command here is
still pending until the commit that stores it has succeeded: its messages stay unacked, and
`/summary` counts it. Clock-free: callers pass `now` (monotonic seconds).
"""

from __future__ import annotations

import asyncio

from parallax_comparator.records import ComparisonRecord


class CommitBatch:
    """Records wait (`add`), one commit at a time takes them all (`take`), and ends with
    `committed` or `failed` (which puts them back for a retry)."""

    def __init__(self, max_records: int, max_delay_s: float) -> None:
        if max_records < 1:
            raise ValueError("max_records must be >= 1")
        self.max_records = max_records
        self.max_delay_s = max_delay_s
        self._waiting: list[ComparisonRecord] = []
        self._committing: list[ComparisonRecord] = []
        self._command_ids: set[str] = set()  # of both lists
        self._oldest_at = 0.0  # when the oldest waiting record came in
        self._committing_since = 0.0  # the same, for the records being committed
        self._retry_at = 0.0  # after a failed commit: not before then
        # Set while records wait: the service's commit timer sleeps on it.
        self.waiting = asyncio.Event()

    def __len__(self) -> int:
        return len(self._waiting) + len(self._committing)

    def __contains__(self, command_id: object) -> bool:
        return command_id in self._command_ids

    def add(self, record: ComparisonRecord, now: float) -> None:
        if not self._waiting:
            self._oldest_at = now
            self.waiting.set()
        self._waiting.append(record)
        self._command_ids.add(record.command_id)

    def full(self, now: float) -> bool:
        """Whether to commit at once rather than at `due_at`: `max_records` wait, and no failed
        commit is waiting for its retry time (a full batch must not retry at every message)."""
        return len(self._waiting) >= self.max_records and now >= self._retry_at

    def due_at(self) -> float:
        """When the timer commits: `max_delay_s` after the oldest record, not before a retry."""
        return max(self._oldest_at + self.max_delay_s, self._retry_at)

    def take(self) -> list[ComparisonRecord]:
        """Every waiting record, for one transaction. They still count (`len`, `in`) until
        `committed`, so a reader in another thread (the report) finds each command either
        here or in the store, never in neither."""
        if self._committing:
            raise RuntimeError("a commit is in progress")
        self._committing, self._waiting = self._waiting, []
        self._committing_since = self._oldest_at
        self.waiting.clear()
        return self._committing

    def committed(self) -> None:
        self._committing = []
        self._command_ids = {r.command_id for r in self._waiting}
        self._retry_at = 0.0  # the store is back: no more holding back

    def failed(self, retry_at: float) -> None:
        """The commit failed: its records wait again, ahead of any that came since (so the
        oldest keeps its age), and the next attempt waits until `retry_at`."""
        if not self._committing:
            return
        self._oldest_at = self._committing_since
        self._waiting[:0] = self._committing
        self._committing = []
        self._retry_at = retry_at
        self.waiting.set()
