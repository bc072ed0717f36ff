"""The campaign context, event-sourced: the Campaign aggregate and its Application."""

from parallax_domain.campaign.application import CampaignApplication
from parallax_domain.campaign.model import Campaign

__all__ = ["Campaign", "CampaignApplication"]
