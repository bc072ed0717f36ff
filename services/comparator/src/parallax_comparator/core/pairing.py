"""The pending-pairs table: routing records and events in (any order), pairs and misses out.

Pure and clock-free: every call takes `now` (seconds on a monotonic clock; it must not go
backwards). Bounded: at most `max_pending` commands wait for their responses, none longer than
`max_age_s`; at most `max_orphans` commands hold events whose routing record has not arrived.
Whatever is evicted comes out as an outcome (`missing_<impl>`, or `orphaned`), never silently.

Event bodies are opaque (`B`): the service may store the raw message bytes (leanest; parse them
when the pair is complete) or parsed dicts. The table reads only the correlation fields it is
given explicitly.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, Literal, TypeVar

from parallax_contracts.envelopes import Impl, RoutingRecord

B = TypeVar("B")

Status = Literal["paired", "missing_legacy", "missing_domain", "orphaned"]
Reason = Literal["complete", "deadline", "max_pending", "max_age", "no_routing_record"]
IMPL_NAMES: Final = ("legacy", "domain")
# Canonical (shared) impl strings, so 100,000 entries do not hold 200,000 copies.
_IMPLS: Final[dict[str, Impl]] = {"legacy": "legacy", "domain": "domain"}


@dataclass(frozen=True, slots=True)
class PairingSettings:
    deadline_s: float = 5.0  # after the first side completed
    max_pending: int = 100_000  # commands routed to two sides and not yet resolved
    max_age_s: float = 60.0  # since the routing record arrived
    max_orphans: int = 10_000  # commands with events but no routing record yet
    orphan_max_age_s: float = 30.0
    max_events_per_response: int = 256  # a larger `count` is refused as invalid
    remember_finished: int = 100_000  # resolved command ids kept to drop late duplicates

    def __post_init__(self) -> None:
        for name in ("max_pending", "max_orphans", "max_events_per_response"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("deadline_s", "max_age_s", "orphan_max_age_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.remember_finished < 0:
            raise ValueError("remember_finished must be >= 0")


@dataclass(slots=True)
class PairingStats:
    """Everything the table saw, since it was made. Records and events it ignored are counted
    here and nowhere else (`duplicates`, `invalid`, `late`, `unshadowed`); every command that
    entered it leaves as an outcome (`paired`, `missing_<impl>`, `orphaned`). The service
    exposes all of it (`/summary`'s `pairing`, and its metrics)."""

    records: int = 0
    events: int = 0
    duplicates: int = 0  # same (command_id, impl, seq) again
    invalid: int = 0  # bad impl/seq/count, or a count that disagrees within a response
    late: int = 0  # records/events for a command already resolved
    unshadowed: int = 0  # routed to one side only: not compared
    paired: int = 0
    missing_legacy: int = 0
    missing_domain: int = 0
    orphaned: int = 0  # events whose routing record never came, from one side only
    evicted_max_pending: int = 0
    evicted_max_age: int = 0
    deadline_expired: int = 0


@dataclass(frozen=True, slots=True)
class PairOutcome(Generic[B]):
    """A resolved command. `status` is `paired` (both responses complete: compare them),
    `missing_<impl>` (that side did not complete in time; its partial events are included),
    or `orphaned` (events of one side only and no routing record: nothing to compare)."""

    command_id: str
    status: Status
    reason: Reason
    legacy: tuple[B, ...]  # in seq order; partial when that side is missing
    domain: tuple[B, ...]
    context: str | None = None  # from the routing record (None without one)
    aggregate_id: str | None = None
    command_type: str | None = None
    primary: Impl | None = None
    shadow: Impl | None = None

    @property
    def is_pair(self) -> bool:
        return self.status == "paired"


class _Entry:
    """One command's state. Sides are lists of `count` slots (None = not arrived yet)."""

    __slots__ = ("completed_at", "created", "domain", "domain_n", "legacy", "legacy_n", "meta")

    def __init__(self, created: float) -> None:
        self.created = created
        self.completed_at: float | None = None  # when the first side completed
        # context, aggregate id, command type, primary, shadow (from the routing record)
        self.meta: tuple[str, str, str, Impl, Impl] | None = None
        self.legacy: list[Any] | None = None
        self.domain: list[Any] | None = None
        self.legacy_n = 0
        self.domain_n = 0

    def complete(self, impl: str) -> bool:
        side = self.legacy if impl == "legacy" else self.domain
        n = self.legacy_n if impl == "legacy" else self.domain_n
        return side is not None and n == len(side)

    def both_complete(self) -> bool:
        return self.complete("legacy") and self.complete("domain")

    def any_complete(self) -> bool:
        return self.complete("legacy") or self.complete("domain")


def _received(side: list[Any] | None) -> tuple[Any, ...]:
    return tuple(x for x in side if x is not None) if side else ()


_intern = sys.intern


class PairingTable(Generic[B]):
    """See the module docstring. Methods return the outcomes they resolved (possibly none)."""

    def __init__(self, settings: PairingSettings | None = None) -> None:
        self.settings = settings or PairingSettings()
        self.stats = PairingStats()
        # Both in insertion order = creation order (age eviction from the front, O(1)).
        self._pending: OrderedDict[str, _Entry] = OrderedDict()
        self._orphans: OrderedDict[str, _Entry] = OrderedDict()
        # Pending entries with one side complete, in completion order (deadline from the front).
        self._waiting: OrderedDict[str, None] = OrderedDict()
        self._finished: OrderedDict[str, None] = OrderedDict()

    # -- sizes --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._pending)

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def orphans(self) -> int:
        return len(self._orphans)

    def holds(self, command_id: str) -> bool:
        """Whether the command still waits here (pending or orphaned): the service keeps its
        messages unacked until it does not."""
        return command_id in self._pending or command_id in self._orphans

    def next_deadline(self) -> float | None:
        """When `expire` next has something to do (for the service's timer), or None."""
        times: list[float] = []
        s = self.settings
        if self._waiting:
            e = self._pending[next(iter(self._waiting))]
            assert e.completed_at is not None
            times.append(e.completed_at + s.deadline_s)
        if self._pending:
            times.append(next(iter(self._pending.values())).created + s.max_age_s)
        if self._orphans:
            times.append(next(iter(self._orphans.values())).created + s.orphan_max_age_s)
        return min(times) if times else None

    # -- input ----------------------------------------------------------------------------
    def add_record(self, record: RoutingRecord | Mapping[str, Any], now: float) -> list[PairOutcome[B]]:
        """A routing record. Two-sided commands start waiting; one-sided ones are counted as
        `unshadowed` and their events are ignored; a record missing a field (or whose id, context,
        aggregate or type is not text) is `invalid`."""
        self.stats.records += 1
        if isinstance(record, RoutingRecord):
            cid, ctx, agg, ctype = record.command_id, record.context, record.aggregate_id, record.type
            primary, shadow = record.primary, record.shadow
        else:
            try:
                cid, ctx, agg = record["command_id"], record["context"], record["aggregate_id"]
                ctype, primary, shadow = record["type"], record["primary"], record.get("shadow")
            except (KeyError, TypeError, AttributeError):  # a field missing: counted, not raised
                self.stats.invalid += 1
                return []
            if type(cid) is not str or type(ctx) is not str or type(agg) is not str or type(ctype) is not str:
                self.stats.invalid += 1
                return []
        if cid in self._finished or cid in self._pending:
            self.stats.late += 1
            return []
        if primary not in IMPL_NAMES or (shadow is not None and shadow not in IMPL_NAMES):
            self.stats.invalid += 1
            return []
        orphan = self._orphans.pop(cid, None)
        if shadow is None or shadow == primary:
            self.stats.unshadowed += 1
            self._finish(cid)
            return []
        out: list[PairOutcome[B]] = []
        while len(self._pending) >= self.settings.max_pending:
            old_id, old = self._pending.popitem(last=False)
            self.stats.evicted_max_pending += 1
            out.append(self._resolve_missing(old_id, old, "max_pending"))
        entry = orphan if orphan is not None else _Entry(now)
        entry.created = now
        entry.meta = (_intern(ctx), agg, _intern(ctype), _IMPLS[primary], _IMPLS[shadow])
        self._pending[cid] = entry
        if entry.both_complete():
            out.append(self._resolve_pair(cid))
        elif entry.any_complete():
            entry.completed_at = now
            self._waiting[cid] = None
        return out

    def add_event(
        self, command_id: str, impl: str, seq: int, count: int, body: B, now: float
    ) -> list[PairOutcome[B]]:
        """One event of one side's response. Duplicates (same command_id, impl, seq) are
        dropped; events before their routing record are held (bounded)."""
        self.stats.events += 1
        if command_id in self._finished:
            self.stats.late += 1
            return []
        if (
            impl not in IMPL_NAMES
            or type(count) is not int
            or type(seq) is not int
            or not 0 <= seq < count <= self.settings.max_events_per_response
        ):
            self.stats.invalid += 1
            return []
        out: list[PairOutcome[B]] = []
        entry = self._pending.get(command_id)
        orphan = entry is None
        if entry is None:
            entry = self._orphans.get(command_id)
            if entry is None:
                out.extend(self._make_room_for_orphan())
                entry = _Entry(now)
                self._orphans[command_id] = entry
        legacy = impl == "legacy"
        side = entry.legacy if legacy else entry.domain
        if side is None:
            side = [None] * count
            if legacy:
                entry.legacy = side
            else:
                entry.domain = side
        elif len(side) != count:
            self.stats.invalid += 1
            return out
        if side[seq] is not None:
            self.stats.duplicates += 1
            return out
        side[seq] = body
        if legacy:
            entry.legacy_n += 1
            done = entry.legacy_n == count
        else:
            entry.domain_n += 1
            done = entry.domain_n == count
        if done and not orphan:
            if entry.both_complete():
                out.append(self._resolve_pair(command_id))
            elif entry.completed_at is None:
                entry.completed_at = now
                self._waiting[command_id] = None
        return out

    def expire(self, now: float) -> list[PairOutcome[B]]:
        """Resolve what is past its deadline or its maximum age. Call it periodically."""
        s = self.settings
        out: list[PairOutcome[B]] = []
        while self._waiting:
            cid = next(iter(self._waiting))
            e = self._pending[cid]
            assert e.completed_at is not None
            if e.completed_at + s.deadline_s > now:
                break
            del self._pending[cid]
            self.stats.deadline_expired += 1
            out.append(self._resolve_missing(cid, e, "deadline"))
        while self._pending:
            cid, e = next(iter(self._pending.items()))
            if e.created + s.max_age_s > now:
                break
            del self._pending[cid]
            self.stats.evicted_max_age += 1
            out.append(self._resolve_missing(cid, e, "max_age"))
        while self._orphans:
            cid, e = next(iter(self._orphans.items()))
            if e.created + s.orphan_max_age_s > now:
                break
            del self._orphans[cid]
            out.append(self._resolve_orphan(cid, e))
        return out

    def drain(self) -> list[PairOutcome[B]]:
        """Resolve everything still held (at shutdown) as if every bound had passed."""
        out: list[PairOutcome[B]] = []
        while self._pending:
            cid, e = self._pending.popitem(last=False)
            out.append(self._resolve_missing(cid, e, "max_age"))
        while self._orphans:
            cid, e = self._orphans.popitem(last=False)
            out.append(self._resolve_orphan(cid, e))
        return out

    # -- resolution -------------------------------------------------------------------------
    def _finish(self, cid: str) -> None:
        self._waiting.pop(cid, None)
        if self.settings.remember_finished:
            self._finished[cid] = None
            if len(self._finished) > self.settings.remember_finished:
                self._finished.popitem(last=False)

    def _outcome(self, cid: str, e: _Entry, status: Status, reason: Reason) -> PairOutcome[B]:
        self._finish(cid)
        meta = e.meta
        return PairOutcome(
            command_id=cid,
            status=status,
            reason=reason,
            legacy=_received(e.legacy),
            domain=_received(e.domain),
            context=meta[0] if meta else None,
            aggregate_id=meta[1] if meta else None,
            command_type=meta[2] if meta else None,
            primary=meta[3] if meta else None,
            shadow=meta[4] if meta else None,
        )

    def _resolve_pair(self, cid: str) -> PairOutcome[B]:
        e = self._pending.pop(cid)
        self.stats.paired += 1
        return self._outcome(cid, e, "paired", "complete")

    def _missing_status(self, e: _Entry) -> Status:
        """The side that did not complete; if neither did, the shadow (the primary's answer
        reached the users, so the question is what the shadow would have said)."""
        if e.complete("legacy"):
            return "missing_domain"
        if e.complete("domain"):
            return "missing_legacy"
        shadow = e.meta[4] if e.meta else None
        if shadow is None:  # orphan seen from both sides, neither complete: the less advanced
            shadow = "legacy" if e.legacy_n <= e.domain_n else "domain"
        return "missing_legacy" if shadow == "legacy" else "missing_domain"

    def _resolve_missing(self, cid: str, e: _Entry, reason: Reason) -> PairOutcome[B]:
        status = self._missing_status(e)
        if status == "missing_legacy":
            self.stats.missing_legacy += 1
        else:
            self.stats.missing_domain += 1
        return self._outcome(cid, e, status, reason)

    def _resolve_orphan(self, cid: str, e: _Entry) -> PairOutcome[B]:
        """Events without a routing record. Seen from both sides, the command was evidently
        shadowed: compare (or report the incomplete side). From one side only we cannot tell
        whether a comparison was due: `orphaned`."""
        if e.legacy is not None and e.domain is not None:
            if e.both_complete():
                self.stats.paired += 1
                return self._outcome(cid, e, "paired", "no_routing_record")
            return self._resolve_missing(cid, e, "no_routing_record")
        self.stats.orphaned += 1
        return self._outcome(cid, e, "orphaned", "no_routing_record")

    def _make_room_for_orphan(self) -> list[PairOutcome[B]]:
        out: list[PairOutcome[B]] = []
        while len(self._orphans) >= self.settings.max_orphans:
            cid, e = self._orphans.popitem(last=False)
            out.append(self._resolve_orphan(cid, e))
        return out


__all__ = [
    "PairOutcome",
    "PairingSettings",
    "PairingStats",
    "PairingTable",
    "Reason",
    "Status",
]
