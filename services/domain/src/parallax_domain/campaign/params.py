"""Campaign parameters: one immutable value object per kind, validated from a JSON object.

Unknown fields, missing required fields, nulls and wrong JSON types are all `invalid_input`;
optional fields get their defaults, which are part of the value (and of the events).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, TypeGuard

from parallax_contracts.ids import is_campaign_id

from parallax_domain.campaign.values import Kind, invalid_input, is_text

PatternType = Literal["prefix", "suffix", "both"]
PATTERN_TYPES: Final[tuple[PatternType, ...]] = ("prefix", "suffix", "both")

_CHARSET_RE: Final = re.compile(r"[a-z0-9-]{1,64}")
_CONSTANT_RE: Final = re.compile(r"[a-z0-9-]{1,63}")
_TLD_RE: Final = re.compile(r"\.[a-z]{2,24}")

DEFAULT_NUM_DOMAINS: Final = 0
DEFAULT_BATCH_SIZE: Final = 50
DEFAULT_RETRY_ATTEMPTS: Final = 1
DEFAULT_ROTATION_INTERVAL_SECONDS: Final = 0
DEFAULT_TARGET_PORTS: Final[tuple[int, ...]] = (80, 443)


@dataclass(frozen=True)
class CampaignFacts:
    """What a campaign's params may require of another campaign: facts fixed at its creation."""

    kind: Kind
    owner: str


class CampaignDirectory(Protocol):
    """Port through which the value rules learn about *other* campaigns."""

    def facts(self, campaign_id: str) -> CampaignFacts | None:
        """The kind and owner of an existing campaign, or None."""


