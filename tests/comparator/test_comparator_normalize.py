"""Normalization: projection, order by seq, drops, unordered arrays, wildcards, no mutation."""

from __future__ import annotations

import copy
from typing import Any

from parallax_comparator.core import normalize, parse_rules


def ev(seq: int, type_: str, payload: dict[str, Any], audience: list[str] | None = None) -> dict[str, Any]:
    return {
        "command_id": "c1",
        "impl": "legacy",
        "role": "primary",
        "context": "game",
        "aggregate_id": "3FA9C1",
        "seq": seq,
        "count": 2,
        "type": type_,
        "payload": payload,
        "audience": audience if audience is not None else ["u-1", "u-2"],
        "emitted_at": "2025-01-01T00:00:00Z",
        "handler_ms": 0.3,
    }


def test_keeps_type_payload_audience_and_sorts_by_seq() -> None:
    rules = parse_rules("rules: []")
    out = normalize([ev(1, "b", {"x": 2}), ev(0, "a", {"x": 1})], "game", rules)
    assert out == [
        {"type": "a", "payload": {"x": 1}, "audience": ["u-1", "u-2"]},
        {"type": "b", "payload": {"x": 2}, "audience": ["u-1", "u-2"]},
    ]


def test_drops_nested_array_and_wildcard_paths_without_mutating_input() -> None:
    rules = parse_rules(
        """
rules:
  - context: game
    event: room_state
    drop:
      - payload.players[].connected
      - "payload.*_at"
      - payload.hand[0]
      - payload.meta.token
"""
    )
    payload = {
        "players": [{"seat": 0, "connected": True}, {"seat": 1, "connected": False}],
        "created_at": "t1",
        "updated_at": "t2",
        "hand": ["A", "B", "C"],
        "meta": {"token": "xyz", "keep": 1},
        "round": 2,
    }
    raw = [ev(0, "room_state", payload)]
    before = copy.deepcopy(raw)
    [out] = normalize(raw, "game", rules)
    assert out["payload"] == {
        "players": [{"seat": 0}, {"seat": 1}],
        "hand": ["B", "C"],
        "meta": {"keep": 1},
        "round": 2,
    }
    assert raw == before
    # other contexts and event types are untouched
    [other] = normalize(raw, "campaign", rules)
    assert other["payload"] == payload
    [other] = normalize([ev(0, "room_closed", payload)], "game", rules)
    assert other["payload"] == payload


def test_unordered_arrays_are_sorted_canonically() -> None:
    rules = parse_rules(
        """
rules:
  - event: "*"
    unordered: [audience, payload.hand, "payload.plays[].pieces", payload.mixed]
"""
    )
    a = normalize(
        [
            ev(
                0,
                "t",
                {
                    "hand": ["C", "A", "B"],
                    "plays": [{"pieces": ["Z", "Y"]}, {"pieces": ["B", "A"]}],
                    "mixed": [{"b": 1}, "x", 3, None, True, {"a": 2}],
                },
                ["u-2", "u-1"],
            )
        ],
        "game",
        rules,
    )
    b = normalize(
        [
            ev(
                0,
                "t",
                {
                    "hand": ["B", "C", "A"],
                    "plays": [{"pieces": ["Y", "Z"]}, {"pieces": ["A", "B"]}],
                    "mixed": [True, None, {"a": 2}, 3, "x", {"b": 1}],
                },
                ["u-1", "u-2"],
            )
        ],
        "game",
        rules,
    )
    assert a == b
    assert a[0]["payload"]["hand"] == ["A", "B", "C"]
    assert a[0]["audience"] == ["u-1", "u-2"]
    # the order of the plays themselves still matters
    assert a[0]["payload"]["plays"] == [{"pieces": ["Y", "Z"]}, {"pieces": ["A", "B"]}]


def test_drop_audience_and_default_fields() -> None:
    rules = parse_rules("rules:\n  - {event: x, drop: [audience, command_id]}\n")
    [out] = normalize([ev(0, "x", {})], "game", rules)
    assert out == {"type": "x", "payload": {}}
