"""Config validation, defaults, serialization and the audit diff (rollout.md, "Exact behaviour" 2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from parallax_rollout import (
    InvalidConfig,
    RolloutConfig,
    config_diff,
    default_config,
    dump_config,
    parse_config,
)
from pydantic import ValidationError
from rollout_helpers import make_config

BASE = {"mode": "canary", "domain_percent": 25, "shadow": True, "kill_switch": False}


def raw(**changes: Any) -> bytes:
    data = {**BASE, **changes}
    return json.dumps(data).encode()


def raw_text(text: str) -> bytes:
    return text.encode()


def test_minimal_config_and_defaults() -> None:
    config = parse_config(raw())
    assert config.mode == "canary"
    assert config.domain_percent == Decimal(25)
    assert config.shadow is True and config.kill_switch is False
    for name in ("allow_users", "allow_aggregates", "allow_prefixes"):
        assert getattr(config, name) == ()
    for name in ("deny_users", "deny_aggregates", "deny_prefixes"):
        assert getattr(config, name) == ()
    assert config.updated_at is None and config.updated_by is None and config.reason is None


def test_full_config() -> None:
    config = parse_config(
        raw(
            allow_users=["u-1"],
            allow_aggregates=["ABCDEF"],
            allow_prefixes=["AB"],
            deny_users=["u-2"],
            deny_aggregates=["123456"],
            deny_prefixes=["12"],
            updated_at="2025-05-01T12:00:00Z",
            updated_by="alice",
            reason="step 25 %",
        )
    )
    assert config.updated_at == datetime(2025, 5, 1, 12, tzinfo=UTC)
    assert config.allow.users == frozenset({"u-1"})
    assert config.deny.prefixes == frozenset({"12"})


@pytest.mark.parametrize(
    ("percent_json", "expected"),
    [
        ("0", Decimal(0)),
        ("100", Decimal(100)),
        ("0.01", Decimal("0.01")),
        ("12.34", Decimal("12.34")),
        ("12.340", Decimal("12.34")),  # the value has two decimals
        ("99.99", Decimal("99.99")),
        ("1e1", Decimal(10)),
        ("100.0", Decimal(100)),
    ],
)
def test_valid_percentages_are_exact(percent_json: str, expected: Decimal) -> None:
    text = '{"mode": "canary", "domain_percent": ' + percent_json + ', "shadow": false, "kill_switch": false}'
    config = parse_config(text.encode())
    assert config.domain_percent == expected
    assert isinstance(config.domain_percent, Decimal)


INVALID: list[tuple[str, bytes]] = [
    ("12.345", raw(domain_percent=0).replace(b'"domain_percent": 0', b'"domain_percent": 12.345')),
    ("string percent", raw(domain_percent="25")),
    ("boolean percent", raw(domain_percent=True)),
    ("null percent", raw(domain_percent=None)),
    ("negative", raw(domain_percent=-1)),
    ("over 100", raw(domain_percent=100.01)),
    ("way over", raw(domain_percent=1000)),
    ("NaN", raw(domain_percent=0).replace(b'"domain_percent": 0', b'"domain_percent": NaN')),
    (
        "Infinity",
        raw(domain_percent=0).replace(b'"domain_percent": 0', b'"domain_percent": Infinity'),
    ),
    ("unknown mode", raw(mode="shadow")),
    ("mode case", raw(mode="Canary")),
    ("mode not text", raw(mode=1)),
    ("shadow 1", raw(shadow=1)),
    ("shadow text", raw(shadow="true")),
    ("kill switch null", raw(kill_switch=None)),
    ("unknown field", raw(percent=25)),
    ("list not a list", raw(allow_users="u-1")),
    ("list of numbers", raw(deny_aggregates=[1, 2])),
    ("updated_at number", raw(updated_at=1714564800)),
    ("updated_at naive", raw(updated_at="2025-05-01T12:00:00")),
    ("updated_by number", raw(updated_by=7)),
    ("missing mode", json.dumps({k: v for k, v in BASE.items() if k != "mode"}).encode()),
    ("missing percent", json.dumps({k: v for k, v in BASE.items() if k != "domain_percent"}).encode()),
    ("missing shadow", json.dumps({k: v for k, v in BASE.items() if k != "shadow"}).encode()),
    ("missing kill", json.dumps({k: v for k, v in BASE.items() if k != "kill_switch"}).encode()),
    (
        "duplicate key",
        raw_text(
            '{"mode": "canary", "mode": "legacy", "domain_percent": 1, "shadow": false, "kill_switch": false}'
        ),
    ),
    ("not json", b"mode=canary"),
    ("truncated json", raw()[:-1]),
    ("empty", b""),
    ("not utf-8", b'{"mode": "\xff"}'),
    ("array", b"[]"),
    ("string", b'"canary"'),
    ("null", b"null"),
]


@pytest.mark.parametrize(("case", "payload"), INVALID, ids=[c for c, _ in INVALID])
def test_invalid_configs_are_refused(case: str, payload: bytes) -> None:
    with pytest.raises(InvalidConfig) as info:
        parse_config(payload)
    assert str(info.value).startswith("invalid rollout config: ")
    assert info.value.problems


def test_refusal_messages_name_the_problem() -> None:
    with pytest.raises(InvalidConfig, match="at most two decimals"):
        parse_config(b'{"mode": "canary", "domain_percent": 12.345, "shadow": false, "kill_switch": false}')
    with pytest.raises(InvalidConfig, match="domain_percent: must be a JSON number"):
        parse_config(raw(domain_percent="25"))
    with pytest.raises(InvalidConfig, match="must be a JSON number, not a boolean"):
        parse_config(raw(domain_percent=True))
    with pytest.raises(InvalidConfig, match="frobnicate: unknown field"):
        parse_config(raw(frobnicate=1))
    with pytest.raises(InvalidConfig, match="unknown mode 'beta'"):
        parse_config(raw(mode="beta"))
    with pytest.raises(InvalidConfig, match="between 0 and 100"):
        parse_config(raw(domain_percent=101))
    with pytest.raises(InvalidConfig, match="not valid JSON"):
        parse_config(b"{nope")


def test_python_construction_applies_the_same_rules() -> None:
    with pytest.raises(InvalidConfig):
        make_config(domain_percent=12.345)
    with pytest.raises(InvalidConfig):
        make_config(domain_percent="25")
    assert make_config(domain_percent=12.5).domain_percent == Decimal("12.5")


def test_config_is_immutable_and_model_copy_revalidates() -> None:
    config = make_config(deny_users=["u-1"])
    with pytest.raises(ValidationError, match="frozen"):
        config.mode = "domain"
    changed = config.model_copy(update={"deny_users": ["u-2"]})
    assert changed.deny.users == frozenset({"u-2"})
    assert config.deny.users == frozenset({"u-1"})
    with pytest.raises(InvalidConfig):
        config.model_copy(update={"domain_percent": Decimal("1.001")})


@pytest.mark.parametrize(
    "config",
    [
        make_config(),
        make_config(domain_percent=Decimal("12.34"), shadow=True, allow_prefixes=["AB"]),
        make_config(
            mode="domain",
            domain_percent=100,
            kill_switch=True,
            updated_at="2025-05-01T12:00:00+02:00",
            updated_by="guard",
            reason="mismatch rate 3 %",
        ),
    ],
)
def test_dump_round_trips_with_a_json_number(config: RolloutConfig) -> None:
    data = dump_config(config)
    assert isinstance(json.loads(data)["domain_percent"], int | float)
    assert parse_config(data) == config


def test_dump_keeps_two_decimals_exact() -> None:
    for cents in range(0, 10_001):
        percent = Decimal(cents) / 100
        config = make_config(domain_percent=percent)
        assert parse_config(dump_config(config)).domain_percent == percent


def test_lists_of_ten_thousand_entries() -> None:
    users = [f"user-{i}" for i in range(20_000)]
    prefixes = [f"{i:04X}" for i in range(12_000)]
    config = parse_config(raw(deny_users=users, allow_prefixes=prefixes))
    assert len(config.deny.users) == 20_000
    assert config.allow.prefix_lengths == (4,)
    assert config.allow.match("0ABCFF", None) == "prefixes"
    assert config.deny.match("ZZZZZZ", "user-19999") == "users"


def test_prefix_match_is_case_sensitive_and_startswith() -> None:
    config = make_config(allow_prefixes=["ab", "XYZ12"])
    assert config.allow.match("abcdef", None) == "prefixes"
    assert config.allow.match("ABCDEF", None) is None
    assert config.allow.match("XYZ123", None) == "prefixes"
    assert config.allow.match("XYZ1", None) is None  # shorter than the prefix
    assert config.allow.match("0ab", None) is None
    assert config.allow.match("XYZ12", None) == "prefixes"  # equal counts as starts-with


class TestDefaults:
    def test_domain_disabled_means_legacy(self) -> None:
        config = default_config(domain_percent=30, domain_enabled=False, shadow=False)
        assert config.mode == "legacy"
        assert config.domain_percent == 30
        assert config.kill_switch is False

    def test_domain_enabled_means_canary_at_the_percentage(self) -> None:
        config = default_config(domain_percent="12.5", domain_enabled=True, shadow=True)
        assert config.mode == "canary"
        assert config.domain_percent == Decimal("12.5")
        assert config.shadow is True

    def test_shadow_is_independent(self) -> None:
        assert default_config(0, False, True).shadow is True

    @pytest.mark.parametrize("bad", ["abc", "101", "12.345", "-1"])
    def test_bad_percentage_is_refused(self, bad: str) -> None:
        with pytest.raises(InvalidConfig):
            default_config(bad, True, False)


class TestDiff:
    def test_no_change(self) -> None:
        config = make_config(allow_users=["a"])
        assert config_diff(config, make_config(allow_users=["a"])) == {}

    def test_scalars_and_lists(self) -> None:
        old = make_config(domain_percent=Decimal("5"), allow_users=["a", "b"])
        new = make_config(
            domain_percent=Decimal("10.5"),
            kill_switch=True,
            allow_users=["b", "c"],
            reason="step",
        )
        assert config_diff(old, new) == {
            "domain_percent": {"old": 5, "new": 10.5},
            "kill_switch": {"old": False, "new": True},
            "allow_users": {"added": ["c"], "removed": ["a"]},
            "reason": {"old": None, "new": "step"},
        }

    def test_from_nothing_reports_every_scalar(self) -> None:
        diff = config_diff(None, make_config(deny_prefixes=["AB"]))
        assert diff["mode"] == {"old": None, "new": "canary"}
        assert diff["deny_prefixes"] == {"added": ["AB"], "removed": []}
        assert "allow_users" not in diff

    def test_diff_is_json_serialisable(self) -> None:
        old = make_config()
        new = make_config(updated_at="2025-05-01T12:00:00Z", domain_percent=Decimal("0.01"))
        text = json.dumps(config_diff(old, new))
        assert '"2025-05-01T12:00:00Z"' in text
