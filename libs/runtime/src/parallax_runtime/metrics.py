"""Prometheus metrics shared by the services (names documented in docs/operations.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)

HANDLED = Counter(
    "parallax_handler_commands_total",
    "Commands handled, by implementation, context, role and outcome (accepted or rejected).",
    ["impl", "context", "role", "outcome"],
)
REJECTIONS = Counter(
    "parallax_handler_rejections_total",
    "command_rejected events emitted, by implementation, context and code.",
    ["impl", "context", "code"],
)
HANDLER_SECONDS = Histogram(
    "parallax_handler_seconds",
    "Time to handle one command (rules and store, without publishing).",
    ["impl", "context"],
    buckets=LATENCY_BUCKETS,
)
HANDLER_FAILURES = Counter(
    "parallax_handler_failures_total",
    "Commands that could not be handled now (store down, ...) and were left for redelivery.",
    ["impl", "context"],
)
UNREADABLE = Counter(
    "parallax_unreadable_messages_total",
    "Messages that could not be parsed as an envelope and were dropped (logged).",
    ["service"],
)


class ConsumedMessages:
    """FastStream's `faststream_received_processed_messages_total`, kept for the consumers that
    take their messages through nats-py directly (router, handlers, gateway, comparator: see
    docs/performance.md): the dashboards and the `ParallaxConsumerNacksHigh` alert read it.
    Same metric object (FastStream's container finds it in the registry), same labels."""

    def __init__(self, app_name: str, handler: str) -> None:
        from faststream.prometheus.container import MetricsContainer
        from prometheus_client import REGISTRY

        container = MetricsContainer(REGISTRY, metrics_prefix="faststream", custom_label_names=())
        metric = container.received_processed_messages_total
        self.acked = metric.labels(app_name=app_name, broker="nats", handler=handler, status="acked")
        self.nacked = metric.labels(app_name=app_name, broker="nats", handler=handler, status="nacked")


PERMISSION_VIOLATIONS = Counter(
    "parallax_nats_permission_violations_total",
    "Permissions violations the NATS server reported on the service's connection, by kind "
    "(subscribe: a refused subscription, the service is not ready; publish: a refused publish).",
    ["kind"],
)
# Both series exist from the start at 0, so that `increase()` sees the first violation.
for _kind in ("subscribe", "publish"):
    PERMISSION_VIOLATIONS.labels(_kind)
REFUSED_SUBSCRIPTIONS = Gauge(
    "parallax_nats_refused_subscriptions",
    "Subjects the NATS server refused the service's subscriptions to, as long as they stay refused "
    "(until a reconnect where the server accepts them): /readyz answers 503 while it is above 0.",
)
