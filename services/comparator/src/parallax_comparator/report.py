"""The report model, built from a comparison store.

`build_report(store, ...)` runs the store's grouped queries; everything after that is pure
functions over plain rows (`series_from_counts`, `breakdown`, `top_fields`, `noise_from_rows`,
`latency_from_rows`, `side_by_side`), so the aggregation is tested without a database. The
renderers (`render.py`, and the CLI's terminal tables) only read the model.
"""

from __future__ import annotations

import difflib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from parallax_comparator.core.diff import ABSENT, RESULTS, Comparison, FieldDiff
from parallax_comparator.core.noise import NoiseDetector
from parallax_comparator.core.signature import collapse_indices
from parallax_comparator.guard import p95
from parallax_comparator.store import ComparisonStore

NICE_BUCKETS = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
RESULT_ORDER = RESULTS


@dataclass
class SeriesPoint:
    start: float
    total: int
    matches: int

    @property
    def rate(self) -> float | None:
        return self.matches / self.total if self.total else None


@dataclass
class Breakdown:
    context: str
    command_type: str | None  # None: the whole context
    total: int
    by_result: dict[str, int]

    @property
    def matches(self) -> int:
        return self.by_result.get("match", 0)

    @property
    def rate(self) -> float | None:
        return self.matches / self.total if self.total else None


@dataclass
class FieldCount:
    context: str
    command_type: str
    path: str  # indices collapsed: [*].payload.hand[*]
    count: int  # non-matches in which it differed
    share: float  # of the non-matches considered


@dataclass
class SideBySideRow:
    left: str | None
    right: str | None
    tag: str  # equal | replace | delete | insert


@dataclass
class Example:
    command_id: str
    aggregate_id: str | None
    result: str
    diffs: list[dict[str, Any]]
    legacy: list[dict[str, Any]]
    domain: list[dict[str, Any]]
    rows: list[SideBySideRow]


@dataclass
class Group:
    signature: str
    context: str
    command_type: str
    result: str
    count: int
    first_at: float
    last_at: float
    paths: list[str]
    example: Example | None


@dataclass
class Noise:
    context: str
    event_type: str
    path: str
    compared: int
    differing: int
    ratio: float
    distinct_values: int
    snippet: str


@dataclass
class Latency:
    context: str
    samples: int
    legacy_p95_ms: float | None
    domain_p95_ms: float | None


@dataclass
class Report:
    title: str
    source: str
    generated_at: float
    since: float | None
    until: float | None
    context: str | None
    total: int
    by_result: dict[str, int]
    bucket_seconds: float
    series: list[SeriesPoint] = field(default_factory=list)
    contexts: list[Breakdown] = field(default_factory=list)
    command_types: list[Breakdown] = field(default_factory=list)
    fields: list[FieldCount] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    noise: list[Noise] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the live service's pending pairs

    @property
    def matches(self) -> int:
        return self.by_result.get("match", 0)

    @property
    def mismatches(self) -> int:
        return self.total - self.matches

    @property
    def match_rate(self) -> float | None:
        return self.matches / self.total if self.total else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["matches"] = self.matches
        out["mismatches"] = self.mismatches
        out["match_rate"] = self.match_rate
        for point, raw in zip(self.series, out["series"], strict=True):
            raw["rate"] = point.rate
        for items, raws in ((self.contexts, out["contexts"]), (self.command_types, out["command_types"])):
            for item, raw in zip(items, raws, strict=True):
                raw["rate"] = item.rate
        return out


# -- pure aggregation ------------------------------------------------------------------------


def bucket_size(span_seconds: float, target_points: int = 60) -> float:
    """A readable bucket size giving at most about `target_points` points over the span."""
    for size in NICE_BUCKETS:
        if span_seconds / size <= target_points:
            return float(size)
    return float(NICE_BUCKETS[-1])


def series_from_counts(rows: Iterable[tuple[float, str, str, int]]) -> list[SeriesPoint]:
    """(bucket start, context, result, count) → one point per bucket, all contexts summed."""
    points: dict[float, SeriesPoint] = {}
    for start, _ctx, result, n in rows:
        p = points.get(start)
        if p is None:
            p = points[start] = SeriesPoint(start, 0, 0)
        p.total += n
        if result == "match":
            p.matches += n
    return [points[k] for k in sorted(points)]


def breakdown(rows: Iterable[tuple[str, str, str, int]]) -> tuple[list[Breakdown], list[Breakdown]]:
    """(context, command type, result, count) → per context, and per (context, command type);
    command types sorted worst match rate first, then by volume."""
    ctx: dict[str, Counter[str]] = defaultdict(Counter)
    typ: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for c, t, r, n in rows:
        ctx[c][r] += n
        typ[(c, t)][r] += n
    contexts = [Breakdown(c, None, sum(v.values()), dict(v)) for c, v in sorted(ctx.items())]
    types = [Breakdown(c, t, sum(v.values()), dict(v)) for (c, t), v in typ.items()]
    types.sort(
        key=lambda b: (b.rate if b.rate is not None else 1.0, -b.total, b.context, b.command_type or "")
    )
    return contexts, types


def top_fields(
    rows: Iterable[tuple[str, str, str, Sequence[Mapping[str, Any]]]], limit: int = 20
) -> list[FieldCount]:
    """(context, command type, result, diffs) of non-matches → the differing paths (indices
    collapsed) by how many non-matches they appear in."""
    counts: Counter[tuple[str, str, str]] = Counter()
    considered = 0
    for c, t, _r, diffs in rows:
        considered += 1
        for path in {collapse_indices(str(d.get("path", ""))) for d in diffs}:
            counts[(c, t, path)] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [FieldCount(c, t, p, n, n / considered if considered else 0.0) for (c, t, p), n in ranked]


