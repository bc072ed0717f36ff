"""Small value objects and value rules of the campaign context (names, reasons, progress).

Everything here is pure: it validates, computes and raises `Rejected`; it never reads a store.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, get_args

Status = Literal["draft", "running", "paused", "completed", "failed", "cancelled", "archived"]
Kind = Literal["domain_generation", "dns_validation", "http_keyword_validation"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)

INVALID_INPUT: Final = "invalid_input"
NOT_FOUND: Final = "not_found"
FORBIDDEN: Final = "forbidden"
INVALID_STATE: Final = "invalid_state"

# The Unicode `White_Space` property (PropList.txt). Deliberately not `str.strip()`, which also
# strips U+001C..U+001F (information separators that Unicode does not call whitespace).
UNICODE_WHITESPACE: Final[str] = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

NAME_MAX: Final = 100
REASON_MAX: Final = 500


class Rejected(Exception):
    """A command is refused with one of the spec's rejection codes."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def invalid_input() -> Rejected:
    return Rejected(INVALID_INPUT)


def is_text(value: str) -> bool:
    """A string of Unicode scalar values (no lone surrogates, which JSON `\\ud800` escapes can
    smuggle in and which cannot be stored as UTF-8)."""
    return not any("\ud800" <= ch <= "\udfff" for ch in value)


def trimmed_text(value: str, max_length: int) -> str:
    """Trimmed of Unicode whitespace, then 1..max_length characters (code points)."""
    if not is_text(value):
        raise invalid_input()
    trimmed = value.strip(UNICODE_WHITESPACE)
    if not 1 <= len(trimmed) <= max_length:
        raise invalid_input()
    return trimmed


def campaign_name(value: str) -> str:
    return trimmed_text(value, NAME_MAX)


def failure_reason(value: str) -> str:
    return trimmed_text(value, REASON_MAX)


def campaign_kind(value: str) -> Kind:
    for kind in KINDS:
        if value == kind:
            return kind
    raise invalid_input()


@dataclass(frozen=True)
class Progress:
    """One `record_progress` report: non-negative counts, succeeded + failed <= processed."""

    processed: int
    succeeded: int
    failed: int

    @classmethod
    def parse(cls, processed: int, succeeded: int, failed: int) -> Progress:
        if min(processed, succeeded, failed) < 0 or succeeded + failed > processed:
            raise invalid_input()
        return cls(processed, succeeded, failed)


@dataclass(frozen=True)
class Totals:
    processed: int = 0
    succeeded: int = 0
    failed: int = 0

    def add(self, progress: Progress) -> Totals:
        return Totals(
            self.processed + progress.processed,
            self.succeeded + progress.succeeded,
            self.failed + progress.failed,
        )

    def to_json(self) -> dict[str, int]:
        return {"processed": self.processed, "succeeded": self.succeeded, "failed": self.failed}


def percent_of(processed: int, target: int) -> Decimal:
    """processed * 100 / target, rounded half up to 2 decimals, computed exactly.

    Integer arithmetic on hundredths of a percent (floor((2*p*10000 + t) / 2t)) gives the exact
    half-up result for any size of target; a Decimal division at the default 28-digit precision
    could round a …4999… quotient up before the final quantization."""
    if target <= 0 or processed < 0:
        raise ValueError("percent needs a positive target and a non-negative count")
    hundredths = (2 * processed * 10000 + target) // (2 * target)
    return Decimal(hundredths).scaleb(-2)
