"""`read_stored`: the stored rollout config, read up to the key's latest revision even when
nats-py's history watcher ends before handing its entries over."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import KeyNotFoundError
from parallax_cli.commands.rollout import dump_config, read_stored
from parallax_rollout import default_config

KILLED = default_config(50, True, True).model_copy(update={"kill_switch": True})


class _LateHistoryKv:
    """A bucket whose first history reads come back empty, as nats-py's can under load."""

    def __init__(self, empty_reads: int) -> None:
        self.entry = SimpleNamespace(key="game", value=dump_config(KILLED), revision=7, operation=None)
        self.empty_reads = empty_reads

    async def history(self, key: str) -> list[Any]:
        if self.empty_reads:
            self.empty_reads -= 1
            return []
        return [self.entry]

    async def get(self, key: str) -> Any:
        if key != "game":
            raise KeyNotFoundError
        return self.entry


async def test_a_history_that_comes_back_empty_is_read_again() -> None:
    stored = await read_stored(_LateHistoryKv(empty_reads=2), "game")  # type: ignore[arg-type]
    assert stored.config == KILLED and stored.revision == 7 and stored.latest_revision == 7


async def test_a_history_that_stays_short_is_an_error_not_the_defaults() -> None:
    from parallax_cli.commands.rollout import RolloutError

    with pytest.raises(RolloutError, match="latest revision"):
        await read_stored(_LateHistoryKv(empty_reads=100), "game")  # type: ignore[arg-type]


@pytest.mark.integration
async def test_on_a_real_bucket_a_deleted_key_reads_as_none_at_the_markers_revision(nc: Client) -> None:
    js = nc.jetstream()
    bucket = f"test_read_stored_{uuid.uuid4().hex[:8]}"
    kv = await js.create_key_value(KeyValueConfig(bucket=bucket, history=8))
    try:
        assert (await read_stored(kv, "game")).latest_revision == 0
        first = await kv.put("game", dump_config(KILLED))
        stored = await read_stored(kv, "game")
        assert stored.config == KILLED and stored.revision == first
        await kv.delete("game")
        gone = await read_stored(kv, "game")
        assert gone.config is None and gone.latest_revision > first
    finally:
        await js.delete_key_value(bucket)
