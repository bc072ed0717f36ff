"""The rollout config of each context as this replica applies it, kept current by a KV watch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from parallax_contracts.ids import CONTEXTS
from parallax_rollout.config import MODES, InvalidConfig, RolloutConfig, parse_config
from parallax_runtime.rollout_store import StoredRollout, read_rollout
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
        # The newest revision the watch handed over per context, whatever it was (invalid, a
        # delete marker): a direct read older than it is stale.
        self._seen: dict[str, int] = dict.fromkeys(CONTEXTS, 0)
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
        """An entry of the watch: applied if valid and newer than the applied one, counted in
        `parallax_router_config_refused_total` and ignored if invalid (the last valid one stays)."""
        if context not in CONTEXTS:
            return
        self._seen[context] = max(self._seen[context], revision)
        if revision and revision <= self._applied[context].revision:
            return  # read already (`start` reads the stored values directly too)
        if deleted:
            self._use(context, Applied(self._defaults, 0))
            return
        try:
            config = parse_config(raw or b"")
        except InvalidConfig as exc:
            REFUSED.labels(context).inc()
            log.warning("ignoring invalid rollout config for %s (rev %s): %s", context, revision, exc)
            return
        self._use(context, Applied(config, revision))

    def _use(self, context: str, applied: Applied) -> None:
        self._applied[context] = applied
        APPLIED_REVISION.labels(context, self._replica).set(applied.revision)
        export_config(context, applied.config)
        self.changed.set()

    def apply_stored(self, stored: StoredRollout) -> None:
        """What `read_rollout` found: the newest valid entry, unless the watch has applied it or
        a newer one already. Defaults are left to the watch (a delete marker it hands over): a
        replica starts on them, and applying them here could undo a newer valid entry the
        watch applied meanwhile."""
        context = stored.context
        if stored.skipped_invalid:
            log.warning(
                "rollout config for %s: revision %s is invalid and ignored (%s); %s",
                context,
                stored.invalid_revision,
                "; ".join(stored.invalid_problems),
                f"applying the last valid one, revision {stored.revision}"
                if not stored.from_defaults
                else f"no valid entry left ({stored.source}): the environment defaults apply",
            )
        if context not in CONTEXTS or stored.from_defaults:
            return
        if stored.latest_revision < self._seen[context]:
            return  # the watch handed over a newer entry meanwhile: it is in charge
        if stored.revision <= self._applied[context].revision:
            return
        self._use(context, Applied(stored.config, stored.revision))

    async def start(self, kv: KeyValue, js: JetStreamContext) -> None:
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
        # The stored values are also read directly, for two reasons:
        # * nats-py may signal the end of the initial values before it has handed them over: it
        #   decides from the consumer's info (nothing pending) while the values are already on
        #   the way. Routing on the defaults meanwhile could ignore a stored kill switch and pin
        #   new aggregates to the wrong side.
        # * the watch hands over each key's last entry only. When that one is invalid, the
        #   replicas that were running keep the last valid config (rollout.md); this one must
        #   apply it too, not its defaults, or replicas disagree on the kill switch, the mode
        #   and the primary. `read_rollout` finds it in the key's history, as the CLI and the
        #   guard do. (The watch still hands the invalid entry over: it is counted as refused.)
        for context in CONTEXTS:
            self.apply_stored(await read_rollout(js, context, self._defaults))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
