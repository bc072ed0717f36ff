"""Ignore rules: the model, wildcards, loading, refusal of bad files, live reload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from parallax_comparator.core import (
    DEFAULT_DROP,
    DEFAULT_RULES_PATH,
    NormalizationRules,
    RulesError,
    RulesFile,
    load_default_rules,
    load_rules,
    parse_rules,
)
from parallax_comparator.core.rules import EACH, GLOB, INDEX, KEY, parse_path

GOOD = """
version: 1
rules:
  - context: game
    event: "hand_*"
    unordered: [payload.hand]
  - context: "*"
    event: room_state
    drop: ["payload.players[].connected"]
    tolerance: 0.5
"""


def write(path: Path, text: str) -> None:
    path.write_text(text)
    # make sure the change is visible even on coarse mtime clocks
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_parse_path_steps() -> None:
    assert parse_path("payload.players[].name") == (
        (KEY, "payload"),
        (KEY, "players"),
        (EACH, ""),
        (KEY, "name"),
    )
    assert parse_path("payload.hand[*]")[-1] == (EACH, "")
    assert parse_path("payload.plays[2].pieces[0]")[2] == (INDEX, 2)
    assert parse_path("payload.*_at")[1] == (GLOB, "*_at")
    for bad in ["", "payload..x", "payload.[0]", "payload.x[a]", "payload.x]"]:
        with pytest.raises(ValueError):
            parse_path(bad)


def test_defaults_are_always_dropped_even_if_the_file_omits_them() -> None:
    rules = parse_rules("rules: []")
    first = rules.rules[0]
    assert first.drop == DEFAULT_DROP
    assert set(DEFAULT_DROP) == {"emitted_at", "handler_ms", "impl", "role"}
    assert NormalizationRules.default().rules[0].drop == DEFAULT_DROP


def test_wildcards_select_rules_per_context_and_event_type() -> None:
    rules = parse_rules(GOOD)
    hand = rules.for_event("game", "hand_dealt")
    assert hand.tree is not None and hand.default_tolerance is None
    assert rules.for_event("campaign", "hand_dealt").tree is None  # context does not match
    state = rules.for_event("campaign", "room_state")
    assert state.tree is not None and state.default_tolerance == 0.5
    assert rules.for_event("game", "declared").tree is None
    # compiled once, cached
    assert rules.for_event("game", "hand_dealt") is hand


def test_later_tolerance_overrides_earlier() -> None:
    rules = parse_rules(
        """
rules:
  - {event: "*", tolerance: {payload.total: 1}}
  - {event: round_scored, tolerance: {payload.total: 0.1, "payload.results[].delta": 2}}
"""
    )
    c = rules.for_event("game", "round_scored")
    assert c.tolerance_for("payload.total") == 0.1
    assert c.tolerance_for("payload.results[3].delta") == 2
    assert c.tolerance_for("payload.results[3].base") is None
    assert rules.for_event("game", "x").tolerance_for("payload.total") == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("rules: [\n  - {event: x, drop: [", "not valid YAML"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("", "the file is empty"),
        ("rules:\n  - {event: x, dorp: [payload.a]}\n", "rules[0].dorp: Extra inputs"),
        ("rules:\n  - {event: x, drop: [payload..a]}\n", "rules[0].drop: bad path"),
        ("rules:\n  - {event: x, drop: [type]}\n", "`type` cannot be dropped"),
        ("rules:\n  - {event: x, drop: [hand]}\n", "must start with one of"),
        ("rules:\n  - {event: x, unordered: [emitted_at]}\n", "unordered path"),
        ("rules:\n  - {event: x, tolerance: -1}\n", "finite number >= 0"),
        ("rules:\n  - {event: x, tolerance: {audience: 1}}\n", "tolerance path"),
        ("version: 2\n", "version"),
    ],
)
def test_bad_files_are_refused_with_file_and_reason(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert info.value.path == str(path)
    assert reason in info.value.reason
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read it"):
        load_rules(tmp_path / "nope.yaml")


def test_toml_by_suffix(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('version = 1\n[[rules]]\ncontext = "game"\nevent = "*"\nunordered = ["audience"]\n')
    rules = load_rules(path)
    assert rules.rules[1].unordered == ("audience",)


def test_shipped_default_rules_load() -> None:
    rules = load_default_rules()
    assert DEFAULT_RULES_PATH.exists()
    assert rules.for_event("campaign", "progress_recorded").tolerance_for("payload.percent")


def test_rules_file_reloads_on_change_and_keeps_old_rules_on_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    write(path, GOOD)
    rf = RulesFile(path)
    first = rf.rules
    assert rf.reload_if_changed() == "unchanged"
    assert rf.rules is first

    write(path, "rules:\n  - {event: declared, drop: [payload.auto]}\n")
    assert rf.reload_if_changed() == "reloaded"
    second = rf.rules
    assert second is not first and second.for_event("game", "declared").tree is not None

    write(path, "rules:\n  - {event: declared, drop: [payload..auto]}\n")
    assert rf.reload_if_changed() == "error"
    assert rf.rules is second  # kept
    assert rf.last_error is not None and "bad path" in rf.last_error.reason
    assert rf.reload_if_changed() == "unchanged"  # the same bad version is not retried

    write(path, "")  # an editor truncating the file mid-save
    assert rf.reload_if_changed() == "error"
    assert rf.rules is second

    path.unlink()
    assert rf.reload_if_changed() == "error"
    assert rf.rules is second

    write(path, GOOD)
    assert rf.reload_if_changed() == "reloaded"
    assert rf.last_error is None


def test_rules_file_refuses_a_bad_file_at_start(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules: 3\n")
    with pytest.raises(RulesError):
        RulesFile(path)
