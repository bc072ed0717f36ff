"""The HTTP surface every service shares: /healthz, /readyz, /metrics (and extra routes)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI
from faststream.specification.base import SpecificationFactory
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from parallax_runtime.nats_permissions import PermissionViolations, violations_of
from parallax_runtime.settings import CommonSettings
from parallax_runtime.topology import ensure_topology, missing_topology

log = logging.getLogger("parallax.readiness")

# An extra readiness check of a service: why it is not ready (the text after `not ready: `), or
# None when it is.
ReadyCheck = Callable[[], Awaitable[str | None]]

PING_TIMEOUT_SECONDS = 2.0
NAMED_MISSING = 3  # missing streams and buckets a /readyz answer names (a new server lacks all)
MAX_ERROR_CHARS = 300  # of an unexpected exception's text in a /readyz answer


class Readiness:
    """What `/readyz` answers: why the service is not ready, or None when it is.

    The reason is logged at WARNING when readiness goes from ready to not ready (and at INFO on
    the way back), not on every probe: a kubelet probes every few seconds. It starts as ready,
    so a service that never becomes ready still logs its first reason."""

    def __init__(
        self,
        broker: NatsBroker,
        violations: PermissionViolations | None = None,
        extra_ready: ReadyCheck | None = None,
    ) -> None:
        self._broker = broker
        self._violations = violations
        self._extra_ready = extra_ready
        self._service = violations.service if violations is not None else "service"
        self._ready = True

    async def not_ready_reason(self) -> str | None:
        # A subscription the server refused receives nothing, on a connection that looks fine
        # (nats_permissions.py): first, as NATS itself may answer.
        refused = self._violations.not_ready_reason() if self._violations is not None else None
        if refused is not None:
            return refused
        try:
            # FastStream's ping waits for the connection to be up (a reconnect in progress).
            if not await self._broker.ping(timeout=PING_TIMEOUT_SECONDS):
                return f"not connected to NATS within {PING_TIMEOUT_SECONDS:g}s"
            missing = await missing_topology(self._broker.connection.jetstream())
            if missing:
                return missing_reason(missing)
            if self._extra_ready is not None:
                return await self._extra_ready()
        except Exception as exc:  # readiness answers, it never crashes
            return exception_reason(exc)
        return None

    async def check(self) -> str | None:
        """`not_ready_reason`, logging a change of readiness once."""
        reason = await self.not_ready_reason()
        if reason is not None and self._ready:
            log.warning("%s: not ready: %s", self._service, reason)
        elif reason is None and not self._ready:
            log.info("%s: ready again", self._service)
        self._ready = reason is None
        return reason


def missing_reason(missing: Sequence[str]) -> str:
    named = ", ".join(missing[:NAMED_MISSING])
    more = f" and {len(missing) - NAMED_MISSING} more" if len(missing) > NAMED_MISSING else ""
    # With provisioning off (production) only `parallax init` creates them (docs/operations.md).
    return f"{named}{more} missing (run parallax init)"


def exception_reason(exc: BaseException) -> str:
    """`<type>: <message>` on one line, bounded (a NATS error can carry a whole server line)."""
    text = " ".join(str(exc).split())
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason if len(reason) <= MAX_ERROR_CHARS else reason[: MAX_ERROR_CHARS - 3] + "..."


def health_routes(broker: NatsBroker, extra_ready: ReadyCheck | None = None) -> list[tuple[str, Any]]:
    @get(include_in_schema=False)
    async def healthz(scope: Any) -> AsgiResponse:
        return AsgiResponse(b"ok", 200)

    readiness = Readiness(broker, violations_of(broker), extra_ready)

    @get(include_in_schema=False)
    async def readyz(scope: Any) -> AsgiResponse:
        reason = await readiness.check()
        if reason is None:
            return AsgiResponse(b"ready", 200)
        return AsgiResponse(f"not ready: {reason}".encode(), 503)

    @get(include_in_schema=False)
    async def metrics(scope: Any) -> AsgiResponse:
        return AsgiResponse(generate_latest(REGISTRY), 200, headers={"content-type": CONTENT_TYPE_LATEST})

    return [("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics)]


async def provision(settings: CommonSettings, broker: NatsBroker) -> None:
    """Create or update the streams and buckets before the service subscribes, so a service runs
    against any JetStream-enabled server without a separate `parallax init` (idempotent).

    On the service's own connection, once `broker` is connected (its user and inbox prefix:
    a connection of its own would need replies under nats-py's default `_INBOX.`, which no
    service user may read, deploy/nats/parallax-auth.conf). Off in production
    (`provision_on_start`), where a service user may not change streams: `parallax init` runs
    as admin, and the service only checks that the topology is present (/readyz)."""
    if settings.provision_on_start:
        await ensure_topology(broker.connection.jetstream(), replicas=settings.stream_replicas)


class DocumentedBy(AsyncAPI):
    """An AsyncAPI factory that documents another broker than the one the app runs.

    Hot paths that consume through nats-py directly (FastStream's per-message machinery costs
    more than the routing itself; docs/performance.md) still declare their subscribers, with
    the same arguments, on a broker that is never started: the document stays what it was."""

    def __init__(self, documented: NatsBroker) -> None:
        super().__init__()
        self._documented = documented

    def add_broker(self, broker: Any, /) -> SpecificationFactory:
        return super().add_broker(self._documented)


def service_app(
    broker: NatsBroker,
    *,
    settings: CommonSettings | None = None,
    extra_routes: Sequence[tuple[str, Any]] = (),
    extra_ready: ReadyCheck | None = None,
    on_startup: Sequence[Callable[..., Any]] = (),
    after_startup: Sequence[Callable[..., Any]] = (),
    on_shutdown: Sequence[Callable[..., Any]] = (),
    documented: NatsBroker | None = None,
) -> AsgiFastStream:
    """`documented`: the broker the AsyncAPI document describes, when the running one's
    subscribers are not FastStream's (see DocumentedBy)."""
    hooks = _StartedFlag()
    app = AsgiFastStream(
        broker,
        asgi_routes=[*health_routes(broker, extra_ready), *extra_routes],
        on_startup=[hooks.starting, *on_startup],
        # The services' own consumers subscribe in after_startup hooks, once the broker is
        # connected, after the provisioning: `wait_started` waits for the last of them too.
        after_startup=[
            *([functools.partial(provision, settings, broker)] if settings else []),
            *after_startup,
            hooks.started,
        ],
        on_shutdown=on_shutdown,
        asyncapi_path="/asyncapi",
        specification=DocumentedBy(documented) if documented is not None else None,
    )
    app.parallax_hooks = hooks  # type: ignore[attr-defined]
    return app


class _StartedFlag:
    """Whether an app's after_startup hooks have all run (for `wait_started`)."""

    def __init__(self) -> None:
        self.done = False

    async def starting(self) -> None:
        self.done = False

    async def started(self) -> None:
        self.done = True


async def wait_started(app: AsgiFastStream, within: float = 60.0) -> None:
    """Until every broker of an app entered with `start_lifespan_context()` is running.

    FastStream's lifespan context returns before the broker has started its subscribers, and
    stopping a broker that is still subscribing fails; embedders and tests wait with this.
    FastStream offers no event for it, hence the polling. Apps built by `service_app` are
    waited for until their after_startup hooks (where the services subscribe) have run."""
    hooks: _StartedFlag | None = getattr(app, "parallax_hooks", None)
    async with asyncio.timeout(within):
        while not all(broker.running for broker in app.brokers) or (  # noqa: ASYNC110
            hooks is not None and not hooks.done
        ):
            await asyncio.sleep(0.05)
