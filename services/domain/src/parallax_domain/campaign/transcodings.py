"""JSON transcodings for the campaign's value objects (in domain events and snapshots)."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from parallax_domain.campaign.params import (
    DnsValidationParams,
    DomainGenerationParams,
    HttpKeywordValidationParams,
)
from parallax_domain.campaign.values import Totals


class DomainGenerationParamsAsDict(Transcoding):
    type = DomainGenerationParams
    name = "campaign_domain_generation_params"

    def encode(self, obj: DomainGenerationParams) -> dict[str, Any]:
        return obj.to_json()

    def decode(self, data: dict[str, Any]) -> DomainGenerationParams:
        return DomainGenerationParams.from_json(data)


class DnsValidationParamsAsDict(Transcoding):
    type = DnsValidationParams
    name = "campaign_dns_validation_params"

    def encode(self, obj: DnsValidationParams) -> dict[str, Any]:
        return obj.to_json()

    def decode(self, data: dict[str, Any]) -> DnsValidationParams:
        return DnsValidationParams.from_json(data)


class HttpKeywordValidationParamsAsDict(Transcoding):
    type = HttpKeywordValidationParams
    name = "campaign_http_keyword_validation_params"

    def encode(self, obj: HttpKeywordValidationParams) -> dict[str, Any]:
        return obj.to_json()

    def decode(self, data: dict[str, Any]) -> HttpKeywordValidationParams:
        return HttpKeywordValidationParams.from_json(data)


class TotalsAsDict(Transcoding):
    type = Totals
    name = "campaign_totals"

    def encode(self, obj: Totals) -> dict[str, int]:
        return obj.to_json()

    def decode(self, data: dict[str, int]) -> Totals:
        return Totals(data["processed"], data["succeeded"], data["failed"])


def register_campaign_transcodings(transcoder: JSONTranscoder) -> None:
    transcoder.register(DomainGenerationParamsAsDict())
    transcoder.register(DnsValidationParamsAsDict())
    transcoder.register(HttpKeywordValidationParamsAsDict())
    transcoder.register(TotalsAsDict())
