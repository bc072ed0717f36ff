"""Ignore rules: which fields to drop, which arrays are unordered, which numbers are tolerant.

The rules live in a file that a user edits (YAML, or TOML by suffix). They are per context and
per event type, both matched with fnmatch-style wildcards (`*`, `?`). Every rule whose patterns
match an event applies, in file order: drops and unordered paths are unioned, and for tolerance
a later rule overrides an earlier one. `DEFAULT_DROP` is always dropped, whatever the file says.

Paths are dotted and start at the event envelope (`payload.…`, `audience`), with `[]` / `[*]`
for every element of an array, `[N]` for one element, and `*` / `?` wildcards inside a key
segment (`payload.*_id`). See docs/comparison.md for the format.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

log = logging.getLogger(__name__)

# Envelope fields that are never compared (protocol.md: timing, and who answered in which role).
DEFAULT_DROP: Final[tuple[str, ...]] = ("emitted_at", "handler_ms", "impl", "role")
# Envelope fields a path may start with (protocol.md, Event). Only type/payload/audience survive
# normalization; drops of the others are accepted (and are no-ops) so a user can write them.
ENVELOPE_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "command_id",
        "impl",
        "role",
        "context",
        "aggregate_id",
        "seq",
        "count",
        "type",
        "payload",
        "audience",
        "emitted_at",
        "handler_ms",
        "command_type",
    }
)
DEFAULT_RULES_PATH: Final[Path] = Path(__file__).with_name("default_rules.yaml")

# Path steps: (kind, argument).
KEY: Final = 0  # exact mapping key
GLOB: Final = 1  # fnmatch pattern over mapping keys
EACH: Final = 2  # every element of an array
INDEX: Final = 3  # one element of an array
Step = tuple[int, str | int]

_SEGMENT_RE = re.compile(r"([^.\[\]]+)((?:\[(?:\*|\d+)?\])*)")
_BRACKET_RE = re.compile(r"\[(\*|\d+)?\]")
_MAX_CACHE: Final = 4096


class RulesError(Exception):
    """A rules file that cannot be used: `path` and `reason` say which and why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"rules file {self.path}: {reason}")


def parse_path(path: str) -> tuple[Step, ...]:
    """`payload.players[].name` → ((KEY, payload), (KEY, players), (EACH, ''), (KEY, name)).

    Raises ValueError with a readable reason."""
    if not isinstance(path, str) or not path:
        raise ValueError("a path must be a non-empty string")
    steps: list[Step] = []
    for part in path.split("."):
        m = _SEGMENT_RE.fullmatch(part)
        if m is None:
            raise ValueError(
                f"bad path {path!r}: segment {part!r} is not `name`, `name[]`, `name[*]` or `name[N]`"
            )
        name, brackets = m.group(1), m.group(2)
        if "*" in name or "?" in name:
            steps.append((GLOB, name))
        else:
            steps.append((KEY, name))
        for b in _BRACKET_RE.finditer(brackets):
            idx = b.group(1)
            if idx is None or idx == "*":
                steps.append((EACH, ""))
            else:
                steps.append((INDEX, int(idx)))
    return tuple(steps)


def path_regex(steps: tuple[Step, ...]) -> re.Pattern[str]:
    """A regex matching the concrete diff paths (event-relative, `payload.a[3].b`) of a pattern."""
    out: list[str] = []
    for kind, arg in steps:
        if kind == KEY:
            out.append(("." if out else "") + re.escape(str(arg)))
        elif kind == GLOB:
            seg = "".join(
                "[^.\\[\\]]*" if c == "*" else "[^.\\[\\]]" if c == "?" else re.escape(c) for c in str(arg)
            )
            out.append(("." if out else "") + seg)
        elif kind == EACH:
            out.append(r"\[\d+\]")
        else:
            out.append(rf"\[{arg}\]")
    return re.compile("".join(out))


def _check_root(path: str, allowed: frozenset[str], what: str) -> tuple[Step, ...]:
    steps = parse_path(path)
    kind, root = steps[0]
    if kind != KEY or root not in allowed:
        raise ValueError(f"{what} path {path!r} must start with one of: {', '.join(sorted(allowed))}")
    return steps


_DROP_ROOTS: Final = ENVELOPE_FIELDS - {"type"}
_UNORDERED_ROOTS: Final = frozenset({"payload", "audience"})
_TOLERANCE_ROOTS: Final = frozenset({"payload"})


