"""The per-command plumbing of the domain Applications: receipts found through the store's
unique key, the aggregate cache kept at the saved version, and the tuned in-memory, SQLite and
PostgreSQL stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eventsourcing.sqlite as es_sqlite
import pytest
from eventsourcing.persistence import InfrastructureFactoryError, IntegrityError
from eventsourcing.popo import POPOApplicationRecorder
from parallax_contracts.envelopes import Command
from parallax_domain.factory import application_for
from parallax_domain.game import GameApplication, Room, room_uuid
from parallax_domain.memory_store import TailFirstPOPORecorder
from parallax_domain.postgres_store import ParallaxPostgresFactory
from parallax_domain.receipts import CommandReceipt, ReceiptingApplication, receipt_id
from parallax_domain.sqlite_store import AutocommitReads

ROOM = "0A1B2C"


def command(type_: str, actor: str, payload: Any = None, *, command_id: str | None = None) -> Command:
    return Command(
        command_id=command_id or str(uuid.uuid4()),
        context="game",
        aggregate_id=ROOM,
        type=type_,
        actor=actor,
        payload={} if payload is None else payload,
    )


@pytest.fixture(params=["memory", "sqlite"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GameApplication]:
    env = None
    if request.param == "sqlite":
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "g.db")}
    application = application_for("game", env)
    assert isinstance(application, GameApplication)
    yield application
    application.close()


def stored(app: ReceiptingApplication) -> int:
    return int(app.recorder.max_notification_id() or 0)


def cached_room(app: GameApplication) -> Room:
    assert app.repository.cache is not None
    room = app.repository.cache.get(room_uuid(ROOM))
    assert isinstance(room, Room)
    return room


def last_version(app: GameApplication) -> int:
    (last,) = app.recorder.select_events(room_uuid(ROOM), desc=True, limit=1)
    return last.originator_version


def test_the_saved_room_is_cached_and_the_next_command_replays_nothing(
    app: GameApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.handle(command("create_room", "u0", {"name": "Ann"}))
    app.handle(command("join_room", "u1", {"name": "Bob"}))
    assert cached_room(app).version == last_version(app)

    decoded: list[object] = []
    to_domain_event = app.mapper.to_domain_event
    monkeypatch.setattr(app.mapper, "to_domain_event", lambda s: decoded.append(s) or to_domain_event(s))
    app.handle(command("join_room", "u2", {"name": "Cat"}))
    assert decoded == []  # the fast-forward found no event newer than the cached room
    assert cached_room(app).version == last_version(app)


def test_a_redelivered_read_gets_its_first_answer_and_stores_nothing(app: GameApplication) -> None:
    app.handle(command("create_room", "u0", {"name": "Ann"}))
    query = command("get_room_state", "u0")
    first = app.handle(query)
    app.handle(command("join_room", "u1", {"name": "Bob"}))
    before = stored(app)
    assert app.handle(query) == first  # not the room as it is now, with Bob
    assert stored(app) == before
    assert app.handle(command("get_room_state", "u0")) != first


def test_a_command_failing_halfway_leaves_cache_and_store_as_they_were(
    app: GameApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.handle(command("create_room", "u0", {"name": "Ann"}))
    join = command("join_room", "u1", {"name": "Bob"})
    original_join = Room.join

    def join_then_fail(self: Room, player: str, name: str) -> None:
        original_join(self, player, name)  # the room has a new event and a new member
        raise RuntimeError("a bug in the rules")

    monkeypatch.setattr(Room, "join", join_then_fail)
    before, version = stored(app), cached_room(app).version
    with pytest.raises(RuntimeError):
        app.handle(join)
    assert stored(app) == before
    assert cached_room(app).version == version and cached_room(app).seats[1] is None

    monkeypatch.setattr(Room, "join", original_join)
    first = app.handle(join)  # retried in place
    assert [d.type for d in first] == ["player_joined"]

    def fail(self: Room, player: str, name: str) -> None:
        raise RuntimeError("a bug in the rules")

    monkeypatch.setattr(Room, "join", fail)
    assert app.handle(join) == first  # a redelivery is answered even if deciding it now fails
    with pytest.raises(RuntimeError):
        app.handle(command("join_room", "u2", {"name": "Cat"}))


def test_a_refused_save_without_a_receipt_is_raised_and_caches_nothing(
    app: GameApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.handle(command("create_room", "u0", {"name": "Ann"}))
    version = cached_room(app).version

    def conflict(*args: object, **kwargs: object) -> None:
        raise IntegrityError("another writer saved this version first")

    monkeypatch.setattr(app.recorder, "insert_events", conflict)
    with pytest.raises(IntegrityError):
        app.handle(command("join_room", "u1", {"name": "Bob"}))
    assert cached_room(app).version == version


def test_the_receipt_event_is_the_one_the_aggregate_records(app: GameApplication) -> None:
    drafts = [{"type": "x", "payload": {"n": 1}, "audience": ["u0"]}]
    (expected,) = CommandReceipt("c-1", drafts).collect_events()
    recorded = CommandReceipt.record("c-1", drafts)
    assert type(recorded) is type(expected)
    assert {**vars(recorded), "timestamp": None} == {**vars(expected), "timestamp": None}

    app.handle(command("create_room", "u0", {"name": "Ann"}, command_id="c-2"))
    receipt = app.repository.get(receipt_id("c-2"))
    assert isinstance(receipt, CommandReceipt)
    assert [d["type"] for d in receipt.drafts] == ["room_created"]


def test_sqlite_reads_without_a_transaction_select_what_the_library_does(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "r.db")}
    app = application_for("game", env)
    recorder = app.recorder
    assert isinstance(recorder, AutocommitReads)
    for n in range(4):
        app.handle(command("join_room" if n else "create_room", f"u{n}", {"name": f"P{n}"}))
    library = es_sqlite.SQLiteAggregateRecorder.select_events
    for gt in (None, 1, 3):
        for lte in (None, 2, 4):
            for desc in (False, True):
                for limit in (None, 1, 2):
                    args = {"gt": gt, "lte": lte, "desc": desc, "limit": limit}
                    ours = recorder.select_events(room_uuid(ROOM), **args)
                    assert ours == library(recorder, room_uuid(ROOM), **args), args
    assert [e.originator_version for e in recorder.select_events(room_uuid(ROOM))] == [1, 2, 3, 4]
    app.close()


def test_in_memory_reads_select_what_the_library_does() -> None:
    app = application_for("game")
    recorder = app.recorder
    assert isinstance(recorder, TailFirstPOPORecorder)
    for n in range(4):
        app.handle(command("join_room" if n else "create_room", f"u{n}", {"name": f"P{n}"}))
    library = POPOApplicationRecorder.select_events
    for gt in (None, 0, 1, 3, 4, 9):
        for lte in (None, 2):
            for limit in (None, 1):
                args = {"gt": gt, "lte": lte, "limit": limit}
                ours = recorder.select_events(room_uuid(ROOM), **args)
                assert ours == library(recorder, room_uuid(ROOM), **args), args
    assert recorder.select_events(uuid.uuid4(), gt=0) == []


# --------------------------------------------------------------------------- PostgreSQL

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_env() -> Iterator[dict[str, str]]:
    """eventsourcing's environment for a fresh schema on the local server (skipped without one)."""
    import os

    psycopg = pytest.importorskip("psycopg")
    dsn = os.environ.get("PARALLAX_TEST_POSTGRES_DSN", PG_DSN)
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {dsn}: {type(exc).__name__}")
    from parallax_runtime.settings import DomainSettings

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield DomainSettings(store="postgres", postgres_dsn=dsn, postgres_schema=schema).eventsourcing_env(
            "game"
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def synchronous_commit(app: ReceiptingApplication) -> str:
    assert isinstance(app.factory, ParallaxPostgresFactory)
    with app.factory.datastore.get_connection() as conn:
        row = conn.execute("SHOW synchronous_commit").fetchone()
    assert row is not None
    value: str = row["synchronous_commit"]
    return value


def test_postgres_defaults_commit_durably_and_answer_a_redelivery_first(pg_env: dict[str, str]) -> None:
    app = application_for("game", pg_env)
    assert isinstance(app.factory, ParallaxPostgresFactory)
    assert not app.factory.datastore.enable_db_functions
    assert synchronous_commit(app) == "on"
    create = command("create_room", "u0", {"name": "Ann"})
    first = app.handle(create)
    join = app.handle(command("join_room", "u1", {"name": "Bob"}))
    before = stored(app)
    assert app.handle(create) == first  # the store refuses the second receipt: all or nothing
    assert stored(app) == before
    assert [d.type for d in join] == ["player_joined"]
    app.close()


def test_the_two_applications_in_one_schema_keep_their_events_apart(pg_env: dict[str, str]) -> None:
    """Regression: the library's insert function is named per schema; with it, the application
    that created its tables last (here the campaign one) received the game's events, and the
    game never read its own writes back. A restarted game application must see every room event."""
    game = application_for("game", pg_env)
    campaign = application_for("campaign", pg_env)  # created last, as after a domain restart
    create = command("create_room", "u0", {"name": "Ann"})
    game.handle(create)
    game.handle(command("join_room", "u1", {"name": "Bob"}))
    game.close()
    campaign.close()
    restarted = application_for("game", pg_env)
    state = restarted.handle(command("get_room_state", "u0", {}))
    assert [d.type for d in state] == ["room_state"]
    assert [p["player"] for p in state[0].payload["players"]] == ["u0", "u1"]
    restarted.close()


def test_postgres_settings(pg_env: dict[str, str]) -> None:
    app = application_for("game", {**pg_env, "POSTGRES_SYNCHRONOUS_COMMIT": "off"})
    assert synchronous_commit(app) == "off"
    app.close()
    with pytest.raises(InfrastructureFactoryError, match="POSTGRES_ENABLE_DB_FUNCTIONS"):
        application_for("game", {**pg_env, "POSTGRES_ENABLE_DB_FUNCTIONS": "y"})
    with pytest.raises(InfrastructureFactoryError):
        application_for("game", {**pg_env, "POSTGRES_SYNCHRONOUS_COMMIT": "sometimes"})
