"""Replay: recorded commands through fresh, isolated instances of both implementations, compared
exactly as the live comparator compares them (`records.evaluate`'s classification, the same
rules, the same store and reports).

The implementations are injected as factories (`context -> ContextHandler`), so this package
does not depend on them; the CLI passes the legacy and domain in-memory handlers (never the
production stores). Each side sees the commands in the order given — the recorded order, hence
in order per aggregate. Sequentially (`workers=0`) each command goes to legacy, then to domain;
with `workers=2` each side runs in a forked process of its own, over the same commands in the
same order, and this process compares and stores: the same results, on two cores.

Each side's response is normalized and encoded as JSON text where it ran (`encode_side`); equal
texts are a match without parsing, and the texts are what the store keeps.

`bisect` finds, for one aggregate, the first command after which the two sides' *states*
differ: after each command it asks both sides for the state (`get_room_state` as every player
seen so far, `get_campaign` as the owner) and compares those answers with the same core.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import pickle
import signal
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from parallax_contracts.envelopes import Command, EventDraft
from parallax_contracts.handling import ContextHandler
from parallax_contracts.ids import CONTEXTS
from pydantic import ValidationError
from pydantic_core import to_json, to_jsonable_python

from parallax_comparator.core.diff import REJECTED, compare
from parallax_comparator.core.normalize import apply_tree
from parallax_comparator.core.rules import NormalizationRules
from parallax_comparator.records import ComparisonRecord, evaluate_normalized
from parallax_comparator.store import COLUMNS, ComparisonStore

HandlerFactory = Callable[[str], ContextHandler]
Progress = Callable[[int], None]
# Handlers that wrap a real one to plant a divergence in tests take the same shape.

STATE_QUERIES = {"game": "get_room_state", "campaign": "get_campaign"}
CREATING = {"game": "create_room", "campaign": "create_campaign"}
IMPLS = ("legacy", "domain")
_QUERY_NS = uuid.UUID("6f1c1c9e-8a38-4c7b-9f55-2d5b0d1a4a11")

SideResult = tuple[str, float | None, bool] | None
"""One side's answer to one command: (its normalized events as JSON text, the handler's time in
ms — None when it answered no event —, whether it refused the command); None if it raised."""


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


def encode_side(
    drafts: Sequence[EventDraft], context: str, rules: NormalizationRules, ms: float
) -> tuple[str, float | None, bool]:
    """One response normalized (`core.normalize`: type, payload, audience, then the rules) and
    encoded as JSON text: the form the store keeps, and equal texts are a match without a parse.

    pydantic's serializer (Rust) writes the events as `model_dump_json` puts them on the wire, in
    a fifth of `to_jsonable_python`'s time. The rules' drop/unordered trees need the values: only
    when one applies is the text parsed — into what the live comparator gets off the wire —,
    normalized and written again. The envelope fields normalization drops are never built."""
    events: list[dict[str, Any]] = [
        {"type": d.type, "payload": d.payload, "audience": d.audience} for d in drafts
    ]
    text = to_json(events)
    cached = rules.trees(context)
    trees = [cached[d.type] if d.type in cached else rules.tree(context, d.type) for d in drafts]
    if any(tree is not None for tree in trees):
        parsed = json.loads(text)
        text = to_json([e if t is None else apply_tree(e, t) for e, t in zip(parsed, trees, strict=True)])
    refused = any(d.type == REJECTED for d in drafts)
    return text.decode(), (ms if drafts else None), refused


class Outcome(NamedTuple):
    """A compared command: the store's row (`store.COLUMNS`, JSON columns as text) first, then
    what only the record keeps. Built from the sides' texts, so a match is never parsed."""

    command_id: str
    context: str
    aggregate_id: str | None
    command_type: str
    result: str
    reason: str
    signature: str | None
    diffs: str
    legacy: str
    domain: str
    compared_at: float
    legacy_ms: float | None
    domain_ms: float | None
    legacy_rejected: bool
    domain_rejected: bool

    def row(self) -> tuple[Any, ...]:
        return self[:_ROW]

    def record(self) -> ComparisonRecord:
        return ComparisonRecord(
            command_id=self.command_id,
            context=self.context,
            aggregate_id=self.aggregate_id,
            command_type=self.command_type,
            result=self.result,
            reason=self.reason,
            signature=self.signature,
            diffs=json.loads(self.diffs),
            legacy=json.loads(self.legacy),
            domain=json.loads(self.domain),
            compared_at=self.compared_at,
            legacy_ms=self.legacy_ms,
            domain_ms=self.domain_ms,
            legacy_rejected=self.legacy_rejected,
            domain_rejected=self.domain_rejected,
        )


_ROW = len(COLUMNS)


