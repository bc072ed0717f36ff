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


# Documents the store remembers (its own last writes), per store. A room document with its
# receipts (room views among them) can reach ~100 kB: 512 bound this to some tens of MB.
DEFAULT_CACHE_SIZE = 512
# The top-level field of a document whose values are JSON texts (the legacy handler's receipts).
TEXTS_FIELD = "receipts"
# Receipts whose encoding a store remembers: RECEIPTS_KEPT per document, for as many documents
# as its cache holds (the memo costs about as much memory again as the cached receipts).
DEFAULT_ENCODED_TEXTS = 32 * DEFAULT_CACHE_SIZE


class LastWrites:
    """A bounded LRU of the documents a store wrote last, decoded, for `get_for_update`.

    An entry is taken out (not copied) when handed to the handler, which modifies it and writes
    it back: until that `put` succeeds the store remembers nothing of the key, so a handler that
    fails halfway leaves no half-changed document behind.
    """

    def __init__(self, size: int = DEFAULT_CACHE_SIZE) -> None:
        self._entries: OrderedDict[str, Stored] = OrderedDict()
        self._size = size

    def take(self, key: str) -> Stored | None:
        return self._entries.pop(key, None)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def remember(self, key: str, value: dict[str, Any], revision: int) -> None:
        if self._size <= 0:
            return
        self._entries[key] = Stored(value, revision)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


class DocumentEncoder:
    """`json.dumps(document, separators=(",", ":"))`, byte for byte, with the encoded entries of
    the document's `receipts` (command id -> the response as JSON text) remembered.

    The receipts are most of a document's bytes (a `get_room_state` receipt carries a whole room
    view) and the same entries are written again with each of the next RECEIPTS_KEPT commands:
    escaping them again each time was most of the encoding cost. The memo maps an entry to its
    encoding, a pure function of the entry, so no memo entry can be stale; it is bounded, oldest
    first out.
    """

    def __init__(self, size: int = DEFAULT_ENCODED_TEXTS) -> None:
        self._encoded: dict[tuple[str, str], str] = {}
        self._size = size

    def encode(self, document: dict[str, Any]) -> str:
        receipts = document.get(TEXTS_FIELD)
        if type(receipts) is not dict or not all(type(key) is str for key in document):
            return _dumps(document)
        parts = [
            f"{_dumps(key)}:{self._texts(receipts) if key == TEXTS_FIELD else _dumps(value)}"
            for key, value in document.items()
        ]
        return "{" + ",".join(parts) + "}"

    def _texts(self, texts: dict[Any, Any]) -> str:
        memo = self._encoded
        try:
            # An item, (command id, text), is its own memo key.
            parts = [memo.get(item) or self._entry(*item) for item in texts.items()]
        except TypeError:  # receipts written as lists by an earlier version (or odd keys)
            return _dumps(texts)
        return "{" + ",".join(parts) + "}"

    def _entry(self, key: Any, text: Any) -> str:
        if type(key) is not str or type(text) is not str:
            raise TypeError("not a text entry")
        encoded = self._encoded[key, text] = f"{_dumps(key)}:{_dumps(text)}"
        if len(self._encoded) > self._size:
            del self._encoded[next(iter(self._encoded))]
        return encoded


# What json.dumps(value, separators=(",", ":")) builds at every call.
_dumps = json.JSONEncoder(separators=(",", ":")).encode


class InMemoryDocumentStore:
    """Documents as JSON text in a dict: KvDocumentStore's semantics and costs, without the
    network, for tests, benchmarks and offline replays.

    Every `get` parses a fresh copy, as KV would (handlers modify what they read); `put` stores
    the text, so nothing the caller keeps can change what is stored. Like KvDocumentStore it
    remembers its last writes decoded, for `get_for_update`. (It used to round-trip each document
    through JSON on every read and every write: twice the decoding of a KV store without a cache.)
    """

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._docs: dict[str, tuple[str, int]] = {}
        self._revision = 0
        self._last_writes = LastWrites(cache_size)
        self._encoder = DocumentEncoder()

    async def get(self, key: str) -> Stored | None:
        stored = self._docs.get(key)
        return None if stored is None else Stored(json.loads(stored[0]), stored[1])

    async def get_for_update(self, key: str) -> Stored | None:
        cached = self._last_writes.take(key)
        if cached is not None:
            return cached
        return await self.get(key)

    def forget(self, key: str) -> None:
        self._last_writes.forget(key)

    async def put(self, key: str, value: dict[str, Any], expected_revision: int | None) -> int:
        self._last_writes.forget(key)
        current = self._docs.get(key)
        if (current[1] if current else None) != expected_revision:
            raise RevisionConflict(key)
        text = self._encoder.encode(value)
        self._revision += 1
        self._docs[key] = (text, self._revision)
        self._last_writes.remember(key, value, self._revision)
        return self._revision


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
        self._last_writes = LastWrites(cache_size)
        self._encoder = DocumentEncoder()

    async def get_for_update(self, key: str) -> Stored | None:
        cached = self._last_writes.take(key)
        if cached is not None:
            return cached
        return await self.get(key)

    def forget(self, key: str) -> None:
        self._last_writes.forget(key)

    async def get(self, key: str) -> Stored | None:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        if entry.value is None or entry.revision is None:
            return None
        return Stored(json.loads(entry.value), entry.revision)

    async def put(self, key: str, value: dict[str, Any], expected_revision: int | None) -> int:
        self._last_writes.forget(key)
        data = self._encoder.encode(value).encode()
        try:
            if expected_revision is None:
                revision = await self._kv.create(key, data)
            else:
                revision = await self._kv.update(key, data, last=expected_revision)
        except KeyWrongLastSequenceError as exc:
            raise RevisionConflict(key) from exc
        self._last_writes.remember(key, value, revision)
        return revision
