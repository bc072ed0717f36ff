"""Public events (EventDrafts) produced from the Campaign's domain events.

The new domain events of a command are folded, one by one, onto a copy of the aggregate as it
was before the command; each public event is read off the domain event together with the
state just before and just after it (e.g. `from`/`to` of a status change, the running totals).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, cast

from eventsourcing.domain import CanMutateAggregate
from parallax_contracts.envelopes import EventDraft

from parallax_domain.campaign.model import Campaign


def audience(owner: str, actor: str) -> list[str]:
    """Rule 3: every event except rejections and states goes to the owner, and the actor."""
    return [owner] if actor == owner else [owner, actor]


def percent_json(percent: Decimal | None) -> float | None:
    # A JSON number; every value has at most 2 decimals, so the float prints exactly that.
    return None if percent is None else float(percent)


def params_json(campaign: Campaign) -> dict[str, Any]:
    return campaign.params.to_json()


def campaign_state(campaign: Campaign, actor: str) -> EventDraft:
    return EventDraft(
        type="campaign_state",
        payload={
            "campaign_id": str(campaign.id),
            "owner": campaign.owner,
            "name": campaign.name,
            "kind": campaign.kind,
            "params": params_json(campaign),
            "status": campaign.status,
            "totals": campaign.totals.to_json(),
            "percent": percent_json(campaign.percent),
        },
        audience=[actor],
    )


def public_events(
    before: Campaign | None,
    new_events: Sequence[CanMutateAggregate[Any]],
    actor: str,
) -> list[EventDraft]:
    """The public response to the domain events that one command triggered."""
    state = copy.deepcopy(before)
    drafts: list[EventDraft] = []
    for domain_event in new_events:
        previous_status = None if state is None else state.status
        state = cast(Campaign, domain_event.mutate(state))
        drafts.append(
            EventDraft(
                type=_public_type(domain_event),
                payload=_payload(domain_event, previous_status, state),
                audience=audience(state.owner, actor),
            )
        )
    return drafts


def _public_type(domain_event: object) -> str:
    if isinstance(domain_event, Campaign.Created):
        return "campaign_created"
    if isinstance(domain_event, Campaign.Updated):
        return "campaign_updated"
    if isinstance(domain_event, Campaign.ProgressRecorded):
        return "progress_recorded"
    return "campaign_status_changed"


def _payload(domain_event: object, previous_status: str | None, after: Campaign) -> dict[str, Any]:
    if isinstance(domain_event, Campaign.Created):
        return {
            "campaign_id": str(after.id),
            "owner": after.owner,
            "name": after.name,
            "kind": after.kind,
            "params": params_json(after),
            "status": after.status,
        }
    if isinstance(domain_event, Campaign.Updated):
        return {"name": after.name, "params": params_json(after)}
    if isinstance(domain_event, Campaign.ProgressRecorded):
        return {
            "processed": domain_event.processed,
            "succeeded": domain_event.succeeded,
            "failed": domain_event.failed,
            "totals": after.totals.to_json(),
            "percent": percent_json(after.percent),
        }
    return {
        "from": previous_status,
        "to": after.status,
        "reason": domain_event.reason if isinstance(domain_event, Campaign.Failed) else None,
    }
