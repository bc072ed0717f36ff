"""Which services exist and how to build each one's ASGI app (imports stay lazy)."""

from __future__ import annotations

from typing import Any, Literal

ServiceName = Literal["gateway", "router", "legacy", "domain", "comparator"]
SERVICES: tuple[ServiceName, ...] = ("gateway", "router", "legacy", "domain", "comparator")
DEFAULT_PORTS: dict[ServiceName, int] = {
    "gateway": 8000,
    "router": 8001,
    "legacy": 8002,
    "domain": 8003,
    "comparator": 8004,
}


def build_app(name: ServiceName) -> Any:
    if name == "gateway":
        from parallax_gateway.app import create_app as gateway

        return gateway()
    if name == "router":
        from parallax_router.app import create_app as router

        return router()
    if name == "legacy":
        from parallax_legacy.app import create_app as legacy

        return legacy()
    if name == "domain":
        from parallax_domain.app import create_app as domain

        return domain()
    from parallax_comparator.app import create_app as comparator

    return comparator()
