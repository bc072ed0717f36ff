"""`GameApplication`: loads a room, hands it the command, renders the public events."""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder
from parallax_contracts.envelopes import Command, EventDraft, rejection

from parallax_domain.game import room as r
from parallax_domain.game.public import render, room_state
from parallax_domain.game.room import Rejected, Room, room_uuid
from parallax_domain.game.shape import has_valid_shape
from parallax_domain.game.values import register_game_transcodings
from parallax_domain.receipts import ReceiptingApplication

# A game stores ~60 events a round; a snapshot every 50 keeps a load at a bounded replay.
SNAPSHOT_INTERVAL = 50


class GameApplication(ReceiptingApplication):
    """The domain implementation of the game context (one `Room` aggregate per room id)."""

    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Room: SNAPSHOT_INTERVAL}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_game_transcodings(transcoder)

    def get_room(self, room_id: str) -> Room | None:
        try:
            room = self.load(room_uuid(room_id))
        except AggregateNotFoundError:
            return None
        assert isinstance(room, Room)
        return room

    def decide(self, command: Command) -> tuple[list[EventDraft], list[Aggregate]]:
        try:
            return self._decide(command)
        except Rejected as refused:
            return [rejection(refused.code, command.type, command.actor)], []

    def _decide(self, command: Command) -> tuple[list[EventDraft], list[Aggregate]]:
        if not has_valid_shape(command):
            raise Rejected(r.INVALID_INPUT)
        payload: dict[str, Any] = command.payload
        actor = command.actor
        room = self.get_room(command.aggregate_id)
        if command.type == "create_room":
            if room is not None:
                raise Rejected(r.INVALID_STATE)
            room = Room(room_id=command.aggregate_id, host=actor, name=payload["name"])
            return render([], room.pending_events), [room]
        if room is None or room.closed is not None:
            raise Rejected(r.NOT_FOUND)
        before = list(room.seats)
        extra: list[EventDraft] = []
        match command.type:
            case "join_room":
                room.join(actor, payload["name"])
            case "leave_room":
                room.leave(actor)
            case "disconnect":
                room.disconnect(actor)
            case "start_game":
                room.start_game(actor, command.seed)
            case "redeal_decision":
                room.decide_redeal(actor, payload["accept"])
            case "declare":
                room.declare(actor, payload["value"])
            case "play":
                room.play(actor, payload["pieces"])
            case "reconnect":
                room.reconnect(actor)
                extra.append(room_state(room, actor))
            case "get_room_state":
                room.check_member(actor)
                extra.append(room_state(room, actor))
            case _:  # pragma: no cover - has_valid_shape knows every command type
                raise Rejected(r.INVALID_INPUT)
        drafts = render(before, room.pending_events) + extra
        return drafts, ([room] if room.pending_events else [])
