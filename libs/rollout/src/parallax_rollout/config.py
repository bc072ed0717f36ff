"""The rollout config: one JSON document per context in the KV bucket ``parallax_rollout``.

``parse_config`` is the only way raw KV bytes become a ``RolloutConfig``; it refuses anything
the spec calls invalid (rollout.md, "Exact behaviour" 2) with ``InvalidConfig`` and never
repairs or rounds. ``dump_config`` writes the canonical JSON back (``domain_percent`` as a JSON
number). ``default_config`` builds the environment defaults used while the key does not exist.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictStr,
    ValidationError,
    field_serializer,
    field_validator,
)

Mode = Literal["legacy", "domain", "canary"]
MODES: Final[tuple[Mode, ...]] = ("legacy", "domain", "canary")

_HUNDREDTH: Final[Decimal] = Decimal("0.01")

LIST_FIELDS: Final[tuple[str, ...]] = (
    "allow_users",
    "allow_aggregates",
    "allow_prefixes",
    "deny_users",
    "deny_aggregates",
    "deny_prefixes",
)


class InvalidConfig(ValueError):
    """A rollout config the routers must ignore and the CLI must refuse.

    ``problems`` lists one human-readable line per problem (``field: what is wrong``).
    """

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("invalid rollout config: " + "; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Matchers:
    """The allow/deny lists as sets, built once per config (lists may hold 10,000+ entries).

    Prefixes are looked up by slicing the aggregate id at each distinct prefix length, so a
    match costs one set lookup per distinct length, not one ``startswith`` per prefix.
    """

    users: frozenset[str]
    aggregates: frozenset[str]
    prefixes: frozenset[str]
    prefix_lengths: tuple[int, ...]

    @classmethod
    def build(cls, users: Iterable[str], aggregates: Iterable[str], prefixes: Iterable[str]) -> Matchers:
        prefix_set = frozenset(prefixes)
        return cls(
            users=frozenset(users),
            aggregates=frozenset(aggregates),
            prefixes=prefix_set,
            prefix_lengths=tuple(sorted({len(p) for p in prefix_set})),
        )

    def match(self, aggregate_id: str, owner: str | None) -> str | None:
        """Which list matched (``users``/``aggregates``/``prefixes``), or None.

        An aggregate without a known owner never matches the user list.
        """
        if owner is not None and owner in self.users:
            return "users"
        if aggregate_id in self.aggregates:
            return "aggregates"
        n = len(aggregate_id)
        for length in self.prefix_lengths:
            if length > n:
                break
            if aggregate_id[:length] in self.prefixes:
                return "prefixes"
        return None


def _check_percent(value: object) -> Decimal:
    """A JSON number in [0, 100] whose value has at most two decimals; never rounded."""
    if isinstance(value, bool):
        raise ValueError("must be a JSON number, not a boolean")
    if isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, Decimal):
        d = value
    elif isinstance(value, float):
        # Only reachable from Python callers or model_validate_json: parse_config reads JSON
        # numbers as Decimal. repr() is the shortest text that round-trips, e.g. 12.345.
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        d = Decimal(repr(value))
    else:
        raise ValueError(f"must be a JSON number, not {type(value).__name__}")
    if not d.is_finite():
        raise ValueError("must be a finite number")
    if not (0 <= d <= 100):
        raise ValueError(f"must be between 0 and 100, got {d}")
    try:
        exact = d == d.quantize(_HUNDREDTH)
    except InvalidOperation:  # pragma: no cover - cannot happen once in range
        exact = False
    if not exact:
        raise ValueError(f"must have at most two decimals, got {d} (not rounded)")
    # Normalise the representation (12.340 -> 12.34, 1E+1 -> 10) without changing the value.
    if d == d.to_integral_value():
        return Decimal(int(d))
    return d.quantize(_HUNDREDTH).normalize()


class RolloutConfig(BaseModel):
    """Exactly the fields of the table in rollout.md; immutable; unknown fields refused.

    The lists are tuples (JSON arrays on the wire) so that the sets built from them at
    validation time cannot go stale.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode
    domain_percent: Decimal
    shadow: StrictBool
    kill_switch: StrictBool
    allow_users: tuple[StrictStr, ...] = ()
    allow_aggregates: tuple[StrictStr, ...] = ()
    allow_prefixes: tuple[StrictStr, ...] = ()
    deny_users: tuple[StrictStr, ...] = ()
    deny_aggregates: tuple[StrictStr, ...] = ()
    deny_prefixes: tuple[StrictStr, ...] = ()
    updated_at: AwareDatetime | None = None
    updated_by: StrictStr | None = None
    reason: StrictStr | None = None

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_is_text(cls, value: object) -> object:
        if not isinstance(value, str):
            raise ValueError(f"must be one of {', '.join(MODES)}, not {type(value).__name__}")
        if value not in MODES:
            raise ValueError(f"unknown mode {value!r}; expected one of {', '.join(MODES)}")
        return value

    @field_validator("domain_percent", mode="before")
    @classmethod
    def _percent(cls, value: object) -> Decimal:
        return _check_percent(value)

    @field_validator("updated_at", mode="before")
    @classmethod
    def _timestamp_is_text(cls, value: object) -> object:
        # JSON has no datetime: an RFC 3339 string (with offset) or null. Numbers are refused
        # rather than read as Unix timestamps.
        if value is None or isinstance(value, str | datetime):
            return value
        raise ValueError("must be an RFC 3339 timestamp string or null")

    @field_serializer("domain_percent", when_used="json")
    def _percent_as_number(self, value: Decimal) -> int | float:
        # A JSON number, never a string ("25" is invalid). Exact: a value with at most two
        # decimals in [0, 100] survives float's shortest-repr round trip unchanged.
        if value == value.to_integral_value():
            return int(value)
        return float(value)

    def model_post_init(self, __context: Any) -> None:
        # Built now, with the config, rather than by the first routing decision that uses them.
        self.allow  # noqa: B018
        self.deny  # noqa: B018

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A validated copy: unlike pydantic's default, ``update`` is validated (an invalid
        change raises ``InvalidConfig``) and the list sets are rebuilt."""
        data = {**self.model_dump(), **(update or {})}
        try:
            return self.model_validate(data)
        except ValidationError as exc:
            raise InvalidConfig(_problems(exc)) from exc

    # The router reads these for every command. cached_property (kept in the instance dict,
    # which a frozen model allows) is a plain attribute read; a pydantic private attribute went
    # through BaseModel.__getattr__, ~3 us a read, ~3 % of the router's time. The config is
    # immutable and `model_copy` validates anew, so a cached value cannot go stale.

    @functools.cached_property
    def allow(self) -> Matchers:
        """The allow lists as sets (built once, when the config was validated)."""
        return Matchers.build(self.allow_users, self.allow_aggregates, self.allow_prefixes)

    @functools.cached_property
    def deny(self) -> Matchers:
        """The deny lists as sets (built once, when the config was validated)."""
        return Matchers.build(self.deny_users, self.deny_aggregates, self.deny_prefixes)

    @functools.cached_property
    def threshold(self) -> int:
        """``round(domain_percent * 100)``: buckets below it want domain in ``canary``."""
        return round(self.domain_percent * 100)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _problems(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "config"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return lines


def validate_config(data: object) -> RolloutConfig:
    """Validate an already-decoded JSON value (a dict). Raises ``InvalidConfig``."""
    if not isinstance(data, dict):
        raise InvalidConfig([f"config: must be a JSON object, not {type(data).__name__}"])
    try:
        return RolloutConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidConfig(_problems(exc)) from exc


def parse_config(raw: bytes | str) -> RolloutConfig:
    """Parse a KV value. JSON numbers are read as ``Decimal`` (exact), never as float.

    Raises ``InvalidConfig`` for non-UTF-8, non-JSON (``NaN``/``Infinity`` included), duplicate
    keys, a non-object, and anything ``RolloutConfig`` refuses.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        data = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_no_constants,
            object_pairs_hook=_no_duplicate_keys,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidConfig([f"config: not valid JSON ({exc})"]) from exc
    return validate_config(data)