def combine(
    command: Command, legacy: SideResult, domain: SideResult, rules: NormalizationRules, compared_at: float
) -> Outcome:
    """`records.evaluate` over the two sides' texts. Equal texts are equal JSON values of equal
    types — the match `classify` would find — so the common case costs a string comparison;
    anything else is parsed and goes through `evaluate_normalized`, the live comparator's path."""
    context = command.context or "unknown"
    ctype = command.type or "unknown"
    left, l_ms, l_rej = legacy if legacy is not None else ("[]", None, False)
    right, r_ms, r_rej = domain if domain is not None else ("[]", None, False)
    if legacy is not None and domain is not None and left == right:
        return Outcome(
            command.command_id, context, command.aggregate_id, ctype, "match", "complete", None, "[]",
            left, right, compared_at, l_ms, r_ms, l_rej, r_rej,
        )  # fmt: skip
    status = "missing_legacy" if legacy is None else "missing_domain" if domain is None else "paired"
    record = evaluate_normalized(
        command_id=command.command_id,
        context=context,
        aggregate_id=command.aggregate_id,
        command_type=ctype,
        status=status,
        reason="complete" if status == "paired" else "error",
        left=json.loads(left),
        right=json.loads(right),
        rules=rules,
        compared_at=compared_at,
        legacy_ms=l_ms,
        domain_ms=r_ms,
        legacy_rejected=l_rej,
        domain_rejected=r_rej,
    )
    return Outcome(
        record.command_id, record.context, record.aggregate_id, record.command_type, record.result,
        record.reason, record.signature, json.dumps(record.diffs, default=str), left, right,
        compared_at, l_ms, r_ms, l_rej, r_rej,
    )  # fmt: skip


class Sides:
    """One fresh handler per (implementation, context), created on first use."""

    def __init__(self, legacy: HandlerFactory, domain: HandlerFactory, rules: NormalizationRules) -> None:
        self.factories = {"legacy": legacy, "domain": domain}
        self.rules = rules
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

    async def answer(self, impl: str, command: Command) -> SideResult:
        """The response, normalized and encoded (`encode_side`); None if the handler raised."""
        handler = self.get(impl, command.context)
        started = time.perf_counter()
        try:
            drafts = await handler.handle(command)
        except Exception:
            return None
        ms = round((time.perf_counter() - started) * 1000, 3)
        return encode_side(drafts, command.context, self.rules, ms)

    async def answer_all(self, impl: str, commands: Sequence[Command]) -> list[SideResult]:
        return [await self.answer(impl, c) for c in commands]


# -- worker processes -----------------------------------------------------------------------------
#
# The two implementations never see each other's state, so each side can run in a process of
# its own over the same commands in the same (recorded) order: the results are those of the
# sequential replay, and the parent only compares texts and stores rows. The workers are forked,
# so they inherit the handler factories (closures: not picklable) and the rules as they are;
# each keeps its side's handlers for the whole replay. Splitting by aggregate instead would
# not balance (a few long games dominate) and would cut the state campaigns share.

_worker: tuple[Sides, str, asyncio.AbstractEventLoop] | None = None


def _start_worker(sides: Sides, impl: str) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _worker = (sides, impl, asyncio.new_event_loop())


def _ready() -> bool:
    return _worker is not None


def _answer_chunk(payload: bytes) -> list[SideResult]:
    """One chunk of commands (pickled once by the parent for both workers), in order."""
    assert _worker is not None, "not a replay worker"
    sides, impl, loop = _worker
    commands: list[Command] = pickle.loads(payload)
    return loop.run_until_complete(sides.answer_all(impl, commands))


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class SidePool:
    """One forked worker process per implementation (a one-process executor each: its chunks
    run in submission order)."""

    def __init__(self, sides: Sides) -> None:
        context = multiprocessing.get_context("fork")
        self.executors = {
            impl: ProcessPoolExecutor(
                1, mp_context=context, initializer=_start_worker, initargs=(sides, impl)
            )
            for impl in IMPLS
        }
        for executor in self.executors.values():  # fork now, not at the first chunk
            executor.submit(_ready).result()

    def submit(self, commands: list[Command]) -> tuple[asyncio.Future[list[SideResult]], ...]:
        payload = pickle.dumps(commands, protocol=pickle.HIGHEST_PROTOCOL)
        return tuple(asyncio.wrap_future(ex.submit(_answer_chunk, payload)) for ex in self.executors.values())

    def close(self) -> None:
        for executor in self.executors.values():
            executor.shutdown(wait=True, cancel_futures=True)


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
    workers: int = 0

    @property
    def per_second(self) -> float:
        return self.compared / self.elapsed_s if self.elapsed_s else 0.0

    def add(self, outcome: Outcome) -> None:
        if outcome.result == "missing_legacy":
            self.errors["legacy"] += 1
        if outcome.result == "missing_domain":
            self.errors["domain"] += 1
        self.handler_s["legacy"] += (outcome.legacy_ms or 0.0) / 1000
        self.handler_s["domain"] += (outcome.domain_ms or 0.0) / 1000
        self.compared += 1
        self.by_result[outcome.result] += 1

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
            "workers": self.workers,
        }


