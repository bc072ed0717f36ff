"""The domain's PostgreSQL persistence: eventsourcing's PostgreSQL module with an opt-in
`synchronous_commit`, and the library's insert function refused.

Inserts: the library's insert is a pipelined transaction (`LOCK TABLE ... IN EXCLUSIVE MODE`,
`NOTIFY`, `INSERT`, commit). With `POSTGRES_ENABLE_DB_FUNCTIONS` it would instead call a
PL/pgSQL function, which costs about half the CPU in psycopg; but that function is named per
*schema* (`es_insert_events_uuid`), not per table, and created with `CREATE OR REPLACE` by every
Application. The game and the campaign Applications share one schema, so whichever created its
tables last received the other's events too: the chaos suite found game events in the
campaign table after a domain restart, and rooms whose reads never saw their own writes. Until
the function is named per table, the setting is refused with an error rather than ignored.

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
        if self.datastore.enable_db_functions:
            raise InfrastructureFactoryError(
                f"{self.POSTGRES_ENABLE_DB_FUNCTIONS} is not supported: the library's insert "
                "function is named per schema, and the game and campaign applications share one "
                "(see parallax_domain.postgres_store)"
            )
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
