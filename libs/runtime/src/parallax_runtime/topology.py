"""The JetStream streams and KV buckets of protocol.md, and their idempotent provisioning."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    SubjectTransform,
)
from nats.js.errors import BucketNotFoundError, NotFoundError
from parallax_contracts.subjects import PARTITIONS

DAY = 24 * 3600.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_seconds: float
    duplicate_window_seconds: float = 120.0
    # (source, destination) of the stream's subject transform, applied as messages are stored.
    transform: tuple[str, str] | None = None


# INGRESS and HANDLE store each command under its subject plus its partition token
# (subjects.PARTITIONS; docs/scaling.md): `parallax.ingress.game.3FA9C1` is stored as
# `parallax.ingress.game.3FA9C1.<p>`, `parallax.handle.legacy.game.3FA9C1` as
# `parallax.handle.legacy.game.3FA9C1.<p>`, p = partition(PARTITIONS, context, aggregate), the
# same p in both streams. Consumers of `parallax.ingress.>`/`parallax.handle.>` are unaffected.
INGRESS_TRANSFORM = (
    "parallax.ingress.*.*",
    f"parallax.ingress.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}.{{{{partition({PARTITIONS},1,2)}}}}",
)
HANDLE_TRANSFORM = (
    "parallax.handle.*.*.*",
    "parallax.handle.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}"
    f".{{{{partition({PARTITIONS},2,3)}}}}",
)

STREAMS: tuple[StreamSpec, ...] = (
    # Retained so that `parallax replay` can feed recorded traffic through both sides.
    StreamSpec("INGRESS", ("parallax.ingress.>",), 7 * DAY, transform=INGRESS_TRANSFORM),
    StreamSpec("HANDLE", ("parallax.handle.>",), 1 * DAY, transform=HANDLE_TRANSFORM),
    StreamSpec("ROUTED", ("parallax.routed.>",), 1 * DAY),
    StreamSpec("EVENTS", ("parallax.events.>",), 1 * DAY),
    StreamSpec("COMPARISONS", ("parallax.comparisons.>",), 7 * DAY),
    StreamSpec("AUDIT", ("parallax.audit.>",), 365 * DAY),
)

ROLLOUT_BUCKET = "parallax_rollout"
AGGREGATES_BUCKET = "parallax_aggregates"
ROUTERS_BUCKET = "parallax_routers"
# Staged rollout plans (`parallax plan`), one key per context.
PLANS_BUCKET = "parallax_rollout_plans"
# Which gateway replicas hold a user's sockets: key `<user>.<replica>`, refreshed by the replica
# while it has sockets for the user; a dead replica's keys expire (docs/gateway.md).
PRESENCE_BUCKET = "parallax_presence"
LEGACY_BUCKETS = {"game": "parallax_legacy_game", "campaign": "parallax_legacy_campaign"}


@dataclass(frozen=True)
class BucketSpec:
    name: str
    history: int = 1
    ttl_seconds: float | None = None


BUCKETS: tuple[BucketSpec, ...] = (
    BucketSpec(ROLLOUT_BUCKET, history=64),
    BucketSpec(AGGREGATES_BUCKET),
    # Router replicas' heartbeats (applied config revision); stale ones expire.
    BucketSpec(ROUTERS_BUCKET, ttl_seconds=30.0),
    BucketSpec(PLANS_BUCKET, history=16),
    BucketSpec(PRESENCE_BUCKET, ttl_seconds=30.0),
    *(BucketSpec(name) for name in LEGACY_BUCKETS.values()),
)


def _stream_config(spec: StreamSpec, replicas: int) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=spec.max_age_seconds,
        duplicate_window=spec.duplicate_window_seconds,
        num_replicas=replicas,
        subject_transform=SubjectTransform(src=spec.transform[0], dest=spec.transform[1])
        if spec.transform
        else None,
    )


# Push consumers deliver on `_parallax.deliver.<service>.<durable>`: a fixed subject (not a
# random inbox), so replicas starting at the same moment create identical consumers, which
# JetStream accepts as one; and under the service's own token, so that
# deploy/nats/parallax-auth.conf lets each service user receive its own deliveries only
# (`_parallax.deliver.router.>`...).
DELIVER_PREFIX = "_parallax.deliver"


def deliver_subject(service: str, durable: str) -> str:
    return f"{DELIVER_PREFIX}.{service}.{durable}"


def durable_push(config: ConsumerConfig, *, service: str, durable: str, subject: str) -> ConsumerConfig:
    """`config` as the durable push consumer `durable` of `service`, filtering `subject`, with
    a deliver group of the same name (every replica of the service shares the deliveries)."""
    return dataclasses.replace(
        config,
        durable_name=durable,
        deliver_group=durable,
        deliver_subject=deliver_subject(service, durable),
        filter_subject=subject,
    )


@dataclass(frozen=True)
class PartitionConsumer:
    """One durable consumer of one partition (docs/scaling.md).

    Every replica of a service subscribes to every partition of the service
    (`partition_subscriptions.subscribe_durable`) with ``config=self.config()``: a push
    consumer with a deliver group. The consumer allows one unacknowledged message at a time, so
    the server hands a partition's next message to some replica only once the previous one is
    acknowledged: one replica at a time per partition, in stream order, whatever the number of
    replicas. A replica that dies holding a message delays its partition by ``ack_wait``.
    """

    service: str
    partition: int
    subject: str
    ack_wait_seconds: float = 30.0

    @property
    def durable(self) -> str:
        """``<service>-p<partition>``: the consumer's name, also its deliver group."""
        return f"{self.service}-p{self.partition}"

    def config(self) -> ConsumerConfig:
        # A fresh object per subscription: FastStream and nats-py fill it in.
        return durable_push(
            ConsumerConfig(
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait_seconds,
                max_ack_pending=1,
            ),
            service=self.service,
            durable=self.durable,
            subject=self.subject,
        )


