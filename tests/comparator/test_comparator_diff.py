"""Classification and field diffs: every result class, paths, tolerance, precedence."""

from __future__ import annotations

from typing import Any

import pytest
from parallax_comparator.core import (
    ABSENT,
    Comparison,
    FieldDiff,
    classify,
    compare,
    diff_values,
    parse_rules,
)


def e(type_: str, payload: dict[str, Any] | None = None, audience: list[str] | None = None) -> dict[str, Any]:
    return {"type": type_, "payload": payload or {}, "audience": audience or ["u-1"]}


def rejected(code: str, command_type: str = "play") -> dict[str, Any]:
    return e("command_rejected", {"code": code, "command_type": command_type})


def test_match() -> None:
    left = [e("pieces_played", {"pieces": ["A"], "value": 3}), e("turn_started", {"turn": 2})]
    right = [e("pieces_played", {"value": 3, "pieces": ["A"]}), e("turn_started", {"turn": 2})]
    assert classify(left, right) == Comparison("match", [])


def test_payload_mismatch_with_paths() -> None:
    left = [e("a"), e("b"), e("hand_dealt", {"hand": ["A", "B"], "round": 1, "gone": 1})]
    right = [e("a"), e("b"), e("hand_dealt", {"hand": ["X", "B", "C"], "round": 1, "new": None})]
    c = classify(left, right)
    assert c.result == "payload_mismatch"
    assert c.diffs == [
        FieldDiff("[2].payload.hand[0]", "A", "X"),
        FieldDiff("[2].payload.hand[2]", ABSENT, "C"),
        FieldDiff("[2].payload.gone", 1, ABSENT),
        FieldDiff("[2].payload.new", ABSENT, None),
    ]
    assert c.diffs[1].to_dict() == {"path": "[2].payload.hand[2]", "right": "C"}
    assert c.diffs[3].to_dict() == {"path": "[2].payload.new", "right": None}


def test_audience_differences_are_payload_mismatches() -> None:
    c = classify([e("x", audience=["u-1", "u-2"])], [e("x", audience=["u-2", "u-1"])])
    assert c.result == "payload_mismatch"
    assert [d.path for d in c.diffs] == ["[0].audience[0]", "[0].audience[1]"]


