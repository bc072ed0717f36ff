"""Fixtures of the persistence suite: the domain event store on SQLite files and on PostgreSQL,
and the two handler services run in this process against the test's NATS server."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from parallax_runtime.settings import DomainSettings

# The conformance helpers (game_support, campaign._support) drive whole games and lifecycles.
CONFORMANCE = Path(__file__).resolve().parent.parent / "conformance"
if str(CONFORMANCE) not in sys.path:
    sys.path.insert(0, str(CONFORMANCE))

EnvFor = Callable[[str], dict[str, str]]


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> DomainSettings:
    return DomainSettings(store="sqlite", data_dir=tmp_path / "domain")


@pytest.fixture
def postgres_settings(postgres_schema: tuple[str, str]) -> DomainSettings:
    dsn, schema = postgres_schema
    return DomainSettings(store="postgres", postgres_dsn=dsn, postgres_schema=schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest) -> DomainSettings:
    """The domain store settings, once per backend (the same settings the service reads)."""
    name = "sqlite_settings" if request.param == "sqlite" else "postgres_settings"
    settings: DomainSettings = request.getfixturevalue(name)
    return settings
