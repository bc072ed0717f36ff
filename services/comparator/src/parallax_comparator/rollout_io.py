"""Writing the rollout config the way rollout.md demands: validated, read-modify-write on the KV
revision (a concurrent writer makes us read again, never overwrite), and every valid change
appended to the audit stream with its diff. Used by the guard and by the staged plan.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError
from parallax_contracts import subjects
from parallax_rollout import (
    Action,
    RolloutConfig,
    audit_entry,
    audit_msg_id,
    dump_config,
)
from parallax_runtime.rollout_store import StoredRollout, env_defaults, read_rollout
from parallax_runtime.topology import ROLLOUT_BUCKET

log = logging.getLogger("parallax.rollout_io")

# change(current) -> the new config, or None for "nothing to do".
Change = Callable[[RolloutConfig], RolloutConfig | None]


class RolloutWriteConflict(RuntimeError):
    """Still losing the revision race after every retry."""


# What `read_config` returns: the newest valid config (the routers'), its revision, the key's
# latest revision, whether it is the environment defaults and what invalid entries it skipped.
CurrentConfig = StoredRollout


async def read_config(js: JetStreamContext, context: str) -> CurrentConfig:
    """The config the routers apply (`parallax_runtime.rollout_store.read_rollout`): the newest
    valid entry, else the shared environment defaults."""
    return await read_rollout(js, context, env_defaults())


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
    """Apply `change` to the config the routers apply (`read_config`: the newest valid entry,
    else the environment defaults) with a revision check on the key's latest entry, and audit it.

    Returns (old, new, revision) or None when `change` said there is nothing to do. `new` gets
    `updated_at`/`updated_by`/`reason`; an invalid result raises `InvalidConfig`."""
    kv = await js.key_value(ROLLOUT_BUCKET)
    for _ in range(attempts):
        current = await read_config(js, context)
        if current.skipped_invalid or current.from_defaults:
            base = f"revision {current.revision}"
            if current.from_defaults:
                base = f"the environment defaults ({current.source})"
            if current.skipped_invalid:
                base += f" (revision {current.invalid_revision} is invalid, ignored)"
            log.log(
                logging.WARNING if current.skipped_invalid else logging.INFO,
                "%s rollout config: the %s change is based on %s",
                context,
                action,
                base,
            )
        changed = change(current.config)
        if changed is None:
            return None
        new = changed.model_copy(update={"updated_at": now_utc(), "updated_by": by, "reason": reason})
        try:
            # The check names the key's latest entry, not the valid one read: a writer in
            # between (an invalid entry included) makes this fail, and the loop read again.
            if current.latest_revision:
                revision = await kv.update(context, dump_config(new), last=current.latest_revision)
            else:
                revision = await kv.create(context, dump_config(new))
        except KeyWrongLastSequenceError:
            continue  # someone wrote in between: read again
        old = current.stored  # None: the change replaced the environment defaults
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
