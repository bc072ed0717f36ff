"""Aggregate records (`sides`, `owner`) in the KV bucket `parallax_aggregates`, with a cache.

The commands of one aggregate all travel in one INGRESS partition, and a partition has at most
one message in flight, on one replica (docs/scaling.md). Several replicas take turns on a
partition, though, so a replica's cache of a partition is only trusted while it took *every*
delivery of that partition since it filled the cache: the router checks the consumer's delivery
sequence (`continuity`) and drops the partition's cache when another replica had a turn.
Unknown aggregates are cached too (as None) under the same rule.
"""

from __future__ import annotations

from collections import OrderedDict

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from parallax_rollout.decision import (
    AggregateRecord,
    aggregate_key,
    dump_aggregate_record,
    parse_aggregate_record,
)
from prometheus_client import Counter

CACHE = Counter(
    "parallax_router_aggregate_cache_total",
    "Aggregate record look-ups, by outcome: hit, miss (read from KV), invalidated (partition "
    "caches dropped because another replica routed in the partition).",
    ["outcome"],
)
_HIT = CACHE.labels("hit")
_MISS = CACHE.labels("miss")
_INVALIDATED = CACHE.labels("invalidated")

_ABSENT = object()


class AggregateRecords:
    def __init__(self, kv: KeyValue, cache_size: int = 100_000) -> None:
        self._kv = kv
        self._caches: dict[int, OrderedDict[str, AggregateRecord | None]] = {}
        self._last_delivery: dict[int, int] = {}
        self._cache_size = cache_size

    def continuity(self, partition: int, delivery: int) -> None:
        """Called with each delivery's consumer sequence before it is routed: a gap means
        another replica (or a re-created consumer) had the partition, so its cache is stale."""
        last = self._last_delivery.get(partition)
        if last is not None and delivery != last + 1:
            cache = self._caches.get(partition)
            if cache:
                cache.clear()
                _INVALIDATED.inc()
        self._last_delivery[partition] = delivery

    def forget(self, partition: int) -> None:
        self._caches.pop(partition, None)
        self._last_delivery.pop(partition, None)

    def _cache(self, partition: int) -> OrderedDict[str, AggregateRecord | None]:
        cache = self._caches.get(partition)
        if cache is None:
            cache = self._caches[partition] = OrderedDict()
        return cache

    async def get(self, partition: int, context: str, aggregate_id: str) -> AggregateRecord | None:
        key = aggregate_key(context, aggregate_id)
        cache = self._cache(partition)
        found = cache.get(key, _ABSENT)
        if found is not _ABSENT:
            _HIT.inc()
            cache.move_to_end(key)
            return found  # type: ignore[return-value]
        _MISS.inc()
        try:
            entry = await self._kv.get(key)
            record = parse_aggregate_record(entry.value) if entry.value else None
        except KeyNotFoundError:
            record = None
        self._remember(cache, key, record)
        return record

    async def put(self, partition: int, context: str, aggregate_id: str, record: AggregateRecord) -> None:
        key = aggregate_key(context, aggregate_id)
        await self._kv.put(key, dump_aggregate_record(record))
        self._remember(self._cache(partition), key, record)

    def _remember(
        self, cache: OrderedDict[str, AggregateRecord | None], key: str, record: AggregateRecord | None
    ) -> None:
        cache[key] = record
        cache.move_to_end(key)
        while len(cache) > self._cache_size:
            cache.popitem(last=False)
