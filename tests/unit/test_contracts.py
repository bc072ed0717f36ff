"""Contracts: envelope round-trips, id formats, subject safety, JSON Schema export."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from parallax_contracts import subjects
from parallax_contracts.envelopes import Command, Event, EventDraft, RoutingRecord, rejection, wrap_response
from parallax_contracts.ids import is_campaign_id, is_room_id, is_user_id
from parallax_contracts.schema import json_schemas, write_json_schemas
from pydantic import ValidationError

ROOM = "3FA9C1"


def command(**overrides: object) -> Command:
    data: dict[str, object] = {
        "command_id": str(uuid.uuid4()),
        "context": "game",
        "aggregate_id": ROOM,
        "type": "play",
        "actor": "u-17",
        "permissions": ["campaigns:read"],
        "payload": {"pieces": ["GENERAL_RED"]},
        "seed": 1234567890123,
    }
    data.update(overrides)
    return Command.model_validate(data)


def test_command_round_trips_through_json() -> None:
    original = command()
    again = Command.model_validate_json(original.model_dump_json())
    assert again == original


def test_command_keeps_payload_types_for_the_rules_to_judge() -> None:
    # `true` must stay a bool and 2.0 a float: the rules refuse them as integers.
    parsed = Command.model_validate_json(
        json.dumps({**json.loads(command().model_dump_json()), "payload": {"value": True, "x": 2.0}})
    )
    assert parsed.payload == {"value": True, "x": 2.0}
    assert type(parsed.payload["value"]) is bool
    assert type(parsed.payload["x"]) is float


def test_command_without_a_command_id_is_refused() -> None:
    with pytest.raises(ValidationError):
        Command.model_validate({"context": "game", "aggregate_id": ROOM, "type": "play", "actor": "u"})


def test_wrap_response_numbers_events_and_carries_correlation() -> None:
    cmd = command()
    drafts = [
        EventDraft(type="a", payload={"n": 1}, audience=["u-17"]),
        rejection("forbidden", "play", "u-17"),
    ]
    events = wrap_response(cmd, drafts, impl="domain", role="shadow", handler_ms=1.5)
    assert [(e.seq, e.count) for e in events] == [(0, 2), (1, 2)]
    assert {e.command_id for e in events} == {cmd.command_id}
    assert events[1].payload == {"code": "forbidden", "command_type": "play"}
    assert events[1].audience == ["u-17"]
    assert all(e.impl == "domain" and e.role == "shadow" for e in events)
    assert Event.model_validate_json(events[0].model_dump_json()) == events[0]


def test_routing_record_round_trip_and_refuses_unknown_rule() -> None:
    record = RoutingRecord(
        command_id=str(uuid.uuid4()),
        context="game",
        aggregate_id=ROOM,
        type="play",
        primary="legacy",
        shadow="domain",
        rule="percent",
        config_revision=12,
    )
    assert RoutingRecord.model_validate_json(record.model_dump_json()) == record
    with pytest.raises(ValidationError):
        RoutingRecord.model_validate({**record.model_dump(), "rule": "coin_flip"})


@pytest.mark.parametrize("good", ["3FA9C1", "000000", "FFFFFF"])
def test_room_ids_accepted(good: str) -> None:
    assert is_room_id(good)


@pytest.mark.parametrize(
    "bad", ["3fa9c1", "3FA9C", "3FA9C12", "3FA.C1", "3FA*C1", "3FA>C1", "3FA C1", "", None, 123456]
)
def test_room_ids_refused(bad: object) -> None:
    assert not is_room_id(bad)


def test_campaign_ids_are_canonical_uuids() -> None:
    value = str(uuid.uuid4())
    assert is_campaign_id(value)
    assert not is_campaign_id(value.upper())
    assert not is_campaign_id(value.replace("-", ""))
    assert not is_campaign_id(f"{value}.x")


@pytest.mark.parametrize("bad", ["", "a" * 65, "u.17", "u*", "u>", "u 17", "ü"])
def test_user_ids_refused(bad: str) -> None:
    assert not is_user_id(bad)


@given(st.text(max_size=12))
def test_no_unchecked_value_becomes_a_subject_token(value: str) -> None:
    if is_room_id(value):
        assert subjects.ingress("game", value) == f"parallax.ingress.game.{value}"
    else:
        with pytest.raises(subjects.UnsafeSubjectToken):
            subjects.ingress("game", value)
        with pytest.raises(subjects.UnsafeSubjectToken):
            subjects.handle("legacy", "game", value)
        with pytest.raises(subjects.UnsafeSubjectToken):
            subjects.events("domain", "game", value)


def test_unknown_context_is_not_a_subject_token() -> None:
    with pytest.raises(subjects.UnsafeSubjectToken):
        subjects.ingress("game.>", ROOM)


@given(st.text(max_size=12), st.sampled_from([*sorted(subjects.COMPARISON_RESULTS), "bogus", "a.b", ">"]))
def test_a_comparison_always_has_a_safe_subject(context: str, result: str) -> None:
    """A comparison is published whatever its record said: a context or result that cannot be
    a subject token becomes `unknown`, never a raise or a bad subject."""
    subject = subjects.comparisons(context, result)
    prefix, kind, ctx, res = subject.split(".")
    assert (prefix, kind) == ("parallax", "comparisons")
    assert ctx == (context if context in ("game", "campaign") else "unknown")
    assert res == (result if result in subjects.COMPARISON_RESULTS else "unknown")


def test_json_schema_export(tmp_path: object) -> None:
    from pathlib import Path

    schemas = json_schemas()
    assert {"command", "event", "routing_record", "ws_error", "comparison"} <= set(schemas)
    assert schemas["comparison"]["title"] == "ComparisonMessage"
    assert "command_id" in schemas["command"]["required"]
    written = write_json_schemas(Path(str(tmp_path)))
    assert {p.name for p in written} >= {"command.schema.json", "event.schema.json"}
    assert json.loads((Path(str(tmp_path)) / "event.schema.json").read_text())["title"] == "Event"
