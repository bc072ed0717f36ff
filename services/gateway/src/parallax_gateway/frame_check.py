"""The gateway's checks of one client frame, in the order protocol.md gives ("Exact gateway
behaviour" 1 and 2). Pure: a frame in, a command or a refusal out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from parallax_contracts.catalog import CLIENT_COMMANDS, CREATING_COMMANDS
from parallax_contracts.frames import ClientCommand, ErrorCode, ErrorFrame
from parallax_contracts.ids import is_aggregate_id

# Deeper JSON than this is refused (`invalid_input`): no command needs more than a few levels,
# Python's parser raises RecursionError near 1,000 and the services' pydantic parser refuses
# more than ~250, so a deeper payload would be accepted here and then dropped unanswered.
MAX_DEPTH = 32


@dataclass(frozen=True)
class Refusal:
    code: ErrorCode
    message: str
    ref: str | None

    def frame(self) -> ErrorFrame:
        return ErrorFrame(ref=self.ref, code=self.code, message=self.message)


def check_frame(raw: str | bytes, max_bytes: int) -> ClientCommand | Refusal:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        return Refusal("too_large", f"frame of {size} bytes is over the limit of {max_bytes}", None)
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return Refusal("bad_json", "frame is not valid JSON", None)
    except RecursionError:
        return Refusal("invalid_input", f"frame is nested deeper than {MAX_DEPTH} levels", None)
    ref = data.get("ref") if isinstance(data, dict) else None
    ref = ref if isinstance(ref, str) and _encodable(ref) else None
    content_problem = _content_problem(data)
    if content_problem:
        return Refusal("invalid_input", content_problem, ref)
    if not isinstance(data, dict):
        return Refusal("invalid_input", "frame must be a JSON object", None)
    shape_problem = _shape_problem(data)
    if shape_problem:
        return Refusal("invalid_input", shape_problem, ref)
    context, command_type = data["context"], data["type"]
    if command_type not in CLIENT_COMMANDS[context]:
        return Refusal("unknown_command", f"{command_type!r} is not a {context} command", ref)
    aggregate_id = data.get("aggregate_id")
    if CREATING_COMMANDS[context] == command_type:
        if "aggregate_id" in data:
            return Refusal("invalid_input", f"{command_type} takes no aggregate_id", ref)
    elif not is_aggregate_id(context, aggregate_id):
        kind = "room id (6 upper-case hex digits)" if context == "game" else "campaign id (a UUID)"
        return Refusal("invalid_input", f"aggregate_id must be a {kind}", ref)
    return ClientCommand(
        type=command_type,
        context=context,
        aggregate_id=aggregate_id,
        payload=data["payload"],
        ref=ref,
    )


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _content_problem(data: Any) -> str | None:
    """Too deep, or a string that is not valid Unicode (`json.loads` lets lone surrogates
    through as `\\ud800` escapes; they cannot be published, nor echoed back)."""
    todo: list[tuple[Any, int]] = [(data, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, str):
            if not _encodable(value):
                return "strings must be valid Unicode (no lone surrogates)"
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return f"frame is nested deeper than {MAX_DEPTH} levels"
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            todo.extend((item, depth + 1) for item in items)
    return None


def _shape_problem(data: dict[str, Any]) -> str | None:
    if not isinstance(data.get("type"), str):
        return "type must be a string"
    # A string first: `[1] in CLIENT_COMMANDS` would raise (unhashable), not answer.
    if not isinstance(data.get("context"), str) or data["context"] not in CLIENT_COMMANDS:
        return "context must be 'game' or 'campaign'"
    if not isinstance(data.get("payload"), dict):
        return "payload must be a JSON object"
    if "ref" in data and data["ref"] is not None and not isinstance(data["ref"], str):
        return "ref must be a string"
    return None
