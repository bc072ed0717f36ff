"""One procedural handler per game command, over the room document (a plain dict).

Checks come in the spec's order (shape -> room exists -> member -> host -> phase -> whose turn
-> rule violations) and nothing is changed before every check has passed. Handlers get the room
as stored (`room`) and never change it: once every check has passed, a handler that changes
something takes a private copy (`copy_room`) and changes that. Refusals and read-only commands
(`get_room_state`) copy nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from parallax_contracts.envelopes import Command, EventDraft, rejection
from parallax_contracts.pieces import SEATS

from parallax_legacy.game import flow
from parallax_legacy.game.room import (
    Doc,
    Drafts,
    awaited,
    connected_members,
    copy_room,
    emit_audience,
    emit_room,
    emit_to,
    free_seat,
    is_connected,
    is_member,
    members,
    new_room,
    room_state_payload,
    seat_info,
    seat_of,
)
from parallax_legacy.game.validation import shape_ok
from parallax_legacy.ports import Lookup, Outcome

Handler = Callable[[Doc, Command], Outcome]


def refuse(command: Command, code: str) -> Outcome:
    return Outcome(state=None, drafts=[rejection(code, command.type, command.actor)])


def changed(doc: Doc, out: Drafts) -> Outcome:
    return Outcome(state=doc, drafts=out)


def unchanged(out: list[EventDraft]) -> Outcome:
    return Outcome(state=None, drafts=out)


# --- room lifecycle --------------------------------------------------------------------------


def handle_create_room(state: Doc | None, command: Command) -> Outcome:
    if state is not None:  # the id is taken, or was (closed rooms are tombstones)
        return refuse(command, "invalid_state")
    doc = new_room(command.aggregate_id, command.actor, command.payload["name"])
    out: Drafts = []
    emit_to(
        out,
        command.actor,
        "room_created",
        {
            "room_id": doc["room_id"],
            "host": doc["host"],
            "players": [
                {"seat": 0, "player": command.actor, "name": command.payload["name"], "connected": True}
            ],
        },
    )
    return changed(doc, out)


def handle_join_room(room: Doc, command: Command) -> Outcome:
    actor = command.actor
    if room["phase"] != "waiting":
        return refuse(command, "invalid_state")
    if is_member(room, actor):
        return refuse(command, "already_joined")
    seat = free_seat(room)
    if seat is None:
        return refuse(command, "room_full")
    name = command.payload["name"]
    doc = copy_room(room)
    doc["seats"][seat] = {"player": actor, "name": name, "connected": True}
    out: Drafts = []
    emit_room(doc, out, "player_joined", {"seat": seat, "player": actor, "name": name})
    return changed(doc, out)


def handle_leave_room(room: Doc, command: Command) -> Outcome:
    if room["phase"] == "waiting":
        return leave_waiting_room(room, command)
    return go_offline(room, command)


def handle_disconnect(room: Doc, command: Command) -> Outcome:
    # In `waiting` a disconnect is a leave_room; in a game (or after it) a leave is a disconnect.
    return handle_leave_room(room, command)


def leave_waiting_room(room: Doc, command: Command) -> Outcome:
    actor = command.actor
    before = members(room)
    doc = copy_room(room)
    out: Drafts = []
    if actor == doc["host"]:
        close_room(doc, "host_left")
        emit_audience(out, before, "room_closed", {"reason": "host_left"})
        return changed(doc, out)
    seat = seat_of(doc, actor)
    doc["seats"][seat] = None
    emit_audience(out, before, "player_left", {"seat": seat, "player": actor})
    return changed(doc, out)


def close_room(doc: Doc, reason: str) -> None:
    doc["phase"] = "closed"
    doc["closed_reason"] = reason


def go_offline(room: Doc, command: Command) -> Outcome:
    """A disconnect during a game or after it (also an in-game leave_room)."""
    actor = command.actor
    if not is_connected(room, actor):
        return refuse(command, "invalid_state")
    before = members(room)
    doc = copy_room(room)
    seat_info(doc, actor)["connected"] = False
    out: Drafts = []
    if not connected_members(doc):
        close_room(doc, "abandoned")
        emit_audience(out, before, "room_closed", {"reason": "abandoned"})
        return changed(doc, out)
    emit_room(doc, out, "player_disconnected", {"player": actor})
    if actor == doc["host"]:
        host_seat = seat_of(doc, actor)
        assert host_seat is not None
        for step in range(1, SEATS):
            candidate = doc["seats"][(host_seat + step) % SEATS]
            if candidate is not None and candidate["connected"]:
                doc["host"] = candidate["player"]
                break
        emit_room(doc, out, "host_changed", {"old_host": actor, "new_host": doc["host"]})
    flow.run_automatic(doc, out)
    return changed(doc, out)


def handle_reconnect(room: Doc, command: Command) -> Outcome:
    actor = command.actor
    out: Drafts = []
    if is_connected(room, actor):
        emit_to(out, actor, "room_state", room_state_payload(room, actor))
        return unchanged(out)
    doc = copy_room(room)
    seat_info(doc, actor)["connected"] = True
    emit_room(doc, out, "player_reconnected", {"player": actor})
    emit_to(out, actor, "room_state", room_state_payload(doc, actor))
    return changed(doc, out)


def handle_get_room_state(room: Doc, command: Command) -> Outcome:
    out: Drafts = []
    emit_to(out, command.actor, "room_state", room_state_payload(room, command.actor))
    return unchanged(out)


# --- the game ----------------------------------------------------------------------------------


def handle_start_game(room: Doc, command: Command) -> Outcome:
    if command.actor != room["host"]:
        return refuse(command, "forbidden")
    if room["phase"] != "waiting" or len(members(room)) != SEATS:
        return refuse(command, "invalid_state")
    doc = copy_room(room)
    doc["game_seed"] = command.seed
    doc["round"] = 0
    doc["totals"] = {player: 0 for player in members(doc)}
    doc["history"] = {player: [] for player in members(doc)}
    out: Drafts = []
    players = []
    for index, seat in enumerate(doc["seats"]):
        players.append({"seat": index, "player": seat["player"], "name": seat["name"]})
    emit_room(doc, out, "game_started", {"players": players})
    flow.start_round(doc, out)
    flow.run_automatic(doc, out)
    return changed(doc, out)


def handle_redeal_decision(room: Doc, command: Command) -> Outcome:
    if room["phase"] != "redeal":
        return refuse(command, "invalid_state")
    if awaited(room) != command.actor:
        return refuse(command, "not_your_turn")
    doc = copy_room(room)
    out: Drafts = []
    flow.answer_redeal(doc, out, command.actor, command.payload["accept"])
    flow.run_automatic(doc, out)
    return changed(doc, out)


def handle_declare(room: Doc, command: Command) -> Outcome:
    if room["phase"] != "declaration":
        return refuse(command, "invalid_state")
    if awaited(room) != command.actor:
        return refuse(command, "not_your_turn")
    value: int = command.payload["value"]
    if not flow.declaration_allowed(room, command.actor, value):
        return refuse(command, "invalid_input")
    doc = copy_room(room)
    out: Drafts = []
    flow.declare(doc, out, command.actor, value, auto=False)
    flow.run_automatic(doc, out)
    return changed(doc, out)


def handle_play(room: Doc, command: Command) -> Outcome:
    if room["phase"] != "turn":
        return refuse(command, "invalid_state")
    if awaited(room) != command.actor:
        return refuse(command, "not_your_turn")
    pieces: list[str] = list(command.payload["pieces"])
    if not flow.play_is_legal(room, command.actor, pieces):
        return refuse(command, "invalid_input")
    doc = copy_room(room)
    out: Drafts = []
    flow.play(doc, out, command.actor, pieces, auto=False)
    flow.run_automatic(doc, out)
    return changed(doc, out)


HANDLERS: dict[str, Handler] = {
    "join_room": handle_join_room,
    "leave_room": handle_leave_room,
    "disconnect": handle_disconnect,
    "start_game": handle_start_game,
    "redeal_decision": handle_redeal_decision,
    "declare": handle_declare,
    "play": handle_play,
    "reconnect": handle_reconnect,
    "get_room_state": handle_get_room_state,
}


def apply_command(state: Doc | None, command: Command, lookup: Lookup) -> Outcome:
    if not shape_ok(command):
        return refuse(command, "invalid_input")
    if command.type == "create_room":
        return handle_create_room(state, command)
    if state is None or state.get("phase") == "closed":
        return refuse(command, "not_found")
    if command.type != "join_room" and not is_member(state, command.actor):
        return refuse(command, "forbidden")
    # No copy here: each handler copies the room only once it is going to change it.
    return HANDLERS[command.type](state, command)
