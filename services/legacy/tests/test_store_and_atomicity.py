"""The legacy document stores and the handler's atomicity: what is stored changes only through a
successful, revision-checked put, whatever the rules do to the document they were handed."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from parallax_contracts.envelopes import Command, EventDraft
from parallax_legacy.campaign import CAMPAIGN_RULES
from parallax_legacy.handler import LegacyContextHandler, document_key
from parallax_legacy.ports import Document, Lookup, Outcome, Rules
from parallax_legacy.store import (
    DocumentEncoder,
    DocumentStore,
    InMemoryDocumentStore,
    KvDocumentStore,
    RevisionConflict,
)

# --------------------------------------------------------------------------- stores


class Entry:
    def __init__(self, value: bytes, revision: int) -> None:
        self.value = value
        self.revision = revision


class FakeKv:
    """The three calls KvDocumentStore makes on a nats-py KeyValue, over a dict."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int]] = {}
        self.revision = 0

    async def get(self, key: str) -> Entry:
        if key not in self.data:
            raise KeyNotFoundError()
        return Entry(*self.data[key])

    async def create(self, key: str, value: bytes) -> int:
        if key in self.data:
            raise KeyWrongLastSequenceError()
        return self._write(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        if key not in self.data or self.data[key][1] != last:
            raise KeyWrongLastSequenceError()
        return self._write(key, value)

    def _write(self, key: str, value: bytes) -> int:
        self.revision += 1
        self.data[key] = (value, self.revision)
        return self.revision


def in_memory() -> InMemoryDocumentStore:
    return InMemoryDocumentStore()


def over_fake_kv() -> KvDocumentStore:
    return KvDocumentStore(FakeKv())  # type: ignore[arg-type]


STORES = pytest.mark.parametrize("make_store", [in_memory, over_fake_kv])

JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)
RECEIPTS = st.dictionaries(st.text(max_size=8), st.text() | st.lists(JSON, max_size=2), max_size=6)


@settings(max_examples=300, deadline=None)
@given(state=JSON, receipts=RECEIPTS, extra=st.dictionaries(st.text(max_size=5), JSON, max_size=2))
def test_the_encoder_writes_what_json_dumps_writes(state: Any, receipts: Any, extra: Any) -> None:
    encoder = DocumentEncoder(size=4)  # small: entries are evicted too
    for document in ({"state": state, "receipts": receipts}, {**extra, "receipts": receipts}, extra):
        for _ in range(2):  # the second time from the memo
            assert encoder.encode(document) == json.dumps(document, separators=(",", ":"))


@STORES
async def test_a_store_hands_out_copies_and_keeps_none_of_the_callers_objects(make_store: Any) -> None:
    store = make_store()
    value = {"state": {"hand": ["A", "B"]}, "receipts": {"c1": "[]"}}
    revision = await store.put("k", value, None)
    value["state"]["hand"].append("C")  # the caller's object, after the put
    first, second = await store.get("k"), await store.get("k")
    assert first.value == second.value == {"state": {"hand": ["A", "B"]}, "receipts": {"c1": "[]"}}
    assert first.value is not second.value and first.revision == revision
    first.value["state"]["hand"].clear()
    assert (await store.get("k")).value["state"]["hand"] == ["A", "B"]


@STORES
async def test_writes_are_revision_checked(make_store: Any) -> None:
    store = make_store()
    revision = await store.put("k", {"state": 1, "receipts": {}}, None)
    with pytest.raises(RevisionConflict):
        await store.put("k", {"state": 2, "receipts": {}}, None)
    with pytest.raises(RevisionConflict):
        await store.put("k", {"state": 2, "receipts": {}}, revision + 100)
    await store.put("k", {"state": 3, "receipts": {}}, revision)
    assert (await store.get("k")).value["state"] == 3


@STORES
async def test_get_for_update_takes_the_last_write_out_of_the_cache(make_store: Any) -> None:
    store = make_store()
    value = {"state": {"n": 1}, "receipts": {}}
    revision = await store.put("k", value, None)
    taken = await store.get_for_update("k")
    assert taken.value is value and taken.revision == revision  # no decode
    taken.value["state"]["n"] = 99  # changed, then never written (the handler failed)
    again = await store.get_for_update("k")  # not from the cache any more: from what is stored
    assert again.value == {"state": {"n": 1}, "receipts": {}}
    store.forget("k")
    assert (await store.get_for_update("k")).value["state"] == {"n": 1}


# --------------------------------------------------------------------------- the handler


def command(type_: str, payload: dict[str, Any], aggregate_id: str) -> Command:
    return Command(
        command_id=str(uuid.uuid4()),
        context="campaign",
        aggregate_id=aggregate_id,
        type=type_,
        actor="alice",
        permissions=["campaigns:admin"],
        payload=payload,
    )


class Breaking:
    """The campaign rules, except that `fail` changes the document in place and then raises."""

    def referenced(self, command: Command) -> list[str]:
        return CAMPAIGN_RULES.referenced(command)

    def apply(self, state: Document | None, command: Command, lookup: Lookup) -> Outcome:
        if command.type == "fail" and state is not None:
            state["status"] = "half-changed"
            state["totals"]["processed"] = -1
            raise RuntimeError("boom")
        return CAMPAIGN_RULES.apply(state, command, lookup)


