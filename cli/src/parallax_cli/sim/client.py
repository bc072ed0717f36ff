"""A WebSocket client of the gateway that matches `accepted` and `event` frames to commands."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


class CommandFailed(Exception):
    pass


@dataclass
class Reply:
    command_id: str
    aggregate_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    latency_first_event: float | None = None

    def first(self, event_type: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == event_type), None)

    @property
    def rejected(self) -> str | None:
        event = self.first("command_rejected")
        return None if event is None else str(event["payload"]["code"])


class SimClient:
    def __init__(self, url: str, token: str, user: str, timeout: float = 20.0) -> None:
        self.url = f"{url}?token={token}"
        self.user = user
        self.timeout = timeout
        self.ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._accepted: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._events: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self._event_arrived: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.all_events: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        # The player's hand as its own events tell it (last deal, minus what it played since).
        self.hand: list[str] = []
        self._ref = 0

    async def connect(self) -> None:
        # No permessage-deflate: the frames are small, and compressing them on both ends costs
        # the gateway and the load generator CPU that the benchmark measures the pipeline with.
        self.ws = await websockets.connect(self.url, max_size=2**20, compression=None)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def _read(self) -> None:
        assert self.ws is not None
        async for raw in self.ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "accepted":
                future = self._accepted.pop(str(frame.get("ref")), None)
                if future is not None and not future.done():
                    future.set_result(frame)
            elif kind == "error":
                self.errors.append(frame)
                future = self._accepted.pop(str(frame.get("ref")), None)
                if future is not None and not future.done():
                    future.set_exception(CommandFailed(f"{frame['code']}: {frame['message']}"))
            elif kind == "event":
                frame["_received"] = time.perf_counter()
                self.all_events.append(frame)
                self._follow_hand(frame)
                self._events[frame["command_id"]].append(frame)
                self._event_arrived[frame["command_id"]].set()

    def _follow_hand(self, frame: dict[str, Any]) -> None:
        if frame["event"] == "hand_dealt":
            self.hand = list(frame["payload"]["hand"])
        elif frame["event"] == "pieces_played" and frame["payload"]["player"] == self.user:
            for piece in frame["payload"]["pieces"]:
                if piece in self.hand:
                    self.hand.remove(piece)

    async def send(
        self, context: str, command_type: str, payload: dict[str, Any], aggregate_id: str | None = None
    ) -> Reply:
        """Send one command; return once it is accepted and its events addressed to us arrived
        (all of them when `count` of them reach us, else the first and a short grace)."""
        assert self.ws is not None
        self._ref += 1
        ref = f"{self.user}-{self._ref}"
        frame: dict[str, Any] = {"type": command_type, "context": context, "payload": payload, "ref": ref}
        if aggregate_id is not None:
            frame["aggregate_id"] = aggregate_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._accepted[ref] = future
        sent = time.perf_counter()
        await self.ws.send(json.dumps(frame))
        accepted = await asyncio.wait_for(future, self.timeout)
        command_id = accepted["command_id"]
        reply = Reply(command_id, accepted["aggregate_id"])
        deadline = sent + self.timeout
        arrived = self._event_arrived[command_id]
        while True:
            events = self._events[command_id]
            if events:
                count = events[0]["count"]
                if len(events) >= count:
                    break
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                if events:
                    break
                raise CommandFailed(f"no event for {command_type} {command_id} within {self.timeout}s")
            grace = 0.05 if events else remaining
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), min(grace, remaining))
            except TimeoutError:
                if events:
                    break
        reply.events = sorted(self._events.pop(command_id), key=lambda e: e["seq"])
        self._event_arrived.pop(command_id, None)
        reply.latency_first_event = min(e["_received"] for e in reply.events) - sent
        return reply
