"""The chaos suite (issue 8): faults under continuous traffic, then an audit of streams and stores.

`run_chaos(cycles, data_dir, dsn)` starts the whole stack (embedded NATS, five service
processes, the domain on PostgreSQL behind a proxy of our own), drives simulated users over
real WebSockets, and injects one fault per cycle, in turn:

* kill -9 and restart the gateway, the router, legacy, domain, the comparator;
* kill -9 and restart nats-server (same port, same JetStream file store);
* a PostgreSQL outage: the proxy between the domain and PostgreSQL cuts every connection and
  refuses new ones for a while.

Then it stops the traffic, lets the system settle, reads every stream and the comparator's
store, and returns a `ChaosReport` whose `violations` must be empty (docs/chaos.md lists the
checks). Used by `test_chaos.py` (short form) and `run_long.py` (`just chaos`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import nats
import websockets
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from parallax_cli.sim.client import Reply
from parallax_cli.sim.game_bot import choose_move
from parallax_cli.sim.players import DOMAIN_PARAMS
from parallax_cli.stack import Stack, running_stack, wait_ready
from parallax_gateway.auth import mint_token
from parallax_runtime.settings import GatewaySettings

SERVICE_FAULTS = ("gateway", "router", "legacy", "domain", "comparator")
FAULTS = (*SERVICE_FAULTS, "nats", "postgres")
AUDITED_STREAMS = ("INGRESS", "HANDLE", "ROUTED", "EVENTS")

# The stack's environment under chaos: shadow on, half the aggregates on domain, the domain's
# event store on PostgreSQL (through the proxy). The guard is off so that the mismatches a
# fault may cause cannot switch shadowing off in the middle of the run (the suite tests
# durability, not the guard's policy). The comparator's deadline is longer than any fault
# (a handler killed while holding a command delays its partition by ack_wait = 30 s), so a
# `missing_<impl>` result means a side really never answered, not that it was late.
CHAOS_ENV = {
    "SHADOW_ENABLED": "true",
    "DOMAIN_ADAPTERS_ENABLED": "true",
    "DOMAIN_ROLLOUT_PERCENTAGE": "50",
    "PARALLAX_STORE": "postgres",
    "PARALLAX_GUARD_ENABLED": "false",
    "PARALLAX_DEADLINE_SECONDS": "90",
    "PARALLAX_MAX_PENDING_AGE_SECONDS": "150",
    # Redelivery of what a killed comparator held: sooner than the default (pending age +
    # deadline + 30 s), so that the suite settles in reasonable time.
    "PARALLAX_ACK_WAIT_SECONDS": "40",
    "PARALLAX_LOG_LEVEL": "INFO",
}

SECRET = GatewaySettings().jwt_secret


# -- PostgreSQL outage: a TCP proxy of our own -----------------------------------------------------
class PgProxy:
    """Forwards 127.0.0.1:`port` to PostgreSQL, in its own thread and event loop.

    `down()` stops listening (new connections are refused) and cuts every open connection;
    `up()` listens again on the same port. The shared server itself is never touched."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pg-proxy", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.cut = 0

    def start(self) -> PgProxy:
        self.thread.start()
        self._call(self._listen())
        return self

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        pair = {writer, up_writer}
        self._writers |= pair

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                for w in pair:
                    w.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= pair

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            self.cut += 1
            writer.transport.abort()
        self._writers.clear()

    def down(self) -> None:
        self._call(self._down())

    def up(self) -> None:
        self._call(self._listen())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._down())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def dsn_through(dsn: str, port: int) -> str:
    url = urlparse(dsn)
    netloc = f"{url.username}@" if url.username else ""
    if url.username and url.password:
        netloc = f"{url.username}:{url.password}@"
    return urlunparse(url._replace(netloc=f"{netloc}127.0.0.1:{port}"))


# -- simulated users that survive restarts -----------------------------------------------------------
class Unanswered(Exception):
    pass


