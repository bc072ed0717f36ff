"""Payload shape checks (rule 1 of "Exact behaviour"): the first check of every command."""

from __future__ import annotations

from typing import Any

from parallax_contracts.catalog import GAME_COMMANDS
from parallax_contracts.envelopes import Command
from parallax_contracts.ids import is_room_id
from parallax_contracts.pieces import PIECE_POINTS

NAME_MAX = 50
NAME_FORBIDDEN = frozenset("<>&\"'\n\r")
SEED_LIMIT = 1 << 64

# command type -> {field: JSON type}
PAYLOAD_FIELDS: dict[str, dict[str, str]] = {
    "create_room": {"name": "name"},
    "join_room": {"name": "name"},
    "declare": {"value": "int"},
    "play": {"pieces": "pieces"},
    "redeal_decision": {"accept": "bool"},
    "leave_room": {},
    "start_game": {},
    "disconnect": {},
    "reconnect": {},
    "get_room_state": {},
}


def is_json_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_valid_name(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if len(value) < 1 or len(value) > NAME_MAX:
        return False
    return all(ch not in NAME_FORBIDDEN for ch in value)


def is_piece_list(value: Any) -> bool:
    if not isinstance(value, list):
        return False
    return all(isinstance(entry, str) and entry in PIECE_POINTS for entry in value)


def _field_ok(kind: str, value: Any) -> bool:
    if kind == "name":
        return is_valid_name(value)
    if kind == "int":
        return is_json_int(value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "pieces":
        return is_piece_list(value)
    return False


def shape_ok(command: Command) -> bool:
    if command.type not in GAME_COMMANDS or command.type not in PAYLOAD_FIELDS:
        return False
    if not is_room_id(command.aggregate_id):
        return False
    payload = command.payload
    if not isinstance(payload, dict):
        return False
    fields = PAYLOAD_FIELDS[command.type]
    if set(payload) != set(fields):
        return False
    for key, kind in fields.items():
        if not _field_ok(kind, payload[key]):
            return False
    if command.type == "start_game":
        seed = command.seed
        if not is_json_int(seed) or seed < 0 or seed >= SEED_LIMIT:
            return False
    return True
