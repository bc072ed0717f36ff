"""Identifier formats. Anything that becomes a NATS subject token is checked against these first."""

from __future__ import annotations

import re
import uuid
from typing import Literal, TypeGuard

Context = Literal["game", "campaign"]
CONTEXTS: tuple[Context, ...] = ("game", "campaign")

ROOM_ID_RE = re.compile(r"^[0-9A-F]{6}$")
USER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_room_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and ROOM_ID_RE.fullmatch(value) is not None


def is_campaign_id(value: object) -> TypeGuard[str]:
    """A campaign id is a UUID in its canonical lower-case 8-4-4-4-12 text form."""
    return isinstance(value, str) and _UUID_RE.fullmatch(value) is not None


def is_user_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and USER_ID_RE.fullmatch(value) is not None


def is_command_id(value: object) -> TypeGuard[str]:
    return is_campaign_id(value)


def is_context(value: object) -> bool:
    return value in CONTEXTS


def is_aggregate_id(context: str, value: object) -> bool:
    """The id format of one context's aggregates (room id for game, UUID for campaign)."""
    if context == "game":
        return is_room_id(value)
    if context == "campaign":
        return is_campaign_id(value)
    return False


def new_command_id() -> str:
    return str(uuid.uuid4())


def new_campaign_id() -> str:
    return str(uuid.uuid4())


def new_room_id() -> str:
    """Six upper-case hex digits. 16.7M ids: collisions are possible and the game answers them
    with `invalid_state`; the gateway draws a fresh id per `create_room`."""
    return uuid.uuid4().hex[:6].upper()
