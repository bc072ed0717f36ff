"""Value objects of the game context, and how the event store transcodes them.

They are immutable, so a value handed to a domain event can also live in the aggregate's state
without the state's later changes leaking into the (not yet saved) event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from parallax_domain.game import rules


@dataclass(frozen=True, slots=True)
class Member:
    """A seated player."""

    player: str
    name: str
    connected: bool = True

    def with_connected(self, connected: bool) -> Member:
        return Member(self.player, self.name, connected)


@dataclass(frozen=True, slots=True)
class Hand:
    """A hand of pieces in the order they were dealt."""

    pieces: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def is_weak(self) -> bool:
        return rules.is_weak(self.pieces)

    def holds(self, pieces: Sequence[str]) -> bool:
        return rules.holds(self.pieces, pieces)

    def without(self, pieces: Sequence[str]) -> Hand:
        return Hand(rules.remove_pieces(self.pieces, pieces))

    def first(self, count: int) -> tuple[str, ...]:
        return self.pieces[:count]


@dataclass(frozen=True, slots=True)
class Play:
    """One player's pieces in a turn, as sent, with their own play type and value."""

    seat: int
    pieces: tuple[str, ...]
    play_type: str
    value: int

    @classmethod
    def of(cls, seat: int, pieces: Sequence[str]) -> Play:
        play_type, value = rules.classify(pieces)
        return cls(seat, tuple(pieces), play_type, value)


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """One player's line of a round's scoring."""

    seat: int
    declared: int
    captured: int
    base: int
    delta: int
    total: int


class MemberAsList(Transcoding):
    type = Member
    name = "liap_member"

    def encode(self, obj: Member) -> list[Any]:
        return [obj.player, obj.name, obj.connected]

    def decode(self, data: list[Any]) -> Member:
        player, name, connected = data
        return Member(player, name, connected)


class HandAsList(Transcoding):
    type = Hand
    name = "liap_hand"

    def encode(self, obj: Hand) -> list[str]:
        return list(obj.pieces)

    def decode(self, data: list[str]) -> Hand:
        return Hand(tuple(data))


class PlayAsList(Transcoding):
    type = Play
    name = "liap_play"

    def encode(self, obj: Play) -> list[Any]:
        return [obj.seat, list(obj.pieces), obj.play_type, obj.value]

    def decode(self, data: list[Any]) -> Play:
        seat, pieces, play_type, value = data
        return Play(seat, tuple(pieces), play_type, value)


class ScoreLineAsList(Transcoding):
    type = ScoreLine
    name = "liap_score"

    def encode(self, obj: ScoreLine) -> list[int]:
        return [obj.seat, obj.declared, obj.captured, obj.base, obj.delta, obj.total]

    def decode(self, data: list[int]) -> ScoreLine:
        return ScoreLine(*data)


def register_game_transcodings(transcoder: JSONTranscoder) -> None:
    for transcoding in (MemberAsList(), HandAsList(), PlayAsList(), ScoreLineAsList()):
        transcoder.register(transcoding)