@dataclass
class TrafficStats:
    sent: int = 0  # frames carrying a command
    answered: int = 0  # all of the response's events addressed to us arrived
    accepted: set[str] = field(default_factory=set)  # command ids the gateway said it published
    unanswered: list[str] = field(default_factory=list)  # accepted, no complete answer seen
    refused: Counter[str] = field(default_factory=Counter)  # error frames, by code
    failures: Counter[str] = field(default_factory=Counter)  # what made a worker start over
    reconnects: int = 0
    rooms: int = 0
    campaigns: int = 0
    moves: int = 0
    failure_samples: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"sent {self.sent}, accepted {len(self.accepted)}, answered {self.answered}, "
            f"unanswered {len(self.unanswered)}, refused {dict(self.refused)}, "
            f"failures {dict(self.failures)}, reconnects {self.reconnects}, rooms {self.rooms}, "
            f"campaigns {self.campaigns}, moves {self.moves}"
        )


class ChaosClient:
    """One user's socket. Unlike the demo's SimClient, it records every `accepted` command id
    as it arrives and fails fast when the socket dies, so a worker can reconnect and go on."""

    def __init__(self, url: str, user: str, permissions: list[str], stats: TrafficStats, timeout: float):
        self.url = f"{url}?token={mint_token(user, SECRET, permissions, 24 * 3600)}"
        self.user = user
        self.stats = stats
        self.timeout = timeout
        self.ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._events: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self._arrived = asyncio.Event()
        self._ref = 0

    @property
    def open(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def connect(self) -> None:
        self.ws = await asyncio.wait_for(websockets.connect(self.url, max_size=2**20), 5)
        self._events.clear()
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._reader = None

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "accepted":
                    self.stats.accepted.add(frame["command_id"])
                    future = self._waiting.pop(str(frame.get("ref")), None)
                    if future is not None and not future.done():
                        future.set_result(frame)
                elif kind == "error":
                    self.stats.refused[str(frame.get("code"))] += 1
                    future = self._waiting.pop(str(frame.get("ref")), None)
                    if future is not None and not future.done():
                        future.set_exception(Unanswered(f"refused: {frame.get('code')}"))
                elif kind == "event":
                    self._events[frame["command_id"]].append(frame)
                    self._arrived.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("socket closed"))
            self._waiting.clear()
            self._arrived.set()

    async def send(
        self, context: str, command_type: str, payload: dict[str, Any], aggregate_id: str | None = None
    ) -> Reply:
        if not self.open:
            raise ConnectionError("socket closed")
        self._ref += 1
        ref = f"{self.user}-{self._ref}"
        frame: dict[str, Any] = {"type": command_type, "context": context, "payload": payload, "ref": ref}
        if aggregate_id is not None:
            frame["aggregate_id"] = aggregate_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ref] = future
        self.stats.sent += 1
        await self.ws.send(json.dumps(frame))
        accepted = await asyncio.wait_for(future, self.timeout)
        command_id = accepted["command_id"]
        # Answered when `count` events reached us, or some did and no more came for a short
        # grace (a response's events addressed to other users never reach this socket).
        deadline = time.monotonic() + self.timeout
        seen = 0
        while True:
            events = self._events.get(command_id, [])
            if events and len(events) >= events[0]["count"]:
                break
            if not self.open or time.monotonic() > deadline:
                self.stats.unanswered.append(command_id)
                raise Unanswered(f"{command_type} {command_id}: {len(events)} events")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), 0.2 if events else 0.5)
            except TimeoutError:
                if events and len(events) == seen:
                    break
            seen = len(events)
        self.stats.answered += 1
        reply = Reply(command_id, accepted["aggregate_id"])
        reply.events = sorted(self._events.pop(command_id), key=lambda e: e["seq"])
        return reply


def _room_state(reply: Reply) -> dict[str, Any]:
    event = reply.first("room_state")
    if event is None:
        raise Unanswered(f"no room_state: {[e['event'] for e in reply.events]}")
    return dict(event["payload"])


RECOVERABLE = (Unanswered, ConnectionError, OSError, TimeoutError, websockets.WebSocketException)


