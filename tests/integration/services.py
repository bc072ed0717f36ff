"""Service apps run in this test process, against the test's NATS server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from faststream.asgi import AsgiFastStream
from parallax_runtime.http import wait_started


@asynccontextmanager
async def running(*apps: AsgiFastStream) -> AsyncIterator[None]:
    """The apps started, their brokers running (FastStream's lifespan context returns before the
    broker has started, and stopping a broker that is still subscribing fails)."""
    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.start_lifespan_context())
        for app in apps:
            await wait_started(app)
        yield


def handler_apps(nats_url: str, data_dir: Path) -> list[AsgiFastStream]:
    from parallax_domain.app import create_app as domain_app
    from parallax_legacy.app import create_app as legacy_app
    from parallax_runtime.settings import DomainSettings, LegacySettings

    return [
        legacy_app(LegacySettings(nats_url=nats_url, data_dir=data_dir)),
        domain_app(DomainSettings(nats_url=nats_url, data_dir=data_dir)),
    ]


def router_app(nats_url: str, *, shadow: bool, percent: str = "50", **extra: Any) -> AsgiFastStream:
    from decimal import Decimal

    from parallax_router.app import create_app
    from parallax_runtime.settings import RouterSettings

    return create_app(
        RouterSettings(
            nats_url=nats_url,
            shadow_enabled=shadow,
            domain_adapters_enabled=True,
            domain_rollout_percentage=Decimal(percent),
            **extra,
        )
    )