class EventRule(BaseModel):
    """One rule: which events it applies to, and what it ignores in them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    context: str = "*"
    event: str = "*"
    drop: tuple[str, ...] = ()
    unordered: tuple[str, ...] = ()
    # A number: absolute tolerance for every number of the event; a mapping: per path.
    tolerance: float | dict[str, float] | None = None
    note: str | None = None

    @field_validator("context", "event")
    @classmethod
    def _pattern(cls, v: str) -> str:
        if not v:
            raise ValueError("must be a non-empty name or fnmatch pattern")
        return v

    @field_validator("drop")
    @classmethod
    def _drop(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            if p == "type" or p.startswith(("type.", "type[")):
                raise ValueError("`type` cannot be dropped: the event types are the sequence")
            _check_root(p, _DROP_ROOTS, "drop")
        return v

    @field_validator("unordered")
    @classmethod
    def _unordered(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            _check_root(p, _UNORDERED_ROOTS, "unordered")
        return v

    @field_validator("tolerance")
    @classmethod
    def _tolerance(cls, v: float | dict[str, float] | None) -> float | dict[str, float] | None:
        values = [v] if isinstance(v, float | int) else list(v.values()) if v else []
        for t in values:
            if not math.isfinite(t) or t < 0:
                raise ValueError(f"a tolerance must be a finite number >= 0, not {t!r}")
        if isinstance(v, dict):
            for p in v:
                _check_root(p, _TOLERANCE_ROOTS, "tolerance")
        return v

    def matches(self, context: str, event_type: str) -> bool:
        return fnmatch.fnmatchcase(context, self.context) and fnmatch.fnmatchcase(event_type, self.event)


class OpNode:
    """A step tree of drop / unordered operations, applied with copy-on-write."""

    __slots__ = ("children", "drop", "unordered")

    def __init__(self) -> None:
        self.children: list[tuple[Step, OpNode]] = []
        self.drop = False
        self.unordered = False

    def child(self, step: Step) -> OpNode:
        for s, node in self.children:
            if s == step:
                return node
        node = OpNode()
        self.children.append((step, node))
        return node


@dataclass(frozen=True, slots=True)
class CompiledEventRules:
    """The merged rules of one (context, event type), ready to apply."""

    tree: OpNode | None
    default_tolerance: float | None
    # Later entries win (reverse file order is searched first).
    path_tolerances: tuple[tuple[re.Pattern[str], float], ...]

    @property
    def has_tolerance(self) -> bool:
        return self.default_tolerance is not None or bool(self.path_tolerances)

    def tolerance_for(self, path: str) -> float | None:
        """The tolerance of a concrete event-relative path (`payload.results[2].total`)."""
        for rx, tol in reversed(self.path_tolerances):
            if rx.fullmatch(path):
                return tol
        return self.default_tolerance


# Only these keys are kept by normalize(); a tree that touches none of them is useless.
_KEPT_ROOTS: Final = frozenset({"payload", "audience"})


def compile_rules(rules: list[EventRule] | tuple[EventRule, ...]) -> CompiledEventRules:
    root = OpNode()
    useful = False
    default_tol: float | None = None
    path_tols: list[tuple[re.Pattern[str], float]] = []
    for rule in rules:
        for p in rule.drop:
            steps = parse_path(p)
            if steps[0][1] not in _KEPT_ROOTS:
                continue
            node = root
            for s in steps:
                node = node.child(s)
            node.drop = True
            useful = True
        for p in rule.unordered:
            node = root
            for s in parse_path(p):
                node = node.child(s)
            node.unordered = True
            useful = True
        if isinstance(rule.tolerance, dict):
            for p, t in rule.tolerance.items():
                path_tols.append((path_regex(parse_path(p)), float(t)))
        elif rule.tolerance is not None:
            default_tol = float(rule.tolerance)
    return CompiledEventRules(root if useful else None, default_tol, tuple(path_tols))


class RulesSpec(BaseModel):
    """The validated content of a rules file (the pydantic model of the YAML/TOML document)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    rules: tuple[EventRule, ...] = Field(default_factory=tuple)

    @model_validator(mode="after")
    def _always_drop_defaults(self) -> RulesSpec:
        if not self.rules or self.rules[0] != _DEFAULT_RULE:
            object.__setattr__(self, "rules", (_DEFAULT_RULE, *self.rules))
        return self


