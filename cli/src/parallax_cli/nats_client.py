"""The CLI's own NATS connections: short-lived, failing fast and plainly.

An operator runs `parallax rollout kill` in an incident: a wrong URL or a NATS that is away must
end in one line within seconds, not a minute of tracebacks. nats-py's defaults do neither: it
retries its first connection 60 times, prints every failure's traceback through its default
error callback, and with `max_reconnect_attempts=0` it never gives up at all (nats-py 2.x).
The URL may carry a user's password (`nats://admin:<pw>@nats:4222`, docs/security.md), which
an error message must not print.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import nats
from nats.aio.client import Client

CONNECT_TIMEOUT_SECONDS = 3.0
# Bounds the whole attempt (DNS, TCP, TLS, the server's INFO and auth) whatever nats-py does.
GIVE_UP_SECONDS = 10.0


class NatsUnreachable(Exception):
    """No connection: the message names the server (without its password) and the cause."""


def redacted(url: str) -> str:
    """`url` without a password (`nats://admin:***@nats:4222`); every server of a list."""
    return ",".join(_redact_one(part) for part in url.split(","))


def _redact_one(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.password is None:
        return url.strip()
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def connect(url: str) -> Client:
    """One connection for one command, or `NatsUnreachable` within `GIVE_UP_SECONDS`."""
    errors: list[BaseException] = []

    async def remember(exc: Exception) -> None:  # instead of nats-py's traceback per attempt
        errors.append(exc)

    try:
        return await asyncio.wait_for(
            nats.connect(
                url,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                # 1, not 0: with 0, nats-py retries the first connection for ever.
                max_reconnect_attempts=1,
                allow_reconnect=False,
                error_cb=remember,
            ),
            GIVE_UP_SECONDS,
        )
    except Exception as exc:
        cause = errors[-1] if errors else exc
        raise NatsUnreachable(f"cannot reach NATS at {redacted(url)}: {_describe(cause)}") from None
