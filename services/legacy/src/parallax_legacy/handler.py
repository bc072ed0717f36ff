"""The legacy handler: read the document, run the rules, write it back with a revision check.

A command's response is kept in the same document as the state (`receipts`, the most recent
ones), written in the same revision-checked put, so a redelivered command returns its first
response and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from parallax_contracts.envelopes import Command, EventDraft
from parallax_contracts.ids import is_aggregate_id

from parallax_legacy.ports import Document, Rules
from parallax_legacy.store import DocumentStore, RevisionConflict, WriteCache

# Commands are handled and acked in order, so only the last few can come back as redeliveries;
# a longer list would be re-encoded with the document on every command.
RECEIPTS_KEPT = 32
MAX_CONFLICT_RETRIES = 20


def document_key(context: str, aggregate_id: str) -> str:
    # KV keys allow [-/_=.a-zA-Z0-9]; ids are validated before they get here or rejected.
    return f"{context}.{aggregate_id}"


# Longer ids are no id of any context; a KV key that long is refused by the server anyway.
MAX_KEY_TOKEN = 128
# ASCII only: str.isalnum() accepts letters like "Ä", which NATS KV refuses as a key, and a store
# error is retried in place forever, which would stall every aggregate behind it.
_KEY_TOKEN = re.compile(f"[-_A-Za-z0-9]{{1,{MAX_KEY_TOKEN}}}")


def _safe_key_token(aggregate_id: str) -> bool:
    return _KEY_TOKEN.fullmatch(aggregate_id) is not None


def _receipt_text(drafts: list[EventDraft]) -> str:
    """The drafts as the JSON text of a receipt (what `model_dump(mode="json")` would give: the
    rules' payloads hold JSON values only), without pydantic's serializer."""
    dumped = [{"type": d.type, "payload": d.payload, "audience": d.audience} for d in drafts]
    return json.dumps(dumped, separators=(",", ":"))


class LegacyContextHandler:
    def __init__(self, context: str, store: DocumentStore, rules: Rules) -> None:
        self._context = context
        self._store = store
        self._rules = rules
        self._cache = store if isinstance(store, WriteCache) else None

    async def handle(self, command: Command) -> list[EventDraft]:
        key = document_key(self._context, command.aggregate_id)
        for _ in range(MAX_CONFLICT_RETRIES):
            try:
                return await self._handle_once(command)
            except RevisionConflict:
                if self._cache is not None:
                    self._cache.forget(key)
                await asyncio.sleep(0)
            except BaseException:
                # The document in hand may be half changed: never serve it from a cache again.
                if self._cache is not None:
                    self._cache.forget(key)
                raise
        raise RuntimeError(f"too many write conflicts on {command.aggregate_id}")

    async def _handle_once(self, command: Command) -> list[EventDraft]:
        # An id of the wrong format names no aggregate: nothing is read or written for it (no
        # receipt either: its answer, invalid_input, needs no state to be given again).
        key_ok = _safe_key_token(command.aggregate_id) and is_aggregate_id(
            self._context, command.aggregate_id
        )
        key = document_key(self._context, command.aggregate_id)
        stored = None
        if key_ok:
            cache = self._cache
            stored = await (cache.get_for_update(key) if cache is not None else self._store.get(key))
        envelope: dict[str, Any] = stored.value if stored else {"state": None, "receipts": {}}
        receipts: dict[str, str | list[dict[str, Any]]] = envelope["receipts"]
        if command.command_id in receipts:
            receipt = receipts[command.command_id]
            drafts = json.loads(receipt) if isinstance(receipt, str) else receipt
            return [EventDraft.model_validate(d) for d in drafts]

        others: dict[str, Document | None] = {}
        for other_id in self._rules.referenced(command):
            if _safe_key_token(other_id):
                other = await self._store.get(document_key(self._context, other_id))
                others[other_id] = other.value["state"] if other else None
        outcome = self._rules.apply(envelope["state"], command, lambda i: others.get(i))

        # The receipt is written even when nothing exists yet: a redelivered `not_found` must
        # stay `not_found` after the aggregate has been created meanwhile.
        if key_ok:
            if outcome.state is not None:
                envelope["state"] = outcome.state
            # Kept as JSON text: encoded once, not again with the document at each of the next
            # RECEIPTS_KEPT writes (the stores escape each text once too: DocumentEncoder; the
            # receipts of `get_room_state` carry whole room views). Documents written before hold
            # lists.
            receipts[command.command_id] = _receipt_text(outcome.drafts)
            while len(receipts) > RECEIPTS_KEPT:
                del receipts[next(iter(receipts))]
            await self._store.put(
                key,
                envelope,
                stored.revision if stored else None,
            )
        return outcome.drafts