class Replayer:
    """`workers=0` runs both sides here, one command after the other; `workers=2` runs each
    side in a worker process of its own (`SidePool`), `chunk` commands at a time, with up to
    `in_flight` chunks queued so neither worker waits on the parent. Same results either way.

    The workers' handlers live until `close()`; `run()` closes a pool it started itself, so a
    caller feeding several batches to the same instances calls `start()` first (and `close()`)."""

    def __init__(
        self,
        legacy: HandlerFactory,
        domain: HandlerFactory,
        rules: NormalizationRules,
        store: ComparisonStore | None = None,
        *,
        batch: int = 500,
        clock: Callable[[], float] = time.time,
        workers: int = 0,
        chunk: int = 256,
        in_flight: int = 4,
    ) -> None:
        if workers not in (0, 2):
            raise ValueError(f"workers must be 0 (in process) or 2 (one process per side), not {workers}")
        if workers and not can_fork():
            workers = 0  # the workers inherit the factories by fork; elsewhere, in process
        self.sides = Sides(legacy, domain, rules)
        self.rules = rules
        self.store = store
        self.batch = batch
        self.clock = clock
        self.workers = workers
        self.chunk = chunk
        self.in_flight = in_flight
        self.records: list[ComparisonRecord] = []  # kept only without a store
        self._seen: set[str] = set()
        self._pool: SidePool | None = None

    def start(self) -> None:
        """Fork the workers now. A caller about to start threads (a progress display) calls
        this first: forking a process that has threads can copy a lock another thread holds."""
        if self.workers and self._pool is None:
            self._pool = SidePool(self.sides)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    async def compare_one(self, command: Command) -> ComparisonRecord:
        legacy = await self.sides.answer("legacy", command)
        domain = await self.sides.answer("domain", command)
        return combine(command, legacy, domain, self.rules, self.clock()).record()

    def _keep(self, outcomes: list[Outcome]) -> None:
        if self.store is not None:
            self.store.add_rows([o.row() for o in outcomes])
        else:
            self.records.extend(o.record() for o in outcomes)

    async def run(
        self, commands: Iterable[Command] | AsyncIterable[Command], progress: Progress | None = None
    ) -> ReplayStats:
        stats = ReplayStats(workers=self.workers)
        started = time.perf_counter()
        if self.workers:
            started_pool = self._pool is None
            self.start()
            try:
                await self._run_pooled(self._admitted(commands, stats), stats, progress)
            finally:
                if started_pool:
                    self.close()
        else:
            await self._run_here(self._admitted(commands, stats), stats, progress)
        stats.elapsed_s = time.perf_counter() - started
        return stats

    async def _admitted(
        self, commands: Iterable[Command] | AsyncIterable[Command], stats: ReplayStats
    ) -> AsyncIterator[Command]:
        """The commands to compare: each command id once, known contexts only."""
        async for command in _aiter(commands):
            stats.commands += 1
            if command.command_id in self._seen:
                stats.duplicates += 1
                continue
            if command.context not in CONTEXTS:
                stats.skipped += 1
                continue
            self._seen.add(command.command_id)
            yield command

    async def _run_here(
        self, commands: AsyncIterator[Command], stats: ReplayStats, progress: Progress | None
    ) -> None:
        pending: list[Outcome] = []
        async for command in commands:
            legacy = await self.sides.answer("legacy", command)
            domain = await self.sides.answer("domain", command)
            outcome = combine(command, legacy, domain, self.rules, self.clock())
            stats.add(outcome)
            pending.append(outcome)
            if len(pending) >= self.batch:
                self._keep(pending)
                pending.clear()
            if progress is not None:
                progress(1)
            if stats.compared % 256 == 0:
                await asyncio.sleep(0)  # let a progress display / signal handler run
        if pending:
            self._keep(pending)

    async def _run_pooled(
        self, commands: AsyncIterator[Command], stats: ReplayStats, progress: Progress | None
    ) -> None:
        pool = self._pool
        assert pool is not None
        queued: deque[tuple[list[Command], tuple[asyncio.Future[list[SideResult]], ...]]] = deque()

        async def collect() -> None:
            chunk, futures = queued.popleft()
            legacy, domain = await asyncio.gather(*futures)
            outcomes = [
                combine(c, lr, dr, self.rules, self.clock())
                for c, lr, dr in zip(chunk, legacy, domain, strict=True)
            ]
            for outcome in outcomes:
                stats.add(outcome)
            self._keep(outcomes)
            if progress is not None:
                progress(len(outcomes))

        chunk: list[Command] = []
        async for command in commands:
            chunk.append(command)
            if len(chunk) >= self.chunk:
                queued.append((chunk, pool.submit(chunk)))
                chunk = []
                if len(queued) >= self.in_flight:
                    await collect()
        if chunk:
            queued.append((chunk, pool.submit(chunk)))
        while queued:
            await collect()


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
