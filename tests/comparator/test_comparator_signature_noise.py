"""Mismatch signatures and noise candidates."""

from __future__ import annotations

import random
from typing import Any

import yaml
from parallax_comparator.core import (
    Comparison,
    FieldDiff,
    NoiseDetector,
    classify,
    collapse_indices,
    compare,
    mismatch_signature,
    noise_candidates,
    parse_rules,
)


def test_collapse_indices() -> None:
    assert collapse_indices("[2].payload.hand[0]") == "[*].payload.hand[*]"
    assert collapse_indices('[10].payload["a[1]"].x') == '[*].payload["a[*]"].x'


def test_signature_groups_the_same_bug() -> None:
    a = Comparison(
        "payload_mismatch",
        [FieldDiff("[2].payload.hand[0]", 1, 2), FieldDiff("[0].payload.value", 1, 2),
         FieldDiff("[3].payload.hand[5]", 1, 2)],
    )  # fmt: skip
    b = Comparison(
        "payload_mismatch",
        [FieldDiff("[1].payload.value", 1, 2), FieldDiff("[1].payload.hand[1]", 1, 2)],
    )
    sa, sb = mismatch_signature("play", a), mismatch_signature("play", b)
    assert sa == sb
    assert sa.paths == ("[*].payload.hand[*]", "[*].payload.value")
    assert sa.key == "play payload_mismatch [*].payload.hand[*],[*].payload.value"
    assert sa.digest == sb.digest and len(sa.digest) == 16
    assert mismatch_signature("declare", a) != sa
    missing = mismatch_signature("play", Comparison("missing_domain", []))
    assert missing.key == "play missing_domain " and missing != sa


def _response(token: str, multiplier: int, seat: int) -> list[dict[str, Any]]:
    return [
        {"type": "round_started", "payload": {"multiplier": multiplier, "token": token,
                                              "seat": seat}, "audience": ["u"]},
    ]  # fmt: skip


def test_noise_candidates_find_nondeterministic_fields_not_consistent_bugs() -> None:
    rng = random.Random(1)
    rules = parse_rules("rules: []")
    samples = []
    for i in range(40):
        legacy = _response(f"{rng.random()}", 2, 1)
        # the multiplier is consistently wrong (a bug, few values); the token is random (noise);
        # the seat differs rarely
        domain = _response(f"{rng.random()}", 3, 1 if i % 10 else 2)
        c = classify(legacy, domain, context="game", rules=rules)
        samples.append(("game", legacy, domain, c))
    cands = noise_candidates(samples)
    assert [c.path for c in cands] == ["payload.token"]
    [cand] = cands
    assert cand.event_type == "round_started" and cand.compared == 40 and cand.differing == 40
    assert cand.distinct_values == 80 and cand.ratio == 1.0 and cand.max_numeric_delta is None
    # the snippet is a valid rule that, applied, removes the noise
    snippet = yaml.safe_load(cand.snippet)
    assert snippet == [cand.rule]
    fixed = parse_rules(yaml.safe_dump({"rules": snippet}))
    _, left, right, _ = samples[1]
    comparison, _, _ = compare(left, right, "game", fixed)
    assert [d.path for d in comparison.diffs] == ["[0].payload.multiplier"]


def test_noise_in_arrays_and_numbers_and_thresholds() -> None:
    det = NoiseDetector(min_compared=5)
    rng = random.Random(2)
    for _ in range(10):
        left = [{"type": "t", "payload": {"rows": [{"ms": rng.random()}, {"ms": rng.random()}]}}]
        right = [{"type": "t", "payload": {"rows": [{"ms": rng.random()}, {"ms": rng.random()}]}}]
        det.add("campaign", left, right, classify(left, right))
    [cand] = det.candidates()
    assert cand.path == "payload.rows[*].ms" and cand.rule_path == "payload.rows[].ms"
    assert cand.max_numeric_delta is not None and 0 < cand.max_numeric_delta < 1
    assert "tolerance" in cand.snippet
    assert NoiseDetector(min_compared=11).candidates() == []
