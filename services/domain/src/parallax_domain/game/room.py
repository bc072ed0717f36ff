"""The `Room` aggregate: one Liap Tui room, from creation to game over (or closure).

Command methods (public, undecorated) check the rules and raise `Rejected` before anything
changes; the decisions they take are recorded by the `@event` methods (private), whose bodies
are the only place state changes, both when deciding and when the room is replayed from its
stored events. After a player's action the room advances on its own (`_advance`): resolving a
redeal, opening turns, completing turns, scoring rounds, dealing the next round, and acting for
disconnected players, until a connected player is awaited or the game is over.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Final

from eventsourcing.domain import Aggregate, event
from parallax_contracts.pieces import SEATS

from parallax_domain.game import rules
from parallax_domain.game.values import Hand, Member, Play, ScoreLine

ROOM_NAMESPACE: Final[uuid.UUID] = uuid.UUID("0f6d3c1e-8a57-4a8e-b7f4-2d5e9c6a1b30")

WAITING: Final = "waiting"
REDEAL: Final = "redeal"
DECLARATION: Final = "declaration"
TURN: Final = "turn"
GAME_OVER: Final = "game_over"
# Between a deal and the weak-hand check within one command; never seen at rest.
DEALING: Final = "dealing"

HOST_LEFT: Final = "host_left"
ABANDONED: Final = "abandoned"

INVALID_INPUT: Final = "invalid_input"
NOT_FOUND: Final = "not_found"
FORBIDDEN: Final = "forbidden"
INVALID_STATE: Final = "invalid_state"
NOT_YOUR_TURN: Final = "not_your_turn"
ROOM_FULL: Final = "room_full"
ALREADY_JOINED: Final = "already_joined"


class Rejected(Exception):
    """A refused command: nothing changed, and the actor gets `command_rejected {code}`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# Every command of a room computes its id (uuid5 hashes with SHA-1); a room lives for many
# commands.
@lru_cache(maxsize=4096)
def room_uuid(room_id: str) -> uuid.UUID:
    return uuid.uuid5(ROOM_NAMESPACE, room_id)


