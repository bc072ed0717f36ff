"""Builds the domain Application (and handler) of a context over a configured event store."""

from __future__ import annotations

from collections.abc import Mapping

from parallax_domain.handler import DomainContextHandler
from parallax_domain.receipts import ReceiptingApplication

TUNED_SQLITE = "parallax_domain.sqlite_store:ParallaxSQLiteFactory"


def tuned(env: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """eventsourcing's SQLite module replaced by ours (same store, `SQLITE_SYNCHRONOUS`
    applied to its connections; parallax_domain.sqlite_store)."""
    if env is not None and env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
        return {**env, "PERSISTENCE_MODULE": TUNED_SQLITE}
    return env


def application_for(context: str, env: Mapping[str, str] | None = None) -> ReceiptingApplication:
    """`env` is eventsourcing's environment (PERSISTENCE_MODULE, SQLITE_DBNAME, POSTGRES_*, ...);
    without it the Application keeps its events in memory. SQLite goes through the tuned
    factory of parallax_domain.sqlite_store (`SQLITE_SYNCHRONOUS`, default NORMAL)."""
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
