"""The rollout config of a context as the routers apply it, read from KV `parallax_rollout`.

rollout.md: an invalid entry (written by other means than the CLI) is "ignored by the routers,
which keep the last valid one". A router that is running keeps the config it applied; one that
starts later, the CLI and the guard must reach the same config, so they all read it here: the
newest *valid* entry of the key's history, or the environment defaults when there is none (the
key does not exist, was deleted or purged since its last valid entry, or its history, at most
`BucketSpec.history` = 64 entries, the NATS maximum, holds no valid one any more).

The history is read with direct stream reads (`STREAM.MSG.GET`: the last entry of the key,
then, only when that one is not valid, every entry of the key in revision order), not with
nats-py's `KeyValue.history`: that one reads through a watcher that may end before handing its
entries over (see `connection.kv_keys`), and creating its consumer needs a permission the
comparator's NATS user does not have (deploy/nats/parallax-auth.conf). Each read is answered
by the server from what it stores.

Used by the router at start (`parallax_router.live_config`), by the CLI (`parallax rollout`),
and by the comparator's guard and plan (`parallax_comparator.rollout_io`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError
from nats.js.kv import KV_DEL, KV_MARKER_REASON, KV_OP, KV_PURGE
from parallax_rollout import InvalidConfig, RolloutConfig, default_config, parse_config

from parallax_runtime.settings import RouterSettings
from parallax_runtime.topology import ROLLOUT_BUCKET

# Why the defaults apply (`StoredRollout.source`), or "kv".
Source = Literal["kv", "no key", "deleted", "no valid entry"]

# A delete or purge marker (KV-Operation), or a marker the server placed (nats-server 2.11+: a
# key's TTL, a purge).
_DELETE_OPS = (KV_DEL, KV_PURGE)
# JetStream's "stream not found" (a missing bucket is an error, not a missing key; "no message
# found" is 10037).
_STREAM_NOT_FOUND = 10059


@dataclass(frozen=True)
class StoredRollout:
    """The config a context's routers apply, from one read of `parallax_rollout`.

    * ``config``/``revision``: the newest valid entry and its KV revision; the defaults given to
      `read_rollout` and 0 when ``from_defaults``.
    * ``source``: ``"kv"``, else why the defaults apply: ``"no key"`` (never written),
      ``"deleted"`` (a delete or purge marker is newer than any valid entry), ``"no valid
      entry"`` (the history left holds only invalid entries).
    * ``latest_revision``: the key's last entry, whatever it is (invalid, delete marker), 0 if
      it has none. A write's revision check names this one, never ``revision``: a writer that
      came in between then makes the write fail and the writer read again.
    * ``invalid_revision``/``invalid_problems``: the newest invalid entry newer than ``config``
      (None, () if none): the routers ignore it (and count it when they see it).
    """

    context: str
    config: RolloutConfig
    revision: int
    source: Source
    latest_revision: int
    invalid_revision: int | None = None
    invalid_problems: tuple[str, ...] = ()

    @property
    def from_defaults(self) -> bool:
        return self.source != "kv"

    @property
    def skipped_invalid(self) -> bool:
        """Newer invalid entries were skipped to reach ``config``."""
        return self.invalid_revision is not None

    @property
    def stored(self) -> RolloutConfig | None:
        """``config`` when it comes from the bucket, None when it is the defaults."""
        return None if self.from_defaults else self.config


def env_defaults() -> RolloutConfig:
    """The config while a context has no valid stored one, from the routers' environment
    variables (`DOMAIN_ROLLOUT_PERCENTAGE`, `DOMAIN_ADAPTERS_ENABLED`, `SHADOW_ENABLED`, read by
    `RouterSettings`). Every process that may write the config must get the same values
    (docker-compose.yml: the shared environment; Kubernetes: the ConfigMap `parallax-config`)."""
    return rollout_defaults(RouterSettings())


def rollout_defaults(settings: RouterSettings) -> RolloutConfig:
    """The defaults `settings` give (the router's own, `env_defaults` for everyone else)."""
    return default_config(
        settings.domain_rollout_percentage, settings.domain_adapters_enabled, settings.shadow_enabled
    )


def _is_deletion(msg: RawStreamMsg) -> bool:
    headers = msg.headers or {}
    return headers.get(KV_OP) in _DELETE_OPS or KV_MARKER_REASON in headers


async def _entries_before(js: JetStreamContext, stream: str, subject: str, last: int) -> list[RawStreamMsg]:
    """The key's entries before revision ``last``, oldest first (one read each)."""
    entries: list[RawStreamMsg] = []
    seq = 1
    while seq < last:
        try:
            msg = await js.get_msg(stream, seq=seq, subject=subject, next=True)
        except NotFoundError as exc:
            if exc.err_code == _STREAM_NOT_FOUND:
                raise
            break
        if not msg.seq or msg.seq >= last:
            break
        entries.append(msg)
        seq = msg.seq + 1
    return entries


async def read_rollout(
    js: JetStreamContext, context: str, defaults: RolloutConfig, *, bucket: str = ROLLOUT_BUCKET
) -> StoredRollout:
    """The newest valid config of ``context`` (else ``defaults``), with its revision, the key's
    latest revision and the newer invalid entries skipped. See `StoredRollout`.

    One read when the last entry is valid (the normal case); otherwise one per entry of the
    key's history. Raises what nats-py raises when NATS does not answer."""
    stream, subject = f"KV_{bucket}", f"$KV.{bucket}.{context}"
    try:
        latest = await js.get_msg(stream, subject=subject)
    except NotFoundError as exc:
        if exc.err_code == _STREAM_NOT_FOUND:
            raise
        return StoredRollout(context, defaults, 0, "no key", 0)
    latest_revision = int(latest.seq or 0)
    invalid_revision: int | None = None
    problems: tuple[str, ...] = ()
    candidates = [latest]
    while candidates:
        entry = candidates.pop()
        if _is_deletion(entry):
            return StoredRollout(context, defaults, 0, "deleted", latest_revision, invalid_revision, problems)
        try:
            config = parse_config(entry.data or b"")
        except InvalidConfig as exc:
            if invalid_revision is None:
                invalid_revision, problems = int(entry.seq or 0), exc.problems
                # The last entry is invalid: walk back through the older ones.
                candidates = await _entries_before(js, stream, subject, latest_revision)
            continue
        return StoredRollout(
            context, config, int(entry.seq or 0), "kv", latest_revision, invalid_revision, problems
        )
    return StoredRollout(context, defaults, 0, "no valid entry", latest_revision, invalid_revision, problems)
