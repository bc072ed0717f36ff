"""Value rules (the last rejection, `invalid_input`): names, fail reasons, params per kind,
progress numbers, and the domain_generation target arithmetic."""

from __future__ import annotations

import ipaddress
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from parallax_contracts.ids import is_campaign_id

from parallax_legacy.campaign.shapes import is_json_int
from parallax_legacy.ports import Lookup

KINDS = ("domain_generation", "dns_validation", "http_keyword_validation")

# The Unicode White_Space property (not Python's str.isspace, which also counts U+001C-U+001F).
UNICODE_WHITESPACE = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
TLD_RE = re.compile(r"\.[a-z]{2,24}")
PATTERN_TYPES = ("prefix", "suffix", "both")


def trim(text: str) -> str:
    return text.strip(UNICODE_WHITESPACE)


def clean_name(raw: str) -> str | None:
    """The stored form of a name, or None when it is not 1-100 characters after trimming."""
    name = trim(raw)
    if 1 <= len(name) <= 100:
        return name
    return None


def clean_reason(raw: str) -> str | None:
    reason = trim(raw)
    if 1 <= len(reason) <= 500:
        return reason
    return None


def _int_in(value: Any, low: int, high: int | None) -> bool:
    if not is_json_int(value):
        return False
    if value < low:
        return False
    return not (high is not None and value > high)


# ---------------------------------------------------------------- params per kind


def clean_params(kind: str, params: dict[str, Any], owner: str, lookup: Lookup) -> dict[str, Any] | None:
    """Params of `kind` with defaults filled in, or None when they break a rule."""
    if kind == "domain_generation":
        return _domain_generation(params)
    if kind == "dns_validation":
        return _dns_validation(params, owner, lookup)
    if kind == "http_keyword_validation":
        return _http_keyword_validation(params, owner, lookup)
    return None


def _only_fields(params: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...]) -> bool:
    for key in params:
        if key not in allowed:
            return False
        if params[key] is None:
            return False
    return all(key in params for key in required)


def _domain_generation(params: dict[str, Any]) -> dict[str, Any] | None:
    allowed = (
        "pattern_type",
        "variable_length",
        "character_set",
        "constant_string",
        "tld",
        "num_domains",
    )
    required = allowed[:5]
    if not _only_fields(params, allowed, required):
        return None

    pattern_type = params["pattern_type"]
    if not isinstance(pattern_type, str) or pattern_type not in PATTERN_TYPES:
        return None

    if not _int_in(params["variable_length"], 1, 12):
        return None

    charset = params["character_set"]
    if not isinstance(charset, str):
        return None
    if len(charset) < 1 or len(charset) > 64:
        return None
    if len(set(charset)) != len(charset):
        return None
    for ch in charset:
        if ch not in DOMAIN_CHARS:
            return None

    constant = params["constant_string"]
    if not isinstance(constant, str):
        return None
    if len(constant) < 1 or len(constant) > 63:
        return None
    for ch in constant:
        if ch not in DOMAIN_CHARS:
            return None
    if constant.startswith("-") or constant.endswith("-"):
        return None

    tld = params["tld"]
    if not isinstance(tld, str) or TLD_RE.fullmatch(tld) is None:
        return None

    num_domains = params.get("num_domains", 0)
    if not _int_in(num_domains, 0, None):
        return None

    return {
        "pattern_type": pattern_type,
        "variable_length": params["variable_length"],
        "character_set": charset,
        "constant_string": constant,
        "tld": tld,
        "num_domains": num_domains,
    }


def _source_ok(source_id: Any, required_kind: str, owner: str, lookup: Lookup) -> bool:
    if not isinstance(source_id, str) or not is_campaign_id(source_id):
        return False
    source = lookup(source_id)
    if source is None:
        return False
    return bool(source.get("kind") == required_kind and source.get("owner") == owner)