class Traffic:
    """Simulated users in a thread of their own: `games` groups of four players (a room each,
    a few dozen moves, then a new room) and `campaigns` trios (owner, intruder, admin) running
    campaign lifecycles. Any failure (a socket cut, a refused or unanswered command) closes
    the worker's sockets; it reconnects and starts a new room or campaign."""

    def __init__(
        self, url: str, *, games: int, campaigns: int, moves_per_room: int = 40, timeout: float = 15.0
    ) -> None:
        self.url = url
        self.games = games
        self.campaigns = campaigns
        self.moves_per_room = moves_per_room
        self.timeout = timeout
        self.stats = TrafficStats()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._started = threading.Event()
        self.error: BaseException | None = None

    def start(self) -> Traffic:
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by the suite
            self.error = exc

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        workers = [self._game_worker(i) for i in range(self.games)]
        workers += [self._campaign_worker(i) for i in range(self.campaigns)]
        await asyncio.gather(*workers)

    @property
    def stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    async def _connect(self, clients: list[ChaosClient]) -> bool:
        while not self.stopping:
            try:
                for client in clients:
                    if not client.open:
                        await client.connect()
                return True
            except RECOVERABLE:
                await self._close(clients)
                await asyncio.sleep(0.5)
        return False

    async def _close(self, clients: list[ChaosClient]) -> None:
        for client in clients:
            await client.close()

    async def _worker(self, clients: list[ChaosClient], once: Callable[[], Any]) -> None:
        try:
            while await self._connect(clients):
                try:
                    await once()
                except RECOVERABLE as exc:
                    self.stats.failures[type(exc).__name__] += 1
                    self.stats.failure_samples.append(f"{type(exc).__name__}: {exc}")
                    self.stats.reconnects += 1
                    await self._close(clients)
                    await asyncio.sleep(0.5)
        finally:
            await self._close(clients)

    async def _game_worker(self, index: int) -> None:
        run = uuid.uuid4().hex[:4]
        clients = [
            ChaosClient(self.url, f"g{index}-{run}-{k}", [], self.stats, self.timeout) for k in range(4)
        ]
        rng = random.Random(index)

        async def one_room() -> None:
            host = clients[0]
            room = (await host.send("game", "create_room", {"name": f"Host {index}"})).aggregate_id
            self.stats.rooms += 1
            for k, guest in enumerate(clients[1:], start=1):
                await guest.send("game", "join_room", {"name": f"P{k}"}, room)
            await host.send("game", "start_game", {}, room)
            histories: dict[str, list[int]] = {c.user: [] for c in clients}
            by_user = {c.user: c for c in clients}
            for _ in range(self.moves_per_room):
                if self.stopping:
                    return
                view = _room_state(await host.send("game", "get_room_state", {}, room))
                if view["phase"] == "game_over" or not view.get("awaiting"):
                    return
                mover = by_user.get(view["awaiting"][0])
                if mover is None:
                    return
                own = _room_state(await mover.send("game", "get_room_state", {}, room))
                move = choose_move(own, mover.user, histories[mover.user], rng)
                if move is None:
                    continue
                reply = await mover.send("game", move[0], move[1], room)
                self.stats.moves += 1
                if move[0] == "declare" and not reply.rejected:
                    histories[mover.user].append(int(move[1]["value"]))

        await self._worker(clients, one_room)

    async def _campaign_worker(self, index: int) -> None:
        run = uuid.uuid4().hex[:4]
        owner = ChaosClient(self.url, f"c{index}-{run}-owner", [], self.stats, self.timeout)
        intruder = ChaosClient(self.url, f"c{index}-{run}-intruder", [], self.stats, self.timeout)
        admin = ChaosClient(self.url, f"c{index}-{run}-admin", ["campaigns:admin"], self.stats, self.timeout)

        async def one_campaign() -> None:
            payload = {"name": f"Leads {index}", "kind": "domain_generation", "params": DOMAIN_PARAMS}
            cid = (await owner.send("campaign", "create_campaign", payload)).aggregate_id
            self.stats.campaigns += 1
            steps: list[tuple[ChaosClient, str, dict[str, Any]]] = [
                (intruder, "start", {}),
                (owner, "update_campaign", {"name": "Leads, renamed"}),
                (owner, "start", {}),
                (owner, "record_progress", {"processed": 4, "succeeded": 3, "failed": 1}),
                (admin, "pause", {}),
                (intruder, "get_campaign", {}),
                (owner, "record_progress", {"processed": 1, "succeeded": 1, "failed": 0}),
                (owner, "resume", {}),
                (owner, "record_progress", {"processed": 5, "succeeded": 5, "failed": 0}),
                (owner, "get_campaign", {}),
                (owner, "archive", {}),
                (owner, "pause", {}),
            ]
            for client, command_type, body in steps:
                if self.stopping:
                    return
                await client.send("campaign", command_type, body, cid)

        await self._worker([owner, intruder, admin], one_campaign)


