"""`explain`: the CLI's human-readable account of a decision."""

from __future__ import annotations

import json

from parallax_rollout import AggregateRecord, explain
from rollout_helpers import make_config

AGG = "3FA9C1"  # bucket 7514


def test_explain_unseen_aggregate_percent() -> None:
    config = make_config(domain_percent=25, shadow=True)
    result = explain(config, None, context="game", aggregate_id=AGG, config_revision=12)
    assert (result.decision.primary, result.decision.shadow, result.decision.rule) == (
        "legacy",
        "domain",
        "percent",
    )
    assert (result.bucket, result.threshold) == (7514, 2500)
    text = str(result)
    assert text.splitlines()[0] == (
        "game/3FA9C1 (next ordinary command): primary legacy, shadow domain, rule percent"
    )
    assert "bucket 7514" in text and "threshold 2500" in text
    assert "bucket >= threshold -> percent says legacy" in text
    assert "revision 12" in text
    assert "never seen" in text and "nothing stored" in text


def test_explain_pinned_not_rollbackable() -> None:
    config = make_config(domain_percent=25, kill_switch=True, shadow=True)
    record = AggregateRecord.of(["domain"], "u-17")
    result = explain(config, record, context="game", aggregate_id=AGG, config_revision=0)
    assert result.decision.rule == "pinned" and result.decision.not_rollbackable
    text = result.text
    assert "kill switch ON" in text and "environment defaults" in text
    assert "sides {domain}, owner u-17" in text
    assert "NOT ROLLBACKABLE" in text


def test_explain_lists_and_record_change() -> None:
    config = make_config(domain_percent=0, allow_users=["u-17"], deny_prefixes=["ZZ"])
    record = AggregateRecord.of(["legacy", "domain"], "u-17")
    result = explain(config, record, context="game", aggregate_id=AGG)
    text = result.text
    assert "deny: no match; allow: matches by owner" in text
    assert "rule allow" in text.splitlines()[0]
    assert "shadow: off in config" in text
    assert "would store sides {domain}" in text  # legacy misses this command and drops out


def test_explain_creating_command_and_json() -> None:
    config = make_config(mode="domain", shadow=False)
    result = explain(config, None, context="game", aggregate_id=AGG, command_type="create_room", actor="u-1")
    assert "starts its history" in result.text
    data = result.to_json()
    json.dumps(data)
    assert data["sides"] is None and data["sides_after"] == ["domain"]
    assert data["rule"] == "mode" and data["owner"] == "u-1"


def test_explain_matches_decide_for_other_modes() -> None:
    config = make_config(mode="legacy", deny_users=["x"])
    result = explain(config, AggregateRecord.of(["legacy"]), context="campaign", aggregate_id="a")
    assert "lists: not used in mode legacy" in result.text
    assert "record: unchanged" in result.text
