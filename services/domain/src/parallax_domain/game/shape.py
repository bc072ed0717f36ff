"""Payload shape checks (game-rules.md, "Exact behaviour" rule 1): the first check of every
command; any failure is `invalid_input` before the room is even looked up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from parallax_contracts.catalog import GAME_COMMANDS
from parallax_contracts.envelopes import Command
from parallax_contracts.ids import is_room_id
from parallax_contracts.pieces import PIECE_POINTS

MAX_NAME: Final[int] = 50
FORBIDDEN_NAME_CHARS: Final[frozenset[str]] = frozenset("<>&\"'\n\r")
SEED_LIMIT: Final[int] = 1 << 64

# command type -> {field: checker}
_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "create_room": ("name",),
    "join_room": ("name",),
    "declare": ("value",),
    "play": ("pieces",),
    "redeal_decision": ("accept",),
    "leave_room": (),
    "start_game": (),
    "disconnect": (),
    "reconnect": (),
    "get_room_state": (),
}


def is_json_int(value: object) -> bool:
    """A JSON integer: `true`, `2.0` and `"2"` are not."""
    return type(value) is int


def is_valid_name(value: object) -> bool:
    return (
        type(value) is str
        and 1 <= len(value) <= MAX_NAME
        and not any(char in FORBIDDEN_NAME_CHARS for char in value)
    )


def _is_pieces(value: object) -> bool:
    return type(value) is list and all(type(kind) is str and kind in PIECE_POINTS for kind in value)


_CHECKS: Final[dict[str, Callable[[object], bool]]] = {
    "name": is_valid_name,
    "value": is_json_int,
    "pieces": _is_pieces,
    "accept": lambda value: type(value) is bool,
}


def has_valid_shape(command: Command) -> bool:
    """Command type known, room id well-formed, payload exactly the command's fields and JSON
    types, and for `start_game` an integer envelope seed in [0, 2^64)."""
    if command.type not in GAME_COMMANDS or not is_room_id(command.aggregate_id):
        return False
    fields = _FIELDS[command.type]
    payload = command.payload
    if type(payload) is not dict or set(payload) != set(fields):
        return False
    if not all(_CHECKS[field](payload[field]) for field in fields):
        return False
    return command.type != "start_game" or (is_json_int(command.seed) and 0 <= command.seed < SEED_LIMIT)
