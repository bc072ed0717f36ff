"""Public events: rendered from the room's new domain events, and the `room_state` view.

Audiences follow rule 2: `room` is every seated member in seat order at the moment the event is
emitted, so the renderer keeps its own view of the seats, starting from the seats before the
command and following the membership events as it renders them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from parallax_contracts.envelopes import EventDraft
from parallax_contracts.pieces import SEATS

from parallax_domain.game import room as r
from parallax_domain.game.room import Room
from parallax_domain.game.values import Member, Play


class _Seats:
    def __init__(self, seats: Sequence[Member | None]) -> None:
        self.seats: list[Member | None] = list(seats)

    def audience(self) -> list[str]:
        return [member.player for member in self.seats if member is not None]

    def player(self, seat: int) -> str:
        member = self.seats[seat]
        assert member is not None
        return member.player

    def players(self, seats: Iterable[int]) -> list[str]:
        return [self.player(seat) for seat in seats]


def _play(seats: _Seats, play: Play) -> dict[str, Any]:
    return {
        "player": seats.player(play.seat),
        "pieces": list(play.pieces),
        "play_type": play.play_type,
        "value": play.value,
    }


def render(before: Sequence[Member | None], events: Iterable[object]) -> list[EventDraft]:
    """The public events of a command, from the domain events it recorded, in order."""
    seats = _Seats(before)
    drafts: list[EventDraft] = []

    def emit(type_: str, payload: dict[str, Any], audience: list[str] | None = None) -> None:
        drafts.append(
            EventDraft(
                type=type_,
                payload=payload,
                audience=seats.audience() if audience is None else audience,
            )
        )

    for e in events:
        if isinstance(e, Room.Created):
            seats = _Seats([Member(e.host, e.name), None, None, None])
            emit(
                "room_created",
                {
                    "room_id": e.room_id,
                    "host": e.host,
                    "players": [{"seat": 0, "player": e.host, "name": e.name, "connected": True}],
                },
                [e.host],
            )
        elif isinstance(e, Room.PlayerJoined):
            seats.seats[e.seat] = Member(e.player, e.name)
            emit("player_joined", {"seat": e.seat, "player": e.player, "name": e.name})
        elif isinstance(e, Room.PlayerLeft):
            emit("player_left", {"seat": e.seat, "player": e.player})
            seats.seats[e.seat] = None
        elif isinstance(e, Room.Closed):
            emit("room_closed", {"reason": e.reason})
            seats = _Seats([None] * SEATS)
        elif isinstance(e, Room.HostChanged):
            emit("host_changed", {"old_host": e.old_host, "new_host": e.new_host})
        elif isinstance(e, Room.GameStarted):
            emit(
                "game_started",
                {
                    "players": [
                        {"seat": seat, "player": member.player, "name": member.name}
                        for seat, member in enumerate(seats.seats)
                        if member is not None
                    ]
                },
            )
        elif isinstance(e, Room.Dealt):
            if e.attempt > 0:
                emit(
                    "redeal_executed",
                    {
                        "round": e.round,
                        "attempt": e.attempt,
                        "starter": seats.player(e.starter),
                        "multiplier": e.multiplier,
                    },
                )
            for seat, hand in enumerate(e.hands):
                player = seats.player(seat)
                emit(
                    "hand_dealt",
                    {
                        "round": e.round,
                        "attempt": e.attempt,
                        "player": player,
                        "hand": list(hand.pieces),
                    },
                    [player],
                )
        elif isinstance(e, Room.RedealPhaseStarted):
            emit(
                "redeal_phase_started",
                {
                    "round": e.round,
                    "weak_players": seats.players(e.weak),
                    "multiplier": e.multiplier,
                },
            )
        elif isinstance(e, Room.RedealDecided):
            emit("redeal_decided", {"player": seats.player(e.seat), "accept": e.accept})
        elif isinstance(e, Room.RoundStarted):
            emit(
                "round_started",
                {
                    "round": e.round,
                    "starter": seats.player(e.starter),
                    "multiplier": e.multiplier,
                    "order": seats.players((e.starter + k) % SEATS for k in range(SEATS)),
                },
            )
        elif isinstance(e, Room.Declared):
            emit("declared", {"player": seats.player(e.seat), "value": e.value, "auto": e.auto})
        elif isinstance(e, Room.TurnStarted):
            emit(
                "turn_started",
                {"round": e.round, "turn": e.turn, "starter": seats.player(e.starter)},
            )
        elif isinstance(e, Room.PiecesPlayed):
            emit("pieces_played", {**_play(seats, e.play), "auto": e.auto})
        elif isinstance(e, Room.TurnCompleted):
            emit(
                "turn_completed",
                {
                    "round": e.round,
                    "turn": e.turn,
                    "winner": seats.player(e.winner),
                    "piles": e.piles,
                    "plays": [_play(seats, play) for play in e.plays],
                },
            )
        elif isinstance(e, Room.RoundScored):
            emit(
                "round_scored",
                {
                    "round": e.round,
                    "multiplier": e.multiplier,
                    "results": [
                        {
                            "player": seats.player(line.seat),
                            "declared": line.declared,
                            "captured": line.captured,
                            "base": line.base,
                            "delta": line.delta,
                            "total": line.total,
                        }
                        for line in e.results
                    ],
                },
            )
        elif isinstance(e, Room.GameOver):
            emit(
                "game_over",
                {
                    "winners": seats.players(e.winners),
                    "totals": {seats.player(seat): t for seat, t in enumerate(e.totals)},
                    "rounds": e.rounds,
                },
            )
        elif isinstance(e, Room.PlayerDisconnected):
            emit("player_disconnected", {"player": seats.player(e.seat)})
        elif isinstance(e, Room.PlayerReconnected):
            emit("player_reconnected", {"player": seats.player(e.seat)})
        else:  # pragma: no cover - every domain event of the room is public
            raise TypeError(f"no public form for {type(e).__name__}")
    return drafts


def room_state(room: Room, actor: str) -> EventDraft:
    """The `room_state` of rule 12, for one member."""
    phase = room.phase
    waiting = phase == r.WAITING
    over = phase == r.GAME_OVER
    seat = room.seat_of(actor)
    assert seat is not None
    if phase == r.TURN:
        starter = room.turn_starter
    elif phase in (r.REDEAL, r.DECLARATION):
        starter = room.starter
    else:
        starter = None
    awaited = room.awaiting()
    players = []
    for s, member in enumerate(room.seats):
        if member is None:
            continue
        players.append(
            {
                "seat": s,
                "player": member.player,
                "name": member.name,
                "connected": member.connected,
                "declared": None if waiting else room.declared[s],
                "captured": 0 if waiting else room.captured[s],
                "total": 0 if waiting else room.totals[s],
                "hand_size": 0 if waiting or over else len(room.hands[s]),
            }
        )
    in_turn = phase == r.TURN
    payload: dict[str, Any] = {
        "phase": phase,
        "room_id": room.room_id,
        "host": room.host,
        "players": players,
        "round": 0 if waiting else room.round,
        "turn": room.turn if in_turn or over else 0,
        "multiplier": 1 if waiting else room.multiplier,
        "starter": None if starter is None else room.member(starter).player,
        "awaiting": [] if awaited is None else [room.member(awaited).player],
        "hand": [] if waiting or over else list(room.hands[seat].pieces),
        "turn_plays": [
            {
                "player": room.member(play.seat).player,
                "pieces": list(play.pieces),
                "play_type": play.play_type,
                "value": play.value,
            }
            for play in room.turn_plays
        ]
        if in_turn
        else [],
        "required": room.required,
    }
    return EventDraft(type="room_state", payload=payload, audience=[actor])
