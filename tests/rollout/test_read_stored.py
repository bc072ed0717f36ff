"""`read_rollout` (parallax_runtime.rollout_store): the config the routers apply, read the same
way by a router at start, the CLI and the guard: the newest *valid* entry of the key's history,
else the defaults, with the key's latest revision (what a write's revision check names)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue
from parallax_rollout import default_config, dump_config
from parallax_runtime.rollout_store import StoredRollout, read_rollout

pytestmark = pytest.mark.integration

DEFAULTS = default_config(50, True, True)
KILLED = default_config(50, True, True).model_copy(update={"kill_switch": True})
DOMAIN = default_config(0, True, False).model_copy(update={"mode": "domain", "allow_users": ["u-1"]})
INVALID = b'{"mode": "canary", "domain_percent": 12.345, "shadow": true, "kill_switch": false}'


@pytest.fixture
async def bucket(nc: Client) -> AsyncIterator[tuple[str, KeyValue]]:
    js = nc.jetstream()
    name = f"test_read_rollout_{uuid.uuid4().hex[:8]}"
    kv = await js.create_key_value(KeyValueConfig(bucket=name, history=64))
    try:
        yield name, kv
    finally:
        await js.delete_key_value(name)


async def read(nc: Client, name: str, context: str = "game") -> StoredRollout:
    # Only direct stream reads: no watcher (nats-py's can end before handing its entries over),
    # no consumer (the comparator's NATS user may not create one on the rollout bucket).
    js = SimpleNamespace(get_msg=nc.jetstream().get_msg)
    return await read_rollout(js, context, DEFAULTS, bucket=name)  # type: ignore[arg-type]


async def test_no_key_is_the_defaults_at_revision_0(nc: Client, bucket: tuple[str, KeyValue]) -> None:
    stored = await read(nc, bucket[0])
    assert stored.config == DEFAULTS
    assert (stored.revision, stored.latest_revision, stored.source) == (0, 0, "no key")
    assert stored.from_defaults and not stored.skipped_invalid and stored.stored is None


async def test_the_newest_valid_entry_and_the_latest_revision(
    nc: Client, bucket: tuple[str, KeyValue]
) -> None:
    name, kv = bucket
    first = await kv.put("game", dump_config(DOMAIN))
    await kv.put("campaign", dump_config(DOMAIN))  # another key in between changes nothing
    valid = await kv.put("game", dump_config(KILLED))
    stored = await read(nc, name)
    assert (stored.config, stored.revision, stored.latest_revision) == (KILLED, valid, valid)
    assert stored.source == "kv" and not stored.skipped_invalid and first < valid
    # Newer invalid entries are skipped (the routers ignore them); the latest revision is the
    # newest of them, the reported invalid one too.
    await kv.put("campaign", INVALID)
    await kv.put("game", b"not json")
    latest = await kv.put("game", INVALID)
    stored = await read(nc, name)
    assert (stored.config, stored.revision, stored.latest_revision) == (KILLED, valid, latest)
    assert stored.skipped_invalid and stored.invalid_revision == latest
    assert any("two decimals" in p for p in stored.invalid_problems)
    campaign = await read(nc, name, "campaign")
    assert campaign.config == DOMAIN and campaign.invalid_revision is not None


async def test_a_delete_or_purge_since_the_last_valid_entry_is_the_defaults(
    nc: Client, bucket: tuple[str, KeyValue]
) -> None:
    name, kv = bucket
    await kv.put("game", dump_config(KILLED))
    await kv.delete("game")
    latest = await kv.put("game", INVALID)
    stored = await read(nc, name)
    assert (stored.config, stored.revision, stored.source) == (DEFAULTS, 0, "deleted")
    assert stored.latest_revision == latest and stored.invalid_revision == latest
    await kv.purge("game")
    purged = await read(nc, name)
    assert purged.source == "deleted" and purged.latest_revision > latest
    assert not purged.skipped_invalid
    valid = await kv.put("game", dump_config(DOMAIN))
    assert (await read(nc, name)).revision == valid


async def test_no_valid_entry_left_in_the_history_is_the_defaults(nc: Client) -> None:
    """The history holds the last `history` entries of a key (64 for `parallax_rollout`, the
    NATS maximum): after that many invalid writes in a row, the last valid one is gone."""
    js = nc.jetstream()
    name = f"test_read_rollout_{uuid.uuid4().hex[:8]}"
    kv = await js.create_key_value(KeyValueConfig(bucket=name, history=2))
    try:
        await kv.put("game", dump_config(KILLED))
        await kv.put("game", INVALID)
        assert (await read(nc, name)).config == KILLED
        latest = await kv.put("game", b"{}")
        stored = await read(nc, name)
        assert (stored.config, stored.revision, stored.source) == (DEFAULTS, 0, "no valid entry")
        assert stored.latest_revision == latest and stored.invalid_revision == latest
    finally:
        await js.delete_key_value(name)


async def test_a_missing_bucket_is_an_error_not_the_defaults(nc: Client) -> None:
    with pytest.raises(NotFoundError):
        await read(nc, f"missing_{uuid.uuid4().hex[:8]}")


def test_the_rollout_bucket_keeps_the_deepest_history_nats_allows() -> None:
    from parallax_runtime.topology import BUCKETS, ROLLOUT_BUCKET

    assert next(b for b in BUCKETS if b.name == ROLLOUT_BUCKET).history == 64
