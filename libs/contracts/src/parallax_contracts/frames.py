"""WebSocket frames between clients and the gateway (protocol.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

ErrorCode = Literal[
    "bad_json", "unknown_command", "invalid_input", "too_large", "rate_limited", "unavailable"
]


class ClientCommand(BaseModel):
    """A client frame that passed the gateway's checks."""

    type: str
    context: Literal["game", "campaign"]
    aggregate_id: str | None = None
    payload: dict[str, Any]
    ref: str | None = None


class AcceptedFrame(BaseModel):
    type: Literal["accepted"] = "accepted"
    ref: str | None
    command_id: str
    aggregate_id: str


class ErrorFrame(BaseModel):
    type: Literal["error"] = "error"
    ref: str | None
    code: ErrorCode
    message: str


class EventFrame(BaseModel):
    type: Literal["event"] = "event"
    event: str
    context: str
    aggregate_id: str
    command_id: str
    seq: int
    count: int
    payload: dict[str, Any]
