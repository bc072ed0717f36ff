"""Counts a socket's refused frames over a sliding window (flood protection)."""

from __future__ import annotations

from collections import deque
from enum import Enum


class Verdict(Enum):
    OK = "ok"
    RATE_LIMITED = "rate_limited"
    CLOSE = "close"


class RefusalWindow:
    """More than `limit` refusals in `window` seconds: rate limited; more than `close_at`: close.

    The refusal that takes the count over `limit` (the 21st of 20) is the first answered
    `rate_limited`; after exactly `limit` refusals the socket is not limited yet, so its next
    valid command goes through (protocol.md: "more than 20 refused frames"). While rate
    limited, every frame of the socket is refused with `rate_limited` (and counts as a
    refusal), so a flooding client cannot slip commands through (docs/gateway.md)."""

    def __init__(self, window: float, limit: int, close_at: int) -> None:
        self._window = window
        self._limit = limit
        self._close_at = close_at
        self._times: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - self._window:
            self._times.popleft()

    def limited(self, now: float) -> bool:
        """Whether the socket is over the limit: more than `limit` refusals in the window."""
        self._trim(now)
        return len(self._times) > self._limit

    def refuse(self, now: float) -> Verdict:
        self._trim(now)
        self._times.append(now)
        if len(self._times) > self._close_at:
            return Verdict.CLOSE
        if len(self._times) > self._limit:
            return Verdict.RATE_LIMITED
        return Verdict.OK
