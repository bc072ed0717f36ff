"""Settings of every service, read from the environment through pydantic-settings.

All names carry the `PARALLAX_` prefix, except the few that the spec names without it
(`NATS_URL`, `DOMAIN_ROLLOUT_PERCENTAGE`, `DOMAIN_ADAPTERS_ENABLED`, `SHADOW_ENABLED`), which are
accepted under both spellings. docs/configuration.md lists them all.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARALLAX_", extra="ignore")

    nats_url: str = Field(
        default=DEFAULT_NATS_URL, validation_alias=AliasChoices("PARALLAX_NATS_URL", "NATS_URL")
    )
    data_dir: Path = Path("var")
    http_host: str = "127.0.0.1"
    log_level: str = "INFO"
    # JetStream replicas of the streams and buckets `parallax init` creates (3 on a cluster).
    stream_replicas: int = 1
    # Create/update streams and buckets at startup. Off where services run with least-privilege
    # NATS users (deploy/nats/parallax-auth.conf): there `parallax init` runs once as admin.
    provision_on_start: bool = True


class GatewaySettings(CommonSettings):
    http_port: int = 8000
    jwt_secret: str = "parallax-dev-secret-change-me-in-production"
    max_frame_bytes: int = 64 * 1024
    transport_max_bytes: int = 1024 * 1024
    refusal_window_seconds: float = 10.0
    refusals_before_rate_limit: int = 20
    refusals_before_close: int = 40


class RouterSettings(CommonSettings):
    http_port: int = 8001
    domain_rollout_percentage: Decimal = Field(
        default=Decimal(0),
        ge=0,
        le=100,
        validation_alias=AliasChoices("DOMAIN_ROLLOUT_PERCENTAGE", "PARALLAX_DOMAIN_ROLLOUT_PERCENTAGE"),
    )
    domain_adapters_enabled: bool = Field(
        default=True,
        validation_alias=AliasChoices("DOMAIN_ADAPTERS_ENABLED", "PARALLAX_DOMAIN_ADAPTERS_ENABLED"),
    )
    shadow_enabled: bool = Field(
        default=False,
        validation_alias=AliasChoices("SHADOW_ENABLED", "PARALLAX_SHADOW_ENABLED"),
    )
    replica_id: str = ""


class LegacySettings(CommonSettings):
    http_port: int = 8002


class DomainSettings(CommonSettings):
    http_port: int = 8003
    store: Literal["sqlite", "postgres", "memory"] = "sqlite"
    # SQLite file per context lives in data_dir unless given.
    sqlite_path: Path | None = None
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/test"
    postgres_schema: str = "parallax_domain"
    aggregate_cache_size: int = 1000
    # SQLite's `synchronous` for the event store (parallax_domain.sqlite_store): NORMAL under
    # WAL survives any process crash and skips the fsync per commit; FULL fsyncs every command.
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "NORMAL"
    # Run the (synchronous) eventsourcing calls in a worker thread. Default: only for
    # PostgreSQL, whose round trips are worth overlapping; SQLite calls are sub-millisecond and
    # run on the event loop (thread hops and pool contention cost more than they save).
    store_in_thread: bool | None = None

    def handle_in_thread(self) -> bool:
        return self.store == "postgres" if self.store_in_thread is None else self.store_in_thread

    def eventsourcing_env(self, context: str) -> dict[str, str]:
        """The eventsourcing library's environment for one context's Application."""
        if self.store == "memory":
            return {}
        if self.store == "sqlite":
            path = self.sqlite_path or self.data_dir / f"domain-{context}.sqlite"
            path.parent.mkdir(parents=True, exist_ok=True)
            return {
                # The domain service swaps in its tuned factory (parallax_domain.sqlite_store),
                # which reads SQLITE_SYNCHRONOUS.
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(path),
                "SQLITE_SYNCHRONOUS": self.sqlite_synchronous,
                "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size),
            }
        from urllib.parse import urlparse

        url = urlparse(self.postgres_dsn)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": (url.path or "/postgres").lstrip("/"),
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": url.username or "postgres",
            "POSTGRES_PASSWORD": url.password or "",
            "POSTGRES_SCHEMA": self.postgres_schema,
            "CREATE_TABLE": "y",
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size),
        }


class ComparatorSettings(CommonSettings):
    # populate_by_name: `ComparatorSettings(store_dsn=...)` works beside the env alias.
    model_config = SettingsConfigDict(env_prefix="PARALLAX_", extra="ignore", populate_by_name=True)

    http_port: int = 8004
    deadline_seconds: float = 5.0
    max_pending: int = 100_000
    max_pending_age_seconds: float = 60.0
    rules_file: Path | None = None
    # SQLite (the default) at store_path, or data_dir/comparator.sqlite.
    store_path: Path | None = None
    # PostgreSQL instead of SQLite when set (a libpq URL); tables live in store_schema.
    store_dsn: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PARALLAX_COMPARATOR_STORE_DSN", "PARALLAX_STORE_DSN"),
    )
    store_schema: str = Field(
        default="parallax_comparator",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        validation_alias=AliasChoices("PARALLAX_COMPARATOR_STORE_SCHEMA", "PARALLAX_STORE_SCHEMA"),
    )
    # Comparisons older than this are deleted (checked hourly); 0 keeps everything.
    retention_days: float = Field(default=30.0, ge=0)
    retention_check_seconds: float = Field(default=3600.0, gt=0)
    # Group commit: the comparisons of several commands share one store transaction, committed
    # once store_batch_max wait or store_batch_seconds after the first of them, whichever
    # comes first; their messages are acked after that commit (docs/comparison.md).
    store_batch_max: int = Field(default=256, ge=1)
    store_batch_seconds: float = Field(default=0.025, ge=0)

    # The guard (rollout.md, "Guard"): per context, over a sliding window of comparisons.
    guard_enabled: bool = True
    guard_window_seconds: float = Field(default=600.0, gt=0)
    guard_window_max: int = Field(default=10_000, ge=1)
    guard_min_samples: int = Field(default=200, ge=1)
    # Mismatch rate (every result but `match`) above which the guard trips.
    guard_max_mismatch_rate: float = Field(default=0.01, ge=0, le=1)
    # Share of comparisons where legacy accepted and domain refused.
    guard_max_domain_rejection_rate: float = Field(default=0.005, ge=0, le=1)
    # p95 of domain's handler_ms above ratio x legacy's p95 AND above the floor.
    guard_latency_ratio: float = Field(default=1.1, gt=0)
    guard_latency_floor_ms: float = Field(default=200.0, ge=0)
    guard_check_seconds: float = Field(default=1.0, gt=0)
    # Redelivery of unacked ROUTED/EVENTS messages (acks wait for the pair); default: the
    # longest a pair can wait (max_pending_age_seconds + deadline_seconds) + 30 s.
    ack_wait_seconds: float | None = Field(default=None, gt=0)
