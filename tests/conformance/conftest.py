"""Fixtures that give each conformance test both implementations of a context, in process.

The suite only uses the ContextHandler port (`await handler.handle(command)`), so every test
runs once against legacy and once against domain."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from parallax_contracts.handling import ContextHandler
from parallax_domain.factory import in_memory_handler as domain_handler
from parallax_legacy.factory import in_memory_handler as legacy_handler

HandlerFactory = Callable[[str], ContextHandler]

FACTORIES: dict[str, HandlerFactory] = {"legacy": legacy_handler, "domain": domain_handler}


@pytest.fixture(params=sorted(FACTORIES))
def impl_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def game(impl_name: str) -> ContextHandler:
    """A fresh, empty game handler of one implementation."""
    return FACTORIES[impl_name]("game")


@pytest.fixture
def campaign(impl_name: str) -> ContextHandler:
    """A fresh, empty campaign handler of one implementation."""
    return FACTORIES[impl_name]("campaign")
