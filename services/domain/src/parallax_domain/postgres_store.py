"""The domain's PostgreSQL persistence: eventsourcing's PostgreSQL module, inserting events
through the library's insert function by default, with an opt-in `synchronous_commit`.

Inserts: the library's default insert is a pipelined transaction (`LOCK TABLE ... IN EXCLUSIVE
MODE`, `NOTIFY`, `INSERT`, commit); with `POSTGRES_ENABLE_DB_FUNCTIONS` it calls the function
`es_insert_events_uuid` (created with the tables, whatever the setting) in one prepared
statement instead, which halves the CPU of a command in psycopg. One statement in autocommit
mode is one transaction: a command's events and its receipt are stored together or not at all,
and a duplicate (id, version) still fails the whole statement. What it gives up is the table
lock, which only keeps the notification log's ids in commit order for readers that tail it;
nothing reads that log here. We default it to on; `POSTGRES_ENABLE_DB_FUNCTIONS=n` restores
the library's insert.

Commits: by default every commit (one per command) waits until PostgreSQL has flushed its WAL
to disk, a few milliseconds. `POSTGRES_SYNCHRONOUS_COMMIT=off` lets a commit return before that
flush. The database stays consistent, but if the PostgreSQL *server* crashes
(not the domain process), commits of the last ~0.6 s (3 times `wal_writer_delay`) are lost although
their responses were published and their commands acked, so the domain would then disagree with
what legacy and the clients saw. Hence opt-in, for deployments that accept that (or whose storage
makes flushes cheap); unset, the server's own setting (durable by default) applies.

Selected with ``PERSISTENCE_MODULE=parallax_domain.postgres_store:ParallaxPostgresFactory``
(what `parallax_domain.factory.tuned` sets for ``eventsourcing.postgres``). Both settings are
read from the Application's environment, which includes the process environment. See
docs/persistence.md.
"""

from __future__ import annotations

import eventsourcing.postgres as es_postgres
from eventsourcing.persistence import InfrastructureFactoryError
from eventsourcing.utils import Environment, EnvType

SYNCHRONOUS_COMMIT_LEVELS = ("on", "off", "local", "remote_write", "remote_apply")


class ParallaxPostgresFactory(es_postgres.PostgresFactory):
    POSTGRES_SYNCHRONOUS_COMMIT = "POSTGRES_SYNCHRONOUS_COMMIT"

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        if self.env.get(self.POSTGRES_ENABLE_DB_FUNCTIONS) is None:
            self.datastore.enable_db_functions = True
        self._set_synchronous_commit()

    def _set_synchronous_commit(self) -> None:
        level = (self.env.get(self.POSTGRES_SYNCHRONOUS_COMMIT) or "").strip().lower()
        if not level:
            return
        if level not in SYNCHRONOUS_COMMIT_LEVELS:
            raise InfrastructureFactoryError(
                f"{self.POSTGRES_SYNCHRONOUS_COMMIT} must be one of "
                f"{', '.join(SYNCHRONOUS_COMMIT_LEVELS)}: {level!r}"
            )
        # The pool has opened no connection yet; libpq's `options` sets the parameter for the
        # whole session of every connection it opens.
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        kwargs["options"] = f"-c synchronous_commit={level}"