# -- reading the streams and the comparator's store -----------------------------------------------------
@dataclass
class StreamMessage:
    seq: int
    subject: str
    headers: dict[str, str]
    data: dict[str, Any]


async def read_stream(js: Any, stream: str) -> list[StreamMessage]:
    """Every message of a stream, in order, through an ephemeral pull consumer."""
    info = await js.stream_info(stream)
    total = info.state.messages
    if total == 0:
        return []
    sub = await js.pull_subscribe(
        "",
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
            max_waiting=1,
        ),
    )
    out: list[StreamMessage] = []
    try:
        while len(out) < total:
            try:
                batch = await sub.fetch(min(1000, total - len(out)), timeout=5)
            except TimeoutError:
                break
            for msg in batch:
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    data = {}
                out.append(
                    StreamMessage(msg.metadata.sequence.stream, msg.subject, dict(msg.headers or {}), data)
                )
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return out


async def consumers_busy(js: Any) -> list[str]:
    """Durable consumers with something not yet delivered or not yet acknowledged."""
    busy: list[str] = []
    for stream in AUDITED_STREAMS:
        offset = 0
        while True:
            page = await js.consumers_info(stream, offset=offset)
            for info in page:
                if info.config.durable_name and (info.num_pending or info.num_ack_pending):
                    busy.append(
                        f"{stream}/{info.name}: pending {info.num_pending}, unacked {info.num_ack_pending}"
                    )
            if len(page) < 256:
                break
            offset += len(page)
    return busy


def http_json(url: str, timeout: float = 3.0) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return dict(json.loads(response.read()))


def settle(stack: Stack, timeout: float = 180.0) -> float:
    """Wait until every durable consumer has nothing pending or unacked and the comparator
    holds no pair, twice in a row. Returns the seconds it took; raises on timeout."""
    started = time.monotonic()

    async def poll() -> tuple[list[str], int]:
        nc = await nats.connect(stack.nats_url, max_reconnect_attempts=2)
        try:
            busy = await consumers_busy(nc.jetstream())
        finally:
            await nc.close()
        pending = http_json(f"{stack.services['comparator'].url}/summary")["pending"]
        return busy, int(pending)

    calm = 0
    last: tuple[list[str], int] = ([], -1)
    while time.monotonic() - started < timeout:
        try:
            last = asyncio.run(poll())
        except Exception as exc:
            last = ([f"poll failed: {exc!r}"], -1)
        busy, pending = last
        calm = calm + 1 if not busy and pending == 0 else 0
        if calm >= 2:
            return time.monotonic() - started
        time.sleep(1.0)
    raise AssertionError(f"not settled after {timeout:.0f}s: {last[0][:10]}, comparator pending {last[1]}")


def comparisons(data_dir: Path) -> dict[str, tuple[str, str, str]]:
    """command id -> (result, context, command type), from the comparator's SQLite store."""
    with contextlib.closing(
        sqlite3.connect(f"file:{data_dir / 'comparator.sqlite'}?mode=ro", uri=True)
    ) as db:
        rows = db.execute("SELECT command_id, result, context, command_type FROM comparisons").fetchall()
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


