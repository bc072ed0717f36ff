"""The rollout config of each context as this replica applies it, kept current by a KV watch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from parallax_contracts.ids import CONTEXTS
from parallax_rollout.config import MODES, InvalidConfig, RolloutConfig, parse_config
from prometheus_client import Counter, Gauge

log = logging.getLogger("parallax.router.config")

REFUSED = Counter(
    "parallax_router_config_refused_total",
    "Rollout config values that were invalid and ignored (the last valid one stays).",
    ["context"],
)
APPLIED_REVISION = Gauge(
    "parallax_router_config_revision",
    "KV revision of the rollout config this replica applies (0: environment defaults).",
    ["context", "replica"],
)

DOMAIN_PERCENT = Gauge(
    "parallax_rollout_domain_percent",
    "domain_percent of the rollout config this replica applies (used in canary mode).",
    ["context"],
)
MODE = Gauge(
    "parallax_rollout_mode",
    "1 for the mode of the rollout config this replica applies, 0 for the others.",
    ["context", "mode"],
)
KILL_SWITCH = Gauge(
    "parallax_rollout_kill_switch",
    "1 while the applied rollout config has the kill switch on.",
    ["context"],
)
SHADOW = Gauge(
    "parallax_rollout_shadow",
    "1 while the applied rollout config mirrors commands to the other side.",
    ["context"],
)


def export_config(context: str, config: RolloutConfig) -> None:
    DOMAIN_PERCENT.labels(context).set(float(config.domain_percent))
    for mode in MODES:
        MODE.labels(context, mode).set(1 if config.mode == mode else 0)
    KILL_SWITCH.labels(context).set(1 if config.kill_switch else 0)
    SHADOW.labels(context).set(1 if config.shadow else 0)


@dataclass(frozen=True)
class Applied:
    config: RolloutConfig
    revision: int


class LiveConfig:
    def __init__(self, defaults: RolloutConfig, replica: str) -> None:
        self._defaults = defaults
        self._replica = replica
        self._applied: dict[str, Applied] = {ctx: Applied(defaults, 0) for ctx in CONTEXTS}
        self._task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()
        for ctx in CONTEXTS:
            APPLIED_REVISION.labels(ctx, replica).set(0)
            export_config(ctx, defaults)

    def current(self, context: str) -> Applied:
        return self._applied.get(context) or Applied(self._defaults, 0)

    def revisions(self) -> dict[str, int]:
        return {ctx: applied.revision for ctx, applied in self._applied.items()}

    def apply(self, context: str, raw: bytes | None, revision: int, deleted: bool) -> None:
        if context not in CONTEXTS:
            return
        if revision and revision <= self._applied[context].revision:
            return  # read already (`start` reads the stored values directly too)
        if deleted:
            self._applied[context] = Applied(self._defaults, 0)
        else:
            try:
                config = parse_config(raw or b"")
            except InvalidConfig as exc:
                REFUSED.labels(context).inc()
                log.warning("ignoring invalid rollout config for %s (rev %s): %s", context, revision, exc)
                return
            self._applied[context] = Applied(config, revision)
        applied = self._applied[context]
        APPLIED_REVISION.labels(context, self._replica).set(applied.revision)
        export_config(context, applied.config)
        self.changed.set()

    async def start(self, kv: KeyValue) -> None:
        """Apply what is stored now, then follow every change."""
        watcher = await kv.watchall()
        ready = asyncio.Event()

        async def follow() -> None:
            async for entry in watcher:
                if entry is None:  # end of the initial values
                    ready.set()
                    continue
                deleted = entry.operation in ("DEL", "PURGE")
                self.apply(entry.key, entry.value, entry.revision or 0, deleted)

        self._task = asyncio.create_task(follow())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), 5.0)
        # nats-py may signal the end of the initial values before it has handed them over: it
        # decides from the consumer's info (nothing pending) while the values are already on
        # the way. Routing on the defaults meanwhile could ignore a stored kill switch and pin
        # new aggregates to the wrong side, so the stored values are also read directly.
        for context in CONTEXTS:
            try:
                entry = await kv.get(context)
            except KeyNotFoundError:  # none stored, or deleted: the defaults apply
                continue
            self.apply(context, entry.value, entry.revision or 0, deleted=False)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
