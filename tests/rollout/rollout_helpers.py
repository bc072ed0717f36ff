"""Shared helpers for the rollout library tests (imported by module name: pytest puts this
directory on sys.path)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from parallax_rollout import RolloutConfig, validate_config


def make_config(**fields: Any) -> RolloutConfig:
    """A valid canary config at 0 %, shadow off, kill switch off, with ``fields`` applied."""
    data: dict[str, Any] = {
        "mode": "canary",
        "domain_percent": Decimal(0),
        "shadow": False,
        "kill_switch": False,
    }
    data.update(fields)
    return validate_config(data)