def config_to_json(config: RolloutConfig) -> dict[str, Any]:
    """The JSON-ready dict of a config (``domain_percent`` as a number, lists as given)."""
    return config.model_dump(mode="json")


def dump_config(config: RolloutConfig) -> bytes:
    """Canonical KV bytes for a config; ``parse_config(dump_config(c)) == c``."""
    return json.dumps(config_to_json(config), separators=(",", ":"), ensure_ascii=False).encode()


def default_config(
    domain_percent: Decimal | int | str = 0,
    domain_enabled: bool = False,
    shadow: bool = False,
) -> RolloutConfig:
    """The config while the context's KV key does not exist (``config_revision`` 0).

    * ``domain_enabled`` (``DOMAIN_ADAPTERS_ENABLED``) false -> ``mode: legacy`` (domain is never
      primary; ``domain_percent`` is kept but unused); true -> ``mode: canary`` at
      ``domain_percent`` (100 gives all new and shadowed aggregates to domain).
    * ``shadow`` (``SHADOW_ENABLED``) is independent of ``domain_enabled``: legacy-primary with a
      domain shadow is the normal first phase of a migration.
    * kill switch off, every list empty, ``updated_*``/``reason`` null.

    The environment variables (``DOMAIN_ROLLOUT_PERCENTAGE``, ``DOMAIN_ADAPTERS_ENABLED``,
    ``SHADOW_ENABLED``) are read by ``parallax_runtime.settings.RouterSettings``; this function
    only turns their values into a config. ``domain_percent`` may also be text; it must
    satisfy the config's rules (0..100, at most two decimals), else ``InvalidConfig``, so a bad
    environment fails at start-up instead of being rounded.
    """
    percent: object = domain_percent
    if isinstance(domain_percent, str):
        try:
            percent = Decimal(domain_percent.strip())
        except InvalidOperation as exc:
            raise InvalidConfig([f"domain_percent: not a number: {domain_percent!r}"]) from exc
    return validate_config(
        {
            "mode": "canary" if domain_enabled else "legacy",
            "domain_percent": percent,
            "shadow": shadow,
            "kill_switch": False,
        }
    )


def config_diff(old: RolloutConfig | None, new: RolloutConfig) -> dict[str, Any]:
    """What changed, for the audit stream. ``old=None`` means "from the environment defaults /
    nothing" and reports every field of ``new``.

    Scalar fields: ``{"field": {"old": x, "new": y}}`` (JSON values). List fields:
    ``{"field": {"added": [...], "removed": [...]}}`` (sorted, set semantics), so a change to a
    10,000-entry list stays small. Unchanged fields are absent; an empty dict means no change.
    ``updated_at``/``updated_by``/``reason`` are included when they change.
    """
    new_json = config_to_json(new)
    old_json: dict[str, Any] = config_to_json(old) if old is not None else {}
    diff: dict[str, Any] = {}
    for name in RolloutConfig.model_fields:
        after = new_json[name]
        if name in LIST_FIELDS:
            before_set = set(old_json.get(name, []))
            after_set = set(after)
            added = sorted(after_set - before_set)
            removed = sorted(before_set - after_set)
            if added or removed:
                diff[name] = {"added": added, "removed": removed}
        else:
            before = old_json.get(name)
            if old is None or before != after:
                diff[name] = {"old": before, "new": after}
    return diff
