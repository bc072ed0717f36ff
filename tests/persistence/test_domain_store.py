"""The domain event store on SQLite files and on PostgreSQL: whole games and campaign lifecycles
survive closing and reopening the Application, redeliveries after a reopen answer as the first
time and store nothing, and long aggregates are snapshotted.

Every response is compared with the recorded script (the legacy rules in memory), so a reopen
that lost or doubled anything shows up as a different answer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import psycopg
import pytest
from eventsourcing.application import Application
from parallax_contracts.ids import new_room_id
from parallax_domain.factory import application_for
from parallax_domain.game.application import SNAPSHOT_INTERVAL
from parallax_domain.game.room import Room, room_uuid
from parallax_domain.receipts import ReceiptingApplication, receipt_id
from parallax_runtime.settings import DomainSettings
from persistence_support import Step, campaign_script, game_script, triples

GAME_SEED = 12345


def play(app: ReceiptingApplication, steps: Sequence[Step]) -> None:
    for i, step in enumerate(steps):
        got = app.handle(step.command)
        assert triples(got) == triples(step.expected), (i, step.command.type, step.command.actor)


def reopen(app: Application, settings: DomainSettings, context: str) -> ReceiptingApplication:
    app.close()
    return application_for(context, settings.eventsourcing_env(context))


def stored_count(app: Application) -> int:
    return int(app.recorder.max_notification_id() or 0)


def assert_redelivery_changes_nothing(app: ReceiptingApplication, steps: Sequence[Step]) -> None:
    before = stored_count(app)
    for step in steps:
        assert triples(app.handle(step.command)) == triples(step.expected), step.command.type
    assert stored_count(app) == before


async def test_whole_game_survives_reopening(store_settings: DomainSettings) -> None:
    room = new_room_id()
    steps = await game_script(GAME_SEED, room)
    cuts = [1, 4, len(steps) // 3, len(steps) // 2, len(steps) - 1]
    app = application_for("game", store_settings.eventsourcing_env("game"))
    done = 0
    for cut in cuts:
        play(app, steps[done:cut])
        done = cut
        app = reopen(app, store_settings, "game")
        # The first command, the last one before the reopen, and a refused one in between.
        assert_redelivery_changes_nothing(app, [steps[0], steps[cut - 1], steps[cut // 2]])
    play(app, steps[done:])
    assert steps[-1].expected[-1].type == "game_over"
    assert_redelivery_changes_nothing(app, steps[-3:])

    # Everything is stored: a fresh Application rebuilds the same finished room.
    version = app.repository.get(room_uuid(room)).version
    app = reopen(app, store_settings, "game")
    reloaded = app.repository.get(room_uuid(room))
    assert isinstance(reloaded, Room) and reloaded.version == version
    app.close()


async def test_campaign_lifecycle_survives_reopening(store_settings: DomainSettings) -> None:
    steps, _ = await campaign_script()
    app = application_for("campaign", store_settings.eventsourcing_env("campaign"))
    done = 0
    for cut in (3, len(steps) // 2, len(steps) - 2):
        play(app, steps[done:cut])
        done = cut
        app = reopen(app, store_settings, "campaign")
        assert_redelivery_changes_nothing(app, [steps[0], steps[(cut - 1) // 2], steps[cut - 1]])
    play(app, steps[done:])
    assert_redelivery_changes_nothing(app, steps)
    app.close()


async def test_receipts_are_stored_with_the_state(store_settings: DomainSettings) -> None:
    """A command's receipt is an aggregate of its own, saved in the same transaction."""
    steps, _ = await campaign_script(progress_records=1)
    app = application_for("campaign", store_settings.eventsourcing_env("campaign"))
    play(app, steps[:5])
    app = reopen(app, store_settings, "campaign")
    for step in steps[:5]:
        receipt = app.repository.get(receipt_id(step.command.command_id))
        assert receipt.drafts == [d.model_dump(mode="json") for d in step.expected]
    app.close()


async def test_long_game_is_snapshotted(store_settings: DomainSettings) -> None:
    room = new_room_id()
    steps = await game_script(GAME_SEED + 1, room, state_every=0)
    app = application_for("game", store_settings.eventsourcing_env("game"))
    play(app, steps)
    version = app.repository.get(room_uuid(room)).version
    assert version > 10 * SNAPSHOT_INTERVAL  # 20 rounds
    assert app.snapshots is not None
    snapshots = list(app.snapshots.get(room_uuid(room)))
    assert len(snapshots) == version // SNAPSHOT_INTERVAL
    assert snapshots[-1].originator_version > version - SNAPSHOT_INTERVAL

    # A reopened Application (empty cache) loads from the last snapshot plus the few events
    # after it, and gets the same room.
    app = reopen(app, store_settings, "game")
    latest = list(app.snapshots.get(room_uuid(room), desc=True, limit=1))  # type: ignore[union-attr]
    tail = list(app.events.get(room_uuid(room), gt=latest[0].originator_version))
    assert len(tail) < SNAPSHOT_INTERVAL
    reloaded = app.repository.get(room_uuid(room))
    assert reloaded.version == version
    app.close()

    # ... and the rows are where docs/persistence.md says they are.
    assert stored_snapshot_rows(store_settings, "game") == len(snapshots)


def stored_snapshot_rows(settings: DomainSettings, context: str) -> int:
    env = settings.eventsourcing_env(context)
    if settings.store == "sqlite":
        with sqlite3.connect(env["SQLITE_DBNAME"]) as conn:
            return int(conn.execute("SELECT count(*) FROM stored_snapshots").fetchone()[0])
    app_name = {"game": "gameapplication", "campaign": "campaignapplication"}[context]
    with psycopg.connect(settings.postgres_dsn) as conn:
        row = conn.execute(
            f'SELECT count(*) FROM "{settings.postgres_schema}".{app_name}_snapshots'
        ).fetchone()
        assert row is not None
        return int(row[0])


@pytest.mark.postgres
async def test_game_and_campaign_share_one_schema(postgres_settings: DomainSettings) -> None:
    """Both contexts' Applications live side by side in the configured schema, in tables named
    after the Application."""
    game = application_for("game", postgres_settings.eventsourcing_env("game"))
    campaign = application_for("campaign", postgres_settings.eventsourcing_env("campaign"))
    steps, _ = await campaign_script(progress_records=1)
    play(campaign, steps[:3])
    game_steps = (await game_script(GAME_SEED, new_room_id()))[:5]
    play(game, game_steps)
    game.close()
    campaign.close()
    with psycopg.connect(postgres_settings.postgres_dsn) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (postgres_settings.postgres_schema,),
            )
        }
    assert {
        "gameapplication_events",
        "gameapplication_snapshots",
        "campaignapplication_events",
        "campaignapplication_snapshots",
    } <= tables