class NormalizationRules:
    """A rules file, compiled lazily and cached per (context, event type).

    A plain object (not the pydantic model itself) so that the per-event lookups on the hot
    path are plain attribute and dict accesses."""

    __slots__ = ("_cache", "_trees", "spec")

    def __init__(self, spec: RulesSpec | None = None) -> None:
        self.spec = spec if spec is not None else RulesSpec()
        self._cache: dict[tuple[str, str], CompiledEventRules] = {}
        # context → event type → drop/unordered tree (None: nothing to do), for normalize().
        self._trees: dict[str, dict[str, OpNode | None]] = {}

    @classmethod
    def from_data(cls, data: Any) -> NormalizationRules:
        """From the parsed document (raises pydantic's ValidationError)."""
        return cls(RulesSpec.model_validate(data))

    @classmethod
    def default(cls) -> NormalizationRules:
        """Only the defaults (DEFAULT_DROP)."""
        return cls()

    @property
    def rules(self) -> tuple[EventRule, ...]:
        return self.spec.rules

    def __repr__(self) -> str:
        return f"NormalizationRules({self.spec!r})"

    def for_event(self, context: str, event_type: str) -> CompiledEventRules:
        key = (context, event_type)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = compile_rules([r for r in self.rules if r.matches(context, event_type)])
            if len(self._cache) >= _MAX_CACHE:  # event types come off the wire: stay bounded
                self._cache.clear()
            self._cache[key] = compiled
        return compiled

    def trees(self, context: str) -> dict[str, OpNode | None]:
        """The (cached) per-event-type trees of one context; filled by `tree()`."""
        trees = self._trees.get(context)
        if trees is None:
            if len(self._trees) >= _MAX_CACHE:
                self._trees.clear()
            trees = self._trees[context] = {}
        return trees

    def tree(self, context: str, event_type: str) -> OpNode | None:
        trees = self.trees(context)
        if event_type not in trees:
            if len(trees) >= _MAX_CACHE:
                trees.clear()
            trees[event_type] = self.for_event(context, event_type).tree
        return trees[event_type]


_DEFAULT_RULE: Final = EventRule(note="built-in defaults", drop=DEFAULT_DROP)


def _format_validation(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ""
        for item in e["loc"]:
            loc += f"[{item}]" if isinstance(item, int) else (f".{item}" if loc else str(item))
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc or '<top>'}: {msg}")
    return "; ".join(parts)


def parse_rules(text: str, *, path: str | os.PathLike[str] = "<string>") -> NormalizationRules:
    """Parse the text of a rules file (TOML when `path` ends in .toml, else YAML)."""
    if not text.strip():
        # An editor truncating the file before writing it must not wipe the rules.
        raise RulesError(path, "the file is empty")
    data: Any
    try:
        data = tomllib.loads(text) if str(path).endswith(".toml") else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(
            path, f"not valid {'TOML' if str(path).endswith('.toml') else 'YAML'}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise RulesError(path, f"the top level must be a mapping, not {type(data).__name__}")
    try:
        return NormalizationRules.from_data(data)
    except ValidationError as exc:
        raise RulesError(path, _format_validation(exc)) from exc


def load_rules(path: str | os.PathLike[str]) -> NormalizationRules:
    """Read and validate a rules file; RulesError (with the file and the reason) if unusable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(path, f"cannot read it: {exc}") from exc
    return parse_rules(text, path=path)


def load_default_rules() -> NormalizationRules:
    return load_rules(DEFAULT_RULES_PATH)


ReloadStatus = Literal["unchanged", "reloaded", "error"]


class RulesFile:
    """A rules file reloaded when it changes (mtime, size or inode), without restart.

    A bad new version is refused: the previous rules stay in force and `last_error` says why.
    The first load raises RulesError (there is nothing to fall back on)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp = self._stat()
        self._rules = load_rules(self.path)
        self.last_error: RulesError | None = None

    @property
    def rules(self) -> NormalizationRules:
        return self._rules

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload_if_changed(self) -> ReloadStatus:
        """Check the file; reload it if it changed. A failed version is not retried until the
        file changes again."""
        stamp = self._stat()
        if stamp == self._stamp:
            return "unchanged"
        self._stamp = stamp
        try:
            if stamp is None:
                raise RulesError(self.path, "cannot read it: the file is gone")
            rules = load_rules(self.path)
        except RulesError as exc:
            self.last_error = exc
            log.warning("%s; keeping the previous rules", exc)
            return "error"
        self._rules = rules
        self.last_error = None
        return "reloaded"