def partition_consumers(
    name: str, filter_of: Callable[[int], str], *, ack_wait_seconds: float = 30.0
) -> list[PartitionConsumer]:
    """The consumers of a partitioned service: ``<name>-p<p>`` filtering ``filter_of(p)``,
    delivering on ``_parallax.deliver.<name>.<name>-p<p>``.

    ``filter_of`` is ``subjects.ingress_partition`` for the router, ``lambda p:
    subjects.handle_partition(impl, p)`` for a handler.
    """
    return [PartitionConsumer(name, p, filter_of(p), ack_wait_seconds) for p in range(PARTITIONS)]


async def ensure_topology(js: JetStreamContext, *, replicas: int = 1) -> list[str]:
    """Create what is missing and bring existing streams to the declared config.

    Safe to run any number of times and from several services at once. Returns what it did,
    one line per stream or bucket, for `parallax init`.
    """
    report: list[str] = []
    for spec in STREAMS:
        config = _stream_config(spec, replicas)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
            report.append(f"stream {spec.name}: created")
        else:
            await js.update_stream(config)
            report.append(f"stream {spec.name}: present")
    for bucket in BUCKETS:
        try:
            await js.key_value(bucket.name)
            report.append(f"bucket {bucket.name}: present")
        except BucketNotFoundError:
            await js.create_key_value(
                KeyValueConfig(
                    bucket=bucket.name,
                    history=bucket.history,
                    ttl=bucket.ttl_seconds,
                    storage=StorageType.FILE,
                    replicas=replicas,
                )
            )
            report.append(f"bucket {bucket.name}: created")
    return report


async def missing_topology(js: JetStreamContext) -> list[str]:
    """Readiness: the streams and buckets that do not exist (`stream HANDLE`, `bucket
    parallax_rollout`), in declaration order; empty when all do. Any other error (NATS away, a
    request refused) raises: it is not a missing stream."""
    missing: list[str] = []
    for spec in STREAMS:
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            missing.append(f"stream {spec.name}")
    for bucket in BUCKETS:
        try:
            await js.key_value(bucket.name)
        except BucketNotFoundError:
            missing.append(f"bucket {bucket.name}")
    return missing
