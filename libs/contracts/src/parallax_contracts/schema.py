"""JSON Schema export of every contract model (`parallax schema`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from parallax_contracts.alerts import GuardAlert
from parallax_contracts.comparisons import ComparisonMessage
from parallax_contracts.envelopes import Command, Event, RoutingRecord
from parallax_contracts.frames import AcceptedFrame, ClientCommand, ErrorFrame, EventFrame

MODELS: dict[str, type[BaseModel]] = {
    "command": Command,
    "event": Event,
    "routing_record": RoutingRecord,
    "guard_alert": GuardAlert,
    "comparison": ComparisonMessage,
    "ws_client_command": ClientCommand,
    "ws_accepted": AcceptedFrame,
    "ws_error": ErrorFrame,
    "ws_event": EventFrame,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    return {name: model.model_json_schema() for name, model in MODELS.items()}


def write_json_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
