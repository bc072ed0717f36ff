"""The legacy service: a FastStream app consuming `parallax.handle.legacy.>`.

Run standalone with `parallax run legacy` or `faststream run --factory parallax_legacy.app:create_app`.
"""

from __future__ import annotations

from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from nats.js.kv import KeyValue
from parallax_contracts.handling import ContextHandler
from parallax_runtime.connection import kv_bucket, make_broker
from parallax_runtime.handler_service import handler_app
from parallax_runtime.settings import LegacySettings
from parallax_runtime.topology import LEGACY_BUCKETS

from parallax_legacy.factory import legacy_handler
from parallax_legacy.store import KvDocumentStore, Stored


class BucketStore:
    """A KvDocumentStore whose bucket is looked up once the broker is connected."""

    def __init__(self, broker: NatsBroker, bucket: str) -> None:
        self._broker = broker
        self._bucket = bucket
        self._store: KvDocumentStore | None = None

    async def _resolve(self) -> KvDocumentStore:
        if self._store is None:
            kv: KeyValue = await kv_bucket(self._broker, self._bucket)
            self._store = KvDocumentStore(kv)
        return self._store

    async def get(self, key: str) -> Stored | None:
        return await (await self._resolve()).get(key)

    async def get_for_update(self, key: str) -> Stored | None:
        return await (await self._resolve()).get_for_update(key)

    def forget(self, key: str) -> None:
        if self._store is not None:
            self._store.forget(key)

    async def put(self, key: str, value: dict[str, Any], expected_revision: int | None) -> int:
        return await (await self._resolve()).put(key, value, expected_revision)


def create_app(settings: LegacySettings | None = None) -> AsgiFastStream:
    settings = settings or LegacySettings()
    broker = make_broker(settings, name="legacy")
    handlers: dict[str, ContextHandler] = {
        context: legacy_handler(context, BucketStore(broker, bucket))
        for context, bucket in LEGACY_BUCKETS.items()
    }
    return handler_app(settings, broker, "legacy", handlers)
