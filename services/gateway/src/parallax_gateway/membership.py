"""What the gateway knows of which game rooms a user is in, learnt from the events it relays.

Used only to send `disconnect` for every room of a user whose last socket closed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


class RoomMembership:
    def __init__(self) -> None:
        self._rooms: defaultdict[str, set[str]] = defaultdict(set)

    def observe(
        self, context: str, event_type: str, room_id: str, payload: dict[str, Any], audience: list[str]
    ) -> None:
        if context != "game":
            return
        if event_type == "room_created":
            self._rooms[str(payload.get("host"))].add(room_id)
        elif event_type == "player_joined":
            self._rooms[str(payload.get("player"))].add(room_id)
        elif event_type == "player_left":
            self._rooms[str(payload.get("player"))].discard(room_id)
        elif event_type == "room_closed":
            for user in audience:
                self._rooms[user].discard(room_id)

    def rooms_of(self, user: str) -> list[str]:
        return sorted(self._rooms.get(user, ()))

    def forget(self, user: str) -> None:
        self._rooms.pop(user, None)
