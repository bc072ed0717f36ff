"""Event drafts of the campaign context, with the audience rule (rule 3)."""

from __future__ import annotations

from typing import Any

from parallax_contracts.envelopes import EventDraft

from parallax_legacy.campaign.validation import percent_of


def audience(doc: dict[str, Any], actor: str) -> list[str]:
    owner: str = doc["owner"]
    if actor == owner:
        return [owner]
    return [owner, actor]


def totals_copy(doc: dict[str, Any]) -> dict[str, int]:
    totals = doc["totals"]
    return {
        "processed": totals["processed"],
        "succeeded": totals["succeeded"],
        "failed": totals["failed"],
    }


def campaign_created(doc: dict[str, Any], actor: str) -> EventDraft:
    return EventDraft(
        type="campaign_created",
        payload={
            "campaign_id": doc["campaign_id"],
            "owner": doc["owner"],
            "name": doc["name"],
            "kind": doc["kind"],
            "params": _copy(doc["params"]),
            "status": doc["status"],
        },
        audience=audience(doc, actor),
    )


def campaign_updated(doc: dict[str, Any], actor: str) -> EventDraft:
    return EventDraft(
        type="campaign_updated",
        payload={"name": doc["name"], "params": _copy(doc["params"])},
        audience=audience(doc, actor),
    )


def status_changed(doc: dict[str, Any], actor: str, old: str, new: str, reason: str | None) -> EventDraft:
    return EventDraft(
        type="campaign_status_changed",
        payload={"from": old, "to": new, "reason": reason},
        audience=audience(doc, actor),
    )


def progress_recorded(
    doc: dict[str, Any], actor: str, processed: int, succeeded: int, failed: int
) -> EventDraft:
    return EventDraft(
        type="progress_recorded",
        payload={
            "processed": processed,
            "succeeded": succeeded,
            "failed": failed,
            "totals": totals_copy(doc),
            "percent": percent_of(doc),
        },
        audience=audience(doc, actor),
    )


def campaign_state(doc: dict[str, Any], actor: str) -> EventDraft:
    return EventDraft(
        type="campaign_state",
        payload={
            "campaign_id": doc["campaign_id"],
            "owner": doc["owner"],
            "name": doc["name"],
            "kind": doc["kind"],
            "params": _copy(doc["params"]),
            "status": doc["status"],
            "totals": totals_copy(doc),
            "percent": percent_of(doc),
        },
        audience=[actor],
    )


def _copy(params: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = {}
    for key, value in params.items():
        copied[key] = list(value) if isinstance(value, list) else value
    return copied
