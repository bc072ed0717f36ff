"""The staged rollout plan (rollout.md, "Guard"): 1 → 5 → 10 → 25 → 50 → 75 → 90 → 100 %, each
step held for a bake time, advancing only while the guard is satisfied.

State lives in the KV bucket `parallax_rollout_plans` (key = context), so a plan survives the
process that runs it: `parallax plan advance --wait` after a restart carries on where it was.
The plan owns the rollout config while it runs: it records the KV revision it wrote for the
current step, and any other write since (the guard's kill switch, a person's change) halts it.

`assess` is the pure decision; `apply_step`/`load`/`save` are the I/O.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from parallax_rollout import RolloutConfig
from parallax_runtime.topology import PLANS_BUCKET
from pydantic import BaseModel, ConfigDict, Field, field_validator

from parallax_comparator.rollout_io import CurrentConfig, read_config, update_config

DEFAULT_STEPS: tuple[Decimal, ...] = tuple(Decimal(s) for s in (1, 5, 10, 25, 50, 75, 90, 100))
DEFAULT_BAKE_SECONDS = 600.0

Status = Literal["running", "done", "halted", "aborted"]


class PlanStep(BaseModel):
    index: int
    percent: Decimal
    at: datetime
    revision: int


class PlanState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    context: str
    steps: list[Decimal]
    bake_seconds: float = Field(ge=0)
    index: int = 0
    status: Status = "running"
    step_started_at: datetime
    config_revision: int = 0  # the rollout config revision this plan wrote for the current step
    reason: str | None = None
    created_at: datetime
    created_by: str | None = None
    updated_at: datetime
    history: list[PlanStep] = Field(default_factory=list)

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[Decimal]) -> list[Decimal]:
        if not v:
            raise ValueError("a plan needs at least one step")
        for a, b in itertools.pairwise(v):
            if b <= a:
                raise ValueError("steps must increase")
        for s in v:
            if not (0 < s <= 100) or s != s.quantize(Decimal("0.01")):
                raise ValueError(f"step {s} must be in (0, 100] with at most two decimals")
        return v

    @property
    def percent(self) -> Decimal:
        return self.steps[self.index]

    @property
    def last_step(self) -> bool:
        return self.index == len(self.steps) - 1


@dataclass(frozen=True)
class Assessment:
    action: Literal["advance", "finish", "wait", "halt", "stopped"]
    reason: str
    remaining_s: float = 0.0


def parse_steps(text: str) -> list[Decimal]:
    try:
        return [Decimal(part.strip().rstrip("%")) for part in text.split(",") if part.strip()]
    except ArithmeticError as exc:
        raise ValueError(f"bad steps {text!r}: use e.g. 1,5,10,25,50,75,90,100") from exc


def assess(
    state: PlanState, current: CurrentConfig, now: datetime, guard_problems: list[str] | None = None
) -> Assessment:
    """What the plan may do now. Pure.

    * not running → `stopped`;
    * kill switch on, or the rollout config changed by someone else since the step was applied
      → `halt` (the guard tripped, or a person took over; an invalid entry written since, which
      the routers ignore, halts too);
    * the comparator's guard reports a crossed threshold → `wait` (it is about to trip);
    * bake time not over → `wait` with the remaining seconds;
    * else `advance` (or `finish` at the last step)."""
    if state.status != "running":
        return Assessment(
            "stopped", f"plan is {state.status}" + (f": {state.reason}" if state.reason else "")
        )
    config = current.config
    if config.kill_switch:
        by = f" by {config.updated_by}" if config.updated_by else ""
        return Assessment("halt", f"kill switch is on{by}: {config.reason or 'no reason given'}")
    if current.revision == state.config_revision and current.latest_revision != state.config_revision:
        # The routers ignore it and keep the step's config, but someone tried to change it.
        return Assessment(
            "halt",
            f"an invalid rollout config was written since this step was applied (revision "
            f"{current.invalid_revision}, ignored by the routers: {'; '.join(current.invalid_problems)})",
        )
    if current.revision != state.config_revision:
        return Assessment(
            "halt",
            f"the rollout config changed since this step was applied (revision {state.config_revision} → "
            f"{current.revision}, by {config.updated_by or 'unknown'}: {config.reason or 'no reason given'})",
        )
    if guard_problems:
        return Assessment("wait", "guard not satisfied: " + "; ".join(guard_problems))
    elapsed = (now - state.step_started_at).total_seconds()
    remaining = state.bake_seconds - elapsed
    if remaining > 0:
        return Assessment("wait", f"baking step {state.index + 1}/{len(state.steps)}", remaining)
    if state.last_step:
        return Assessment("finish", f"last step ({state.percent} %) baked")
    return Assessment("advance", f"step {state.index + 1}/{len(state.steps)} baked")


# -- I/O ------------------------------------------------------------------------------------------


def now_utc() -> datetime:
    return datetime.now(UTC)


async def plans_bucket(js: JetStreamContext) -> object:
    try:
        return await js.key_value(PLANS_BUCKET)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(bucket=PLANS_BUCKET, history=16, storage=StorageType.FILE)
        )


async def load(js: JetStreamContext, context: str) -> tuple[PlanState | None, int]:
    kv = await plans_bucket(js)
    try:
        entry = await kv.get(context)  # type: ignore[attr-defined]
    except KeyNotFoundError:
        return None, 0
    return PlanState.model_validate_json(entry.value), int(entry.revision)


class PlanConflict(RuntimeError):
    pass


async def save(js: JetStreamContext, state: PlanState, revision: int) -> int:
    """Write with a revision check (0: create); another writer in between → PlanConflict."""
    kv = await plans_bucket(js)
    state.updated_at = now_utc()
    body = state.model_dump_json().encode()
    try:
        if revision:
            return int(await kv.update(state.context, body, last=revision))  # type: ignore[attr-defined]
        return int(await kv.create(state.context, body))  # type: ignore[attr-defined]
    except KeyWrongLastSequenceError as exc:
        raise PlanConflict(f"the {state.context} plan was changed by someone else; look again") from exc


class StepRefused(RuntimeError):
    pass


async def apply_step(js: JetStreamContext, state: PlanState) -> int:
    """Set the rollout config to the current step (canary at its percent); returns the revision.
    Refuses while the kill switch is on (the plan never overrides the guard)."""
    percent = state.percent

    def change(current: RolloutConfig) -> RolloutConfig | None:
        if current.kill_switch:
            raise StepRefused(f"kill switch is on ({current.reason or 'no reason given'})")
        return current.model_copy(update={"mode": "canary", "domain_percent": percent})

    written = await update_config(
        js,
        state.context,
        change,
        action="plan",
        by="plan",
        reason=f"plan step {state.index + 1}/{len(state.steps)}: {percent} %",
        extra_audit={"plan": {"index": state.index, "steps": [str(s) for s in state.steps]}},
    )
    assert written is not None
    revision = written[2]
    state.config_revision = revision
    state.step_started_at = now_utc()
    state.history.append(
        PlanStep(index=state.index, percent=percent, at=state.step_started_at, revision=revision)
    )
    return revision


async def current_config(js: JetStreamContext, context: str) -> CurrentConfig:
    return await read_config(js, context)


def describe(state: PlanState) -> dict[str, object]:
    out: dict[str, object] = json.loads(state.model_dump_json())
    return out
