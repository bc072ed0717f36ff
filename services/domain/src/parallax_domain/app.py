"""The domain service: a FastStream app consuming `parallax.handle.domain.>`.

Run standalone with `parallax run domain` or `faststream run --factory parallax_domain.app:create_app`.
The event store is SQLite files in the data directory by default, PostgreSQL with
`PARALLAX_STORE=postgres` and `PARALLAX_POSTGRES_DSN`.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from parallax_contracts.handling import ContextHandler
from parallax_runtime.connection import make_broker
from parallax_runtime.handler_service import handler_app
from parallax_runtime.settings import DomainSettings

from parallax_domain.factory import application_for
from parallax_domain.handler import DomainContextHandler


def create_app(settings: DomainSettings | None = None) -> AsgiFastStream:
    settings = settings or DomainSettings()
    broker = make_broker(settings, name="domain")
    handlers: dict[str, ContextHandler] = {
        context: DomainContextHandler(
            application_for(context, settings.eventsourcing_env(context)),
            in_thread=settings.handle_in_thread(),
        )
        for context in ("game", "campaign")
    }
    return handler_app(settings, broker, "domain", handlers)