@dataclass(frozen=True)
class DomainGenerationParams:
    pattern_type: PatternType
    variable_length: int
    character_set: str
    constant_string: str
    tld: str
    num_domains: int

    @property
    def combinations(self) -> int:
        exponent = self.variable_length * (2 if self.pattern_type == "both" else 1)
        combinations: int = len(self.character_set) ** exponent
        return combinations

    @property
    def target(self) -> int:
        """num_domains, or all combinations when 0; never more than the combinations."""
        combinations = self.combinations
        return min(self.num_domains or combinations, combinations)

    def to_json(self) -> dict[str, Any]:
        return {
            "pattern_type": self.pattern_type,
            "variable_length": self.variable_length,
            "character_set": self.character_set,
            "constant_string": self.constant_string,
            "tld": self.tld,
            "num_domains": self.num_domains,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DomainGenerationParams:
        return cls(
            pattern_type=data["pattern_type"],
            variable_length=data["variable_length"],
            character_set=data["character_set"],
            constant_string=data["constant_string"],
            tld=data["tld"],
            num_domains=data["num_domains"],
        )


@dataclass(frozen=True)
class DnsValidationParams:
    source_campaign_id: str
    resolvers: tuple[str, ...]
    batch_size: int
    retry_attempts: int
    rotation_interval_seconds: int

    def to_json(self) -> dict[str, Any]:
        return {
            "source_campaign_id": self.source_campaign_id,
            "resolvers": list(self.resolvers),
            "batch_size": self.batch_size,
            "retry_attempts": self.retry_attempts,
            "rotation_interval_seconds": self.rotation_interval_seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DnsValidationParams:
        return cls(
            source_campaign_id=data["source_campaign_id"],
            resolvers=tuple(data["resolvers"]),
            batch_size=data["batch_size"],
            retry_attempts=data["retry_attempts"],
            rotation_interval_seconds=data["rotation_interval_seconds"],
        )


@dataclass(frozen=True)
class HttpKeywordValidationParams:
    source_campaign_id: str
    keywords: tuple[str, ...]
    target_ports: tuple[int, ...]
    batch_size: int
    retry_attempts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "source_campaign_id": self.source_campaign_id,
            "keywords": list(self.keywords),
            "target_ports": list(self.target_ports),
            "batch_size": self.batch_size,
            "retry_attempts": self.retry_attempts,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HttpKeywordValidationParams:
        return cls(
            source_campaign_id=data["source_campaign_id"],
            keywords=tuple(data["keywords"]),
            target_ports=tuple(data["target_ports"]),
            batch_size=data["batch_size"],
            retry_attempts=data["retry_attempts"],
        )


CampaignParams = DomainGenerationParams | DnsValidationParams | HttpKeywordValidationParams

# The kind a `source_campaign_id` must point at, per kind of the campaign that names it.
SOURCE_KIND: Final[dict[Kind, Kind]] = {
    "dns_validation": "domain_generation",
    "http_keyword_validation": "dns_validation",
}


def parse_params(kind: Kind, raw: object, *, owner: str, directory: CampaignDirectory) -> CampaignParams:
    """Validate `raw` as the params of a `kind` campaign owned by `owner` (value rules)."""
    if kind == "domain_generation":
        return _domain_generation(_Fields(raw, _DOMAIN_GENERATION_FIELDS))
    if kind == "dns_validation":
        return _dns_validation(_Fields(raw, _DNS_FIELDS), kind, owner, directory)
    return _http_keyword_validation(_Fields(raw, _HTTP_FIELDS), kind, owner, directory)


_DOMAIN_GENERATION_FIELDS: Final = (
    "pattern_type",
    "variable_length",
    "character_set",
    "constant_string",
    "tld",
    "num_domains",
)
_DNS_FIELDS: Final = (
    "source_campaign_id",
    "resolvers",
    "batch_size",
    "retry_attempts",
    "rotation_interval_seconds",
)
_HTTP_FIELDS: Final = (
    "source_campaign_id",
    "keywords",
    "target_ports",
    "batch_size",
    "retry_attempts",
)


def _domain_generation(fields: _Fields) -> DomainGenerationParams:
    pattern_type = fields.string("pattern_type")
    pattern = next((p for p in PATTERN_TYPES if p == pattern_type), None)
    if pattern is None:
        raise invalid_input()
    character_set = fields.string("character_set")
    if not _CHARSET_RE.fullmatch(character_set) or len(set(character_set)) != len(character_set):
        raise invalid_input()
    constant_string = fields.string("constant_string")
    if (
        not _CONSTANT_RE.fullmatch(constant_string)
        or constant_string.startswith("-")
        or constant_string.endswith("-")
    ):
        raise invalid_input()
    tld = fields.string("tld")
    if not _TLD_RE.fullmatch(tld):
        raise invalid_input()
    return DomainGenerationParams(
        pattern_type=pattern,
        variable_length=fields.integer("variable_length", low=1, high=12),
        character_set=character_set,
        constant_string=constant_string,
        tld=tld,
        num_domains=fields.integer("num_domains", low=0, default=DEFAULT_NUM_DOMAINS),
    )


def _dns_validation(
    fields: _Fields, kind: Kind, owner: str, directory: CampaignDirectory
) -> DnsValidationParams:
    resolvers = fields.strings("resolvers", low=1, high=16)
    if not all(_is_ip_address(resolver) for resolver in resolvers):
        raise invalid_input()
    params = DnsValidationParams(
        source_campaign_id=fields.string("source_campaign_id"),
        resolvers=resolvers,
        batch_size=fields.integer("batch_size", low=1, high=10000, default=DEFAULT_BATCH_SIZE),
        retry_attempts=fields.integer("retry_attempts", low=0, high=10, default=DEFAULT_RETRY_ATTEMPTS),
        rotation_interval_seconds=fields.integer(
            "rotation_interval_seconds", low=0, default=DEFAULT_ROTATION_INTERVAL_SECONDS
        ),
    )
    _check_source(params.source_campaign_id, SOURCE_KIND[kind], owner, directory)
    return params


def _http_keyword_validation(
    fields: _Fields, kind: Kind, owner: str, directory: CampaignDirectory
) -> HttpKeywordValidationParams:
    keywords = fields.strings("keywords", low=1, high=50)
    if not all(1 <= len(keyword) <= 100 and is_text(keyword) for keyword in keywords):
        raise invalid_input()
    ports = fields.integers("target_ports", low=1, high=16, default=DEFAULT_TARGET_PORTS)
    if not all(1 <= port <= 65535 for port in ports):
        raise invalid_input()
    params = HttpKeywordValidationParams(
        source_campaign_id=fields.string("source_campaign_id"),
        keywords=keywords,
        target_ports=ports,
        batch_size=fields.integer("batch_size", low=1, high=10000, default=DEFAULT_BATCH_SIZE),
        retry_attempts=fields.integer("retry_attempts", low=0, high=10, default=DEFAULT_RETRY_ATTEMPTS),
    )
    _check_source(params.source_campaign_id, SOURCE_KIND[kind], owner, directory)
    return params


def _check_source(
    source_campaign_id: str, required_kind: Kind, owner: str, directory: CampaignDirectory
) -> None:
    if not is_campaign_id(source_campaign_id):
        raise invalid_input()
    facts = directory.facts(source_campaign_id)
    if facts is None or facts.kind != required_kind or facts.owner != owner:
        raise invalid_input()


def _is_ip_address(text: str) -> bool:
    """Textual IPv4 (the ipaddress module refuses leading zeros) or IPv6 without a zone id."""
    if "%" in text:
        return False
    for parse in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        try:
            parse(text)
        except ValueError:
            continue
        return True
    return False


_MISSING: Final = object()


class _Fields:
    """Typed access to the fields of a params object (JSON types are strict: an integer is a
    JSON integer, never `true` or `5.0`; a field present as null is invalid)."""

    def __init__(self, raw: object, allowed: tuple[str, ...]) -> None:
        if not isinstance(raw, dict) or not set(raw) <= set(allowed):
            raise invalid_input()
        self._raw: dict[str, object] = raw

    def _get(self, name: str, default: object) -> object:
        value = self._raw.get(name, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise invalid_input()
            return default
        return value

    def string(self, name: str) -> str:
        value = self._get(name, _MISSING)
        if not isinstance(value, str):
            raise invalid_input()
        return value

    def integer(self, name: str, *, low: int, high: int | None = None, default: object = _MISSING) -> int:
        value = self._get(name, default)
        if not _is_int(value) or value < low or (high is not None and value > high):
            raise invalid_input()
        return value

    def strings(self, name: str, *, low: int, high: int) -> tuple[str, ...]:
        value = self._get(name, _MISSING)
        if not isinstance(value, list) or not low <= len(value) <= high:
            raise invalid_input()
        if not all(isinstance(item, str) for item in value):
            raise invalid_input()
        return tuple(value)

    def integers(self, name: str, *, low: int, high: int, default: tuple[int, ...]) -> tuple[int, ...]:
        value = self._get(name, list(default))
        if not isinstance(value, list) or not low <= len(value) <= high:
            raise invalid_input()
        items: list[int] = []
        for item in value:
            if not _is_int(item):
                raise invalid_input()
            items.append(item)
        return tuple(items)


def _is_int(value: object) -> TypeGuard[int]:
    return type(value) is int


__all__ = [
    "CampaignDirectory",
    "CampaignFacts",
    "CampaignParams",
    "DnsValidationParams",
    "DomainGenerationParams",
    "HttpKeywordValidationParams",
    "parse_params",
]
