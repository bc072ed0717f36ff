"""Time arguments of the reports and the replay: `2h`, `30m`, `7d` ago, or an RFC 3339 /
ISO 8601 instant (UTC when it has no offset), or Unix seconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, now: float) -> float:
    """Unix seconds for `text`; raises ValueError with a readable message."""
    value = text.strip()
    m = _RELATIVE.fullmatch(value)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"not a time: {text!r} (use 2h, 30m, 7d, an ISO 8601 instant or Unix seconds)"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_duration(text: str) -> float:
    """Seconds for `90`, `30s`, `10m`, `2h`, `1d`; raises ValueError."""
    value = text.strip()
    m = _RELATIVE.fullmatch(value)
    if m:
        return float(m.group(1)) * _UNITS[m.group(2)]
    try:
        seconds = float(value)
    except ValueError as exc:
        raise ValueError(f"not a duration: {text!r} (use 90, 30s, 10m, 2h, 1d)") from exc
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {text!r}")
    return seconds