# -- the final reads: every aggregate's state as both sides see it ---------------------------------------
async def final_reads(
    gateway_ws: str, ingress: list[StreamMessage], answer_timeout: float = 20.0
) -> dict[str, str]:
    """`get_room_state` by every player who ever sent a command to a room, `get_campaign` by
    each campaign's creator. Returns command id -> what it read ("game ABC123 as u")."""
    readers: dict[tuple[str, str], set[str]] = defaultdict(set)
    creators: dict[str, str] = {}
    for m in ingress:
        ctx, agg, actor, ctype = (m.data.get(k) for k in ("context", "aggregate_id", "actor", "type"))
        if not (ctx and agg and actor):
            continue
        if ctx == "game":
            readers[(ctx, agg)].add(actor)
        elif ctype == "create_campaign":
            creators[agg] = actor
    for agg, owner in creators.items():
        readers[("campaign", agg)].add(owner)
    by_user: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for (ctx, agg), users in readers.items():
        for user in users:
            by_user[user].append((ctx, agg))

    stats = TrafficStats()
    done: dict[str, str] = {}
    semaphore = asyncio.Semaphore(16)

    async def read_as(user: str, aggregates: list[tuple[str, str]]) -> None:
        async with semaphore:
            client = ChaosClient(gateway_ws, user, [], stats, answer_timeout)
            await client.connect()
            try:
                for ctx, agg in aggregates:
                    command = "get_room_state" if ctx == "game" else "get_campaign"
                    reply = await client.send(ctx, command, {}, agg)
                    done[reply.command_id] = f"{ctx} {agg} as {user}"
            finally:
                await client.close()

    await asyncio.gather(*(read_as(user, aggs) for user, aggs in by_user.items()))
    return done


# -- the audit -------------------------------------------------------------------------------------
@dataclass
class Audit:
    ingress: int = 0
    routed: int = 0
    shadowed: int = 0
    unshadowed: int = 0
    handle_copies: int = 0
    events: int = 0
    comparisons: int = 0
    published: int = 0  # messages on COMPARISONS
    comparator_pending: int = 0
    results: Counter[str] = field(default_factory=Counter)
    final_reads: int = 0
    mismatches: list[str] = field(default_factory=list)  # non-match comparisons, for the report
    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def line(self) -> str:
        return (
            f"INGRESS {self.ingress} commands, ROUTED {self.routed} ({self.shadowed} shadowed, "
            f"{self.unshadowed} not), HANDLE {self.handle_copies} copies, EVENTS {self.events}, "
            f"comparisons {self.comparisons} {dict(self.results)} ({self.published} on COMPARISONS), "
            f"comparator pending {self.comparator_pending}, final reads {self.final_reads}"
        )


