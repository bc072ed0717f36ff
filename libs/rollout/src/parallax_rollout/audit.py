"""The audit entry of a rollout config change (rollout.md, "Exact behaviour" 7).

Every writer of ``parallax_rollout`` (the CLI, the guard, the plan runner) appends one entry per
valid change to the AUDIT stream, subject ``parallax.audit.rollout.<context>``, with
``Nats-Msg-Id: rollout:<context>:<revision>``. This module only builds the entry (no I/O), so
that every writer produces the same shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from parallax_contracts.ids import Context
from pydantic import BaseModel, ConfigDict

from parallax_rollout.config import RolloutConfig, config_diff, config_to_json

Action = Literal["set", "kill", "unkill", "delete", "guard", "plan"]


class RolloutAuditEntry(BaseModel):
    """One entry of the AUDIT stream: a change of one context's rollout config.

    What ``audit_entry`` builds, for every writer: the CLI, and the comparator's guard and the
    staged plan (``parallax_comparator.rollout_io``), which add their own evidence (``guard``:
    the guard's window; ``plan``: the plan's steps). Describes the messages for the AsyncAPI
    documents."""

    model_config = ConfigDict(extra="allow")

    context: Context
    action: Action
    # The KV revision of ``parallax_rollout`` the change was written at.
    revision: int
    at: datetime
    by: str | None
    reason: str | None
    # ``config_diff(old, new)``: ``{field: {old, new}}``, ``{list field: {added, removed}}``.
    diff: dict[str, Any]
    # The whole new config, so one entry is enough to restore it.
    config: RolloutConfig
    guard: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None


def audit_entry(
    *,
    context: str,
    action: Action,
    revision: int,
    old: RolloutConfig | None,
    new: RolloutConfig,
    by: str | None,
    reason: str | None,
    at: datetime,
) -> dict[str, Any]:
    """``{"context", "action", "revision", "at", "by", "reason", "diff", "config"}``.

    ``revision`` is the KV revision the change was written at; ``old=None`` means the change
    replaced the environment defaults (the diff then lists every field); ``config`` is the
    whole new config, so one entry is enough to restore it.
    """
    return {
        "context": context,
        "action": action,
        "revision": revision,
        "at": at.isoformat(),
        "by": by,
        "reason": reason,
        "diff": config_diff(old, new),
        "config": config_to_json(new),
    }


def audit_msg_id(context: str, revision: int) -> str:
    return f"rollout:{context}:{revision}"
