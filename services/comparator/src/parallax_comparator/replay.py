"""Replay: recorded commands through fresh, isolated instances of both implementations, compared
exactly as the live comparator compares them (`records.evaluate`, the same rules, the same store
and reports).

The implementations are injected as factories (`context -> ContextHandler`), so this package
does not depend on them; the CLI passes the legacy and domain in-memory handlers. Commands are
handled one at a time in the order given — the recorded order, hence in order per aggregate —
and each command goes to legacy, then to domain.

`bisect` finds, for one aggregate, the first command after which the two sides' *states*
differ: after each command it asks both sides for the state (`get_room_state` as every player
seen so far, `get_campaign` as the owner) and compares those answers with the same core.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parallax_contracts.envelopes import Command, EventDraft
from parallax_contracts.handling import ContextHandler
from parallax_contracts.ids import CONTEXTS
from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from parallax_comparator.core.diff import compare
from parallax_comparator.core.rules import NormalizationRules
from parallax_comparator.records import ComparisonRecord, evaluate
from parallax_comparator.store import ComparisonStore

HandlerFactory = Callable[[str], ContextHandler]
Progress = Callable[[int], None]
# Handlers that wrap a real one to plant a divergence in tests take the same shape.

STATE_QUERIES = {"game": "get_room_state", "campaign": "get_campaign"}
CREATING = {"game": "create_room", "campaign": "create_campaign"}
_QUERY_NS = uuid.UUID("6f1c1c9e-8a38-4c7b-9f55-2d5b0d1a4a11")


def events_of(
    command: Command, drafts: list[EventDraft], impl: str, role: str, handler_ms: float
) -> list[dict[str, Any]]:
    """The JSON form of a response's events, as the comparator receives them off the wire."""
    count = len(drafts)
    return [
        {
            "command_id": command.command_id,
            "impl": impl,
            "role": role,
            "context": command.context,
            "aggregate_id": command.aggregate_id,
            "seq": seq,
            "count": count,
            "type": draft.type,
            "payload": to_jsonable_python(draft.payload),
            "audience": list(draft.audience),
            "handler_ms": handler_ms,
            "command_type": command.type,
        }
        for seq, draft in enumerate(drafts)
    ]


class Sides:
    """One fresh handler per (implementation, context), created on first use."""

    def __init__(self, legacy: HandlerFactory, domain: HandlerFactory) -> None:
        self.factories = {"legacy": legacy, "domain": domain}
        self.handlers: dict[tuple[str, str], ContextHandler] = {}

    def get(self, impl: str, context: str) -> ContextHandler:
        key = (impl, context)
        handler = self.handlers.get(key)
        if handler is None:
            handler = self.handlers[key] = self.factories[impl](context)
        return handler

    async def run(self, impl: str, command: Command) -> tuple[list[dict[str, Any]] | None, float]:
        """The response's events (None if the handler raised) and its time in ms."""
        handler = self.get(impl, command.context)
        started = time.perf_counter()
        try:
            drafts = await handler.handle(command)
        except Exception:
            return None, (time.perf_counter() - started) * 1000
        ms = round((time.perf_counter() - started) * 1000, 3)
        return events_of(command, drafts, impl, "primary" if impl == "legacy" else "shadow", ms), ms


@dataclass
class ReplayStats:
    commands: int = 0
    compared: int = 0
    duplicates: int = 0
    skipped: int = 0  # unknown context
    errors: Counter[str] = field(default_factory=Counter)  # impl -> handler exceptions
    by_result: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    handler_s: dict[str, float] = field(default_factory=lambda: {"legacy": 0.0, "domain": 0.0})

    @property
    def per_second(self) -> float:
        return self.compared / self.elapsed_s if self.elapsed_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "commands": self.commands,
            "compared": self.compared,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "errors": dict(self.errors),
            "by_result": dict(self.by_result),
            "elapsed_s": round(self.elapsed_s, 3),
            "commands_per_s": round(self.per_second, 1),
            "handler_s": {k: round(v, 3) for k, v in self.handler_s.items()},
        }


