"""JetStream publishes acknowledged as a group: the router's copies and record of one command,
a handler's events of one response.

nats-py's `publish_async` pays per message for a NUID and a random token (the reply subject), a
semaphore taken through `asyncio.wait_for`, a future with a done callback and a `PubAck`
dataclass built from the parsed ack; the router then gathered the three futures under another
`wait_for`, whose timer alone (a libuv timer under uvloop) cost more than validating the
envelope. Profiled under the router bench (`bench/router_bench.py --profile`), that was about a
quarter of the router's CPU, more than the routing itself. Here a group of messages shares one
reply subject, numbered from a counter, and one future, resolved when every message's ack has
arrived or failed at the first error ack; one task fails the overdue groups, instead of a timer
per group. The protocol is JetStream's own: a publish with a reply subject is answered there with
a PubAck, or an error, by the stream that stored it.

The header block is encoded here too (`_send`): nats-py encodes a header dict key by key, which
cost 4 times the rest of a publish (measured: 14.7 against 3.6 us a message).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import (
    ConnectionClosedError,
    ConnectionDrainingError,
    MaxPayloadError,
    OutboundBufferLimitError,
)
from nats.js.errors import APIError, NoStreamResponseError
from nats.protocol.command import hpub_cmd

# JetStream refuses (with an error ack) a message whose subject belongs to another stream.
EXPECTED_STREAM = "Nats-Expected-Stream"
_STATUS = "Status"
_NO_RESPONDERS = "503"

# How long a group's acks may take by default (the router's copies and record, a handler's
# response) before `publish` raises TimeoutError and the caller retries: a publish lost in a
# NATS restart is never acknowledged, and without a timeout its partition would wait for ever
# (found by the chaos suite, docs/chaos.md). Read when a publisher is built (tests patch it).
PUBLISH_ACK_TIMEOUT_SECONDS = 5.0

# How often overdue groups are looked for: a group fails between `ack_timeout` and
# `ack_timeout + SWEEP_SECONDS` after it started.
SWEEP_SECONDS = 0.25

# (subject, payload, headers)
Message = tuple[str, bytes, Mapping[str, str]]


@dataclass(slots=True)
class _Group:
    remaining: int
    acked: asyncio.Future[None]
    deadline: float


class AckedPublisher:
    """Publishes groups of messages on one connection and waits for all of their acks."""

    def __init__(self, nc: Client, ack_timeout: float | None = None) -> None:
        self._nc = nc
        self._ack_timeout = PUBLISH_ACK_TIMEOUT_SECONDS if ack_timeout is None else ack_timeout
        self._prefix = ""
        self._subscription: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None
        # In the order the groups started, so in deadline order (one timeout for all).
        self._groups: dict[str, _Group] = {}
        self._next = 0

    async def start(self) -> None:
        # An inbox of this connection, under its service's prefix (`connection.inbox_prefix`),
        # which only that service's user may subscribe to (deploy/nats/parallax-auth.conf).
        # nats-py renews the interest after a reconnection.
        self._prefix = self._nc.new_inbox() + "."
        self._subscription = await self._nc.subscribe(self._prefix + "*", cb=self._on_ack)
        self._sweeper = asyncio.create_task(self._fail_overdue())

    async def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await subscription.unsubscribe()

    def pending(self) -> int:
        """Groups still waiting for acks (0 when idle: a finished group leaves no trace)."""
        return len(self._groups)

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publish `messages` in order and return once JetStream has stored every one.

        Back to back on one connection, so stored in this order. Raises the JetStream error of
        the first error ack (`APIError`), `NoStreamResponseError` when no stream takes a subject,
        `TimeoutError` once `ack_timeout` has passed (NATS away: some may be stored, some not;
        publish again, the duplicates are dropped by their `Nats-Msg-Id`).
        """
        assert self._sweeper is not None, "AckedPublisher.start was not awaited"
        loop = asyncio.get_running_loop()
        self._next += 1
        token = str(self._next)
        group = _Group(len(messages), loop.create_future(), loop.time() + self._ack_timeout)
        self._groups[token] = group
        reply = self._prefix + token
        try:
            for subject, payload, headers in messages:
                await self._send(subject, reply, header_block(headers), payload)
            await group.acked
        finally:
            # A late ack of a group given up on finds nothing and is ignored.
            del self._groups[token]

    async def _send(self, subject: str, reply: str, header: bytes, payload: bytes) -> None:
        """`Client.publish(subject, payload, reply, headers)` for an encoded header block: the
        same checks, then the same HPUB written to the same pending buffer and flusher.

        Through nats-py internals (`_send_command`, `_flush_pending`...), pinned by uv.lock;
        tests/router/test_router_publisher.py and every router and handler test publish through
        here. The subject is not checked again: callers build it from validated tokens."""
        nc = self._nc
        if nc.is_closed:
            raise ConnectionClosedError
        if nc.is_draining_pubs:
            raise ConnectionDrainingError
        size = len(payload)
        if not nc.is_connected and (
            nc._max_pending_size <= 0 or size + nc.pending_data_size > nc._max_pending_size
        ):
            # Reconnecting, and the reconnect buffer is off or full.
            raise OutboundBufferLimitError
        if size > nc.max_payload:
            raise MaxPayloadError
        nc.stats["out_msgs"] += 1
        nc.stats["out_bytes"] += size
        await nc._send_command(hpub_cmd(subject, reply, header, payload))
        if nc._flush_queue is not None and nc._flush_queue.empty():
            await nc._flush_pending()

    async def _fail_overdue(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now = loop.time()
            overdue: list[_Group] = []
            for group in self._groups.values():
                if group.deadline > now:
                    break
                overdue.append(group)
            # Failed after the walk: a failed group's `publish` then removes it from the dict.
            for group in overdue:
                if not group.acked.done():
                    group.acked.set_exception(TimeoutError(f"no JetStream ack in {self._ack_timeout} s"))

    async def _on_ack(self, msg: Msg) -> None:
        group = self._groups.get(msg.subject[len(self._prefix) :])
        if group is None or group.acked.done():
            return
        error = _ack_error(msg)
        if error is not None:
            group.acked.set_exception(error)
            return
        group.remaining -= 1
        if group.remaining == 0:
            group.acked.set_result(None)


def header_block(headers: Mapping[str, str]) -> bytes:
    """The NATS header block of `headers` (`NATS/1.0`, one `key: value` line each, a blank line).

    Keys must be header tokens and values single lines, as the router's are (constants and
    validated ids); a line break is refused rather than replaced by a space as nats-py does."""
    text = "NATS/1.0\r\n" + "".join([f"{key}: {value}\r\n" for key, value in headers.items()]) + "\r\n"
    lines = len(headers) + 2
    if text.count("\n") != lines or text.count("\r") != lines:
        raise ValueError(f"a header with a line break: {dict(headers)!r}")
    return text.encode()


def _ack_error(msg: Msg) -> Exception | None:
    """None for a PubAck; else the error the ack carries."""
    data = msg.data
    if not data:
        # No stream listens on the subject: the server answers with a bare 503 status.
        if msg.headers and msg.headers.get(_STATUS) == _NO_RESPONDERS:
            return NoStreamResponseError()
        return APIError(description=f"empty JetStream ack (headers {msg.headers})")
    # A PubAck is `{"stream":..., "seq":...}`, an error ack `{"error":{...},...}`. The key can
    # appear unescaped only as a key or as a whole string value (a stream named "error"): parse
    # only then.
    if b'"error"' not in data:
        return None
    try:
        response = json.loads(data)
    except ValueError as exc:
        return APIError(description=f"unreadable JetStream ack: {exc}")
    if not isinstance(response, dict) or "error" not in response:
        return None
    error = response["error"]
    try:
        # Raises the error class of the status code (NotFoundError...), as `js.publish` would.
        APIError.from_error(error)
    except APIError as exc:
        return exc
    except (KeyError, TypeError):  # no code: still an error
        pass
    return APIError(description=str(error))
