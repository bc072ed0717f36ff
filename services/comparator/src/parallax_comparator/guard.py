"""The guard's decision (rollout.md, "Guard"): pure, clock-free, per context.

Every comparison record is an observation: was it a mismatch, did domain refuse what legacy
accepted, and both handlers' times. A context's window keeps the observations of the last
`window_seconds` (at most `window_max` of them). `check(now)` evaluates every window and
returns a `Trip` for each context that crossed a threshold with enough samples:

* mismatch rate (every result but `match`) > `max_mismatch_rate` over >= `min_samples`;
* domain rejection rate where legacy accepted > `max_domain_rejection_rate` over >= `min_samples`;
* p95 domain handler time > `latency_ratio` x legacy's p95 **and** > `latency_floor_ms`, over
  >= `min_samples` commands where both times are known.

A context that tripped has its window cleared, so it trips again only on fresh evidence. The
I/O (kill switch, audit, alert, metric) is `parallax_comparator.guard_actions`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from parallax_comparator.records import ComparisonRecord

if TYPE_CHECKING:
    from parallax_runtime.settings import ComparatorSettings


@dataclass(frozen=True, slots=True)
class GuardSettings:
    window_seconds: float = 600.0
    window_max: int = 10_000
    min_samples: int = 200
    max_mismatch_rate: float = 0.01
    max_domain_rejection_rate: float = 0.005
    latency_ratio: float = 1.1
    latency_floor_ms: float = 200.0

    @classmethod
    def from_settings(cls, s: ComparatorSettings) -> GuardSettings:
        return cls(
            window_seconds=s.guard_window_seconds,
            window_max=s.guard_window_max,
            min_samples=s.guard_min_samples,
            max_mismatch_rate=s.guard_max_mismatch_rate,
            max_domain_rejection_rate=s.guard_max_domain_rejection_rate,
            latency_ratio=s.guard_latency_ratio,
            latency_floor_ms=s.guard_latency_floor_ms,
        )


@dataclass(frozen=True, slots=True)
class Observation:
    at: float
    mismatch: bool
    domain_refused_legacy_accepted: bool
    legacy_ms: float | None
    domain_ms: float | None

    @classmethod
    def of(cls, record: ComparisonRecord, at: float) -> Observation:
        return cls(
            at=at,
            mismatch=not record.is_match,
            domain_refused_legacy_accepted=(
                record.domain_rejected and not record.legacy_rejected and record.result != "missing_legacy"
            ),
            legacy_ms=record.legacy_ms,
            domain_ms=record.domain_ms,
        )


def p95(values: list[float]) -> float | None:
    """Nearest-rank 95th percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class WindowStats:
    context: str
    samples: int
    mismatches: int
    domain_rejections: int
    latency_samples: int
    legacy_p95_ms: float | None
    domain_p95_ms: float | None

    @property
    def mismatch_rate(self) -> float:
        return self.mismatches / self.samples if self.samples else 0.0

    @property
    def domain_rejection_rate(self) -> float:
        return self.domain_rejections / self.samples if self.samples else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mismatch_rate"] = self.mismatch_rate
        out["domain_rejection_rate"] = self.domain_rejection_rate
        return out


@dataclass(frozen=True, slots=True)
class Trip:
    context: str
    reasons: tuple[str, ...]  # one line per crossed threshold
    stats: WindowStats

    @property
    def reason(self) -> str:
        return "guard: " + "; ".join(self.reasons)


def evaluate(stats: WindowStats, settings: GuardSettings) -> tuple[str, ...]:
    """The thresholds a window crosses (empty: satisfied). Pure."""
    reasons: list[str] = []
    n = stats.samples
    if n >= settings.min_samples:
        if stats.mismatch_rate > settings.max_mismatch_rate:
            reasons.append(
                f"mismatch rate {stats.mismatch_rate:.2%} > {settings.max_mismatch_rate:.2%}"
                f" over {n} comparisons"
            )
        if stats.domain_rejection_rate > settings.max_domain_rejection_rate:
            reasons.append(
                f"domain refused {stats.domain_rejections} commands legacy accepted"
                f" ({stats.domain_rejection_rate:.2%} > {settings.max_domain_rejection_rate:.2%})"
                f" over {n} comparisons"
            )
    if (
        stats.latency_samples >= settings.min_samples
        and stats.legacy_p95_ms is not None
        and stats.domain_p95_ms is not None
        and stats.domain_p95_ms > settings.latency_ratio * stats.legacy_p95_ms
        and stats.domain_p95_ms > settings.latency_floor_ms
    ):
        reasons.append(
            f"p95 domain latency {stats.domain_p95_ms:.1f} ms > {settings.latency_ratio:g} x legacy's"
            f" {stats.legacy_p95_ms:.1f} ms and > {settings.latency_floor_ms:g} ms"
            f" over {stats.latency_samples} commands"
        )
    return tuple(reasons)


@dataclass(slots=True)
class _Window:
    items: deque[Observation] = field(default_factory=deque)
    mismatches: int = 0
    rejections: int = 0


class Guard:
    """Sliding windows per context. Feed `observe`, call `check` periodically."""

    def __init__(self, settings: GuardSettings | None = None) -> None:
        self.settings = settings or GuardSettings()
        self._windows: dict[str, _Window] = {}

    def observe(self, context: str, observation: Observation) -> None:
        w = self._windows.get(context)
        if w is None:
            w = self._windows[context] = _Window()
        w.items.append(observation)
        w.mismatches += observation.mismatch
        w.rejections += observation.domain_refused_legacy_accepted
        while len(w.items) > self.settings.window_max:
            self._pop(w)

    def observe_record(self, record: ComparisonRecord, now: float) -> None:
        self.observe(record.context, Observation.of(record, now))

    @staticmethod
    def _pop(w: _Window) -> None:
        old = w.items.popleft()
        w.mismatches -= old.mismatch
        w.rejections -= old.domain_refused_legacy_accepted

    def _prune(self, w: _Window, now: float) -> None:
        horizon = now - self.settings.window_seconds
        while w.items and w.items[0].at < horizon:
            self._pop(w)

    def stats(self, context: str, now: float) -> WindowStats:
        w = self._windows.get(context) or _Window()
        self._prune(w, now)
        legacy = [o.legacy_ms for o in w.items if o.legacy_ms is not None and o.domain_ms is not None]
        domain = [o.domain_ms for o in w.items if o.legacy_ms is not None and o.domain_ms is not None]
        return WindowStats(
            context=context,
            samples=len(w.items),
            mismatches=w.mismatches,
            domain_rejections=w.rejections,
            latency_samples=len(domain),
            legacy_p95_ms=p95(legacy),
            domain_p95_ms=p95(domain),
        )

    def contexts(self) -> list[str]:
        return sorted(self._windows)

    def reset(self, context: str) -> None:
        self._windows.pop(context, None)

    def check(self, now: float) -> list[Trip]:
        """Trips for every context whose window crosses a threshold (their windows cleared)."""
        trips: list[Trip] = []
        for context in self.contexts():
            stats = self.stats(context, now)
            reasons = evaluate(stats, self.settings)
            if reasons:
                trips.append(Trip(context, reasons, stats))
                self.reset(context)
        return trips

    def status(self, now: float) -> list[dict[str, Any]]:
        out = []
        for context in self.contexts():
            stats = self.stats(context, now)
            out.append({**stats.to_dict(), "crossed": list(evaluate(stats, self.settings))})
        return out