async def audit_streams(
    nats_url: str, data_dir: Path, comparator_pending: int, accepted: set[str], final: dict[str, str]
) -> Audit:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        streams = {name: await read_stream(js, name) for name in (*AUDITED_STREAMS, "COMPARISONS")}
    finally:
        await nc.close()
    store = comparisons(data_dir)
    a = Audit(comparator_pending=comparator_pending, final_reads=len(final))
    v = a.violations

    # INGRESS: one message per command id.
    ingress_ids = Counter(str(m.data.get("command_id")) for m in streams["INGRESS"])
    a.ingress = len(ingress_ids)
    v["command twice on INGRESS"] += [c for c, n in ingress_ids.items() if n > 1]
    v["accepted by the gateway, not on INGRESS"] += sorted(accepted - set(ingress_ids))

    # ROUTED: exactly one routing record per INGRESS command, none for anything else.
    routes: dict[str, dict[str, Any]] = {}
    routed_n = Counter(str(m.data.get("command_id")) for m in streams["ROUTED"])
    for m in streams["ROUTED"]:
        routes.setdefault(str(m.data.get("command_id")), m.data)
    a.routed = len(routes)
    v["routed more than once"] += [c for c, n in routed_n.items() if n > 1]
    v["on INGRESS, never routed"] += sorted(set(ingress_ids) - set(routes))
    v["routed, not on INGRESS"] += sorted(set(routes) - set(ingress_ids))
    sides: dict[str, dict[str, str]] = {}  # cid -> impl -> role
    for cid, r in routes.items():
        sides[cid] = {r["primary"]: "primary"}
        if r.get("shadow"):
            sides[cid][r["shadow"]] = "shadow"
            a.shadowed += 1
        else:
            a.unshadowed += 1

    # HANDLE: one copy per routed side, with the side's role.
    copies = Counter()
    for m in streams["HANDLE"]:
        impl = m.subject.split(".")[2]
        cid = str(m.data.get("command_id"))
        copies[(cid, impl)] += 1
        role = m.headers.get("Parallax-Role", "primary")
        if sides.get(cid, {}).get(impl) != role:
            v["HANDLE copy not routed so (or wrong role)"].append(f"{cid}:{impl}:{role}")
    a.handle_copies = sum(copies.values())
    v["HANDLE copy duplicated"] += [f"{c}:{i}" for (c, i), n in copies.items() if n > 1]
    for cid, impls in sides.items():
        v["routed side without its HANDLE copy"] += [f"{cid}:{i}" for i in impls if (cid, i) not in copies]

    # EVENTS: per routed side a complete response, each (cid, impl, seq) once, roles right.
    responses: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    counts: dict[tuple[str, str], set[int]] = defaultdict(set)
    for m in streams["EVENTS"]:
        d = m.data
        key = (str(d.get("command_id")), str(d.get("impl")))
        responses[key][int(d.get("seq", -1))] += 1
        counts[key].add(int(d.get("count", -1)))
        if sides.get(key[0], {}).get(key[1]) != d.get("role"):
            v["event of a side not routed so (or wrong role)"].append(f"{key[0]}:{key[1]}:{d.get('role')}")
    a.events = len(streams["EVENTS"])
    for key, seqs in responses.items():
        v["event duplicated"] += [f"{key[0]}:{key[1]}:{s}" for s, n in seqs.items() if n > 1]
        if len(counts[key]) != 1:
            v["response with inconsistent counts"].append(f"{key[0]}:{key[1]} {sorted(counts[key])}")
    for cid, impls in sides.items():
        for impl in impls:
            seqs = responses.get((cid, impl))
            if seqs is None:
                v["routed side never answered"].append(f"{cid}:{impl}")
                continue
            count = max(counts[(cid, impl)])
            if set(seqs) != set(range(count)):
                v["incomplete response"].append(f"{cid}:{impl} has {sorted(seqs)} of {count}")

    # The comparator: one comparison per shadowed command, none for anything else, counts add up.
    shadowed = {cid for cid, r in routes.items() if r.get("shadow")}
    a.comparisons = len(store)
    a.results = Counter(result for result, _, _ in store.values())
    v["shadowed, no comparison"] += sorted(shadowed - set(store))
    v["comparison of a command not shadowed"] += sorted(set(store) - shadowed)
    if a.comparisons + a.unshadowed + comparator_pending != a.routed:
        v["comparator counts do not add up"].append(
            f"comparisons {a.comparisons} + unshadowed {a.unshadowed} + pending {comparator_pending}"
            f" != routed {a.routed}"
        )
    # COMPARISONS: each stored comparison once (a republish dropped by its Nats-Msg-Id), on
    # its context's and result's subject, and nothing else.
    published = Counter(str(m.data.get("command_id")) for m in streams["COMPARISONS"])
    a.published = len(streams["COMPARISONS"])
    v["stored comparison not on COMPARISONS"] += sorted(set(store) - set(published))
    v["on COMPARISONS, not stored"] += sorted(set(published) - set(store))
    v["comparison published twice"] += [c for c, n in published.items() if n > 1]
    for m in streams["COMPARISONS"]:
        result, ctx, _ = store.get(str(m.data.get("command_id")), ("", "", ""))
        if m.subject != f"parallax.comparisons.{ctx}.{result}" or m.data.get("result") != result:
            v["comparison published as another result"].append(f"{m.data.get('command_id')}: {m.subject}")
    for cid, (result, ctx, ctype) in store.items():
        if result.startswith("missing_"):
            v["a side missing from a comparison"].append(f"{cid} {ctx}/{ctype}: {result}")
        elif result != "match":
            a.mismatches.append(f"{cid} {ctx}/{ctype}: {result}")
    # No state differs: every final read matched.
    for cid, what in final.items():
        result = store.get(cid, ("no comparison",))[0]
        if result != "match":
            v["state differs between legacy and domain"].append(f"{what}: {result} ({cid})")
    a.violations = {k: vs for k, vs in v.items() if vs}
    return a