def _is_ip_address(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        ipaddress.IPv4Address(text)  # rejects leading zeros
        return True
    except ValueError:
        pass
    if "%" in text:  # no zone ids
        return False
    try:
        ipaddress.IPv6Address(text)
        return True
    except ValueError:
        return False


def _batch_and_retries(params: dict[str, Any]) -> tuple[int, int] | None:
    batch_size = params.get("batch_size", 50)
    if not _int_in(batch_size, 1, 10000):
        return None
    retry_attempts = params.get("retry_attempts", 1)
    if not _int_in(retry_attempts, 0, 10):
        return None
    return batch_size, retry_attempts


def _dns_validation(params: dict[str, Any], owner: str, lookup: Lookup) -> dict[str, Any] | None:
    allowed = (
        "source_campaign_id",
        "resolvers",
        "batch_size",
        "retry_attempts",
        "rotation_interval_seconds",
    )
    if not _only_fields(params, allowed, ("source_campaign_id", "resolvers")):
        return None

    resolvers = params["resolvers"]
    if not isinstance(resolvers, list) or len(resolvers) < 1 or len(resolvers) > 16:
        return None
    for resolver in resolvers:
        if not _is_ip_address(resolver):
            return None

    numbers = _batch_and_retries(params)
    if numbers is None:
        return None
    rotation = params.get("rotation_interval_seconds", 0)
    if not _int_in(rotation, 0, None):
        return None

    if not _source_ok(params["source_campaign_id"], "domain_generation", owner, lookup):
        return None

    return {
        "source_campaign_id": params["source_campaign_id"],
        "resolvers": list(resolvers),
        "batch_size": numbers[0],
        "retry_attempts": numbers[1],
        "rotation_interval_seconds": rotation,
    }


def _http_keyword_validation(params: dict[str, Any], owner: str, lookup: Lookup) -> dict[str, Any] | None:
    allowed = ("source_campaign_id", "keywords", "target_ports", "batch_size", "retry_attempts")
    if not _only_fields(params, allowed, ("source_campaign_id", "keywords")):
        return None

    keywords = params["keywords"]
    if not isinstance(keywords, list) or len(keywords) < 1 or len(keywords) > 50:
        return None
    for keyword in keywords:
        if not isinstance(keyword, str) or len(keyword) < 1 or len(keyword) > 100:
            return None

    ports = params.get("target_ports", [80, 443])
    if not isinstance(ports, list) or len(ports) < 1 or len(ports) > 16:
        return None
    for port in ports:
        if not _int_in(port, 1, 65535):
            return None

    numbers = _batch_and_retries(params)
    if numbers is None:
        return None

    if not _source_ok(params["source_campaign_id"], "dns_validation", owner, lookup):
        return None

    return {
        "source_campaign_id": params["source_campaign_id"],
        "keywords": list(keywords),
        "target_ports": list(ports),
        "batch_size": numbers[0],
        "retry_attempts": numbers[1],
    }


# ---------------------------------------------------------------- target and percent


def target_of(doc: dict[str, Any]) -> int | None:
    """The number of domains a domain_generation campaign aims for; None for other kinds."""
    if doc["kind"] != "domain_generation":
        return None
    return target_for_params(doc["params"])


def target_for_params(params: dict[str, Any]) -> int:
    exponent = params["variable_length"]
    if params["pattern_type"] == "both":
        exponent = exponent * 2
    combinations: int = len(params["character_set"]) ** exponent
    num_domains: int = params["num_domains"]
    if num_domains == 0:
        return combinations
    if num_domains > combinations:
        return combinations
    return num_domains


def percent_of(doc: dict[str, Any]) -> float | None:
    """processed total x 100 / target, rounded half up to 2 decimals; None for other kinds."""
    target = target_of(doc)
    if target is None:
        return None
    processed = doc["totals"]["processed"]
    # Exact rational arithmetic in Decimal: scale to hundredths of a percent, round half up.
    # Targets can be far larger than any Decimal precision, so work on integers first.
    hundredths, remainder = divmod(processed * 100 * 100, target)
    value = Decimal(hundredths)
    if remainder * 2 >= target:
        value += 1
    rounded = (value / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return float(rounded)