def _field_diff(d: Mapping[str, Any]) -> FieldDiff:
    return FieldDiff(str(d.get("path", "")), d.get("left", ABSENT), d.get("right", ABSENT))


def noise_from_rows(rows: Iterable[Mapping[str, Any]], **settings: Any) -> list[Noise]:
    """Stored comparisons (matches included) → noise candidates with the rule snippets."""
    detector = NoiseDetector(**settings)
    for row in rows:
        result = row["result"]
        if result in ("missing_legacy", "missing_domain"):
            continue
        comparison = Comparison(result, [_field_diff(d) for d in row.get("diffs") or []])
        detector.add(row["context"], row.get("legacy") or [], row.get("domain") or [], comparison)
    return [
        Noise(c.context, c.event_type, c.path, c.compared, c.differing, c.ratio, c.distinct_values, c.snippet)
        for c in detector.candidates()
    ]


def latency_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Latency]:
    per: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for row in rows:
        lm, dm = row.get("legacy_ms"), row.get("domain_ms")
        if lm is not None and dm is not None:
            per[row["context"]][0].append(float(lm))
            per[row["context"]][1].append(float(dm))
    return [Latency(c, len(v[0]), p95(v[0]), p95(v[1])) for c, v in sorted(per.items())]


def _pretty(value: Any) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str).splitlines()


def side_by_side(left: Any, right: Any, context_lines: int | None = None) -> list[SideBySideRow]:
    """Both sides pretty-printed and aligned line by line (difflib), tagged for highlighting.

    With `context_lines`, long equal stretches are cut to that many lines around changes."""
    a, b = _pretty(left), _pretty(right)
    rows: list[SideBySideRow] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            chunk = [SideBySideRow(x, x, "equal") for x in a[i1:i2]]
            if context_lines is not None and len(chunk) > 2 * context_lines + 1:
                head = chunk[:context_lines] if rows else []
                tail = chunk[-context_lines:] if i2 < len(a) or j2 < len(b) else []
                skipped = len(chunk) - len(head) - len(tail)
                chunk = [
                    *head,
                    SideBySideRow(f"… {skipped} equal lines", f"… {skipped} equal lines", "skip"),
                    *tail,
                ]
            rows.extend(chunk)
            continue
        n = max(i2 - i1, j2 - j1)
        for k in range(n):
            la = a[i1 + k] if i1 + k < i2 else None
            rb = b[j1 + k] if j1 + k < j2 else None
            rows.append(SideBySideRow(la, rb, tag))
    return rows


def example_from_row(row: Mapping[str, Any], context_lines: int | None = 6) -> Example:
    return Example(
        command_id=row["command_id"],
        aggregate_id=row.get("aggregate_id"),
        result=row["result"],
        diffs=list(row.get("diffs") or []),
        legacy=list(row.get("legacy") or []),
        domain=list(row.get("domain") or []),
        rows=side_by_side(row.get("legacy") or [], row.get("domain") or [], context_lines),
    )


def group_from_row(g: Mapping[str, Any]) -> Group:
    example = g.get("example")
    paths = sorted({collapse_indices(str(d.get("path", ""))) for d in (example or {}).get("diffs") or []})
    return Group(
        signature=g["signature"],
        context=g["context"],
        command_type=g["command_type"] or "unknown",
        result=g["result"],
        count=int(g["count"]),
        first_at=float(g["first_at"]),
        last_at=float(g["last_at"]),
        paths=paths,
        example=example_from_row(example) if example else None,
    )


# -- from a store ------------------------------------------------------------------------------


def build_report(
    store: ComparisonStore,
    *,
    since: float | None = None,
    until: float | None = None,
    context: str | None = None,
    title: str = "Parallax comparison report",
    groups: int = 20,
    fields: int = 20,
    sample: int = 5_000,
    now: float | None = None,
) -> Report:
    generated = time.time() if now is None else now
    first, last = store.time_range(context)
    lo = since if since is not None else first
    hi = until if until is not None else last
    span = (hi - lo) if lo is not None and hi is not None else 0.0
    size = bucket_size(max(span, 1.0))
    series = series_from_counts(store.counts_by_bucket(size, since, until, context))
    type_rows = store.counts_by_type(since, until, context)
    contexts, types = breakdown(type_rows)
    by_result: Counter[str] = Counter()
    for _c, _t, r, n in type_rows:
        by_result[r] += n
    sample_rows = list(store.sample(since, until, context, limit=sample))
    return Report(
        title=title,
        source=store.description,
        generated_at=generated,
        since=since,
        until=until,
        context=context,
        total=sum(by_result.values()),
        by_result={
            r: by_result[r]
            for r in (*RESULT_ORDER, *sorted(set(by_result) - set(RESULT_ORDER)))
            if r in by_result
        },
        bucket_seconds=size,
        series=series,
        contexts=contexts,
        command_types=types,
        fields=top_fields(store.mismatch_diffs(since, until, context), limit=fields),
        groups=[group_from_row(g) for g in store.signature_groups(since, until, context, limit=groups)],
        noise=noise_from_rows(sample_rows),
        latency=latency_from_rows(sample_rows),
    )
