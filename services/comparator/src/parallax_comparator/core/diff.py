"""Classify a pair of normalized responses and list the differing fields.

Hand-written rather than deepdiff: see docs/comparison.md ("Why not deepdiff") for the numbers.
Equal pairs (the common case) take a C-speed path: `==` plus a type-strict check that `==`
cannot do (`true == 1` in Python, not in JSON); only unequal pairs walk in Python.
"""

from __future__ import annotations

import json
import marshal
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple, get_args

from parallax_contracts.comparisons import ComparisonResult

from parallax_comparator.core.normalize import normalize
from parallax_comparator.core.rules import NormalizationRules

# The results (the pairing's `missing_<impl>` included), as the published comparisons name them;
# in the order the reports list them.
Result = ComparisonResult
RESULTS: Final[tuple[Result, ...]] = get_args(ComparisonResult)
REJECTED: Final = "command_rejected"


class _Absent:
    """A field or element present on one side only (not JSON null)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<absent>"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


class FieldDiff(NamedTuple):
    """One difference. `left` is legacy, `right` domain; ABSENT when one side lacks it."""

    path: str
    left: Any
    right: Any

    def to_dict(self) -> dict[str, Any]:
        """JSON form: an absent side is an absent key (null stays null)."""
        out: dict[str, Any] = {"path": self.path}
        if self.left is not ABSENT:
            out["left"] = self.left
        if self.right is not ABSENT:
            out["right"] = self.right
        return out


class Comparison(NamedTuple):
    """The result of one paired command and its field-level differences (empty for a match)."""

    result: Result
    diffs: list[FieldDiff]

    @property
    def is_match(self) -> bool:
        return self.result == "match"

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result, "diffs": [d.to_dict() for d in self.diffs]}


# Tolerance lookup for one event: event-relative path → absolute tolerance (or None).
ToleranceFn = Callable[[str], float | None]

_dumps = marshal.dumps
# Marshal formats 3+ (the default, and the fastest) also record object identity: interned
# strings, objects referenced twice. Equal values built differently (a parsed document vs
# literals) then differ; format 2 writes values only, so it is the second try.
_VALUES_ONLY: Final = 2
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")


def key_path(path: str, key: Any) -> str:
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, default=str)}]"


def _is_number(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


def _same_bytes(a: Any, b: Any) -> bool:
    """Equal marshal bytes: equal values of equal types (sound; unequal bytes prove nothing,
    e.g. a different key order, so the caller then checks in Python)."""
    try:
        return _dumps(a) == _dumps(b) or _dumps(a, _VALUES_ONLY) == _dumps(b, _VALUES_ONLY)
    except ValueError:  # not plain JSON-like data (a custom Sequence, a datetime, ...)
        return False


def _strict_equal(a: Any, b: Any) -> bool:
    """`a == b` already holds; check what `==` conflates: bool vs number (1 vs 1.0 is equal)."""
    ta = type(a)
    tb = type(b)
    if ta is dict:
        if tb is not dict:
            return False
        return all(_strict_equal(v, b[k]) for k, v in a.items())
    if ta is list:
        if tb is not list:
            return False
        return all(_strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if ta is bool or tb is bool:
        return ta is tb
    return True


def diff_values(
    left: Any,
    right: Any,
    path: str = "",
    out: list[FieldDiff] | None = None,
    tolerance: ToleranceFn | None = None,
    strip: int = 0,
) -> list[FieldDiff]:
    """All differences between two JSON values, as paths from `path`.

    `tolerance(path[strip:])` gives the numeric tolerance of a concrete path."""
    if out is None:
        out = []
    _diff(left, right, path, out, tolerance, strip)
    return out


def _diff(a: Any, b: Any, path: str, out: list[FieldDiff], tol: ToleranceFn | None, strip: int) -> None:
    if a is b:
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for k, v in a.items():
            p = key_path(path, k)
            if k in b:
                _diff(v, b[k], p, out, tol, strip)
            else:
                out.append(FieldDiff(p, v, ABSENT))
        for k, v in b.items():
            if k not in a:
                out.append(FieldDiff(key_path(path, k), ABSENT, v))
        return
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        n = min(len(a), len(b))
        for i in range(n):
            _diff(a[i], b[i], f"{path}[{i}]", out, tol, strip)
        for i in range(n, len(a)):
            out.append(FieldDiff(f"{path}[{i}]", a[i], ABSENT))
        for i in range(n, len(b)):
            out.append(FieldDiff(f"{path}[{i}]", ABSENT, b[i]))
        return
    if _is_number(a) and _is_number(b):
        if a == b or (a != a and b != b):  # equal, or both NaN
            return
        if tol is not None:
            t = tol(path[strip:])
            if t is not None and math.isfinite(a) and math.isfinite(b) and abs(a - b) <= t:
                return
        out.append(FieldDiff(path, a, b))
        return
    if type(a) is type(b) and a == b:
        return
    out.append(FieldDiff(path, a, b))


def _rejection_code(event: Mapping[str, Any]) -> Any:
    payload = event.get("payload")
    return payload.get("code", ABSENT) if isinstance(payload, Mapping) else ABSENT


def rejection_codes(response: Sequence[Mapping[str, Any]]) -> tuple[Any, ...] | None:
    """The codes of a response's `command_rejected` events, or None if it was not rejected."""
    codes = tuple(_rejection_code(e) for e in response if e.get("type") == REJECTED)
    return codes or None


