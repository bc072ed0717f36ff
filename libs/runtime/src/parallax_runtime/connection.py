"""The FastStream NATS broker every service uses, configured from the common settings."""

from __future__ import annotations

import logging

from faststream.nats import NatsBroker
from faststream.nats.prometheus import NatsPrometheusMiddleware
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from prometheus_client import REGISTRY

from parallax_runtime.nats_permissions import PermissionViolations, watch
from parallax_runtime.settings import CommonSettings


def inbox_prefix(service: str) -> str:
    """Where a service's connection receives replies: request replies, PubAcks, KV watches and
    the deliveries of consumers without a deliver subject of their own. One prefix per service
    so that deploy/nats/parallax-auth.conf can let each service user read its own replies only
    (`_INBOX_router.>`...), not every service's under nats-py's default `_INBOX.>`."""
    return f"_INBOX_{service}"


def make_broker(settings: CommonSettings, *, name: str) -> NatsBroker:
    """The broker of service `name` (gateway, router, legacy, domain, comparator).

    Its connection reports the server's permissions violations to a `PermissionViolations`
    (`nats_permissions.violations_of(broker)`): `/readyz` answers 503 while a subscription is
    refused (FastStream still logs every error after it: it chains its logging to `error_cb`)."""
    violations = PermissionViolations(name)
    broker = NatsBroker(
        settings.nats_url,
        name=f"parallax-{name}",
        inbox_prefix=inbox_prefix(name),
        # Reconnect forever: a NATS restart must not kill the services (the chaos suite
        # restarts it under load).
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        middlewares=[NatsPrometheusMiddleware(registry=REGISTRY, app_name=f"parallax-{name}")],
        # Per-message logs at DEBUG: off at the default INFO level (they cost throughput);
        # failures still log at ERROR.
        logger=logging.getLogger(f"parallax.{name}.broker"),
        log_level=logging.DEBUG,
        error_cb=violations.error_cb,
        disconnected_cb=violations.disconnected_cb,
        reconnected_cb=violations.reconnected_cb,
    )
    watch(broker, violations)
    return broker


async def kv_bucket(broker: NatsBroker, name: str) -> KeyValue:
    """A provisioned KV bucket (see topology.py), looked up, never created with other settings."""
    return await broker.connection.jetstream().key_value(name)


async def kv_keys(js: JetStreamContext, bucket: str, keys: str = ">") -> list[str]:
    """The keys of KV `bucket` that hold an entry (a value, or a delete or purge marker: `get`
    raises KeyNotFoundError for those), from the bucket stream's per-subject counts.

    `keys`: only those matching this pattern, NATS wildcards allowed (`*` one token, `>` the
    rest): `"u-17.*"` lists the keys of two tokens whose first is `u-17`. Checked tokens only:
    the pattern becomes part of a subject.

    Not nats-py's `KeyValue.keys()`: it lists through an ordered consumer and ends its listing
    when the consumer's info says nothing is pending and the subscription has counted no
    delivery yet, which is also the case when the server has already sent every entry and the
    client has not processed them. Under load it then returns no keys (NoKeysError) for a
    bucket that has some. The stream's state is one request, answered by the server (the
    stream's leader) from what it stores. For buckets of operational size (router heartbeats,
    tests) or a filtered few keys (one user's gateway presence): the server lists at most one
    page of subjects (100,000) in a stream info."""
    prefix = f"$KV.{bucket}."
    info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"{prefix}{keys}")
    return sorted(subject[len(prefix) :] for subject in info.state.subjects or {})
