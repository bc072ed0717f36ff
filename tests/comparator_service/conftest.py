"""Fixtures of the comparator service tests (helpers in comparator_support.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def chromium_required() -> bool:
    import os

    return os.environ.get("PARALLAX_REQUIRE_BROWSER") == "1"
