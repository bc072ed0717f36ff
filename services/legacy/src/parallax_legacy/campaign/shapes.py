"""Payload shape checks (the first rejection, `invalid_input`): exactly the command's fields,
with their JSON types. Contents (kind values, name length, params, numbers' ranges) are value
rules and are checked later, in validation.py."""

from __future__ import annotations

from typing import Any

from parallax_contracts.catalog import CAMPAIGN_COMMANDS
from parallax_contracts.ids import is_campaign_id

BARE_TRANSITIONS = (
    "start",
    "pause",
    "resume",
    "complete",
    "retry",
    "restart",
    "cancel",
    "archive",
    "get_campaign",
)


def is_json_int(value: Any) -> bool:
    """A JSON integer: not `true`/`false` (bool is an int in Python), not `5.0`."""
    return isinstance(value, int) and not isinstance(value, bool)


def _exact_fields(payload: dict[str, Any], required: dict[str, type], optional: dict[str, type]) -> bool:
    for key in payload:
        if key not in required and key not in optional:
            return False
    for key, kind in required.items():
        if key not in payload:
            return False
        if not _has_type(payload[key], kind):
            return False
    optional_ok = [_has_type(payload[key], kind) for key, kind in optional.items() if key in payload]
    return all(optional_ok)


def _has_type(value: Any, kind: type) -> bool:
    # None never passes: a field present as null is a shape error.
    if value is None:
        return False
    if kind is int:
        return is_json_int(value)
    return isinstance(value, kind)


def shape_ok(command_type: str, aggregate_id: Any, payload: Any) -> bool:
    if command_type not in CAMPAIGN_COMMANDS:
        return False
    if not is_campaign_id(aggregate_id):
        return False
    if not isinstance(payload, dict):
        return False

    if command_type in BARE_TRANSITIONS:
        return len(payload) == 0
    if command_type == "fail":
        return _exact_fields(payload, {"reason": str}, {})
    if command_type == "record_progress":
        return _exact_fields(payload, {"processed": int, "succeeded": int, "failed": int}, {})
    if command_type == "create_campaign":
        return _exact_fields(payload, {"name": str, "kind": str, "params": dict}, {})
    if command_type == "update_campaign":
        if not _exact_fields(payload, {}, {"name": str, "params": dict}):
            return False
        # An update must carry at least one of its fields (decided: a shape error).
        return "name" in payload or "params" in payload
    return False
