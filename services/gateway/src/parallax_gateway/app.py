"""The gateway app: `/ws` for clients, events fanned out by audience, health and metrics.

It is a Starlette app (FastStream's ASGI app routes HTTP only) whose lifespan runs the
FastStream broker; the HTTP routes of the shared runtime are mounted beside the socket.
Run with `parallax run gateway`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from parallax_contracts import subjects
from parallax_contracts.catalog import CREATING_COMMANDS
from parallax_contracts.envelopes import Command
from parallax_contracts.frames import AcceptedFrame, ClientCommand, ErrorFrame
from parallax_contracts.ids import new_campaign_id, new_command_id, new_room_id
from parallax_runtime.connection import make_broker
from parallax_runtime.http import provision, service_app
from parallax_runtime.metrics import ConsumedMessages
from parallax_runtime.settings import GatewaySettings
from prometheus_client import Counter, Gauge
from starlette.applications import Starlette
from starlette.routing import Mount, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from parallax_gateway.auth import Identity, TokenRefused, verify_token
from parallax_gateway.frame_check import Refusal, check_frame
from parallax_gateway.membership import RoomMembership
from parallax_gateway.presence import Presence
from parallax_gateway.refusals import RefusalWindow, Verdict
from parallax_gateway.sockets import Client, SocketRegistry

log = logging.getLogger("parallax.gateway")

CLOSE_UNAUTHORIZED = 4401
CLOSE_RATE_LIMITED = 4429

SOCKETS = Gauge("parallax_gateway_sockets", "Open WebSocket connections on this replica.")
FRAMES = Counter("parallax_gateway_frames_total", "Client frames, by outcome.", ["outcome"])
EVENTS_SENT = Counter("parallax_gateway_events_sent_total", "Event frames sent to sockets.")
DROPPED = Counter("parallax_gateway_slow_clients_total", "Sockets closed for falling behind.")


class Gateway:
    def __init__(self, settings: GatewaySettings, broker: NatsBroker) -> None:
        self.settings = settings
        self.broker = broker
        self.sockets = SocketRegistry()
        self.membership = RoomMembership()
        # Which replicas hold each user's sockets, for `disconnect` (presence.py).
        self.presence = Presence(broker, self.sockets)
        self._closing: set[asyncio.Task[None]] = set()
        self._js: JetStreamContext | None = None
        self._consumed = ConsumedMessages("parallax-gateway", subjects.EVENTS_ALL).acked

    # -- events from the handlers -------------------------------------------------------------
    async def on_event(self, msg: Msg) -> None:
        self._consumed.inc()
        headers = msg.headers
        if headers is not None and headers.get(subjects.ROLE) == "shadow":
            return  # shadow responses are for the comparator only: not even parsed
        self.deliver(msg.data)

    def deliver(self, raw: bytes) -> None:
        try:
            event: dict[str, Any] = json.loads(raw)
        except ValueError:
            return
        if event.get("role") != "primary" or not isinstance(event.get("audience"), list):
            return
        audience: list[str] = event["audience"]
        self.membership.observe(
            str(event.get("context")),
            str(event.get("type")),
            str(event.get("aggregate_id")),
            event.get("payload") or {},
            audience,
        )
        frame = json.dumps(
            {
                "type": "event",
                "event": event.get("type"),
                "context": event.get("context"),
                "aggregate_id": event.get("aggregate_id"),
                "command_id": event.get("command_id"),
                "seq": event.get("seq"),
                "count": event.get("count"),
                "payload": event.get("payload"),
            },
            separators=(",", ":"),
        )
        for user in audience:
            for client in list(self.sockets.of(user)):
                if client.send(frame):
                    EVENTS_SENT.inc()
                else:
                    # A client this far behind would only see stale state: close it; it can
                    # reconnect and ask for `room_state`.
                    DROPPED.inc()
                    self._closing.add(asyncio.create_task(client.websocket.close(1013)))

    # -- commands from the clients ------------------------------------------------------------
    async def publish(self, identity: Identity, command: ClientCommand) -> Command:
        aggregate_id = command.aggregate_id
        if CREATING_COMMANDS[command.context] == command.type:
            aggregate_id = new_room_id() if command.context == "game" else new_campaign_id()
        assert aggregate_id is not None
        envelope = Command(
            command_id=new_command_id(),
            context=command.context,
            aggregate_id=aggregate_id,
            type=command.type,
            actor=identity.user,
            permissions=list(identity.permissions),
            payload=command.payload,
            # Every command carries its randomness, so both implementations deal the same.
            seed=secrets.randbits(64),
        )
        await self._ingress(envelope)
        return envelope

    async def _ingress(self, envelope: Command) -> None:
        """Store the command in INGRESS (acknowledged by JetStream before the client hears
        `accepted`), through nats-py directly: FastStream's publisher adds nothing here."""
        if self._js is None:
            self._js = self.broker.connection.jetstream()
        await self._js.publish(
            subjects.ingress(envelope.context, envelope.aggregate_id),
            envelope.model_dump_json().encode(),
            headers={subjects.MSG_ID: envelope.command_id},
            stream="INGRESS",
        )

    async def disconnect_rooms(self, user: str) -> None:
        for room_id in self.membership.rooms_of(user):
            envelope = Command(
                command_id=new_command_id(),
                context="game",
                aggregate_id=room_id,
                type="disconnect",
                actor=user,
                payload={},
                seed=secrets.randbits(64),
            )
            try:
                await self._ingress(envelope)
            except Exception:
                log.exception("could not send disconnect for %s in %s", user, room_id)

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            identity = verify_token(websocket.query_params.get("token"), self.settings.jwt_secret)
        except TokenRefused as exc:
            await websocket.close(CLOSE_UNAUTHORIZED, reason=str(exc)[:100])
            return
        client = Client(websocket, identity.user)
        self.sockets.add(client)
        SOCKETS.inc()
        writer = asyncio.create_task(self._write(client))
        try:
            # Known to the other replicas before the first frame (a `reconnect`) is read.
            await self.presence.opened(identity.user)
            await self._read(client, identity)
        except WebSocketDisconnect:
            pass
        finally:
            SOCKETS.dec()
            last = self.sockets.remove(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            # `disconnect` only if this was the user's last socket on every replica.
            await self.presence.closed(identity.user, last, self.disconnect_rooms)

    async def _write(self, client: Client) -> None:
        while True:
            text = await client.outbox.get()
            if text is None:
                return
            await client.websocket.send_text(text)

    @staticmethod
    async def _drain(client: Client, within: float = 1.0) -> None:
        """Wait (bounded) until the writer has taken every queued frame for this socket."""
        for _ in range(int(within / 0.001)):
            if client.outbox.empty():
                break
            await asyncio.sleep(0.001)
        await asyncio.sleep(0)  # the writer hands its last frame to the socket

    async def _read(self, client: Client, identity: Identity) -> None:
        window = RefusalWindow(
            self.settings.refusal_window_seconds,
            self.settings.refusals_before_rate_limit,
            self.settings.refusals_before_close,
        )
        while True:
            message = await client.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            raw: str | bytes = text if isinstance(text, str) else (message.get("bytes") or b"")
            now = time.monotonic()
            checked: ClientCommand | Refusal
            try:
                checked = check_frame(raw, self.settings.max_frame_bytes)
            except Exception:
                # A frame the checks did not foresee is refused, never the socket's end.
                log.exception("checking a frame failed")
                checked = Refusal("invalid_input", "frame could not be checked", None)
            if window.limited(now):
                # Refused whatever it holds; checked all the same (bounded: over max_frame_bytes
                # nothing is parsed) for its `ref`, echoed as protocol.md asks.
                checked = Refusal("rate_limited", "too many refused frames; slow down", checked.ref)
            if isinstance(checked, Refusal):
                verdict = window.refuse(now)
                FRAMES.labels(checked.code).inc()
                if verdict is Verdict.CLOSE:
                    # The answers already queued (the `rate_limited` ones) go out before the close.
                    await self._drain(client)
                    await client.websocket.close(CLOSE_RATE_LIMITED, reason="rate limited")
                    return
                refusal = checked
                if verdict is Verdict.RATE_LIMITED:
                    refusal = Refusal("rate_limited", "too many refused frames; slow down", checked.ref)
                client.send(refusal.frame().model_dump_json())
                continue
            try:
                envelope = await self.publish(identity, checked)
            except Exception:
                log.exception("publishing a command failed")
                FRAMES.labels("unavailable").inc()
                client.send(
                    ErrorFrame(
                        ref=checked.ref, code="unavailable", message="the service is unavailable; retry"
                    ).model_dump_json()
                )
                continue
            FRAMES.labels("accepted").inc()
            client.send(
                AcceptedFrame(
                    ref=checked.ref, command_id=envelope.command_id, aggregate_id=envelope.aggregate_id
                ).model_dump_json()
            )


def document_publishers(broker: NatsBroker) -> None:
    """Declares what the gateway publishes on `broker`, for the AsyncAPI document only: the
    gateway publishes through nats-py (`Gateway._ingress`), never through these publishers."""
    broker.publisher(
        subjects.INGRESS_TEMPLATE,
        title="gateway-ingress",
        description=(
            "Every command a client sent and the gateway accepted, and the gateway's own "
            "`disconnect` commands (a user's last socket closed), stored in the INGRESS stream "
            "for the router; acknowledged by JetStream before the client hears `accepted`. "
            "Header `Nats-Msg-Id`: the command id. `{context}`: `game` or `campaign`; "
            "`{aggregate_id}`: a room id (6 hex digits) or a campaign UUID, picked by the gateway "
            "for `create_room`/`create_campaign`. The stream stores it under one more token, the "
            "aggregate's partition (docs/scaling.md)."
        ),
        schema=Command,
    )


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    settings = settings or GatewaySettings()
    broker = make_broker(settings, name="gateway")
    gateway = Gateway(settings, broker)

    # Plain (non-JetStream) subscription: a gateway relays live events only, and every replica
    # needs every event (its own sockets decide who gets what). Consumed through nats-py
    # directly (`Gateway.on_event`): FastStream's consume path costs more than relaying an event.
    # The subscriber is declared, as it was, on a broker that is never started, for the
    # AsyncAPI document.
    documented = make_broker(settings, name="gateway")

    @documented.subscriber(
        subjects.EVENTS_ALL,
        # Without it FastStream answers the publisher's reply inbox, racing the JetStream ack.
        no_reply=True,
        title="gateway-events",
        description="Events to relay to sockets.",
    )
    async def on_event() -> None:  # never called: `documented` is never started
        raise RuntimeError("documentation only")

    document_publishers(documented)

    http = service_app(broker, documented=documented)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The FastStream app is only mounted for its HTTP routes; its hooks do not run here.
        await broker.start()
        await provision(settings, broker)
        events = await broker.connection.subscribe(subjects.EVENTS_ALL, cb=gateway.on_event)
        await gateway.presence.start()
        try:
            yield
        finally:
            await gateway.presence.stop()
            with contextlib.suppress(Exception):
                await events.unsubscribe()
            await broker.stop()

    app = Starlette(
        routes=[WebSocketRoute("/ws", gateway.serve), Mount("/", app=http)],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app
