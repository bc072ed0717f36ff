"""Whether a user still has a socket on some gateway replica: KV `parallax_presence`.

protocol.md sends `disconnect` "when the user's last socket closes", and the replicas share no
memory (no session affinity: a user's tabs can sit on different pods). Each replica keeps one
key per user it holds sockets for, `<user>.<replica>`, whose value is its count of that user's
open sockets:

* a socket opens: the replica writes the key (before the socket's first frame is read);
* a socket closes and the user still has sockets here: the replica writes the new count;
* the user's last socket here closes: the replica deletes its key, then lists the user's keys
  (`kv_keys`, filter `<user>.*`) and reads each one left; if none holds a value, the user has
  no socket anywhere and the replica sends the `disconnect` commands;
* every `ttl / 3` seconds the replica writes the keys of every user it holds sockets for, so
  the bucket's TTL (its max age) only ever removes the keys of a replica that died.

A replica's operations on one user's key are serialised (a lock per user), so its writes land
in the order of its sockets' opens and closes, and a socket opening while the last one's close
is being decided waits for that decision (and its `disconnect`) before its first frame is read.
Only opens, closes and the periodic refresh touch KV: never a frame. docs/gateway.md discusses
the races.

When KV fails (NATS away, a missing permission or bucket), the replica decides on its own
sockets, as a single replica would: a spurious `disconnect` rather than a missing one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from parallax_contracts.ids import is_user_id
from parallax_runtime.connection import kv_keys
from parallax_runtime.topology import PRESENCE_BUCKET
from prometheus_client import Counter

from parallax_gateway.sockets import SocketRegistry

log = logging.getLogger("parallax.gateway.presence")

# Without a TTL on the bucket (a bucket not made by `parallax init`), still refresh this often.
DEFAULT_REFRESH_SECONDS = 10.0
# Bound on each KV request: a socket's open waits for its key's write.
KV_TIMEOUT_SECONDS = 2.0
# Keys written at once by the periodic refresh.
REFRESH_CONCURRENCY = 64

PRESENCE_ERRORS = Counter(
    "parallax_gateway_presence_errors_total",
    "Presence KV operations that failed (a last close then decides on this replica's sockets).",
    ["operation"],
)
LAST_CLOSES = Counter(
    "parallax_gateway_last_local_closes_total",
    "A user's last socket on this replica closed; outcome `disconnect` (none left anywhere) or "
    "`elsewhere` (the user has a socket on another replica).",
    ["outcome"],
)

_NOT_KEY_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def replica_name() -> str:
    """`<hostname>-<pid>-<random>`: the pod name in Kubernetes, unique per process (a container
    restarted in the same pod has the same hostname and often the same pid). One KV token."""
    raw = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    return _NOT_KEY_CHARS.sub("_", raw)[-100:]


def presence_key(user: str, replica: str) -> str:
    """`<user>.<replica>`. A user id (`^[A-Za-z0-9_-]{1,64}$`, checked when the token is
    verified) is one valid KV token as it is: no dot, no wildcard, nothing to encode."""
    if not is_user_id(user) or _NOT_KEY_CHARS.search(replica) or not replica:
        raise ValueError(f"not a presence key: {user!r}, {replica!r}")
    return f"{user}.{replica}"


@dataclass
class _UserLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Presence:
    """This replica's part of every user's presence (module docstring)."""

    def __init__(self, broker: NatsBroker, sockets: SocketRegistry, replica: str | None = None) -> None:
        self._broker = broker
        self._sockets = sockets
        self.replica = replica or replica_name()
        self._locks: dict[str, _UserLock] = {}
        self._kv: KeyValue | None = None
        self._js: JetStreamContext | None = None
        self.refresh_seconds = DEFAULT_REFRESH_SECONDS
        self._refresher: asyncio.Task[None] | None = None

    # -- life -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Look the bucket up (it may be missing until `parallax init`: looked up again on
        use) and start the periodic refresh, every third of the bucket's TTL."""
        with contextlib.suppress(Exception):
            await self._bucket()
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def stop(self) -> None:
        """Stop refreshing and delete this replica's keys that are left (sockets not closed
        yet): they would keep other replicas from sending `disconnect` until they expire."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresher
        users = self._sockets.users()
        if users and self._kv is not None:
            kv = self._kv
            with contextlib.suppress(Exception):
                async with asyncio.timeout(KV_TIMEOUT_SECONDS):
                    await asyncio.gather(
                        *(kv.delete(presence_key(user, self.replica)) for user in users),
                        return_exceptions=True,
                    )

    def busy(self) -> int:
        """How many users have a presence operation running or waiting on this replica."""
        return len(self._locks)

    # -- sockets ----------------------------------------------------------------------------------
    async def opened(self, user: str) -> None:
        """A socket of `user` was added to the registry: write this replica's count."""
        async with self._serialised(user):
            await self._write(user, "open")

    async def closed(self, user: str, last: bool, on_gone: Callable[[str], Awaitable[None]]) -> None:
        """A socket of `user` was removed from the registry (`last`: it was the user's last one
        here). Awaits `on_gone(user)` when the user has no socket left on any replica."""
        async with self._serialised(user):
            if self._sockets.count(user):
                # Still open here (or open again since): the count is all that changed.
                await self._write(user, "close")
                return
            if not last:
                return  # the user's last close here, running beside this one, decides
            gone = await self._gone_everywhere(user)
            if gone and self._sockets.count(user):
                # A socket opened here while KV was asked (it waits for this lock): present.
                await self._write(user, "close")
                gone = False
            LAST_CLOSES.labels("disconnect" if gone else "elsewhere").inc()
            if gone:
                # Under the lock: a socket of the user opening here meanwhile reads its first
                # frame (a `reconnect`) only after the `disconnect` is on INGRESS.
                await on_gone(user)

    # -- KV -----------------------------------------------------------------------------------------
    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            js = self._broker.connection.jetstream(timeout=KV_TIMEOUT_SECONDS)
            found = await js.key_value(PRESENCE_BUCKET)
            ttl = (await found.status()).ttl
            if ttl:
                self.refresh_seconds = max(ttl / 3, 0.05)
            else:
                log.warning("KV %s has no TTL: keys of a dead gateway replica never expire", PRESENCE_BUCKET)
            # Reads from the stream's leader, not the direct gets nats-py picks for KV buckets:
            # a follower may answer from before another replica's delete.
            self._kv = KeyValue(
                name=PRESENCE_BUCKET,
                stream=f"KV_{PRESENCE_BUCKET}",
                pre=f"$KV.{PRESENCE_BUCKET}.",
                js=js,
                direct=False,
            )
            self._js = js
        return self._kv

    async def _write(self, user: str, operation: str) -> None:
        count = self._sockets.count(user)
        if not count:
            return  # the last close deletes the key
        try:
            kv = await self._bucket()
            await kv.put(presence_key(user, self.replica), str(count).encode())
        except Exception:
            PRESENCE_ERRORS.labels(operation).inc()
            log.warning("could not write the presence of %s", user, exc_info=True)

    async def _gone_everywhere(self, user: str) -> bool:
        """Delete this replica's key, then whether the user has no key with a value left."""
        try:
            own = presence_key(user, self.replica)
            kv = await self._bucket()
            await kv.delete(own)
            assert self._js is not None
            for key in await kv_keys(self._js, PRESENCE_BUCKET, f"{user}.*"):
                if key == own:
                    continue
                try:
                    await kv.get(key)
                except KeyNotFoundError:
                    continue  # deleted by its replica (a marker), or just expired
                return False
        except Exception:
            PRESENCE_ERRORS.labels("last_close").inc()
            log.warning("could not read the presence of %s: deciding on this replica", user, exc_info=True)
        return True

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.refresh()
            except Exception:
                log.warning("presence refresh failed", exc_info=True)

    async def refresh(self) -> None:
        """Write the key of every user with sockets here (their TTL starts again)."""
        try:
            await self._bucket()
        except Exception:
            PRESENCE_ERRORS.labels("refresh").inc()
            log.warning("KV %s not available", PRESENCE_BUCKET, exc_info=True)
            return
        users = self._sockets.users()
        for start in range(0, len(users), REFRESH_CONCURRENCY):
            await asyncio.gather(
                *(self._refresh_one(user) for user in users[start : start + REFRESH_CONCURRENCY])
            )

    async def _refresh_one(self, user: str) -> None:
        async with self._serialised(user):
            await self._write(user, "refresh")

    @contextlib.asynccontextmanager
    async def _serialised(self, user: str) -> AsyncIterator[None]:
        """This replica's presence operations on `user`, one at a time, in arrival order."""
        entry = self._locks.get(user)
        if entry is None:
            entry = self._locks[user] = _UserLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if not entry.users:
                del self._locks[user]