def _positional_diffs(
    left: Sequence[Mapping[str, Any]],
    right: Sequence[Mapping[str, Any]],
    context: str,
    rules: NormalizationRules | None,
) -> list[FieldDiff]:
    """Event by event: extra events as `[i]`, different types as `[i].type`, and for events of
    the same type at the same position, their field differences."""
    out: list[FieldDiff] = []
    n = min(len(left), len(right))
    for i in range(n):
        le, re_ = left[i], right[i]
        prefix = f"[{i}]"
        lt, rt = le.get("type"), re_.get("type")
        if lt != rt:
            out.append(FieldDiff(prefix + ".type", lt, rt))
            continue
        tol: ToleranceFn | None = None
        if rules is not None and isinstance(lt, str):
            compiled = rules.for_event(context, lt)
            if compiled.has_tolerance:
                tol = compiled.tolerance_for
        _diff(le, re_, prefix, out, tol, len(prefix) + 1)
    for i in range(n, len(left)):
        out.append(FieldDiff(f"[{i}]", left[i], ABSENT))
    for i in range(n, len(right)):
        out.append(FieldDiff(f"[{i}]", ABSENT, right[i]))
    return out


def classify(
    left: Sequence[Mapping[str, Any]],
    right: Sequence[Mapping[str, Any]],
    *,
    context: str = "",
    rules: NormalizationRules | None = None,
) -> Comparison:
    """Classify a normalized legacy response (`left`) against a normalized domain response.

    Precedence: rejection_mismatch > sequence_mismatch > payload_mismatch > match. `rules`
    (with `context`) only supplies numeric tolerances; normalization is done before."""
    # Fast path, C speed: `==` conflates true/1 (and 1/1.0); equal marshal bytes mean equal
    # types and values too. Different bytes (key order, object sharing) → the Python check.
    if left == right:
        if _same_bytes(left, right) or _strict_equal(list(left), list(right)):
            return Comparison("match", [])
        diffs = _positional_diffs(left, right, context, rules)  # a bool where a number was
        return Comparison("payload_mismatch", diffs) if diffs else Comparison("match", [])
    ltypes = [e.get("type") for e in left]
    rtypes = [e.get("type") for e in right]
    if (REJECTED in ltypes or REJECTED in rtypes) and rejection_codes(left) != rejection_codes(right):
        return Comparison("rejection_mismatch", _positional_diffs(left, right, context, rules))
    if ltypes != rtypes:
        return Comparison("sequence_mismatch", _positional_diffs(left, right, context, rules))
    diffs = _positional_diffs(left, right, context, rules)
    return Comparison("payload_mismatch", diffs) if diffs else Comparison("match", [])


def compare(
    legacy: Sequence[Mapping[str, Any]],
    domain: Sequence[Mapping[str, Any]],
    context: str,
    rules: NormalizationRules,
) -> tuple[Comparison, list[dict[str, Any]], list[dict[str, Any]]]:
    """Normalize both raw responses and classify them: (comparison, normalized legacy,
    normalized domain), the latter two being what a comparison record keeps."""
    left = normalize(legacy, context, rules)
    right = normalize(domain, context, rules)
    return classify(left, right, context=context, rules=rules), left, right