class Room(Aggregate):
    # -- domain events (explicit classes: the public events are rendered from these) -------

    class Created(Aggregate.Created):
        room_id: str
        host: str
        name: str

    class PlayerJoined(Aggregate.Event):
        seat: int
        player: str
        name: str

    class PlayerLeft(Aggregate.Event):
        seat: int
        player: str

    class Closed(Aggregate.Event):
        reason: str

    class HostChanged(Aggregate.Event):
        old_host: str
        new_host: str

    class GameStarted(Aggregate.Event):
        game_seed: int

    class Dealt(Aggregate.Event):
        """A deal: attempt 0 opens a round, a later attempt is a redeal."""

        round: int
        attempt: int
        starter: int
        multiplier: int
        hands: tuple[Hand, ...]

    class RedealPhaseStarted(Aggregate.Event):
        round: int
        weak: tuple[int, ...]
        multiplier: int

    class RedealDecided(Aggregate.Event):
        seat: int
        accept: bool
        auto: bool

    class RoundStarted(Aggregate.Event):
        round: int
        starter: int
        multiplier: int

    class Declared(Aggregate.Event):
        seat: int
        value: int
        auto: bool

    class TurnStarted(Aggregate.Event):
        round: int
        turn: int
        starter: int

    class PiecesPlayed(Aggregate.Event):
        play: Play
        auto: bool

    class TurnCompleted(Aggregate.Event):
        round: int
        turn: int
        winner: int
        piles: int
        plays: tuple[Play, ...]

    class RoundScored(Aggregate.Event):
        round: int
        multiplier: int
        results: tuple[ScoreLine, ...]

    class GameOver(Aggregate.Event):
        winners: tuple[int, ...]
        totals: tuple[int, ...]
        rounds: int

    class PlayerDisconnected(Aggregate.Event):
        seat: int

    class PlayerReconnected(Aggregate.Event):
        seat: int

    # -- creation ---------------------------------------------------------------------------

    @staticmethod
    def create_id(room_id: str) -> uuid.UUID:
        return room_uuid(room_id)

    @event(Created)
    def __init__(self, room_id: str, host: str, name: str) -> None:
        self.room_id = room_id
        self.host = host
        self.seats: list[Member | None] = [Member(host, name), None, None, None]
        self.phase: str = WAITING
        self.closed: str | None = None
        self.game_seed = 0
        self.round = 0
        self.attempt = 0
        self.multiplier = 1
        self.starter: int | None = None  # provisional starter (redeal), round starter after
        self.hands: list[Hand] = [Hand()] * SEATS
        self.redeal_queue: list[int] = []
        self.accepters: list[int] = []
        self.declared: list[int | None] = [None] * SEATS
        self.recent_declarations: list[list[int]] = [[] for _ in range(SEATS)]
        self.captured: list[int] = [0] * SEATS
        self.totals: list[int] = [0] * SEATS
        self.turn = 0
        self.turn_starter: int | None = None
        self.turn_plays: list[Play] = []
        self.last_turn_winner: int | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Room:
        """A cheap deep copy (the repository copies every room it serves from its cache).

        The state holds only immutable values (str, int, bool, None, UUID, datetime and the
        frozen value objects) and lists of them, at most two levels deep; copying the lists is
        a deep copy."""
        clone = object.__new__(type(self))
        clone.__dict__.update(
            {
                key: [list(v) if type(v) is list else v for v in value] if type(value) is list else value
                for key, value in self.__dict__.items()
            }
        )
        return clone

    # -- queries ----------------------------------------------------------------------------

    def seat_of(self, player: str) -> int | None:
        for seat, member in enumerate(self.seats):
            if member is not None and member.player == player:
                return seat
        return None

    def member(self, seat: int) -> Member:
        member = self.seats[seat]
        assert member is not None
        return member

    @property
    def occupied(self) -> list[int]:
        return [seat for seat, member in enumerate(self.seats) if member is not None]

    @property
    def in_game(self) -> bool:
        return self.phase in (REDEAL, DECLARATION, TURN, DEALING)

    def awaiting(self) -> int | None:
        """The seat the game is waiting for, if any."""
        if self.phase == REDEAL and self.redeal_queue:
            return self.redeal_queue[0]
        if self.phase == DECLARATION and self.starter is not None:
            count = sum(value is not None for value in self.declared)
            return (self.starter + count) % SEATS if count < SEATS else None
        if self.phase == TURN and self.turn_starter is not None:
            count = len(self.turn_plays)
            return (self.turn_starter + count) % SEATS if count < SEATS else None
        return None

    @property
    def required(self) -> int | None:
        """The piece count of the current turn once its starter has played."""
        if self.phase == TURN and self.turn_plays:
            return len(self.turn_plays[0].pieces)
        return None

    def _seat_of_member(self, player: str) -> int:
        """The actor's seat, or `forbidden` if the actor is not in the room."""
        seat = self.seat_of(player)
        if seat is None:
            raise Rejected(FORBIDDEN)
        return seat

    def _awaited_actor(self, player: str, phase: str) -> int:
        seat = self._seat_of_member(player)
        if self.phase != phase:
            raise Rejected(INVALID_STATE)
        if self.awaiting() != seat or not self.member(seat).connected:
            raise Rejected(NOT_YOUR_TURN)
        return seat

    # -- commands -------------------------------------------------------------------------

    def check_member(self, player: str) -> None:
        """For queries (`get_room_state`): the actor must be in the room."""
        self._seat_of_member(player)

    def join(self, player: str, name: str) -> None:
        if self.phase != WAITING:
            raise Rejected(INVALID_STATE)
        if self.seat_of(player) is not None:
            raise Rejected(ALREADY_JOINED)
        free = [seat for seat, member in enumerate(self.seats) if member is None]
        if not free:
            raise Rejected(ROOM_FULL)
        self._player_joined(seat=free[0], player=player, name=name)

    def leave(self, player: str) -> None:
        seat = self._seat_of_member(player)
        if self.phase != WAITING:
            self.disconnect(player)
        elif player == self.host:
            self._closed(reason=HOST_LEFT)
        else:
            self._player_left(seat=seat, player=player)

    def start_game(self, player: str, seed: int) -> None:
        self._seat_of_member(player)
        if player != self.host:
            raise Rejected(FORBIDDEN)
        if self.phase != WAITING or len(self.occupied) != SEATS:
            raise Rejected(INVALID_STATE)
        self._game_started(game_seed=seed)
        self._deal_round(1)
        self._advance()

    def decide_redeal(self, player: str, accept: bool) -> None:
        seat = self._awaited_actor(player, REDEAL)
        self._redeal_decided(seat=seat, accept=accept, auto=False)
        self._advance()

    def declare(self, player: str, value: int) -> None:
        seat = self._awaited_actor(player, DECLARATION)
        if not self._declaration_allowed(seat, value):
            raise Rejected(INVALID_INPUT)
        self._declared(seat=seat, value=value, auto=False)
        self._advance()

    def play(self, player: str, pieces: Sequence[str]) -> None:
        seat = self._awaited_actor(player, TURN)
        hand = self.hands[seat]
        play = Play.of(seat, pieces)
        required = self.required
        if required is None:
            valid = rules.MIN_PLAY <= len(pieces) <= rules.MAX_PLAY and play.play_type != (rules.INVALID)
        else:
            valid = len(pieces) == required
        if not valid or not hand.holds(pieces):
            raise Rejected(INVALID_INPUT)
        self._pieces_played(play=play, auto=False)
        self._advance()

    def disconnect(self, player: str) -> None:
        seat = self._seat_of_member(player)
        if self.phase == WAITING:
            self.leave(player)
            return
        if not self.member(seat).connected:
            raise Rejected(INVALID_STATE)
        # The last one out: `room_closed {abandoned}` is the whole response (docs/game-rules.md).
        if not any(self.member(s).connected for s in self.occupied if s != seat):
            self._closed(reason=ABANDONED)
            return
        self._player_disconnected(seat=seat)
        if player == self.host:
            for step in range(1, SEATS):
                candidate = self.seats[(seat + step) % SEATS]
                if candidate is not None and candidate.connected:
                    self._host_changed(old_host=player, new_host=candidate.player)
                    break
        self._advance()

    def reconnect(self, player: str) -> None:
        seat = self._seat_of_member(player)
        if not self.member(seat).connected:
            self._player_reconnected(seat=seat)

    # -- decisions the room takes on its own ---------------------------------------------

    def _declaration_allowed(self, seat: int, value: int) -> bool:
        others = [v for v in self.declared if v is not None]
        return rules.declaration_allowed(
            value, others, len(others) == SEATS - 1, self.recent_declarations[seat]
        )

    def _deal_round(self, round_no: int) -> None:
        hands = rules.deal(rules.deal_seed(self.game_seed, round_no, 0))
        if round_no == 1:
            starter = next(seat for seat, hand in enumerate(hands) if "GENERAL_RED" in hand)
        else:
            assert self.last_turn_winner is not None
            starter = self.last_turn_winner
        self._dealt(
            round=round_no,
            attempt=0,
            starter=starter,
            multiplier=1,
            hands=tuple(Hand(hand) for hand in hands),
        )
        self._check_weak_hands()

    def _check_weak_hands(self) -> None:
        assert self.starter is not None
        weak = tuple(s for s in rules.in_order_from(self.starter) if self.hands[s].is_weak)
        if weak:
            self._redeal_phase_started(round=self.round, weak=weak, multiplier=self.multiplier)
        else:
            self._round_started(round=self.round, starter=self.starter, multiplier=self.multiplier)

    def _resolve_redeal(self) -> None:
        assert self.starter is not None
        if not self.accepters:
            self._round_started(round=self.round, starter=self.starter, multiplier=self.multiplier)
            return
        attempt = self.attempt + 1
        hands = rules.deal(rules.deal_seed(self.game_seed, self.round, attempt))
        self._dealt(
            round=self.round,
            attempt=attempt,
            starter=self.accepters[0],
            multiplier=self.multiplier + 1,
            hands=tuple(Hand(hand) for hand in hands),
        )
        self._check_weak_hands()

    def _complete_turn(self) -> None:
        plays = tuple(self.turn_plays)
        winner = rules.turn_winner([(p.seat, p.play_type, p.value) for p in plays])
        self._turn_completed(
            round=self.round,
            turn=self.turn,
            winner=winner,
            piles=len(plays[0].pieces),
            plays=plays,
        )
        if any(len(hand) for hand in self.hands):
            self._turn_started(round=self.round, turn=self.turn + 1, starter=winner)
            return
        self._score_round()

    def _score_round(self) -> None:
        results = []
        for seat in range(SEATS):
            declared = self.declared[seat]
            assert declared is not None
            captured = self.captured[seat]
            base = rules.base_score(declared, captured)
            delta = base * self.multiplier
            results.append(ScoreLine(seat, declared, captured, base, delta, self.totals[seat] + delta))
        self._round_scored(round=self.round, multiplier=self.multiplier, results=tuple(results))
        if rules.game_is_over(self.totals, self.round):
            self._game_over(
                winners=tuple(rules.top_seats(self.totals)),
                totals=tuple(self.totals),
                rounds=self.round,
            )
        else:
            self._deal_round(self.round + 1)

    def _act_automatically(self, seat: int) -> None:
        if self.phase == REDEAL:
            self._redeal_decided(seat=seat, accept=False, auto=True)
        elif self.phase == DECLARATION:
            others = [v for v in self.declared if v is not None]
            value = rules.smallest_allowed_declaration(
                others, len(others) == SEATS - 1, self.recent_declarations[seat]
            )
            self._declared(seat=seat, value=value, auto=True)
        else:
            hand = self.hands[seat]
            required = self.required
            if required is None:
                play = Play(seat, hand.first(1), rules.SINGLE, rules.points(hand.first(1)))
            else:
                play = Play.of(seat, hand.first(required))
            self._pieces_played(play=play, auto=True)

    def _advance(self) -> None:
        """Take every step that waits for nobody, acting for disconnected players, until a
        connected player is awaited or the game is over."""
        while self.in_game:
            if self.phase == REDEAL and not self.redeal_queue:
                self._resolve_redeal()
                continue
            if self.phase == DECLARATION and None not in self.declared:
                assert self.starter is not None
                self._turn_started(round=self.round, turn=1, starter=self.starter)
                continue
            if self.phase == TURN and len(self.turn_plays) == SEATS:
                self._complete_turn()
                continue
            seat = self.awaiting()
            if seat is None or self.member(seat).connected:
                return
            self._act_automatically(seat)

    # -- recorded decisions (the only place state changes) ---------------------------------

    @event(PlayerJoined)
    def _player_joined(self, seat: int, player: str, name: str) -> None:
        self.seats[seat] = Member(player, name)

    @event(PlayerLeft)
    def _player_left(self, seat: int, player: str) -> None:
        self.seats[seat] = None

    @event(Closed)
    def _closed(self, reason: str) -> None:
        self.closed = reason

    @event(HostChanged)
    def _host_changed(self, old_host: str, new_host: str) -> None:
        self.host = new_host

    @event(GameStarted)
    def _game_started(self, game_seed: int) -> None:
        self.game_seed = game_seed

    @event(Dealt)
    def _dealt(
        self, round: int, attempt: int, starter: int, multiplier: int, hands: tuple[Hand, ...]
    ) -> None:
        self.phase = DEALING
        self.round = round
        self.attempt = attempt
        self.starter = starter
        self.multiplier = multiplier
        self.hands = list(hands)
        self.redeal_queue = []
        self.accepters = []
        if attempt == 0:
            self.declared = [None] * SEATS
            self.captured = [0] * SEATS
            self.turn = 0
            self.turn_starter = None
            self.turn_plays = []

    @event(RedealPhaseStarted)
    def _redeal_phase_started(self, round: int, weak: tuple[int, ...], multiplier: int) -> None:
        self.phase = REDEAL
        self.redeal_queue = list(weak)
        self.accepters = []

    @event(RedealDecided)
    def _redeal_decided(self, seat: int, accept: bool, auto: bool) -> None:
        self.redeal_queue.remove(seat)
        if accept:
            self.accepters.append(seat)

    @event(RoundStarted)
    def _round_started(self, round: int, starter: int, multiplier: int) -> None:
        self.phase = DECLARATION
        self.starter = starter

    @event(Declared)
    def _declared(self, seat: int, value: int, auto: bool) -> None:
        self.declared[seat] = value
        self.recent_declarations[seat] = [*self.recent_declarations[seat][-1:], value]

    @event(TurnStarted)
    def _turn_started(self, round: int, turn: int, starter: int) -> None:
        self.phase = TURN
        self.turn = turn
        self.turn_starter = starter
        self.turn_plays = []

    @event(PiecesPlayed)
    def _pieces_played(self, play: Play, auto: bool) -> None:
        self.hands[play.seat] = self.hands[play.seat].without(play.pieces)
        self.turn_plays.append(play)

    @event(TurnCompleted)
    def _turn_completed(
        self, round: int, turn: int, winner: int, piles: int, plays: tuple[Play, ...]
    ) -> None:
        self.captured[winner] += piles
        self.last_turn_winner = winner
        self.turn_plays = []

    @event(RoundScored)
    def _round_scored(self, round: int, multiplier: int, results: tuple[ScoreLine, ...]) -> None:
        for line in results:
            self.totals[line.seat] = line.total

    @event(GameOver)
    def _game_over(self, winners: tuple[int, ...], totals: tuple[int, ...], rounds: int) -> None:
        self.phase = GAME_OVER

    @event(PlayerDisconnected)
    def _player_disconnected(self, seat: int) -> None:
        self.seats[seat] = self.member(seat).with_connected(False)

    @event(PlayerReconnected)
    def _player_reconnected(self, seat: int) -> None:
        self.seats[seat] = self.member(seat).with_connected(True)
