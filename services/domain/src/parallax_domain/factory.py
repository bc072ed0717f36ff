"""Builds the domain Application (and handler) of a context over a configured event store."""

from __future__ import annotations

from collections.abc import Mapping

from parallax_domain.handler import DomainContextHandler
from parallax_domain.receipts import ReceiptingApplication

TUNED_SQLITE = "parallax_domain.sqlite_store:ParallaxSQLiteFactory"
TUNED_POSTGRES = "parallax_domain.postgres_store:ParallaxPostgresFactory"
TUNED = {"eventsourcing.sqlite": TUNED_SQLITE, "eventsourcing.postgres": TUNED_POSTGRES}


def tuned(env: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """eventsourcing's SQLite and PostgreSQL modules replaced by ours: the same stores, with
    `SQLITE_SYNCHRONOUS` and cheaper reads (parallax_domain.sqlite_store), and an opt-in
    `POSTGRES_SYNCHRONOUS_COMMIT` (parallax_domain.postgres_store)."""
    module = None if env is None else env.get("PERSISTENCE_MODULE")
    if env is not None and module in TUNED:
        return {**env, "PERSISTENCE_MODULE": TUNED[module]}
    return env


def application_for(context: str, env: Mapping[str, str] | None = None) -> ReceiptingApplication:
    """`env` is eventsourcing's environment (PERSISTENCE_MODULE, SQLITE_DBNAME, POSTGRES_*, ...);
    without it the Application keeps its events in memory. SQLite and PostgreSQL go through
    our factories (`tuned`)."""
    env = tuned(env)
    if context == "game":
        from parallax_domain.game import GameApplication

        return GameApplication(env=env)
    if context == "campaign":
        from parallax_domain.campaign import CampaignApplication

        return CampaignApplication(env=env)
    raise ValueError(f"unknown context {context!r}")


def in_memory_handler(context: str) -> DomainContextHandler:
    return DomainContextHandler(application_for(context), in_thread=False)
