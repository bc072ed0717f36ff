"""The in-memory event store (tests, the reference backend of the benchmarks): eventsourcing's
POPO recorder, with the repository's fast-forward read made proportional to what it returns."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import takewhile
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder


class TailFirstPOPORecorder(POPOApplicationRecorder):
    """`select_events(id, gt=v)` walks the aggregate's versions back from the newest.

    The library's recorder walks every version of the aggregate from the first to find those
    after `gt`: each command's fast-forward of a cached aggregate cost time proportional to the
    aggregate's whole history (a 20-round game is ~1,100 events), although it usually finds
    nothing. Versions are kept in the order they were stored, which is version order (the
    library's `desc` reads rely on it too)."""

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        if gt is None or lte is not None or desc or limit is not None:
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        with self._database_lock:
            index = self._stored_events_index.get(str(originator_id), {})
            newer = list(takewhile(lambda version: version > gt, reversed(index)))
            return [self._stored_events[index[version]] for version in reversed(newer)]
