"""`read_rollout` under deploy/nats/parallax-auth.conf: the router's and the comparator's users
find the last valid rollout config behind an invalid entry (direct stream reads, no consumer),
and the guard's write lands above the invalid entry, without a permissions violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parallax_comparator.rollout_io import update_config
from parallax_rollout import RolloutConfig, default_config, dump_config, parse_config
from parallax_runtime.rollout_store import read_rollout
from parallax_runtime.topology import ROLLOUT_BUCKET

from .auth_server import Server, auth_server, connect, provision_as_admin

pytestmark = pytest.mark.integration

DEFAULTS = default_config(0, True, False)
VALID = default_config(40, True, True).model_copy(update={"allow_users": ["qa-1"]})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with auth_server(tmp_path_factory.mktemp("nats-auth-rollout")) as running:
        yield running


async def test_service_users_read_the_last_valid_config_and_the_guard_writes_above_it(server: Server) -> None:
    await provision_as_admin(server)
    admin = await connect(server, "admin")
    try:
        kv = await admin.nc.jetstream().key_value(ROLLOUT_BUCKET)
        valid = await kv.put("game", dump_config(VALID))
        invalid = await kv.put("game", b'{"mode": "blue"}')
    finally:
        await admin.nc.close()

    for user in ("router", "comparator"):
        session = await connect(server, user)
        try:
            stored = await read_rollout(session.nc.jetstream(timeout=2), "game", DEFAULTS)
            assert (stored.config, stored.revision, stored.latest_revision) == (VALID, valid, invalid), user
            assert stored.invalid_revision == invalid, user
            assert not session.violations(), f"{user}: {session.violations()}"
        finally:
            await session.nc.close()

    def kill(current: RolloutConfig) -> RolloutConfig:
        return current.model_copy(update={"kill_switch": True})

    comparator = await connect(server, "comparator")
    try:
        js = comparator.nc.jetstream(timeout=2)
        written = await update_config(js, "game", kill, action="guard", by="guard", reason="test")
        assert written is not None and written[2] > invalid
        entry = await (await js.key_value(ROLLOUT_BUCKET)).get("game")
        after = parse_config(entry.value or b"")
        assert after.kill_switch and after.allow_users == ("qa-1",) and after.domain_percent == 40
        assert not comparator.violations(), comparator.violations()
    finally:
        await comparator.nc.close()
