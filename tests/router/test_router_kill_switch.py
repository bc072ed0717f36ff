"""The kill switch under continuous traffic moves every rollbackable aggregate to legacy at once."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.client import Client
from parallax_cli.commands.rollout import build_update, change_config, wait_applied
from parallax_rollout import default_config
from prometheus_client import REGISTRY
from router_support import command, publish, room_id, routed_records, router_app, running, wait_replicas

DEFAULTS = default_config(100, True, True)
ROOMS_SHADOWED = [room_id(0x100 + i) for i in range(12)]
ROOMS_DOMAIN_ONLY = [room_id(0x200 + i) for i in range(4)]


async def test_kill_switch_moves_every_rollbackable_aggregate_at_once(
    router_nats: Client, nats_url: str
) -> None:
    nc = router_nats
    before_nr = REGISTRY.get_sample_value("parallax_router_not_rollbackable_total", {"context": "game"}) or 0
    async with running(router_app(nats_url, "kill-a"), router_app(nats_url, "kill-b")):
        await wait_replicas(nc, "kill-a", "kill-b")
        # All on domain; shadowed rooms keep legacy in `sides`, the others do not.
        start = await change_config(
            nc,
            "game",
            build_update(mode="domain", shadow=True),
            by="t",
            reason="all domain",
            defaults=DEFAULTS,
        )
        assert start is not None
        await wait_applied(nc, "game", start.revision, timeout=1)
        for room in ROOMS_SHADOWED:
            await publish(nc, command(room, "create_room"))
        off = await change_config(
            nc, "game", build_update(shadow=False), by="t", reason="no shadow", defaults=DEFAULTS
        )
        assert off is not None
        await wait_applied(nc, "game", off.revision, timeout=1)
        for room in ROOMS_DOMAIN_ONLY:
            await publish(nc, command(room, "create_room"))
        back = await change_config(
            nc, "game", build_update(shadow=True), by="t", reason="shadow", defaults=DEFAULTS
        )
        assert back is not None
        await wait_applied(nc, "game", back.revision, timeout=1)

        stop = asyncio.Event()
        sent = 0

        async def traffic() -> None:
            nonlocal sent
            rooms = ROOMS_SHADOWED + ROOMS_DOMAIN_ONLY
            while not stop.is_set():
                await publish(nc, command(rooms[sent % len(rooms)]))
                sent += 1
                await asyncio.sleep(0.002)

        task = asyncio.create_task(traffic())
        try:
            await asyncio.sleep(0.5)
            kill = await change_config(
                nc, "game", build_update(kill_switch=True), by="oncall", reason="mismatches", action="kill",
                defaults=DEFAULTS,
            )  # fmt: skip
            assert kill is not None
            await wait_applied(nc, "game", kill.revision, timeout=1)
            await asyncio.sleep(1.0)
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.sleep(1.0)
        records = await routed_records(nc)

    plays = [r for r in records if r["type"] == "play"]
    assert len(plays) == sent
    before = [r for r in plays if r["config_revision"] < kill.revision]
    after = [r for r in plays if r["config_revision"] == kill.revision]
    assert before and after
    assert all(r["primary"] == "domain" for r in before)
    # Once a replica applies the switch, every command it routes moves, whatever the aggregate.
    for record in after:
        if record["aggregate_id"] in ROOMS_SHADOWED:
            assert (record["primary"], record["rule"], record["shadow"]) == (
                "legacy",
                "kill_switch",
                "domain",
            )
        else:
            assert (record["primary"], record["rule"], record["shadow"]) == ("domain", "pinned", None)
    # And no command is routed under the old config after the switch was applied (per room,
    # the records are in command order: once a room moved it never comes back).
    for room in ROOMS_SHADOWED:
        revisions = [r["config_revision"] for r in plays if r["aggregate_id"] == room]
        assert revisions == sorted(revisions)
    moved = {r["aggregate_id"] for r in after if r["primary"] == "legacy"}
    assert moved == set(ROOMS_SHADOWED)
    not_rollbackable = REGISTRY.get_sample_value(
        "parallax_router_not_rollbackable_total", {"context": "game"}
    )
    assert not_rollbackable == before_nr + sum(1 for r in after if r["rule"] == "pinned")