class Unstorable:
    """The campaign rules, except that `fail` returns a state that cannot be encoded."""

    def referenced(self, command: Command) -> list[str]:
        return CAMPAIGN_RULES.referenced(command)

    def apply(self, state: Document | None, command: Command, lookup: Lookup) -> Outcome:
        if command.type == "fail" and state is not None:
            return Outcome(state={**state, "status": {"a", "set"}}, drafts=[])
        return CAMPAIGN_RULES.apply(state, command, lookup)


PARAMS = {"pattern_type": "prefix", "variable_length": 4, "character_set": "ab",
          "constant_string": "shop", "tld": ".com"}  # fmt: skip


async def started_campaign(handler: LegacyContextHandler) -> str:
    campaign = str(uuid.uuid4())
    created = await handler.handle(
        command("create_campaign", {"name": "C", "kind": "domain_generation", "params": PARAMS}, campaign)
    )
    assert created[0].type == "campaign_created"
    await handler.handle(command("start", {}, campaign))
    await handler.handle(command("record_progress", {"processed": 2, "succeeded": 1, "failed": 1}, campaign))
    return campaign


async def stored_document(store: DocumentStore, campaign: str) -> dict[str, Any]:
    stored = await store.get(document_key("campaign", campaign))
    assert stored is not None
    return stored.value


@STORES
@pytest.mark.parametrize("rules", [Breaking(), Unstorable()], ids=["raises", "unstorable"])
async def test_a_failing_command_leaves_nothing_half_changed(make_store: Any, rules: Rules) -> None:
    store = make_store()
    handler = LegacyContextHandler("campaign", store, rules)
    campaign = await started_campaign(handler)
    before = await stored_document(store, campaign)

    failing = command("fail", {"reason": "r"}, campaign)
    with pytest.raises((RuntimeError, TypeError)):
        await handler.handle(failing)
    assert await stored_document(store, campaign) == before

    # The next command works from what is stored (not from a half-changed cached document), and
    # the failed command left no receipt.
    state = await handler.handle(command("get_campaign", {}, campaign))
    assert state[0].payload["status"] == "running"
    assert state[0].payload["totals"] == {"processed": 2, "succeeded": 1, "failed": 1}
    assert failing.command_id not in (await stored_document(store, campaign))["receipts"]


class Unchanging:
    """The campaign rules, checked never to change the document they are handed."""

    def referenced(self, command: Command) -> list[str]:
        return CAMPAIGN_RULES.referenced(command)

    def apply(self, state: Document | None, command: Command, lookup: Lookup) -> Outcome:
        before = json.dumps(state)
        outcome = CAMPAIGN_RULES.apply(state, command, lookup)
        assert json.dumps(state) == before
        return outcome


async def test_campaign_rules_never_change_the_document_they_are_handed() -> None:
    handler = LegacyContextHandler("campaign", InMemoryDocumentStore(), Unchanging())
    campaign = await started_campaign(handler)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("record_progress", {"processed": 5, "succeeded": 5, "failed": 0}),
        ("record_progress", {"processed": 1000, "succeeded": 0, "failed": 0}),  # over the target
        ("pause", {}),
        ("update_campaign", {"name": "  Renamed  "}),
        ("update_campaign", {"params": {**PARAMS, "variable_length": 1}}),  # target below processed
        ("update_campaign", {"params": {**PARAMS, "num_domains": 3}}),  # target below processed
        ("update_campaign", {"params": {**PARAMS, "num_domains": 8}}),
        ("resume", {}),
        ("fail", {"reason": "   "}),  # empty once trimmed
        ("fail", {"reason": " broken "}),
        ("retry", {}),
        ("record_progress", {"processed": 1, "succeeded": 1, "failed": 0}),  # reaches the target
        ("restart", {}),
        ("cancel", {}),
        ("archive", {}),
        ("get_campaign", {}),
    ]
    answers: list[EventDraft] = []
    for type_, payload in steps:
        answers += await handler.handle(command(type_, payload, campaign))
    assert [a.type for a in answers] == [
        "progress_recorded",  # 7 of 16
        "command_rejected",
        "campaign_status_changed",  # paused
        "campaign_updated",
        "command_rejected",
        "command_rejected",
        "campaign_updated",  # target 8
        "campaign_status_changed",  # running
        "command_rejected",
        "campaign_status_changed",  # failed
        "campaign_status_changed",  # running
        "progress_recorded",  # 8 of 8
        "campaign_status_changed",  # completed
        "campaign_status_changed",  # running, totals reset
        "campaign_status_changed",  # cancelled
        "campaign_status_changed",  # archived
        "campaign_state",
    ]
    final = answers[-1].payload
    assert final["name"] == "Renamed" and final["status"] == "archived"
    assert final["totals"] == {"processed": 0, "succeeded": 0, "failed": 0}
