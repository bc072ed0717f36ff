"""The messages the services publish match the models their AsyncAPI documents name
(docs/asyncapi/): the guard's alert, the audit entries and the comparisons, whose writers build
them outside the envelopes of libs/contracts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from parallax_comparator import guard_actions, rollout_io
from parallax_comparator.core.rules import NormalizationRules
from parallax_comparator.guard import Trip, WindowStats
from parallax_comparator.published import comparison_messages
from parallax_comparator.records import ComparisonRecord, evaluate
from parallax_contracts.alerts import GuardAlert
from parallax_contracts.comparisons import (
    MAX_COMPARISON_MESSAGE_BYTES,
    MAX_TEXT_CHARS,
    ComparisonMessage,
    encode_comparison,
)
from parallax_rollout import RolloutAuditEntry, audit_entry, validate_config

OLD = validate_config({"mode": "canary", "domain_percent": 25, "shadow": True, "kill_switch": False})
NEW = OLD.model_copy(update={"kill_switch": True, "updated_by": "guard", "reason": "guard: test"})
STATS = WindowStats("game", 200, 21, 0, 0, None, None)


class FakeNats:
    """Records what is published (core NATS and JetStream alike)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, Any]]] = []

    def jetstream(self) -> FakeNats:
        return self

    async def publish(self, subject: str, payload: bytes, **kwargs: Any) -> None:
        self.published.append((subject, payload, kwargs))


def documented(
    model: type[RolloutAuditEntry] | type[GuardAlert] | type[ComparisonMessage], body: bytes
) -> dict[str, Any]:
    """The message, checked against the model, with no field the model does not name."""
    data = json.loads(body)
    model.model_validate(data)
    assert set(data) <= set(model.model_fields), set(data) - set(model.model_fields)
    return dict(data)


def test_the_clis_audit_entry_is_a_rollout_audit_entry() -> None:
    entry = audit_entry(
        context="game", action="kill", revision=3, old=OLD, new=NEW, by="me", reason="why",
        at=datetime.now(UTC),
    )  # fmt: skip
    assert documented(RolloutAuditEntry, json.dumps(entry).encode())["action"] == "kill"


async def test_the_comparators_audit_entry_is_a_rollout_audit_entry() -> None:
    js = FakeNats()
    await rollout_io.append_audit(
        js,  # type: ignore[arg-type]
        "game", OLD, NEW, 7, action="guard", by="guard", reason="guard: test",
        extra={"guard": STATS.to_dict()},
    )  # fmt: skip
    [(subject, body, _)] = js.published
    assert subject == "parallax.audit.rollout.game"
    entry = documented(RolloutAuditEntry, body)
    assert entry["guard"]["samples"] == 200
    assert entry["action"] == "guard"


async def test_the_guards_alert_is_a_guard_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    async def written(*args: Any, **kwargs: Any) -> tuple[Any, Any, int]:
        return OLD, NEW, 7

    monkeypatch.setattr(guard_actions, "update_config", written)
    nc = FakeNats()
    trip = Trip("game", ("mismatch rate 10.50% > 1.00% over 200 comparisons",), STATS)
    outcome = await guard_actions.act_on_trip(nc, trip)  # type: ignore[arg-type]
    assert outcome.acted and outcome.revision == 7
    [(subject, body, _)] = nc.published
    assert subject == "parallax.alerts.game"
    alert = documented(GuardAlert, body)
    assert alert["kind"] == "guard_trip" and alert["config_revision"] == 7
    assert alert["reason"] == trip.reason and alert["window"]["samples"] == 200


def compared(legacy: dict[str, Any], domain: dict[str, Any], **fields: Any) -> ComparisonRecord:
    """A paired command whose single events carry `legacy` and `domain` as payloads."""

    def response(impl: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"type": "pieces_played", "payload": payload, "audience": ["u1"], "handler_ms": 1.5, "impl": impl}
        ]

    args: dict[str, Any] = {
        "command_id": "6a1f5b0e-3c1d-4b8e-9f00-0123456789ab",
        "context": "game",
        "aggregate_id": "ABC123",
        "command_type": "play",
        "status": "paired",
        "reason": "complete",
        "legacy": response("legacy", legacy),
        "domain": response("domain", domain),
        "rules": NormalizationRules(),
        "compared_at": 1_700_000_000.25,
    }
    return evaluate(**{**args, **fields})


def test_the_comparators_comparison_is_a_comparison_message() -> None:
    record = compared({"value": 14, "gone": None}, {"value": 15})
    [(subject, body, headers)] = comparison_messages([record])
    assert subject == "parallax.comparisons.game.payload_mismatch"
    assert headers == {"Nats-Msg-Id": record.command_id, "Nats-Expected-Stream": "COMPARISONS"}
    message = documented(ComparisonMessage, body)
    # The record's diffs as it keeps them: a side the path is missing from has no key.
    assert message["diffs"] == record.diffs
    assert sorted(record.diffs, key=lambda d: d["path"]) == [
        {"path": "[0].payload.gone", "left": None},
        {"path": "[0].payload.value", "left": 14, "right": 15},
    ]
    assert message["diffs_truncated"] is False
    assert message["compared_at"] == "2023-11-14T22:13:20.250000Z"
    assert (message["legacy_ms"], message["domain_ms"], message["signature"]) == (1.5, 1.5, record.signature)
    # Not the normalized responses: the store has them.
    assert "legacy" not in message and "domain" not in message


def test_a_record_without_a_context_is_published_under_unknown() -> None:
    [(subject, body, _)] = comparison_messages([compared({"v": 1}, {"v": 1}, context=None)])
    assert subject == "parallax.comparisons.unknown.match"
    assert documented(ComparisonMessage, body)["context"] == "unknown"


def test_an_oversized_comparison_keeps_everything_but_its_diffs() -> None:
    record = compared({"text": "a" * 70_000}, {"text": "b" * 70_000})
    [(_, body, _)] = comparison_messages([record])
    assert len(body) <= MAX_COMPARISON_MESSAGE_BYTES
    message = documented(ComparisonMessage, body)
    assert message["diffs"] == [] and message["diffs_truncated"] is True
    assert (message["result"], message["signature"]) == ("payload_mismatch", record.signature)
    assert len(record.diffs) == 1  # the record (so the store) keeps them


def test_a_comparison_with_absurd_text_fields_is_still_bounded() -> None:
    record = compared({"v": 1}, {"v": 2}, command_type="x" * 100_000, aggregate_id="y" * 100_000)
    [(_, body, _)] = comparison_messages([record])
    assert len(body) <= MAX_COMPARISON_MESSAGE_BYTES
    message = documented(ComparisonMessage, body)
    assert message["diffs_truncated"] is True
    assert message["command_type"] == "x" * MAX_TEXT_CHARS and message["aggregate_id"] == "y" * MAX_TEXT_CHARS


def test_encode_comparison_leaves_a_small_message_alone() -> None:
    message = ComparisonMessage.model_validate(
        json.loads(comparison_messages([compared({"v": 1}, {"v": 2})])[0][1])
    )
    assert json.loads(encode_comparison(message)) == json.loads(message.model_dump_json())
    assert json.loads(encode_comparison(message, limit=100))["diffs_truncated"] is True
