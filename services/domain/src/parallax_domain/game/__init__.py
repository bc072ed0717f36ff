"""The domain (event-sourced) implementation of the game context: Liap Tui rooms.

* `rules`: pure rules (SplitMix64 dealing, play types, turn winner, declarations, scoring).
* `values`: immutable value objects (Member, Hand, Play, ScoreLine) and their transcodings.
* `room`: the `Room` aggregate; command methods decide, `@event` methods record.
* `shape`: payload shape checks (rule 1), done before the room is loaded.
* `public`: public events rendered from the new domain events; the `room_state` view.
* `application`: `GameApplication`, snapshots every 50 events plus the aggregate cache.

Choices where the spec leaves room (also in the hand-over report):
* `play.pieces` of any length passes the shape check; a wrong length is a rule violation
  (`invalid_input` after `not_your_turn`).
* The last connected player's disconnect emits `player_disconnected`, then
  `room_closed {abandoned}` (no `host_changed`, no automatic actions).
* `declared`/`captured` reset at a round's first deal; after `game_over` `room_state` keeps the
  last round's values and multiplier (hands are empty, `hand_size` 0).
* `room_state.players` lists seated members only (free seats in `waiting` are omitted).
"""

from parallax_domain.game.application import GameApplication
from parallax_domain.game.room import Rejected, Room, room_uuid

__all__ = ["GameApplication", "Rejected", "Room", "room_uuid"]
