"""Builds the legacy handler of a context over a given document store."""

from __future__ import annotations

from parallax_legacy.handler import LegacyContextHandler
from parallax_legacy.ports import Rules
from parallax_legacy.store import DocumentStore, InMemoryDocumentStore


def rules_for(context: str) -> Rules:
    if context == "game":
        from parallax_legacy.game import GAME_RULES

        return GAME_RULES
    if context == "campaign":
        from parallax_legacy.campaign import CAMPAIGN_RULES

        return CAMPAIGN_RULES
    raise ValueError(f"unknown context {context!r}")


def legacy_handler(context: str, store: DocumentStore) -> LegacyContextHandler:
    return LegacyContextHandler(context, store, rules_for(context))


def in_memory_handler(context: str) -> LegacyContextHandler:
    return legacy_handler(context, InMemoryDocumentStore())
