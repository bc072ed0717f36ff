"""The domain's SQLite persistence: eventsourcing's SQLite module with a configurable `synchronous`.

eventsourcing.sqlite opens its connections in WAL mode with SQLite's default `synchronous=FULL`:
every commit (one per command) waits for an fsync of the WAL. The legacy side's NATS KV does not
fsync per write (JetStream syncs its files every 2 minutes by default), so the comparison of the
two was store durability, not code. Under WAL, `synchronous=NORMAL` fsyncs at checkpoints only:
a commit survives the process being killed (`kill -9`, a crash, a restart: the WAL is in the
file system) and is lost only if the machine itself loses power or the OS crashes before the
next checkpoint — the same guarantee JetStream's file store gives by default. The database
never corrupts either way.

Selected with ``PERSISTENCE_MODULE=parallax_domain.sqlite_store:ParallaxSQLiteFactory`` (what
DomainSettings.eventsourcing_env sets) and ``SQLITE_SYNCHRONOUS`` = OFF | NORMAL | FULL | EXTRA
(the setting `PARALLAX_SQLITE_SYNCHRONOUS`, default NORMAL; FULL restores the library's
behaviour). See docs/performance.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import eventsourcing.sqlite as es_sqlite
from eventsourcing.persistence import InfrastructureFactoryError, StoredEvent
from eventsourcing.utils import Environment, EnvType

SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
DEFAULT_SYNCHRONOUS = "NORMAL"


class TunedSQLiteConnectionPool(es_sqlite.SQLiteConnectionPool):
    """eventsourcing's pool, with `PRAGMA synchronous` set on every new connection (the
    setting is per connection in SQLite)."""

    def __init__(self, *, synchronous: str, **kwargs: object) -> None:
        if synchronous not in SYNCHRONOUS_LEVELS:
            raise ValueError(f"SQLITE_SYNCHRONOUS must be one of {SYNCHRONOUS_LEVELS}, not {synchronous!r}")
        self.synchronous = synchronous
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def _create_connection(self) -> es_sqlite.SQLiteConnection:
        connection = super()._create_connection()
        if not self.is_sqlite_memory_mode:
            connection._sqlite_conn.execute(f"PRAGMA synchronous={self.synchronous};")
        return connection


class AutocommitReads(es_sqlite.SQLiteAggregateRecorder):
    """`select_events` as one plain SELECT, without the library's explicit transaction.

    The library wraps every read in `BEGIN` ... `ROLLBACK` (plus a cursor and two context
    managers): about 70 % of the cost of the read every command makes (the repository's
    fast-forward of a cached aggregate). In autocommit mode a single SELECT runs in its own
    implicit read transaction and sees one consistent snapshot (under WAL, the last commit
    before it started), which is all one statement needs. Writes keep the library's explicit
    transactions."""

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        statement, params = self._select_statement(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        with self.datastore.get_connection(commit=False) as connection, connection.cursor() as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall()
        return [
            StoredEvent(
                originator_id=self.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
            )
            for row in rows
        ]

    def _select_statement(
        self, originator_id: UUID | str, *, gt: int | None, lte: int | None, desc: bool, limit: int | None
    ) -> tuple[str, list[Any]]:
        """The library's statement (`SQLiteAggregateRecorder.select_events`), unchanged."""
        statement = self.select_events_statement
        params: list[Any] = [originator_id.hex if isinstance(originator_id, UUID) else originator_id]
        if gt is not None:
            statement += "AND originator_version>? "
            params.append(gt)
        if lte is not None:
            statement += "AND originator_version<=? "
            params.append(lte)
        statement += "ORDER BY originator_version " + ("DESC " if desc else "ASC ")
        if limit is not None:
            statement += "LIMIT ? "
            params.append(limit)
        return statement, params


class TunedSQLiteAggregateRecorder(AutocommitReads):
    """Snapshots."""


class TunedSQLiteApplicationRecorder(AutocommitReads, es_sqlite.SQLiteApplicationRecorder):
    """Events."""


class ParallaxSQLiteFactory(es_sqlite.SQLiteFactory):
    SQLITE_SYNCHRONOUS = "SQLITE_SYNCHRONOUS"
    aggregate_recorder_class = TunedSQLiteAggregateRecorder
    application_recorder_class = TunedSQLiteApplicationRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        synchronous = (self.env.get(self.SQLITE_SYNCHRONOUS) or DEFAULT_SYNCHRONOUS).strip().upper()
        if synchronous not in SYNCHRONOUS_LEVELS:
            raise InfrastructureFactoryError(
                f"{self.SQLITE_SYNCHRONOUS} must be one of {', '.join(SYNCHRONOUS_LEVELS)}: {synchronous!r}"
            )
        old = self.datastore.pool
        # The library's pool has opened no connection yet: replace it with one that tunes
        # every connection it opens, with the same settings.
        self.datastore.pool = TunedSQLiteConnectionPool(
            synchronous=synchronous,
            db_name=old.db_name,
            lock_timeout=old.lock_timeout,
        )
        old.close()