# -- the run ---------------------------------------------------------------------------------------
@dataclass
class FaultRecord:
    cycle: int
    fault: str
    down_seconds: float  # from the kill (or the cut) to the component being back
    recovered_seconds: float  # from the kill to the next command answered end to end


@dataclass
class ChaosReport:
    cycles: int
    faults: list[FaultRecord]
    traffic: TrafficStats
    audit: Audit
    settle_seconds: float
    duration_seconds: float
    data_dir: Path
    pg_connections: int = 0  # connections the domain opened through the proxy
    pg_cut: int = 0  # connections the outages cut

    @property
    def violations(self) -> dict[str, list[str]]:
        return self.audit.violations

    @property
    def lost(self) -> int:
        return sum(len(vs) for vs in self.violations.values())

    def render(self) -> str:
        by_fault = Counter(f.fault for f in self.faults)
        worst = max((f.recovered_seconds for f in self.faults), default=0.0)
        lines = [
            f"chaos: {self.cycles} fault cycles survived "
            f"({', '.join(f'{k} x{n}' for k, n in by_fault.items())}) in {self.duration_seconds:.0f}s; "
            f"settled in {self.settle_seconds:.0f}s; slowest recovery {worst:.1f}s",
            f"traffic: {self.traffic.line()}",
            f"PostgreSQL proxy: {self.pg_connections} connections opened, {self.pg_cut} cut by outages",
            f"audit: {self.audit.line()}",
            *(f"  client failure: {f}" for f in self.traffic.failure_samples[:8]),
            f"non-match comparisons during faults: {len(self.audit.mismatches)}",
            *(f"  {m}" for m in self.audit.mismatches[:20]),
            f"violations (lost or wrong): {self.lost}",
        ]
        for kind, items in self.violations.items():
            lines.append(f"  {kind}: {len(items)}")
            lines += [f"    {item}" for item in items[:10]]
        lines.append(f"logs: {self.data_dir / 'logs'}")
        return "\n".join(lines)


def _wait_progress(traffic: Traffic, since: int, timeout: float) -> float:
    """Seconds until the traffic's answered count passes `since` (commands flow again)."""
    started = time.monotonic()
    while traffic.stats.answered <= since:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"no command answered within {timeout:.0f}s of the fault")
        if traffic.error is not None:
            raise AssertionError(f"the traffic driver died: {traffic.error!r}")
        time.sleep(0.1)
    return time.monotonic() - started


@contextlib.contextmanager
def chaos_stack(
    data_dir: Path, dsn: str, schema: str, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[Stack, PgProxy]]:
    url = urlparse(dsn)
    proxy = PgProxy(url.hostname or "127.0.0.1", url.port or 5432).start()
    env = {
        **CHAOS_ENV,
        "PARALLAX_POSTGRES_DSN": dsn_through(dsn, proxy.port),
        "PARALLAX_POSTGRES_SCHEMA": schema,
        **(extra_env or {}),
    }
    try:
        with running_stack(data_dir, free_ports=True, extra_env=env, ready_timeout=90) as stack:
            yield stack, proxy
    finally:
        proxy.stop()


