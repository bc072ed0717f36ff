"""Legacy rules of the campaign context (campaign-rules.md), procedural over a dict document."""

from __future__ import annotations

from typing import Any

from parallax_contracts.envelopes import Command

from parallax_legacy.campaign.handlers import handle_command
from parallax_legacy.ports import Document, Lookup, Outcome


class CampaignRules:
    def referenced(self, command: Command) -> list[str]:
        """The source campaign of a create/update, so the wrapper can prefetch its document."""
        if command.type not in ("create_campaign", "update_campaign"):
            return []
        payload: Any = command.payload
        if not isinstance(payload, dict):
            return []
        params = payload.get("params")
        if not isinstance(params, dict):
            return []
        source = params.get("source_campaign_id")
        if isinstance(source, str):
            return [source]
        return []

    def apply(self, state: Document | None, command: Command, lookup: Lookup) -> Outcome:
        return handle_command(state, command, lookup)


CAMPAIGN_RULES = CampaignRules()

__all__ = ["CAMPAIGN_RULES", "CampaignRules"]
