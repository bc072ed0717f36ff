"""`connection.kv_keys` on a real server: every key with an entry, from the stream's state
(nats-py's `KeyValue.keys()` can list none under load; see its docstring)."""

from __future__ import annotations

import uuid

import pytest
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import KeyNotFoundError
from parallax_runtime.connection import kv_keys

pytestmark = pytest.mark.integration


async def test_every_key_with_an_entry_is_listed_deleted_ones_as_markers(nc: Client) -> None:
    js = nc.jetstream()
    bucket = f"test_kv_keys_{uuid.uuid4().hex[:8]}"
    kv = await js.create_key_value(KeyValueConfig(bucket=bucket))
    try:
        assert await kv_keys(js, bucket) == []
        for key in ("game.AAAAAA", "game.BBBBBB", "campaign.x-1"):
            await kv.put(key, b"{}")
        await kv.put("game.AAAAAA", b'{"again": true}')  # two entries, one key
        await kv.delete("game.BBBBBB")
        assert await kv_keys(js, bucket) == ["campaign.x-1", "game.AAAAAA", "game.BBBBBB"]
        # A deleted key is listed by its marker: reading it says it is gone.
        with pytest.raises(KeyNotFoundError):
            await kv.get("game.BBBBBB")
    finally:
        await js.delete_key_value(bucket)