def inject(stack: Stack, proxy: PgProxy, fault: str, *, nats_down: float, pg_down: float) -> float:
    """One fault; returns when the component is back (its seconds)."""
    started = time.monotonic()
    if fault in SERVICE_FAULTS:
        stack.restart_service(fault, kill=True, timeout=60)  # type: ignore[arg-type]
    elif fault == "nats":
        stack.restart_nats(kill=True, down_seconds=nats_down)
        wait_ready(list(stack.services.values()), 60)
    elif fault == "postgres":
        proxy.down()
        time.sleep(pg_down)
        proxy.up()
    else:
        raise ValueError(fault)
    return time.monotonic() - started


def run_chaos(
    cycles: int,
    data_dir: Path,
    dsn: str,
    schema: str,
    *,
    games: int = 4,
    campaigns: int = 2,
    traffic_seconds: float = 3.0,
    nats_down: float = 1.0,
    pg_down: float = 5.0,
    progress_timeout: float = 90.0,
    settle_timeout: float = 240.0,
    faults_in_turn: Sequence[str] = FAULTS,
    extra_env: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
) -> ChaosReport:
    """`cycles` faults in the order of FAULTS, `traffic_seconds` of traffic before each."""
    started = time.monotonic()
    faults: list[FaultRecord] = []
    stalled: str | None = None
    with chaos_stack(data_dir, dsn, schema, extra_env) as (stack, proxy):
        traffic = Traffic(stack.gateway_ws, games=games, campaigns=campaigns).start()
        try:
            _wait_progress(traffic, 0, progress_timeout)
            for cycle in range(cycles):
                fault = faults_in_turn[cycle % len(faults_in_turn)]
                time.sleep(traffic_seconds)
                answered = traffic.stats.answered
                t0 = time.monotonic()
                try:
                    down = inject(stack, proxy, fault, nats_down=nats_down, pg_down=pg_down)
                    _wait_progress(traffic, answered, progress_timeout)
                except Exception as exc:
                    # Not survived: no more faults, but still settle and audit what happened.
                    stalled = f"cycle {cycle + 1} ({fault}): {exc}"
                    log(f"cycle {cycle + 1}/{cycles}: {fault} NOT SURVIVED: {exc}")
                    break
                recovered = time.monotonic() - t0
                faults.append(FaultRecord(cycle + 1, fault, down, recovered))
                log(
                    f"cycle {cycle + 1}/{cycles}: {fault} back in {down:.1f}s, commands answered "
                    f"again {recovered:.1f}s after the fault; {traffic.stats.line()}"
                )
            time.sleep(traffic_seconds)
        finally:
            traffic.stop()
        if traffic.error is not None:
            raise AssertionError(f"the traffic driver died: {traffic.error!r}")
        settle_seconds = settle(stack, settle_timeout)
        log(f"settled in {settle_seconds:.1f}s; final reads")
        nc_ingress = asyncio.run(_read_one(stack.nats_url, "INGRESS"))
        final = asyncio.run(final_reads(stack.gateway_ws, nc_ingress))
        settle_seconds += settle(stack, settle_timeout)
        pending = int(http_json(f"{stack.services['comparator'].url}/summary")["pending"])
        audit = asyncio.run(
            audit_streams(stack.nats_url, data_dir, pending, set(traffic.stats.accepted), final)
        )
        if stalled is not None:
            audit.violations["a fault the stack did not recover from"] = [stalled]
    return ChaosReport(
        cycles=len(faults),
        faults=faults,
        traffic=traffic.stats,
        audit=audit,
        settle_seconds=settle_seconds,
        duration_seconds=time.monotonic() - started,
        data_dir=data_dir,
        pg_connections=proxy.connections,
        pg_cut=proxy.cut,
    )


async def _read_one(nats_url: str, stream: str) -> list[StreamMessage]:
    nc = await nats.connect(nats_url)
    try:
        return await read_stream(nc.jetstream(), stream)
    finally:
        await nc.close()


def create_schema(dsn: str) -> str:
    import psycopg

    schema = f"chaos_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
