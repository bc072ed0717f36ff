"""The FastStream NATS broker every service uses, configured from the common settings."""

from __future__ import annotations

import logging

from faststream.nats import NatsBroker
from faststream.nats.prometheus import NatsPrometheusMiddleware
from nats.js.kv import KeyValue
from prometheus_client import REGISTRY

from parallax_runtime.settings import CommonSettings


def inbox_prefix(service: str) -> str:
    """Where a service's connection receives replies: request replies, PubAcks, KV watches and
    the deliveries of consumers without a deliver subject of their own. One prefix per service
    so that deploy/nats/parallax-auth.conf can let each service user read its own replies only
    (`_INBOX_router.>`...), not every service's under nats-py's default `_INBOX.>`."""
    return f"_INBOX_{service}"


def make_broker(settings: CommonSettings, *, name: str) -> NatsBroker:
    """The broker of service `name` (gateway, router, legacy, domain, comparator)."""
    return NatsBroker(
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
    )


async def kv_bucket(broker: NatsBroker, name: str) -> KeyValue:
    """A provisioned KV bucket (see topology.py), looked up, never created with other settings."""
    return await broker.connection.jetstream().key_value(name)
