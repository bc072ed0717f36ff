"""Which command types exist in each context, and which of them create an aggregate."""

from __future__ import annotations

from typing import Final

from parallax_contracts.ids import Context

GAME_CLIENT_COMMANDS: Final[frozenset[str]] = frozenset(
    {
        "create_room",
        "join_room",
        "leave_room",
        "start_game",
        "redeal_decision",
        "declare",
        "play",
        "reconnect",
        "get_room_state",
    }
)
# `disconnect` is the gateway's own command: a client sending it gets `unknown_command`.
GAME_COMMANDS: Final[frozenset[str]] = GAME_CLIENT_COMMANDS | {"disconnect"}

CAMPAIGN_COMMANDS: Final[frozenset[str]] = frozenset(
    {
        "create_campaign",
        "update_campaign",
        "start",
        "pause",
        "resume",
        "complete",
        "fail",
        "retry",
        "restart",
        "cancel",
        "archive",
        "record_progress",
        "get_campaign",
    }
)

CLIENT_COMMANDS: Final[dict[Context, frozenset[str]]] = {
    "game": GAME_CLIENT_COMMANDS,
    "campaign": CAMPAIGN_COMMANDS,
}
ALL_COMMANDS: Final[dict[Context, frozenset[str]]] = {
    "game": GAME_COMMANDS,
    "campaign": CAMPAIGN_COMMANDS,
}
CREATING_COMMANDS: Final[dict[Context, str]] = {
    "game": "create_room",
    "campaign": "create_campaign",
}

# Rejection codes named by the spec.
REJECTION_CODES: Final[frozenset[str]] = frozenset(
    {
        "invalid_input",
        "not_found",
        "forbidden",
        "invalid_state",
        "not_your_turn",
        "room_full",
        "already_joined",
    }
)

CAMPAIGN_PERMISSIONS: Final[frozenset[str]] = frozenset(
    {
        "campaigns:create",
        "campaigns:read",
        "campaigns:execute",
        "campaigns:update",
        "campaigns:delete",
        "campaigns:admin",
    }
)


def is_creating(context: str, command_type: str) -> bool:
    return any(context == ctx and command_type == cmd for ctx, cmd in CREATING_COMMANDS.items())
