"""Payload shape: the first check of every command (campaign-rules.md, "Exact behaviour" 2).

A command's payload must be a JSON object with exactly the command's fields and their JSON
types; the contents (kind values, name lengths, params, negative counts) are value rules and are
checked later, by the domain model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, get_args
from uuid import UUID

from parallax_contracts.catalog import CAMPAIGN_COMMANDS
from parallax_contracts.envelopes import Command
from parallax_contracts.ids import is_campaign_id

from parallax_domain.campaign.values import invalid_input

JsonType = Literal["string", "integer", "object"]
BareTransition = Literal["start", "pause", "resume", "complete", "retry", "restart", "cancel", "archive"]
BARE_TRANSITIONS: Final[tuple[BareTransition, ...]] = get_args(BareTransition)


@dataclass(frozen=True)
class CreateCampaign:
    name: str
    kind: str
    params: dict[str, Any]


@dataclass(frozen=True)
class UpdateCampaign:
    name: str | None
    params: dict[str, Any] | None


@dataclass(frozen=True)
class ChangeStatus:
    """A bare transition (`{}`) — every lifecycle command except `fail`."""

    transition: BareTransition


@dataclass(frozen=True)
class FailCampaign:
    reason: str


@dataclass(frozen=True)
class RecordProgress:
    processed: int
    succeeded: int
    failed: int


@dataclass(frozen=True)
class GetCampaign:
    pass


CampaignRequest = CreateCampaign | UpdateCampaign | ChangeStatus | FailCampaign | RecordProgress | GetCampaign

# Fields of each command: name -> (JSON type, required).
_FIELDS: Final[dict[str, dict[str, tuple[JsonType, bool]]]] = {
    "create_campaign": {
        "name": ("string", True),
        "kind": ("string", True),
        "params": ("object", True),
    },
    "update_campaign": {"name": ("string", False), "params": ("object", False)},
    "fail": {"reason": ("string", True)},
    "record_progress": {
        "processed": ("integer", True),
        "succeeded": ("integer", True),
        "failed": ("integer", True),
    },
}


def parse_request(command: Command) -> tuple[UUID, CampaignRequest]:
    """The campaign id and typed request of a command, or `Rejected(invalid_input)`."""
    if command.type not in CAMPAIGN_COMMANDS or not is_campaign_id(command.aggregate_id):
        raise invalid_input()
    payload = _shaped(command.payload, _FIELDS.get(command.type, {}))
    campaign_id = UUID(command.aggregate_id)
    match command.type:
        case "create_campaign":
            request: CampaignRequest = CreateCampaign(payload["name"], payload["kind"], payload["params"])
        case "update_campaign":
            if not payload:
                raise invalid_input()  # needs at least one of name / params
            request = UpdateCampaign(payload.get("name"), payload.get("params"))
        case "fail":
            request = FailCampaign(payload["reason"])
        case "record_progress":
            request = RecordProgress(payload["processed"], payload["succeeded"], payload["failed"])
        case "get_campaign":
            request = GetCampaign()
        case _:
            request = ChangeStatus(_transition(command.type))
    return campaign_id, request


def _transition(command_type: str) -> BareTransition:
    for transition in BARE_TRANSITIONS:
        if transition == command_type:
            return transition
    raise invalid_input()


def _shaped(payload: object, fields: dict[str, tuple[JsonType, bool]]) -> dict[str, Any]:
    if not isinstance(payload, dict) or not set(payload) <= set(fields):
        raise invalid_input()
    for name, (json_type, required) in fields.items():
        if name not in payload:
            if required:
                raise invalid_input()
        elif not _has_type(payload[name], json_type):
            raise invalid_input()  # includes a field present as null
    return payload


def _has_type(value: object, json_type: JsonType) -> bool:
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "integer":
        return type(value) is int  # not bool, not float
    return isinstance(value, dict) and all(isinstance(key, str) for key in value)
