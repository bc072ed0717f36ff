"""Revision-checked document stores for the legacy side: NATS KV in production, memory in tests."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue


class RevisionConflict(Exception):
    """Someone else wrote the document since we read it: read again and retry."""


@dataclass(frozen=True)
class Stored:
    value: dict[str, Any]
    revision: int


class DocumentStore(Protocol):
    async def get(self, key: str) -> Stored | None: ...

    async def put(self, key: str, value: dict[str, Any], expected_revision: int | None) -> int:
        """Write `value` if the key is still at `expected_revision` (None: must not exist yet)."""
        ...


@runtime_checkable
class WriteCache(Protocol):
    """What a store with a cache of its own last writes adds (KvDocumentStore)."""

    async def get_for_update(self, key: str) -> Stored | None:
        """The document to modify and `put` back (the caller's own aggregate), possibly from
        the cache: a stale entry cannot be written back, since `put` checks the revision; the
        caller then calls `forget` and reads again."""
        ...

    def forget(self, key: str) -> None:
        """Drop whatever the store remembers of `key` (after a conflict or a failure)."""
        ...


class InMemoryDocumentStore:
    def __init__(self) -> None:
        self._docs: dict[str, Stored] = {}
        self._revision = 0

    async def get(self, key: str) -> Stored | None:
        stored = self._docs.get(key)
        # Hand out a copy, as KV would: handlers mutate what they read.
        return None if stored is None else Stored(json.loads(json.dumps(stored.value)), stored.revision)

    async def put(self, key: str, value: dict[str, Any], expected_revision: int | None) -> int:
        current = self._docs.get(key)
        if (current.revision if current else None) != expected_revision:
            raise RevisionConflict(key)
        self._revision += 1
        self._docs[key] = Stored(json.loads(json.dumps(value)), self._revision)
        return self._revision


# Documents the store remembers (its own last writes), per store. A room document with its
# receipts (room views among them) can reach ~100 kB: 512 bound this to some tens of MB.
DEFAULT_CACHE_SIZE = 512


class KvDocumentStore:
    """Documents as JSON values in a NATS KV bucket; writes use the KV revision as a guard.

    The documents it wrote last are kept, decoded, in a bounded LRU: the next command of the
    same aggregate (routed to this replica: one replica at a time per partition) takes its
    document from there, with no KV round trip and no JSON decode. The entry is handed out as
    is (not a copy): the handler writes it back (or calls `forget`). If another writer moved
    the key meanwhile (another replica after a rebalance, a purge), the revision-checked `put`
    fails, the entry is dropped, and the handler reads KV again.
    """

    def __init__(self, kv: KeyValue, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._kv = kv
        self._cache: OrderedDict[str, Stored] = OrderedDict()
        self._cache_size = cache_size

    async def get_for_update(self, key: str) -> Stored | None:
        cached = self._cache.pop(key, None)
        if cached is not None:
            return cached
        return await self.get(key)

    def forget(self, key: str) -> None:
        self._cache.pop(key, None)

    def _remember(self, key: str, value: dict[str, Any], revision: int) -> None:
        if self._cache_size <= 0:
            return
        self._cache[key] = Stored(value, revision)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def get(self, key: str) -> Stored | None:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        if entry.value is None or entry.revision is None:
            return None
        return Stored(json.loads(entry.value), entry.revision)

    async def put(self, key: str, value: dict[str, Any], expected_revision: int | None) -> int:
        data = json.dumps(value, separators=(",", ":")).encode()
        self._cache.pop(key, None)
        try:
            if expected_revision is None:
                revision = await self._kv.create(key, data)
            else:
                revision = await self._kv.update(key, data, last=expected_revision)
        except KeyWrongLastSequenceError as exc:
            raise RevisionConflict(key) from exc
        self._remember(key, value, revision)
        return revision
