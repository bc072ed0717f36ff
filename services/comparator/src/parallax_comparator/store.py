"""Comparison records: SQLite (the default) or PostgreSQL, indexed for the report queries.

One class per dialect over a shared body of SQL: both speak `INSERT ... ON CONFLICT DO NOTHING`
(a redelivered command is stored once), differ in placeholders, time bucketing and connection
handling. `open_store(settings)` picks one from `ComparatorSettings`. Retention:
`delete_older_than(cutoff)` (the service calls it periodically with `retention_days`).

Every method is synchronous and serialized by a lock; the service calls the slow ones (report
queries, retention) in a worker thread.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parallax_comparator.records import ComparisonRecord

if TYPE_CHECKING:
    from parallax_runtime.settings import ComparatorSettings

COLUMNS = (
    "command_id",
    "context",
    "aggregate_id",
    "command_type",
    "result",
    "reason",
    "signature",
    "diffs",
    "legacy",
    "domain",
    "compared_at",
    "legacy_ms",
    "domain_ms",
)

_TABLES = """
CREATE TABLE IF NOT EXISTS comparisons (
    command_id   TEXT PRIMARY KEY,
    context      TEXT NOT NULL,
    aggregate_id TEXT,
    command_type TEXT,
    result       TEXT NOT NULL,
    reason       TEXT,
    signature    TEXT,
    diffs        TEXT,
    legacy       TEXT,
    domain       TEXT,
    compared_at  {real} NOT NULL,
    legacy_ms    {real},
    domain_ms    {real}
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
)
"""
# The report's queries: time series (compared_at, context, result), by type, by signature;
# retention (compared_at).
_INDEXES = """
CREATE INDEX IF NOT EXISTS comparisons_by_time ON comparisons (compared_at);
CREATE INDEX IF NOT EXISTS comparisons_by_result ON comparisons (context, result, compared_at);
CREATE INDEX IF NOT EXISTS comparisons_by_type ON comparisons (context, command_type, result);
CREATE INDEX IF NOT EXISTS comparisons_by_signature ON comparisons (signature, compared_at)
"""
# Columns added after the first release: added in place to an older store.
_ADDED_COLUMNS = (("legacy_ms", "{real}"), ("domain_ms", "{real}"))

SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# A redelivered command is stored once: the second insert of a command id does nothing.
_INSERT = (
    f"INSERT INTO comparisons ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    " ON CONFLICT (command_id) DO NOTHING"
)
# Which of a batch's command ids (a JSON array) are stored already.
_SQLITE_STORED_AMONG = (
    "SELECT command_id FROM comparisons WHERE command_id IN (SELECT value FROM json_each(?))"
)


def _window(since: float | None, until: float | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("compared_at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("compared_at < ?")
        params.append(until)
    return (" AND ".join(clauses) or "1=1"), params


def _where(
    since: float | None, until: float | None, context: str | None, extra: str | None = None
) -> tuple[str, list[Any]]:
    sql, params = _window(since, until)
    if context is not None:
        sql += " AND context = ?"
        params.append(context)
    if extra:
        sql += f" AND {extra}"
    return sql, params


def _record_row(r: ComparisonRecord) -> tuple[Any, ...]:
    """A record as a row in `COLUMNS` order, the JSON columns as text."""
    return (
        r.command_id,
        r.context,
        r.aggregate_id,
        r.command_type,
        r.result,
        r.reason,
        r.signature,
        json.dumps(r.diffs, default=str),
        json.dumps(r.legacy, default=str),
        json.dumps(r.domain, default=str),
        r.compared_at,
        r.legacy_ms,
        r.domain_ms,
    )


def _row_dict(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(COLUMNS, row, strict=True))
    for key in ("diffs", "legacy", "domain"):
        out[key] = json.loads(out[key]) if out[key] else []
    return out


class ComparisonStore:
    """The store's queries, dialect-neutral. Subclasses provide `_execute` and friends."""

    dialect = "sql"
    description = "comparison store"

    def __init__(self) -> None:
        self._lock = threading.RLock()

    # -- dialect hooks ------------------------------------------------------------------
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _executemany_ignoring(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        raise NotImplementedError

    def _insert_new(self, sql: str, rows: list[tuple[Any, ...]]) -> set[str]:
        """`sql` for every row in one transaction; returns the command ids it inserted."""
        raise NotImplementedError

    def _bucket_expr(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._execute(sql, params).fetchall())

    # -- writes -------------------------------------------------------------------------
    def record(
        self,
        *,
        command_id: str,
        context: str,
        aggregate_id: str | None,
        command_type: str | None,
        result: str,
        reason: str,
        signature: str | None,
        diffs: list[dict[str, Any]],
        legacy: list[dict[str, Any]],
        domain: list[dict[str, Any]],
        compared_at: float | None = None,
        legacy_ms: float | None = None,
        domain_ms: float | None = None,
    ) -> bool:
        """Store one comparison; False if this command was compared already (redelivery)."""
        row = (
            command_id,
            context,
            aggregate_id,
            command_type,
            result,
            reason,
            signature,
            json.dumps(diffs, default=str),
            json.dumps(legacy, default=str),
            json.dumps(domain, default=str),
            time.time() if compared_at is None else compared_at,
            legacy_ms,
            domain_ms,
        )
        return self._insert([row]) == 1

    def add(self, record: ComparisonRecord) -> bool:
        return self.add_many([record]) == 1

    def add_many(self, records: Iterable[ComparisonRecord]) -> int:
        """Store records in one transaction; returns how many were new."""
        return len(self.add_new(list(records)))

    def add_new(self, records: Sequence[ComparisonRecord]) -> list[ComparisonRecord]:
        """Store records in one transaction; returns the ones that were new, in order. A
        command stored before (a redelivery), or repeated within `records`, is left out: the
        service counts and observes only what this call stored, so nothing counts twice."""
        if not records:
            return []
        with self._lock:
            inserted = self._insert_new(_INSERT, [_record_row(r) for r in records])
        new: list[ComparisonRecord] = []
        for record in records:
            if record.command_id in inserted:
                inserted.discard(record.command_id)  # a repeat within the batch was not stored
                new.append(record)
        return new

    def add_rows(self, rows: list[tuple[Any, ...]]) -> int:
        """Store rows already in `COLUMNS` order, the JSON columns as text, in one
        transaction; returns how many were new. The replay encodes each side once, where it
        ran it, and does not pay for a second encoding here."""
        return self._insert(rows) if rows else 0

    def _insert(self, rows: list[tuple[Any, ...]]) -> int:
        with self._lock:
            return self._executemany_ignoring(_INSERT, rows)

    def bump(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._execute(
                "INSERT INTO counters (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
                (name, by),
            )

    def delete_older_than(self, cutoff: float) -> int:
        """Retention: delete comparisons stored before `cutoff` (Unix time); returns how many."""
        with self._lock:
            cursor = self._execute("DELETE FROM comparisons WHERE compared_at < ?", (cutoff,))
            return int(cursor.rowcount or 0)

    # -- reads --------------------------------------------------------------------------
    def count(self) -> int:
        return int(self._all("SELECT COUNT(*) FROM comparisons")[0][0])

    def get(self, command_id: str) -> dict[str, Any] | None:
        rows = self._all(f"SELECT {', '.join(COLUMNS)} FROM comparisons WHERE command_id = ?", (command_id,))
        return _row_dict(rows[0]) if rows else None

    def results(self) -> dict[str, str]:
        """command id → result, for every stored comparison (tests, replay checks)."""
        return {cid: res for cid, res in self._all("SELECT command_id, result FROM comparisons")}

    def time_range(self, context: str | None = None) -> tuple[float | None, float | None]:
        where, params = _where(None, None, context)
        row = self._all(f"SELECT MIN(compared_at), MAX(compared_at) FROM comparisons WHERE {where}", params)
        return (row[0][0], row[0][1]) if row else (None, None)

    def counts_by_bucket(
        self,
        bucket_seconds: float,
        since: float | None = None,
        until: float | None = None,
        context: str | None = None,
    ) -> list[tuple[float, str, str, int]]:
        """(bucket start, context, result, count), bucket start = floor(t / size) * size."""
        where, params = _where(since, until, context)
        rows = self._all(
            f"SELECT {self._bucket_expr()} AS b, context, result, COUNT(*) FROM comparisons"
            f" WHERE {where} GROUP BY b, context, result ORDER BY b",
            [bucket_seconds, *params],
        )
        return [(float(b) * bucket_seconds, c, r, int(n)) for b, c, r, n in rows]

    def counts_by_type(
        self, since: float | None = None, until: float | None = None, context: str | None = None
    ) -> list[tuple[str, str, str, int]]:
        where, params = _where(since, until, context)
        rows = self._all(
            "SELECT context, command_type, result, COUNT(*) FROM comparisons"
            f" WHERE {where} GROUP BY context, command_type, result ORDER BY context, command_type, result",
            params,
        )
        return [(c, t or "unknown", r, int(n)) for c, t, r, n in rows]

    def signature_groups(
        self,
        since: float | None = None,
        until: float | None = None,
        context: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Non-matches grouped by signature, largest first, each with its latest example."""
        where, params = _where(since, until, context, "signature IS NOT NULL")
        rows = self._all(
            "SELECT signature, context, MIN(command_type), MIN(result), COUNT(*),"
            " MIN(compared_at), MAX(compared_at) FROM comparisons"
            f" WHERE {where} GROUP BY signature, context ORDER BY COUNT(*) DESC, signature LIMIT ?",
            [*params, limit],
        )
        groups: list[dict[str, Any]] = []
        for sig, ctx, ctype, result, n, first, last in rows:
            ex_where, ex_params = _where(since, until, ctx, "signature = ?")
            example = self._all(
                f"SELECT {', '.join(COLUMNS)} FROM comparisons WHERE {ex_where}"
                " ORDER BY compared_at DESC LIMIT 1",
                [*ex_params, sig],
            )
            groups.append(
                {
                    "signature": sig,
                    "context": ctx,
                    "command_type": ctype,
                    "result": result,
                    "count": int(n),
                    "first_at": float(first),
                    "last_at": float(last),
                    "example": _row_dict(example[0]) if example else None,
                }
            )
        return groups

    def mismatch_diffs(
        self,
        since: float | None = None,
        until: float | None = None,
        context: str | None = None,
        limit: int = 20_000,
    ) -> list[tuple[str, str, str, list[dict[str, Any]]]]:
        """(context, command type, result, diffs) of the latest `limit` non-matches."""
        where, params = _where(since, until, context, "result <> 'match'")
        rows = self._all(
            f"SELECT context, command_type, result, diffs FROM comparisons WHERE {where}"
            " ORDER BY compared_at DESC LIMIT ?",
            [*params, limit],
        )
        return [(c, t or "unknown", r, json.loads(d) if d else []) for c, t, r, d in rows]

    def sample(
        self,
        since: float | None = None,
        until: float | None = None,
        context: str | None = None,
        limit: int = 5_000,
    ) -> Iterator[dict[str, Any]]:
        """The latest `limit` comparisons, matches included (noise detection, latency)."""
        where, params = _where(since, until, context)
        rows = self._all(
            f"SELECT {', '.join(COLUMNS)} FROM comparisons WHERE {where} ORDER BY compared_at DESC LIMIT ?",
            [*params, limit],
        )
        for row in rows:
            yield _row_dict(row)

    def summary(self) -> dict[str, Any]:
        by_result = {
            r: int(n) for r, n in self._all("SELECT result, COUNT(*) FROM comparisons GROUP BY result")
        }
        by_type = [
            {"context": c, "command_type": t, "result": r, "count": n} for c, t, r, n in self.counts_by_type()
        ]
        counters = {k: int(v) for k, v in self._all("SELECT name, value FROM counters")}
        total = sum(by_result.values())
        mismatches = total - by_result.get("match", 0)
        return {
            "total": total,
            "by_result": by_result,
            "mismatches": mismatches,
            "match_rate": (by_result.get("match", 0) / total) if total else None,
            "by_type": by_type,
            "counters": counters,
        }

    def examples(self, result: str, limit: int = 5) -> list[dict[str, Any]]:
        rows = self._all(
            f"SELECT {', '.join(COLUMNS)} FROM comparisons WHERE result = ? ORDER BY compared_at LIMIT ?",
            (result, limit),
        )
        return [_row_dict(r) for r in rows]


class SqliteComparisonStore(ComparisonStore):
    dialect = "sqlite"

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = Path(path) if str(path) != ":memory:" else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.description = f"SQLite {path}"
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_TABLES.format(real="REAL") + ";")
        present = {row[1] for row in self._conn.execute("PRAGMA table_info(comparisons)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in present:
                self._conn.execute(f"ALTER TABLE comparisons ADD COLUMN {name} {kind.format(real='REAL')}")
        self._conn.executescript(_INDEXES + ";")

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, tuple(params))

    @contextlib.contextmanager
    def _transaction(self, begin: str = "BEGIN") -> Iterator[None]:
        self._conn.execute(begin)
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (busy, disk full) may leave the transaction open: roll it back,
            # or every later BEGIN on this connection fails.
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _executemany_ignoring(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        before = self._conn.total_changes
        with self._transaction():
            self._conn.executemany(sql, rows)
        return self._conn.total_changes - before

    def _insert_new(self, sql: str, rows: list[tuple[Any, ...]]) -> set[str]:
        # sqlite3's executemany cannot return rows (RETURNING), so: which ids are stored
        # already, then the insert. IMMEDIATE takes the write lock first, so no other writer
        # can store one of them in between.
        ids = [row[0] for row in rows]
        with self._transaction("BEGIN IMMEDIATE"):
            stored = {cid for (cid,) in self._conn.execute(_SQLITE_STORED_AMONG, (json.dumps(ids),))}
            self._conn.executemany(sql, rows)
        return set(ids) - stored

    def _bucket_expr(self) -> str:
        return "CAST(compared_at / ? AS INTEGER) - (compared_at < 0)"

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresComparisonStore(ComparisonStore):
    """The same table in a PostgreSQL schema (created if missing). JSON columns stay TEXT so
    both stores return the same rows."""

    dialect = "postgres"

    def __init__(self, dsn: str, schema: str = "parallax_comparator") -> None:
        super().__init__()
        if not SCHEMA_RE.fullmatch(schema):
            raise ValueError(f"bad schema name {schema!r}")
        self.dsn = dsn
        self.schema = schema
        self.description = f"PostgreSQL schema {schema}"
        self._conn = self._connect()
        self._conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        self._conn.execute(f'SET search_path TO "{schema}"')
        for statement in _TABLES.format(real="DOUBLE PRECISION").split(";"):
            if statement.strip():
                self._conn.execute(statement)
        for name, kind in _ADDED_COLUMNS:
            kind_sql = kind.format(real="DOUBLE PRECISION")
            self._conn.execute(f"ALTER TABLE comparisons ADD COLUMN IF NOT EXISTS {name} {kind_sql}")
        for statement in _INDEXES.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
        conn.execute(f'SET search_path TO "{self.schema}"')
        return conn

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def _reconnect_if_broken(self) -> None:
        if self._conn.closed or self._conn.broken:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = self._connect()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        import psycopg

        self._reconnect_if_broken()
        try:
            return self._conn.execute(self._sql(sql), tuple(params))
        except psycopg.OperationalError:
            # One retry on a fresh connection (a restarted server, an idle timeout).
            self._reconnect_if_broken()
            return self._conn.execute(self._sql(sql), tuple(params))

    def _executemany_ignoring(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        self._reconnect_if_broken()
        with self._conn.transaction(), self._conn.cursor() as cur:
            # executemany's rowcount is the total over all rows (psycopg 3).
            cur.executemany(self._sql(sql), rows)
            return int(cur.rowcount or 0)

    def _insert_new(self, sql: str, rows: list[tuple[Any, ...]]) -> set[str]:
        self._reconnect_if_broken()
        inserted: set[str] = set()
        with self._conn.transaction(), self._conn.cursor() as cur:
            # One result per row: its id if inserted, nothing on a conflict. (`nextset`, not
            # `results()`: that needs psycopg 3.3.)
            cur.executemany(self._sql(sql + " RETURNING command_id"), rows, returning=True)
            while True:
                inserted.update(cid for (cid,) in cur.fetchall())
                if not cur.nextset():
                    break
        return inserted

    def _bucket_expr(self) -> str:
        return "FLOOR(compared_at / %s)::bigint".replace("%s", "?")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_store(settings: ComparatorSettings) -> ComparisonStore:
    """PostgreSQL when `store_dsn` is set, else SQLite at `store_path` (or in `data_dir`)."""
    if settings.store_dsn:
        return PostgresComparisonStore(settings.store_dsn, settings.store_schema)
    return SqliteComparisonStore(settings.store_path or settings.data_dir / "comparator.sqlite")
