"""A config change reaches every router replica within a second; `--wait` semantics; gauges."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError
from parallax_cli.commands.rollout import (
    RolloutError,
    WaitTimeout,
    build_update,
    change_config,
    wait_applied,
)
from parallax_rollout import default_config
from parallax_router.live_config import LiveConfig
from parallax_runtime.topology import ROUTERS_BUCKET
from prometheus_client import REGISTRY
from router_support import (
    command,
    publish,
    room_id,
    routed_records,
    router_app,
    running,
    wait_for_count,
    wait_replicas,
)

DEFAULTS = default_config(50, True, True)


async def test_change_applies_on_two_replicas_within_a_second(router_nats: Client, nats_url: str) -> None:
    nc = router_nats
    async with running(router_app(nats_url, "live-a"), router_app(nats_url, "live-b")):
        await wait_replicas(nc, "live-a", "live-b")
        started = time.monotonic()
        change = await change_config(
            nc, "game", build_update(mode="domain"), by="test", reason="go", defaults=DEFAULTS
        )
        assert change is not None
        applied = await wait_applied(nc, "game", change.revision, timeout=1.0)
        elapsed = time.monotonic() - started
        assert set(applied) == {"live-a", "live-b"}
        assert all(rev == change.revision for rev in applied.values())
        assert elapsed < 1.0
        # Commands taken after the change are routed under it, whichever replica takes them.
        for i in range(40):
            await publish(nc, command(room_id(i)))
        await wait_for_count(nc, "parallax.routed.>", 40)
        records = await routed_records(nc)
        assert len(records) == 40
        assert {r["config_revision"] for r in records} == {change.revision}
        assert {(r["primary"], r["rule"]) for r in records} == {("domain", "mode")}
        # The applied config is exported as gauges.
        assert REGISTRY.get_sample_value("parallax_rollout_mode", {"context": "game", "mode": "domain"}) == 1
        assert REGISTRY.get_sample_value("parallax_rollout_mode", {"context": "game", "mode": "canary"}) == 0
        assert (
            REGISTRY.get_sample_value(
                "parallax_router_config_revision", {"context": "game", "replica": "live-b"}
            )
            == change.revision
        )
        change = await change_config(
            nc,
            "game",
            build_update(mode="canary", percent="12.5"),
            by="test",
            reason="canary",
            defaults=DEFAULTS,
        )
        assert change is not None
        await wait_applied(nc, "game", change.revision, timeout=1.0)
        assert REGISTRY.get_sample_value("parallax_rollout_domain_percent", {"context": "game"}) == 12.5


async def test_invalid_value_written_by_other_means_is_ignored_and_counted(
    router_nats: Client, nats_url: str
) -> None:
    nc = router_nats
    kv = await nc.jetstream().key_value("parallax_rollout")
    before = REGISTRY.get_sample_value("parallax_router_config_refused_total", {"context": "game"}) or 0
    async with running(router_app(nats_url, "live-c")):
        await wait_replicas(nc, "live-c")
        good = await change_config(
            nc, "game", build_update(mode="legacy"), by="t", reason="r", defaults=DEFAULTS
        )
        assert good is not None
        await wait_applied(nc, "game", good.revision, timeout=1.0)
        await kv.put("game", json.dumps({"mode": "legacy", "domain_percent": 12.345}).encode())
        await asyncio.sleep(0.3)
        after = REGISTRY.get_sample_value("parallax_router_config_refused_total", {"context": "game"})
        assert after == before + 1
        # The replica keeps the last valid revision.
        await wait_applied(nc, "game", good.revision, timeout=1.0)
        with pytest.raises(WaitTimeout):
            await wait_applied(nc, "game", good.revision + 1, timeout=0.5)


async def test_wait_names_the_lagging_replica_and_times_out(router_nats: Client, nats_url: str) -> None:
    nc = router_nats
    routers = await nc.jetstream().key_value(ROUTERS_BUCKET)
    async with running(router_app(nats_url, "live-d")):
        await wait_replicas(nc, "live-d")
        # A replica that stopped applying changes (its heartbeat still fresh).
        await routers.put("stuck-1", json.dumps({"replica": "stuck-1", "revisions": {"game": 0}}).encode())
        change = await change_config(
            nc, "game", build_update(shadow=False), by="t", reason="r", defaults=DEFAULTS
        )
        assert change is not None
        with pytest.raises(WaitTimeout) as caught:
            await wait_applied(nc, "game", change.revision, timeout=0.5)
        assert set(caught.value.lagging) == {"stuck-1"}
        assert "stuck-1" in str(caught.value)
        # Once it is gone (TTL, or a clean stop deletes the key) the wait succeeds.
        await routers.delete("stuck-1")
        assert set(await wait_applied(nc, "game", change.revision, timeout=1.0)) == {"live-d"}
    # A stopped replica removes its heartbeat: nobody left, nothing to wait for.
    assert await wait_applied(nc, "game", 10**9, timeout=0.2) == {}


async def test_reason_and_author_are_required(router_nats: Client) -> None:
    with pytest.raises(RolloutError):
        await change_config(router_nats, "game", build_update(mode="domain"), by="t", reason=" ")
    with pytest.raises(RolloutError):
        await change_config(router_nats, "nope", build_update(mode="domain"), by="t", reason="r")


class _EarlyMarkerKv:
    """A rollout bucket whose watch signals the end of the initial values before it hands them
    over, as nats-py's watcher can (it decides from the consumer's info, nothing pending, while
    the stored values are already on the way). Its direct reads (`get_msg`, what
    `read_rollout` uses) answer from what is stored."""

    def __init__(self, key: str, value: bytes, revision: int) -> None:
        self.entry = SimpleNamespace(key=key, value=value, revision=revision, operation=None)
        self.later: asyncio.Queue[SimpleNamespace] = asyncio.Queue()

    async def watchall(self) -> AsyncIterator[SimpleNamespace | None]:
        async def updates() -> AsyncIterator[SimpleNamespace | None]:
            yield None  # "no initial values"
            await asyncio.sleep(0.2)
            yield self.entry  # ...which arrive after all
            while True:
                yield await self.later.get()

        return updates()

    async def get_msg(self, stream: str, seq: int | None = None, subject: str | None = None,
                      next: bool = False) -> SimpleNamespace:  # fmt: skip
        if subject != f"$KV.parallax_rollout.{self.entry.key}" or next:
            raise NotFoundError
        return SimpleNamespace(subject=subject, seq=self.entry.revision, data=self.entry.value, headers=None)


async def test_a_stored_kill_switch_applies_before_start_returns_even_if_the_watch_is_late() -> None:
    killed = default_config(50, True, True).model_copy(update={"kill_switch": True})
    kv = _EarlyMarkerKv("game", killed.model_dump_json().encode(), revision=7)
    live = LiveConfig(default_config(50, True, True), "test-replica")
    await live.start(kv, kv)  # type: ignore[arg-type]
    try:
        # The router starts consuming right after `start`: the stored config must be in force.
        assert live.current("game").config.kill_switch is True
        assert live.current("game").revision == 7
        await asyncio.sleep(0.3)  # the late copy of revision 7 changes nothing
        assert live.current("game").revision == 7
        newer = killed.model_copy(update={"kill_switch": False})
        await kv.later.put(
            SimpleNamespace(key="game", value=newer.model_dump_json().encode(), revision=8, operation=None)
        )
        for _ in range(50):
            if live.current("game").revision == 8:
                break
            await asyncio.sleep(0.01)
        assert live.current("game").revision == 8
        assert live.current("game").config.kill_switch is False
    finally:
        await live.stop()


INVALID = json.dumps({"mode": "legacy", "domain_percent": 12.345, "shadow": True, "kill_switch": False})


async def test_a_router_started_after_an_invalid_write_applies_the_last_valid_config(
    router_nats: Client, nats_url: str
) -> None:
    """rollout.md: an invalid entry is ignored by the routers, "which keep the last valid one".
    A replica that starts after it must apply that one too, not its environment defaults
    (canary 50 %, shadow, no kill switch here), or replicas disagree on the kill switch."""
    nc = router_nats
    kv = await nc.jetstream().key_value("parallax_rollout")
    valid = await change_config(
        nc, "game", build_update(mode="domain", kill_switch=True), by="t", reason="killed", defaults=DEFAULTS
    )
    assert valid is not None
    invalid_revision = await kv.put("game", INVALID.encode())
    assert invalid_revision > valid.revision
    before = REGISTRY.get_sample_value("parallax_router_config_refused_total", {"context": "game"}) or 0
    async with running(router_app(nats_url, "late-a")):
        await wait_replicas(nc, "late-a")
        # It reports the valid revision (not 0), and never the invalid one.
        assert await wait_applied(nc, "game", valid.revision, timeout=1.0) == {"late-a": valid.revision}
        assert REGISTRY.get_sample_value("parallax_rollout_kill_switch", {"context": "game"}) == 1
        rooms = [room_id(0x300 + i) for i in range(8)]
        for room in rooms:
            await publish(nc, command(room, "create_room"))
        await wait_for_count(nc, "parallax.routed.>", len(rooms))
        records = await routed_records(nc)
        assert {(r["primary"], r["rule"], r["config_revision"]) for r in records} == {
            ("legacy", "kill_switch", valid.revision)
        }
        # The invalid latest entry is still refused and counted (once).
        for _ in range(100):
            refused = REGISTRY.get_sample_value("parallax_router_config_refused_total", {"context": "game"})
            if refused == before + 1:
                break
            await asyncio.sleep(0.02)
        assert refused == before + 1
        # A later invalid entry is ignored as before; a later valid one applies.
        await kv.put("game", b"{not json")
        later = await change_config(
            nc, "game", build_update(kill_switch=False), by="t", reason="unkill", defaults=DEFAULTS
        )
        assert later is not None and later.old.kill_switch is True and later.old.mode == "domain"
        await wait_applied(nc, "game", later.revision, timeout=1.0)
        assert REGISTRY.get_sample_value("parallax_rollout_kill_switch", {"context": "game"}) == 0


async def test_a_router_started_when_no_valid_entry_is_left_applies_its_defaults(
    router_nats: Client, nats_url: str
) -> None:
    """Only invalid entries in the key's history (docs/rollout.md): the environment defaults,
    revision 0, as while the key does not exist; the refusal is counted."""
    nc = router_nats
    kv = await nc.jetstream().key_value("parallax_rollout")
    await kv.put("game", INVALID.encode())
    async with running(router_app(nats_url, "late-b")):
        await wait_replicas(nc, "late-b")
        assert await wait_applied(nc, "game", 0, timeout=1.0) == {"late-b": 0}
        assert REGISTRY.get_sample_value("parallax_rollout_kill_switch", {"context": "game"}) == 0
        assert REGISTRY.get_sample_value("parallax_rollout_mode", {"context": "game", "mode": "canary"}) == 1
