"""CampaignApplication: loads and saves Campaign aggregates and turns their events into drafts."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar, Final
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, MutableOrImmutableAggregate
from eventsourcing.persistence import JSONTranscoder
from parallax_contracts.envelopes import Command, EventDraft, rejection

from parallax_domain.campaign.commands import (
    BareTransition,
    ChangeStatus,
    CreateCampaign,
    FailCampaign,
    GetCampaign,
    RecordProgress,
    UpdateCampaign,
    parse_request,
)
from parallax_domain.campaign.model import Campaign, authorize
from parallax_domain.campaign.params import CampaignFacts
from parallax_domain.campaign.public import campaign_state, public_events
from parallax_domain.campaign.transcodings import register_campaign_transcodings
from parallax_domain.campaign.values import INVALID_STATE, NOT_FOUND, Rejected, campaign_kind
from parallax_domain.receipts import ReceiptingApplication

_BARE_TRANSITIONS: Final[dict[BareTransition, Callable[[Campaign], None]]] = {
    "start": Campaign.start,
    "pause": Campaign.pause,
    "resume": Campaign.resume,
    "complete": Campaign.complete,
    "retry": Campaign.retry,
    "restart": Campaign.restart,
    "cancel": Campaign.cancel,
    "archive": Campaign.archive,
}


class CampaignApplication(ReceiptingApplication):
    # A campaign that records a lot of progress is reconstructed from a recent snapshot.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {Campaign: 100}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_campaign_transcodings(transcoder)

    def decide(self, command: Command) -> tuple[list[EventDraft], list[Aggregate]]:
        try:
            return self._decide(command)
        except Rejected as refused:
            return [rejection(refused.code, command.type, command.actor)], []

    def _decide(self, command: Command) -> tuple[list[EventDraft], list[Aggregate]]:
        # Precedence: shape -> not_found -> forbidden -> invalid_state -> value rules.
        campaign_id, request = parse_request(command)
        actor = command.actor
        if isinstance(request, CreateCampaign):
            authorize(command.type, actor, command.permissions, owner=None)
            if self._exists(campaign_id):
                raise Rejected(INVALID_STATE)
            created = Campaign.create(
                campaign_id,
                owner=actor,
                name=request.name,
                kind=request.kind,
                params=request.params,
                directory=self,
            )
            return public_events(None, created.pending_events, actor), [created]

        campaign = self._campaign(campaign_id)
        authorize(command.type, actor, command.permissions, owner=campaign.owner)
        if isinstance(request, GetCampaign):
            return [campaign_state(campaign, actor)], []

        before = copy.deepcopy(campaign)
        match request:
            case UpdateCampaign(name=name, params=params):
                campaign.update(name=name, params=params, directory=self)
            case FailCampaign(reason=reason):
                campaign.fail(reason)
            case RecordProgress(processed=processed, succeeded=succeeded, failed=failed):
                campaign.record_progress(processed, succeeded, failed)
            case ChangeStatus(transition=transition):
                _BARE_TRANSITIONS[transition](campaign)
        return public_events(before, campaign.pending_events, actor), [campaign]

    # --- CampaignDirectory port (value rules on `source_campaign_id`) ---------------------

    def facts(self, campaign_id: str) -> CampaignFacts | None:
        """Kind and owner of another campaign, read from its first event: both are fixed at
        creation, so the `Created` event is as good as the latest state, and costs one stored
        event (no snapshot query, no replay)."""
        created = self.first_event(UUID(campaign_id))
        if not isinstance(created, Campaign.Created):  # none, or e.g. a command receipt
            return None
        return CampaignFacts(kind=campaign_kind(created.kind), owner=created.owner)

    # --- loading --------------------------------------------------------------------------

    def _campaign(self, campaign_id: UUID) -> Campaign:
        try:
            aggregate = self.load(campaign_id)
        except AggregateNotFoundError:
            raise Rejected(NOT_FOUND) from None
        if not isinstance(aggregate, Campaign):  # e.g. the id of a command receipt
            raise Rejected(NOT_FOUND)
        return aggregate

    def _exists(self, campaign_id: UUID) -> bool:
        """Whether anything (a campaign, or any other aggregate) is stored under this id."""
        return bool(self.recorder.select_events(campaign_id, limit=1))
