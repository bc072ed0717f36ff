"""The campaign suite drives each implementation's handler through a small Client wrapper."""

from __future__ import annotations

import pytest
from parallax_contracts.handling import ContextHandler

from ._support import Client


@pytest.fixture
def client(campaign: ContextHandler) -> Client:
    return Client(campaign)
