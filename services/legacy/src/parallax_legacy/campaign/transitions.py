"""Which permission each command needs, and the status transition table (campaign-rules.md)."""

from __future__ import annotations

from typing import Any

ADMIN = "campaigns:admin"

PERMISSION_FOR = {
    "create_campaign": "campaigns:create",
    "update_campaign": "campaigns:update",
    "start": "campaigns:execute",
    "pause": "campaigns:execute",
    "resume": "campaigns:execute",
    "complete": "campaigns:execute",
    "fail": "campaigns:execute",
    "retry": "campaigns:execute",
    "restart": "campaigns:execute",
    "cancel": "campaigns:execute",
    "record_progress": "campaigns:execute",
    "archive": "campaigns:delete",
    "get_campaign": "campaigns:read",
}

# command -> (statuses it is allowed from, status it leads to)
TRANSITIONS = {
    "start": (("draft",), "running"),
    "pause": (("running",), "paused"),
    "resume": (("paused",), "running"),
    "complete": (("running", "paused"), "completed"),
    "fail": (("running",), "failed"),
    "retry": (("failed",), "running"),
    "restart": (("completed",), "running"),
    "cancel": (("draft", "running", "paused", "failed"), "cancelled"),
    "archive": (("completed", "cancelled"), "archived"),
}

# Non-transition commands on an existing campaign: the statuses they are allowed in.
ALLOWED_IN = {
    "update_campaign": ("draft", "paused"),
    "record_progress": ("running",),
    "get_campaign": (
        "draft",
        "running",
        "paused",
        "completed",
        "failed",
        "cancelled",
        "archived",
    ),
}


def has_permission(permissions: list[str], command_type: str) -> bool:
    if ADMIN in permissions:
        return True
    return PERMISSION_FOR[command_type] in permissions


def may_act_on(doc: dict[str, Any], actor: str, permissions: list[str]) -> bool:
    """Owner check: only the creator, unless the actor is an admin."""
    if ADMIN in permissions:
        return True
    return bool(doc["owner"] == actor)


def status_allows(status: str, command_type: str) -> bool:
    if command_type in TRANSITIONS:
        allowed_from, _ = TRANSITIONS[command_type]
        return status in allowed_from
    return status in ALLOWED_IN.get(command_type, ())


def next_status(command_type: str) -> str:
    return TRANSITIONS[command_type][1]