def test_bool_is_not_a_number_but_int_and_float_are_equal() -> None:
    c = classify([e("declared", {"auto": False})], [e("declared", {"auto": 0})])
    assert c.result == "payload_mismatch"
    assert c.diffs == [FieldDiff("[0].payload.auto", False, 0)]
    assert classify([e("x", {"v": 2})], [e("x", {"v": 2.0})]).result == "match"
    # strictness also holds when the key order differs (the slow equal path)
    left = [e("x", {"a": 1, "b": True})]
    right = [e("x", {"b": 1, "a": 1})]
    assert classify(left, right).diffs == [FieldDiff("[0].payload.b", True, 1)]


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ([e("a"), e("b")], [e("a")]),  # count
        ([e("a"), e("b")], [e("b"), e("a")]),  # order
        ([e("a")], [e("c")]),  # type
    ],
)
def test_sequence_mismatch(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> None:
    assert classify(left, right).result == "sequence_mismatch"


def test_sequence_mismatch_diffs_are_positional() -> None:
    left = [e("a", {"v": 1}), e("b"), e("c")]
    right = [e("a", {"v": 2}), e("x")]
    c = classify(left, right)
    assert c.result == "sequence_mismatch"
    assert c.diffs == [
        FieldDiff("[0].payload.v", 1, 2),
        FieldDiff("[1].type", "b", "x"),
        FieldDiff("[2]", left[2], ABSENT),
    ]


def test_rejection_mismatch_one_side_rejected() -> None:
    c = classify([rejected("not_your_turn")], [e("pieces_played")])
    assert c.result == "rejection_mismatch"
    assert c.diffs == [FieldDiff("[0].type", "command_rejected", "pieces_played")]
    # and the other way round, with more events on the accepting side (would also be a
    # sequence mismatch: rejection wins)
    assert classify([e("a"), e("b")], [rejected("forbidden")]).result == "rejection_mismatch"


def test_rejection_mismatch_other_code() -> None:
    c = classify([rejected("not_found")], [rejected("forbidden")])
    assert c.result == "rejection_mismatch"
    assert c.diffs == [FieldDiff("[0].payload.code", "not_found", "forbidden")]


def test_same_rejection_is_a_match_and_other_fields_are_payload_mismatches() -> None:
    assert classify([rejected("invalid_state")], [rejected("invalid_state")]).result == "match"
    c = classify([rejected("invalid_state", "play")], [rejected("invalid_state", "declare")])
    assert c.result == "payload_mismatch"
    assert c.diffs == [FieldDiff("[0].payload.command_type", "play", "declare")]


def test_numeric_tolerance_default_and_per_path() -> None:
    rules = parse_rules(
        """
rules:
  - {context: campaign, event: progress_recorded, tolerance: {payload.percent: 0.01}}
  - {context: campaign, event: "campaign_*", tolerance: 0.5}
  - {context: "*", event: round_scored, tolerance: {"payload.results[].delta": 1}}
"""
    )
    ok = classify(
        [e("progress_recorded", {"percent": 12.34, "processed": 10})],
        [e("progress_recorded", {"percent": 12.345, "processed": 10})],
        context="campaign",
        rules=rules,
    )
    assert ok.result == "match"
    bad = classify(
        [e("progress_recorded", {"percent": 12.34, "processed": 10})],
        [e("progress_recorded", {"percent": 12.36, "processed": 11})],
        context="campaign",
        rules=rules,
    )
    assert bad.result == "payload_mismatch"
    assert [d.path for d in bad.diffs] == ["[0].payload.percent", "[0].payload.processed"]
    assert (
        classify([e("campaign_state", {"n": 1})], [e("campaign_state", {"n": 1.4})],
                 context="campaign", rules=rules).result
        == "match"
    )  # fmt: skip
    # no tolerance in another context
    assert (
        classify([e("campaign_state", {"n": 1})], [e("campaign_state", {"n": 1.4})],
                 context="game", rules=rules).result
        == "payload_mismatch"
    )  # fmt: skip
    scored_l = [e("round_scored", {"results": [{"delta": 5, "total": 9}]})]
    scored_r = [e("round_scored", {"results": [{"delta": 6, "total": 10}]})]
    c = classify(scored_l, scored_r, context="game", rules=rules)
    assert c.diffs == [FieldDiff("[0].payload.results[0].total", 9, 10)]
    # a bool is never within a tolerance of a number
    assert (
        classify([e("campaign_state", {"n": True})], [e("campaign_state", {"n": 1.2})],
                 context="campaign", rules=rules).result
        == "payload_mismatch"
    )  # fmt: skip


def test_compare_normalizes_first() -> None:
    rules = parse_rules("rules:\n  - {event: hand_dealt, unordered: [payload.hand]}\n")
    legacy = [
        {"type": "hand_dealt", "seq": 0, "count": 1, "payload": {"hand": ["B", "A"]},
         "audience": ["u"], "emitted_at": "t1", "impl": "legacy", "role": "primary"},
    ]  # fmt: skip
    domain = [
        {"type": "hand_dealt", "seq": 0, "count": 1, "payload": {"hand": ["A", "B"]},
         "audience": ["u"], "emitted_at": "t2", "impl": "domain", "role": "shadow"},
    ]  # fmt: skip
    comparison, left, right = compare(legacy, domain, "game", rules)
    assert comparison.result == "match"
    assert left == right == [{"type": "hand_dealt", "payload": {"hand": ["A", "B"]}, "audience": ["u"]}]


def test_diff_values_odd_keys_and_nan() -> None:
    assert diff_values({"a.b": 1, 3: 2}, {"a.b": 2, 3: 2}) == [FieldDiff('["a.b"]', 1, 2)]
    nan = float("nan")
    assert diff_values([nan], [float("nan")]) == []
    assert Comparison("match", []).is_match
    assert Comparison("sequence_mismatch", [FieldDiff("[0]", ABSENT, 1)]).to_dict() == {
        "result": "sequence_mismatch",
        "diffs": [{"path": "[0]", "right": 1}],
    }


def test_equal_values_built_differently_take_the_byte_fast_path() -> None:
    """A parsed document (fresh strings, keys shared within it) and the same value from literals
    (interned strings) are equal marshal bytes: format 2 writes values, not object identity."""
    import json

    from parallax_comparator.core.diff import _same_bytes

    literal = [e("room_state", {"players": [{"name": "p1", "ready": True}, {"name": "p2", "ready": False}]})]
    parsed = json.loads(json.dumps(literal))
    assert _same_bytes(literal, parsed)
    assert not _same_bytes([e("x", {"n": 1})], [e("x", {"n": True})])
    assert not _same_bytes([e("x", {"n": 1})], [e("x", {"n": 1.0})])
    assert classify(literal, parsed) == Comparison("match", [])
