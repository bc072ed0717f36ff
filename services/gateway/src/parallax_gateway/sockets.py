"""The open sockets of this gateway replica, by user."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from starlette.websockets import WebSocket


class Client:
    """One socket. Frames go out through a queue so that one slow client never blocks the
    fan-out to the others; a client that falls too far behind is closed."""

    def __init__(self, websocket: WebSocket, user: str, max_queue: int = 10_000) -> None:
        self.websocket = websocket
        self.user = user
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(max_queue)

    def send(self, text: str) -> bool:
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True


class SocketRegistry:
    def __init__(self) -> None:
        self._by_user: defaultdict[str, set[Client]] = defaultdict(set)

    def add(self, client: Client) -> None:
        self._by_user[client.user].add(client)

    def remove(self, client: Client) -> bool:
        """Forget a socket; True if it was the user's last one on this replica (other replicas
        may hold more: presence.py decides whether it was the user's last anywhere)."""
        sockets = self._by_user.get(client.user)
        if sockets is None:
            return True
        sockets.discard(client)
        if not sockets:
            del self._by_user[client.user]
            return True
        return False

    def of(self, user: str) -> set[Client]:
        return self._by_user.get(user, set())

    def count(self, user: str) -> int:
        """How many sockets `user` has open on this replica."""
        return len(self._by_user.get(user, ()))

    def users(self) -> list[str]:
        """The users with at least one socket on this replica."""
        return list(self._by_user)

    def __len__(self) -> int:
        return sum(len(s) for s in self._by_user.values())
