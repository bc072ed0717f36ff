"""Permissions violations the NATS server reports on a service's connection (docs/operations.md,
"Readiness and NATS permissions"; deploy/nats/parallax-auth.conf).

The server refuses a SUB or a PUB outside the user's permissions with an asynchronous
`-ERR 'Permissions Violation for Subscription to "<subject>"'` (`... using queue "<queue>"` for
a queue subscription; `Permissions Violation for Publish to "<subject>"`, `... for Publish with
Reply of "<reply>"`) and keeps the connection open. nats-py does not fail the `subscribe` call:
its parser lowercases the line and hands `nats.errors.Error('nats: permissions violation for
subscription to "<subject>"')` to the connection's error callback only, and the subscription
stays in the client, receiving nothing. `PermissionViolations` is that callback (FastStream's
broker chains its own logging after it): it counts every violation
(`parallax_nats_permission_violations_total{kind}`) and keeps the refused subscriptions
(`parallax_nats_refused_subscriptions`), which make `/readyz` answer 503 (`http.health_routes`).

A refused subscription is not retried while the connection lasts; nats-py sends every
subscription again after a reconnect, and the server answers again. So the refusals are
forgotten on a reconnect, except those the server repeated during it: nats-py re-sends the
subscriptions and waits for a PONG before it calls the reconnected callback, and the server
answers the SUBs before that PING. Otherwise the condition holds until the process restarts.

Publish violations are counted, not kept: a publish is refused message by message (no state to
clear when the permission is fixed), and the caller already sees it (a JetStream publish gets no
PubAck and times out: the gateway answers `unavailable`, a handler leaves the command for
redelivery; a refused ack is redelivered). Taking replicas out of service for it would help no
message through (every replica has the same user) and would turn one odd subject into an outage.
"""

from __future__ import annotations

import logging
import re
import weakref
from dataclasses import dataclass
from typing import Literal

from parallax_runtime.metrics import PERMISSION_VIOLATIONS, REFUSED_SUBSCRIPTIONS

log = logging.getLogger("parallax.nats")

Kind = Literal["subscribe", "publish"]

NAMED = 3  # refused subjects a /readyz answer names (a handler has one per partition)

# As nats-py reports it (`nats: ` and the line lowercased) or as the server sends it.
_VIOLATION = re.compile(
    r'permissions violation for (?P<op>subscription to|publish to|publish with reply of) "(?P<subject>[^"]*)"'
    r'(?: using queue "(?P<queue>[^"]*)")?',
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Violation:
    kind: Kind
    subject: str  # as reported: lowercased by nats-py
    queue: str | None = None


def parse_violation(text: str) -> Violation | None:
    """The permissions violation an error's text reports, or None for any other error."""
    match = _VIOLATION.search(text)
    if match is None:
        return None
    kind: Kind = "subscribe" if match["op"].lower().startswith("subscription") else "publish"
    return Violation(kind, match["subject"], match["queue"])


class PermissionViolations:
    """The permissions violations of one broker's connection: pass `error_cb`, `disconnected_cb`
    and `reconnected_cb` to the broker (`connection.make_broker` does)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._refused: dict[str, int] = {}  # refused subscription subject -> connection epoch
        self._epoch = 0  # one per connection to a server

    def refused_subscriptions(self) -> list[str]:
        return sorted(self._refused)

    def not_ready_reason(self) -> str | None:
        """Why `/readyz` answers 503, or None while no subscription is refused."""
        subjects = self.refused_subscriptions()
        if not subjects:
            return None
        named = ", ".join(f'"{subject}"' for subject in subjects[:NAMED])
        more = f" and {len(subjects) - NAMED} more" if len(subjects) > NAMED else ""
        return f"NATS refused the subscription to {named}{more} (permissions violation)"

    async def error_cb(self, err: Exception) -> None:
        # Never raises: an exception here would skip FastStream's logging and reach nats-py's
        # read loop.
        try:
            violation = parse_violation(str(err))
            if violation is None:
                return
            PERMISSION_VIOLATIONS.labels(violation.kind).inc()
            if violation.kind == "subscribe":
                if violation.subject not in self._refused:
                    REFUSED_SUBSCRIPTIONS.inc()
                self._refused[violation.subject] = self._epoch
                log.error(
                    "%s: NATS refused the subscription to %r%s (permissions violation): not ready; "
                    "check the service's NATS user (deploy/nats/parallax-auth.conf)",
                    self.service,
                    violation.subject,
                    f" in queue {violation.queue!r}" if violation.queue else "",
                )
        except Exception:
            log.exception("reading a NATS error failed")

    async def disconnected_cb(self) -> None:
        self._epoch += 1

    async def reconnected_cb(self) -> None:
        # The subscriptions were sent again and the server's answers read: keep those it refused
        # again (recorded in this epoch).
        refused = {subject: epoch for subject, epoch in self._refused.items() if epoch == self._epoch}
        REFUSED_SUBSCRIPTIONS.dec(len(self._refused) - len(refused))
        self._refused = refused


_OF_BROKER: weakref.WeakKeyDictionary[object, PermissionViolations] = weakref.WeakKeyDictionary()


def watch(broker: object, violations: PermissionViolations) -> None:
    _OF_BROKER[broker] = violations


def violations_of(broker: object) -> PermissionViolations | None:
    """The violations of a broker built by `connection.make_broker` (None for another one)."""
    return _OF_BROKER.get(broker)
