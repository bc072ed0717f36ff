"""Writing the rollout config the way rollout.md demands: validated, read-modify-write on the KV
revision (a concurrent writer makes us read again, never overwrite), and every valid change
appended to the audit stream with its diff. Used by the guard and by the staged plan.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from parallax_contracts import subjects
from parallax_rollout import (
    Action,
    InvalidConfig,
    RolloutConfig,
    audit_entry,
    audit_msg_id,
    default_config,
    dump_config,
    parse_config,
)
from parallax_runtime.topology import ROLLOUT_BUCKET

log = logging.getLogger("parallax.rollout_io")

# change(current) -> the new config, or None for "nothing to do".
Change = Callable[[RolloutConfig], RolloutConfig | None]


class RolloutWriteConflict(RuntimeError):
    """Still losing the revision race after every retry."""


@dataclass(frozen=True)
class CurrentConfig:
    config: RolloutConfig  # the valid config in force (env defaults when absent or invalid)
    revision: int  # KV revision of the entry (0: no entry)
    from_defaults: bool
    invalid: bool  # the entry exists but is invalid (routers ignore it)


def env_defaults() -> RolloutConfig:
    """The config the routers use while the key does not exist (their environment)."""
    from parallax_runtime.settings import RouterSettings

    s = RouterSettings()
    return default_config(s.domain_rollout_percentage, s.domain_adapters_enabled, s.shadow_enabled)


async def read_config(js: JetStreamContext, context: str) -> CurrentConfig:
    kv = await js.key_value(ROLLOUT_BUCKET)
    try:
        entry = await kv.get(context)
    except KeyNotFoundError:  # absent or deleted (KeyDeletedError is a subclass)
        return CurrentConfig(env_defaults(), 0, True, False)
    revision = int(entry.revision or 0)
    try:
        return CurrentConfig(parse_config(entry.value or b""), revision, False, False)
    except InvalidConfig:
        return CurrentConfig(env_defaults(), revision, True, True)


def now_utc() -> datetime:
    return datetime.now(UTC)


async def update_config(
    js: JetStreamContext,
    context: str,
    change: Change,
    *,
    action: Action,
    by: str,
    reason: str,
    attempts: int = 20,
    extra_audit: dict[str, Any] | None = None,
) -> tuple[RolloutConfig, RolloutConfig, int] | None:
    """Apply `change` to the current config with a revision check and audit it.

    Returns (old, new, revision) or None when `change` said there is nothing to do. `new` gets
    `updated_at`/`updated_by`/`reason`; an invalid result raises `InvalidConfig`."""
    kv = await js.key_value(ROLLOUT_BUCKET)
    for _ in range(attempts):
        current = await read_config(js, context)
        changed = change(current.config)
        if changed is None:
            return None
        new = changed.model_copy(update={"updated_at": now_utc(), "updated_by": by, "reason": reason})
        try:
            if current.revision:
                revision = await kv.update(context, dump_config(new), last=current.revision)
            else:
                revision = await kv.create(context, dump_config(new))
        except KeyWrongLastSequenceError:
            continue  # someone wrote in between: read again
        old = None if current.from_defaults and not current.invalid else current.config
        await append_audit(
            js, context, old, new, int(revision), action=action, by=by, reason=reason, extra=extra_audit
        )
        return current.config, new, int(revision)
    raise RolloutWriteConflict(f"could not update the {context} rollout config: too many concurrent writers")


async def append_audit(
    js: JetStreamContext,
    context: str,
    old: RolloutConfig | None,
    new: RolloutConfig,
    revision: int,
    *,
    action: Action,
    by: str,
    reason: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """The entry the CLI writes too (`audit_entry`), with this writer's evidence (`extra`)."""
    entry = audit_entry(
        context=context,
        action=action,
        revision=revision,
        old=old,
        new=new,
        by=by,
        reason=reason,
        at=now_utc(),
    )
    await js.publish(
        subjects.audit(context),
        json.dumps({**entry, **(extra or {})}, default=str).encode(),
        stream="AUDIT",
        headers={subjects.MSG_ID: audit_msg_id(context, revision)},
    )
