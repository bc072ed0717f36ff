"""Restarting the handler services mid-game and mid-lifecycle, over the real NATS server.

Both services run in this process (their real apps: FastStream consumer on HANDLE, legacy state
in the NATS KV buckets, domain events in SQLite files). Commands are published to HANDLE as the
router publishes them; responses are read from EVENTS. Half the script is played, each handler
is stopped (a command is published while it is down) and started again, and the rest is played:
every response, before and after, must be the recorded one, so legacy and domain stay equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from nats.aio.client import Client as Nats
from parallax_contracts.envelopes import IMPLS, Impl
from parallax_contracts.ids import new_room_id
from persistence_support import (
    NatsDriver,
    Services,
    Step,
    campaign_script,
    drafts_of,
    game_script,
    services,
    triples,
)

pytestmark = pytest.mark.integration

GAME_SEED = 777


async def play(driver: NatsDriver, steps: Sequence[Step], impls: Sequence[Impl] = IMPLS) -> None:
    """Each command to every implementation at once (as a shadowed command is), then both
    responses are checked against the script."""
    for i, step in enumerate(steps):
        for impl in impls:
            await driver.publish(impl, step.command)
        for impl in impls:
            got = drafts_of(await driver.response(impl, step.command.command_id))
            assert triples(got) == triples(step.expected), (impl, i, step.command.type)


async def restart_midway(driver: NatsDriver, running: Services, steps: Sequence[Step]) -> None:
    half = len(steps) // 2
    await play(driver, steps[:half])

    # Stop both handlers; the next command waits in HANDLE for them.
    for impl in IMPLS:
        await running.stop(impl)
    waiting = steps[half]
    for impl in IMPLS:
        await driver.publish(impl, waiting.command)
    for impl in IMPLS:
        await running.start(impl)
    for impl in IMPLS:
        got = drafts_of(await driver.response(impl, waiting.command.command_id))
        assert triples(got) == triples(waiting.expected), impl

    # A redelivery of commands answered before the restart (JetStream would redeliver the
    # unacked one; a new message id gets past the duplicate window): the first answer again.
    # Legacy keeps the receipts of an aggregate's last RECEIPTS_KEPT commands, domain all.
    recent = (steps[half - 1], steps[max(0, half - 8)])
    redeliveries: list[tuple[Impl, Step]] = [(i, step) for i in IMPLS for step in recent]
    for impl, step in [*redeliveries, ("domain", steps[0])]:
        driver.forget(impl, step.command.command_id)
        await driver.publish(impl, step.command, msg_id_suffix=":again")
        got = drafts_of(await driver.response(impl, step.command.command_id))
        assert triples(got) == triples(step.expected), (impl, step.command.type)

    # Restart them one at a time, the other one keeps answering.
    await running.restart("legacy")
    await play(driver, steps[half + 1 : half + 20])
    await running.restart("domain")
    await play(driver, steps[half + 20 :])


async def test_restart_mid_game(clean_topology: Nats, nats_url: str, tmp_path: Path) -> None:
    steps = await game_script(GAME_SEED, new_room_id())
    async with services(nats_url, tmp_path, *IMPLS) as running, NatsDriver(clean_topology) as driver:
        await restart_midway(driver, running, steps)
    assert steps[-1].expected[-1].type == "game_over"


async def test_restart_mid_campaign(clean_topology: Nats, nats_url: str, tmp_path: Path) -> None:
    steps, _ = await campaign_script()
    async with services(nats_url, tmp_path, *IMPLS) as running, NatsDriver(clean_topology) as driver:
        await restart_midway(driver, running, steps)


async def test_nothing_is_lost_while_a_handler_is_down(
    clean_topology: Nats, nats_url: str, tmp_path: Path
) -> None:
    """Commands published while the handlers are down are all answered, in order, after start."""
    steps = (await game_script(GAME_SEED + 1, new_room_id()))[:120]
    async with services(nats_url, tmp_path) as running, NatsDriver(clean_topology) as driver:
        for step in steps[:40]:
            for impl in IMPLS:
                await driver.publish(impl, step.command)
        for impl in IMPLS:
            await running.start(impl)
        await play(driver, steps[40:60])  # also waits for the backlog: the consumer is ordered
        for impl in IMPLS:
            for i, step in enumerate(steps[:40]):
                got = drafts_of(await driver.response(impl, step.command.command_id))
                assert triples(got) == triples(step.expected), (impl, i)
        await running.stop("domain")
        await play(driver, steps[60:80], impls=["legacy"])
        for step in steps[60:80]:
            await driver.publish("domain", step.command)
        await running.start("domain")
        await play(driver, steps[80:])
        for i, step in enumerate(steps[60:80]):
            got = drafts_of(await driver.response("domain", step.command.command_id))
            assert triples(got) == triples(step.expected), i