class Replayer:
    def __init__(
        self,
        legacy: HandlerFactory,
        domain: HandlerFactory,
        rules: NormalizationRules,
        store: ComparisonStore | None = None,
        *,
        batch: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sides = Sides(legacy, domain)
        self.rules = rules
        self.store = store
        self.batch = batch
        self.clock = clock
        self.records: list[ComparisonRecord] = []  # kept only without a store
        self._seen: set[str] = set()

    async def compare_one(self, command: Command) -> ComparisonRecord:
        legacy, _ = await self.sides.run("legacy", command)
        domain, _ = await self.sides.run("domain", command)
        status = "paired"
        if legacy is None:
            status = "missing_legacy"
        elif domain is None:
            status = "missing_domain"
        return evaluate(
            command_id=command.command_id,
            context=command.context,
            aggregate_id=command.aggregate_id,
            command_type=command.type,
            status=status,
            reason="complete" if status == "paired" else "error",
            legacy=legacy or [],
            domain=domain or [],
            rules=self.rules,
            compared_at=self.clock(),
        )

    async def run(
        self, commands: Iterable[Command] | AsyncIterable[Command], progress: Progress | None = None
    ) -> ReplayStats:
        stats = ReplayStats()
        pending: list[ComparisonRecord] = []
        started = time.perf_counter()

        def flush() -> None:
            if self.store is not None and pending:
                self.store.add_many(pending)
            elif self.store is None:
                self.records.extend(pending)
            pending.clear()

        async for command in _aiter(commands):
            stats.commands += 1
            if command.command_id in self._seen:
                stats.duplicates += 1
                continue
            if command.context not in CONTEXTS:
                stats.skipped += 1
                continue
            self._seen.add(command.command_id)
            record = await self.compare_one(command)
            if record.legacy_ms is None and record.result == "missing_legacy":
                stats.errors["legacy"] += 1
            if record.domain_ms is None and record.result == "missing_domain":
                stats.errors["domain"] += 1
            stats.handler_s["legacy"] += (record.legacy_ms or 0.0) / 1000
            stats.handler_s["domain"] += (record.domain_ms or 0.0) / 1000
            stats.compared += 1
            stats.by_result[record.result] += 1
            pending.append(record)
            if len(pending) >= self.batch:
                flush()
            if progress is not None:
                progress(1)
            if stats.commands % 256 == 0:
                await asyncio.sleep(0)  # let a progress display / signal handler run
        flush()
        stats.elapsed_s = time.perf_counter() - started
        return stats


async def _aiter(commands: Iterable[Command] | AsyncIterable[Command]) -> AsyncIterator[Command]:
    if isinstance(commands, AsyncIterable):
        async for c in commands:
            yield c
    else:
        for c in commands:
            yield c


# -- bisect ---------------------------------------------------------------------------------------


@dataclass
class StateView:
    actor: str
    result: str
    diffs: list[dict[str, Any]]
    legacy: list[dict[str, Any]]
    domain: list[dict[str, Any]]


@dataclass
class BisectStep:
    index: int  # 0-based among the aggregate's commands
    command: Command
    response_result: str  # how the command's own responses compared
    views: list[StateView]

    @property
    def diverged(self) -> bool:
        return any(v.result != "match" for v in self.views)


@dataclass
class BisectResult:
    aggregate_id: str
    context: str | None
    commands: int
    first_divergence: BisectStep | None  # first command after which the states differ
    first_response_mismatch: BisectStep | None  # first command whose responses differed
    steps: list[BisectStep]


def state_query(command: Command, actor: str, permissions: list[str]) -> Command:
    query_type = STATE_QUERIES[command.context]
    return Command(
        command_id=str(uuid.uuid5(_QUERY_NS, f"{command.command_id}:{actor}")),
        context=command.context,
        aggregate_id=command.aggregate_id,
        type=query_type,
        actor=actor,
        permissions=permissions,
        payload={},
        seed=None,
        issued_at=command.issued_at,
    )


async def bisect(
    commands: Iterable[Command],
    aggregate_id: str,
    legacy: HandlerFactory,
    domain: HandlerFactory,
    rules: NormalizationRules,
    *,
    stop_at_first: bool = True,
) -> BisectResult:
    """Replay one aggregate's commands (in order) through fresh instances, comparing both sides'
    state after each. Game: `get_room_state` as every actor seen so far (views are per player);
    campaign: `get_campaign` as the owner (the actor of `create_campaign`)."""
    own = [c for c in commands if c.aggregate_id == aggregate_id and c.context in STATE_QUERIES]
    replayer = Replayer(legacy, domain, rules)
    sides = replayer.sides
    steps: list[BisectStep] = []
    first_div: BisectStep | None = None
    first_resp: BisectStep | None = None
    viewers: dict[str, list[str]] = {}  # actor -> permissions, in first-seen order
    seen: set[str] = set()
    for index, command in enumerate(own):
        if command.command_id in seen:
            continue
        seen.add(command.command_id)
        record = await replayer.compare_one(command)
        if command.context == "game" or command.type == CREATING["campaign"] or not viewers:
            viewers.setdefault(command.actor, list(command.permissions))
        views: list[StateView] = []
        for actor, permissions in viewers.items():
            query = state_query(command, actor, permissions)
            left, _ = await sides.run("legacy", query)
            right, _ = await sides.run("domain", query)
            comparison, nl, nr = compare(left or [], right or [], command.context, rules)
            views.append(StateView(actor, comparison.result, [d.to_dict() for d in comparison.diffs], nl, nr))
        step = BisectStep(index, command, record.result, views)
        steps.append(step)
        if first_resp is None and record.result != "match":
            first_resp = step
        if first_div is None and step.diverged:
            first_div = step
            if stop_at_first:
                break
    return BisectResult(
        aggregate_id=aggregate_id,
        context=own[0].context if own else None,
        commands=len(own),
        first_divergence=first_div,
        first_response_mismatch=first_resp,
        steps=steps,
    )


# -- sources --------------------------------------------------------------------------------------


class BadCommandLine(ValueError):
    pass


def read_jsonl(path: Path) -> list[Command]:
    """Commands, one JSON object per line (blank lines and `#` comments skipped)."""
    out: list[Command] = []
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith(b"#"):
                continue
            try:
                out.append(Command.model_validate_json(line))
            except ValidationError as exc:
                raise BadCommandLine(
                    f"{path}:{n}: not a command envelope ({exc.error_count()} errors)"
                ) from exc
    return out


def write_jsonl(path: Path, commands: Iterable[Command]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for c in commands:
            f.write(c.model_dump_json() + "\n")
            n += 1
    return n


async def read_ingress(
    nc: Any,
    *,
    context: str | None = None,
    since: float | None = None,
    until: float | None = None,
    idle_timeout: float = 2.0,
    on_message: Progress | None = None,
) -> list[Command]:
    """The commands retained in INGRESS (optionally one context, a time range by publish time),
    in stream order. Reads with an ordered (ephemeral) consumer up to what the stream held when
    called; unreadable envelopes are skipped."""
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import DeliverPolicy

    js = nc.jetstream()
    info = await js.stream_info("INGRESS")
    last = info.state.last_seq
    if not info.state.messages:
        return []
    subject = f"parallax.ingress.{context}.>" if context else "parallax.ingress.>"
    kwargs: dict[str, Any] = {"deliver_policy": DeliverPolicy.ALL}
    if since is not None:
        from nats.js.api import ConsumerConfig

        kwargs = {
            "deliver_policy": DeliverPolicy.BY_START_TIME,
            "config": ConsumerConfig(opt_start_time=datetime.fromtimestamp(since, UTC)),
        }
    sub = await js.subscribe(subject, stream="INGRESS", ordered_consumer=True, **kwargs)
    out: list[Command] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=idle_timeout)
            except NatsTimeout:
                break
            meta = msg.metadata
            stamp = meta.timestamp.timestamp() if meta.timestamp else None
            if until is not None and stamp is not None and stamp >= until:
                break
            with contextlib.suppress(ValidationError):
                out.append(Command.model_validate_json(msg.data))
            if on_message is not None:
                on_message(1)
            if meta.num_pending == 0 or meta.sequence.stream >= last:
                break
    finally:
        await sub.unsubscribe()
    return out
