"""Alerts on `parallax.alerts.<ctx>` (protocol.md): what the comparator's guard publishes when it
sets a context's kill switch (docs/comparison.md, "The guard"). Core NATS, not stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parallax_contracts.envelopes import utc_now
from parallax_contracts.ids import Context


class GuardAlert(BaseModel):
    """The guard set the kill switch of `context`: every command goes to legacy again."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["guard_trip"] = "guard_trip"
    context: Context
    # "guard: " and the thresholds crossed, with figures (also the config's `reason`).
    reason: str
    # One line per threshold crossed.
    reasons: list[str]
    # The guard's window when it tripped: samples, mismatches, rates, p95 handler times.
    window: dict[str, Any]
    kill_switch: bool = True
    # The KV revision of `parallax_rollout` the kill switch was written at.
    config_revision: int
    at: datetime = Field(default_factory=utc_now)
