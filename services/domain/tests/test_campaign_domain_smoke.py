"""Smoke checks of the domain campaign context (the shared behaviour suite lives in tests/)."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from parallax_contracts.envelopes import Command, EventDraft
from parallax_domain.campaign import Campaign, CampaignApplication
from parallax_domain.campaign.params import (
    DnsValidationParams,
    DomainGenerationParams,
    HttpKeywordValidationParams,
)
from parallax_domain.campaign.values import Totals
from parallax_domain.factory import in_memory_handler
from parallax_domain.handler import DomainContextHandler

pytestmark = pytest.mark.asyncio

ALL = [
    "campaigns:create",
    "campaigns:read",
    "campaigns:execute",
    "campaigns:update",
    "campaigns:delete",
]
DOMAIN_PARAMS = {
    "pattern_type": "prefix",
    "variable_length": 2,
    "character_set": "ab",
    "constant_string": "shop",
    "tld": ".com",
}


class Client:
    def __init__(self, handler: DomainContextHandler) -> None:
        self.handler = handler

    async def send(
        self,
        type_: str,
        campaign_id: str,
        payload: Any = None,
        *,
        actor: str = "alice",
        permissions: list[str] | None = None,
        command_id: str | None = None,
    ) -> list[EventDraft]:
        command = Command(
            command_id=command_id or str(uuid.uuid4()),
            context="campaign",
            aggregate_id=campaign_id,
            type=type_,
            actor=actor,
            permissions=ALL if permissions is None else permissions,
            payload={} if payload is None else payload,
        )
        return await self.handler.handle(command)

    async def create(self, kind: str, params: dict[str, Any], **kw: Any) -> str:
        campaign_id = str(uuid.uuid4())
        events = await self.send(
            "create_campaign", campaign_id, {"name": "C", "kind": kind, "params": params}, **kw
        )
        assert [e.type for e in events] == ["campaign_created"], events
        return campaign_id


def types(events: list[EventDraft]) -> list[str]:
    return [e.type for e in events]


def rejected(events: list[EventDraft]) -> str:
    assert types(events) == ["command_rejected"], events
    return str(events[0].payload["code"])


@pytest.fixture
def client() -> Client:
    return Client(in_memory_handler("campaign"))


async def test_domain_generation_lifecycle(client: Client) -> None:
    cid = str(uuid.uuid4())
    created = await client.send(
        "create_campaign",
        cid,
        {"name": "  Spring \u3000", "kind": "domain_generation", "params": DOMAIN_PARAMS},
    )
    assert created == [
        EventDraft(
            type="campaign_created",
            payload={
                "campaign_id": cid,
                "owner": "alice",
                "name": "Spring",
                "kind": "domain_generation",
                "params": {**DOMAIN_PARAMS, "num_domains": 0},
                "status": "draft",
            },
            audience=["alice"],
        )
    ]
    state = await client.send("get_campaign", cid)
    assert state[0].payload["percent"] == 0.0
    assert state[0].payload["totals"] == {"processed": 0, "succeeded": 0, "failed": 0}

    started = await client.send("start", cid)
    assert started[0].payload == {"from": "draft", "to": "running", "reason": None}

    progress = await client.send("record_progress", cid, {"processed": 1, "succeeded": 1, "failed": 0})
    assert progress[0].payload == {
        "processed": 1,
        "succeeded": 1,
        "failed": 0,
        "totals": {"processed": 1, "succeeded": 1, "failed": 0},
        "percent": 25.0,
    }
    assert types(await client.send("pause", cid)) == ["campaign_status_changed"]
    updated = await client.send("update_campaign", cid, {"name": "Renamed"})
    assert updated[0].payload == {"name": "Renamed", "params": {**DOMAIN_PARAMS, "num_domains": 0}}
    await client.send("resume", cid)

    # Passing the target (4 combinations) is refused; reaching it completes the campaign.
    too_many = {"processed": 4, "succeeded": 0, "failed": 0}
    assert rejected(await client.send("record_progress", cid, too_many)) == "invalid_input"
    done = await client.send("record_progress", cid, {"processed": 3, "succeeded": 1, "failed": 1})
    assert types(done) == ["progress_recorded", "campaign_status_changed"]
    assert done[0].payload["percent"] == 100.0
    assert done[1].payload == {"from": "running", "to": "completed", "reason": None}

    await client.send("restart", cid)
    state = await client.send("get_campaign", cid)
    assert state[0].payload["status"] == "running"
    assert state[0].payload["totals"] == {"processed": 0, "succeeded": 0, "failed": 0}

    failed = await client.send("fail", cid, {"reason": "  dns down "})
    assert failed[0].payload == {"from": "running", "to": "failed", "reason": "dns down"}
    await client.send("retry", cid)
    await client.send("complete", cid)
    archived = await client.send("archive", cid)
    assert archived[0].payload == {"from": "completed", "to": "archived", "reason": None}
    assert rejected(await client.send("cancel", cid)) == "invalid_state"
    assert rejected(await client.send("get_campaign", cid, {"x": 1})) == "invalid_input"
    final = await client.send("get_campaign", cid)
    assert final[0].payload["status"] == "archived"
    assert final[0].payload["name"] == "Renamed"


async def test_percent_rounds_half_up_and_num_domains_is_kept(client: Client) -> None:
    # 3 combinations; num_domains above them is kept as sent, the target is capped.
    params = {**DOMAIN_PARAMS, "variable_length": 1, "character_set": "abc", "num_domains": 9}
    cid = await client.create("domain_generation", params)
    await client.send("start", cid)
    first = await client.send("record_progress", cid, {"processed": 1, "succeeded": 0, "failed": 0})
    assert first[0].payload["percent"] == 33.33
    second = await client.send("record_progress", cid, {"processed": 1, "succeeded": 0, "failed": 0})
    assert second[0].payload["percent"] == 66.67
    state = await client.send("get_campaign", cid)
    assert state[0].payload["params"]["num_domains"] == 9

    # `both` doubles the exponent: 4^(2*1) = 16 combinations, target 8; 1/8 = 12.5%.
    both = {
        **DOMAIN_PARAMS,
        "pattern_type": "both",
        "variable_length": 1,
        "character_set": "abcd",
        "num_domains": 8,
    }
    cid2 = await client.create("domain_generation", both)
    await client.send("start", cid2)
    one = await client.send("record_progress", cid2, {"processed": 1, "succeeded": 0, "failed": 0})
    assert one[0].payload["percent"] == 12.5


async def test_refusals_and_precedence(client: Client) -> None:
    cid = await client.create("domain_generation", DOMAIN_PARAMS)
    send = client.send
    # shape
    assert rejected(await send("start", cid, {"x": None})) == "invalid_input"
    assert rejected(await send("frobnicate", cid)) == "invalid_input"
    assert rejected(await send("start", cid.upper())) == "invalid_input"
    assert rejected(await send("fail", cid, {"reason": None})) == "invalid_input"
    assert rejected(await send("update_campaign", cid, {})) == "invalid_input"
    bad_progress = {"processed": True, "succeeded": 0, "failed": 0}
    assert rejected(await send("record_progress", cid, bad_progress)) == "invalid_input"
    float_progress = {"processed": 1.0, "succeeded": 0, "failed": 0}
    assert rejected(await send("record_progress", cid, float_progress)) == "invalid_input"
    # shape before not_found / forbidden
    assert rejected(await send("start", str(uuid.uuid4()), [])) == "invalid_input"
    assert rejected(await send("start", cid, {"a": 1}, actor="mallory")) == "invalid_input"
    # not_found before forbidden
    assert rejected(await send("start", str(uuid.uuid4()), permissions=[])) == "not_found"
    # forbidden before invalid_state
    assert rejected(await send("resume", cid, actor="mallory")) == "forbidden"
    assert rejected(await send("start", cid, permissions=["campaigns:read"])) == "forbidden"
    assert rejected(await send("get_campaign", cid, actor="mallory")) == "forbidden"
    # invalid_state before value rules
    assert rejected(await send("fail", cid, {"reason": ""})) == "invalid_state"
    long_name = {"name": "x" * 101}
    assert rejected(await send("update_campaign", cid, long_name)) == "invalid_input"
    await send("start", cid)
    assert rejected(await send("update_campaign", cid, long_name)) == "invalid_state"
    assert rejected(await send("fail", cid, {"reason": " \t "})) == "invalid_input"
    negative = {"processed": -1, "succeeded": 0, "failed": 0}
    assert rejected(await send("record_progress", cid, negative)) == "invalid_input"
    overfull = {"processed": 1, "succeeded": 1, "failed": 1}
    assert rejected(await send("record_progress", cid, overfull)) == "invalid_input"
    # create on an existing id
    create = {"name": "x", "kind": "domain_generation", "params": DOMAIN_PARAMS}
    assert rejected(await send("create_campaign", cid, create)) == "invalid_state"
    assert rejected(await send("create_campaign", cid, create, permissions=[])) == "forbidden"
    # value rules of create
    for params in (
        {**DOMAIN_PARAMS, "extra": 1},
        {**DOMAIN_PARAMS, "num_domains": None},
        {**DOMAIN_PARAMS, "character_set": "aa"},
        {**DOMAIN_PARAMS, "constant_string": "-shop"},
        {**DOMAIN_PARAMS, "tld": ".com\n"},
        {**DOMAIN_PARAMS, "variable_length": 13},
        {k: v for k, v in DOMAIN_PARAMS.items() if k != "tld"},
    ):
        body = {"name": "x", "kind": "domain_generation", "params": params}
        assert rejected(await send("create_campaign", str(uuid.uuid4()), body)) == "invalid_input"
    body = {"name": "x", "kind": "nope", "params": {}}
    assert rejected(await send("create_campaign", str(uuid.uuid4()), body)) == "invalid_input"


async def test_source_campaigns_and_admin(client: Client) -> None:
    gen = await client.create("domain_generation", DOMAIN_PARAMS)
    dns_params = {"source_campaign_id": gen, "resolvers": ["8.8.8.8", "2001:db8::1"]}
    dns = await client.create("dns_validation", dns_params)
    state = await client.send("get_campaign", dns)
    assert state[0].payload["params"] == {
        **dns_params,
        "batch_size": 50,
        "retry_attempts": 1,
        "rotation_interval_seconds": 0,
    }
    assert state[0].payload["percent"] is None

    for bad in (
        {**dns_params, "resolvers": ["010.0.0.1"]},
        {**dns_params, "resolvers": ["fe80::1%eth0"]},
        {**dns_params, "source_campaign_id": dns},  # wrong kind
        {**dns_params, "source_campaign_id": str(uuid.uuid4())},  # missing
    ):
        body = {"name": "d", "kind": "dns_validation", "params": bad}
        assert rejected(await client.send("create_campaign", str(uuid.uuid4()), body)) == ("invalid_input")
    # Another user may not build on alice's campaigns.
    body = {"name": "d", "kind": "dns_validation", "params": dns_params}
    assert rejected(await client.send("create_campaign", str(uuid.uuid4()), body, actor="bob")) == (
        "invalid_input"
    )

    http_params = {"source_campaign_id": dns, "keywords": [" a ", " a "]}
    http = await client.create("http_keyword_validation", http_params)
    state = await client.send("get_campaign", http)
    assert state[0].payload["params"]["target_ports"] == [80, 443]
    assert state[0].payload["params"]["keywords"] == [" a ", " a "]

    # An admin acts on alice's campaign; the events go to the owner and the admin.
    started = await client.send("start", http, actor="root", permissions=["campaigns:admin"])
    assert started[0].audience == ["alice", "root"]
    progress = await client.send("record_progress", http, {"processed": 5, "succeeded": 5, "failed": 0})
    assert progress[0].payload["percent"] is None
    looked = await client.send("get_campaign", http, actor="root", permissions=["campaigns:admin"])
    assert looked[0].audience == ["root"]
    assert looked[0].payload["owner"] == "alice"


def stored_events(app: CampaignApplication, campaign_id: str) -> int:
    return len(list(app.events.get(uuid.UUID(campaign_id))))


async def test_refused_command_saves_nothing_and_redelivery_is_idempotent() -> None:
    app = CampaignApplication()
    client = Client(DomainContextHandler(app, in_thread=False))
    cid = await client.create("domain_generation", DOMAIN_PARAMS)
    campaign: Campaign = app.repository.get(uuid.UUID(cid))
    assert isinstance(campaign, Campaign)
    assert stored_events(app, cid) == 1
    await client.send("pause", cid)  # invalid_state
    await client.send("update_campaign", cid, {"name": ""})  # invalid_input
    assert stored_events(app, cid) == 1

    command_id = str(uuid.uuid4())
    first = await client.send("start", cid, command_id=command_id)
    again = await client.send("start", cid, command_id=command_id)
    assert first == again
    assert types(first) == ["campaign_status_changed"]
    assert stored_events(app, cid) == 2


async def test_sqlite_file_reopen(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "c.db")}
    app = CampaignApplication(env=env)
    client = Client(DomainContextHandler(app, in_thread=False))
    gen = await client.create("domain_generation", {**DOMAIN_PARAMS, "variable_length": 12})
    dns = await client.create("dns_validation", {"source_campaign_id": gen, "resolvers": ["::1"]})
    await client.send("start", gen)
    for _ in range(3):
        await client.send("record_progress", gen, {"processed": 7, "succeeded": 5, "failed": 1})
    app.take_snapshot(uuid.UUID(gen))
    await client.send("record_progress", gen, {"processed": 1, "succeeded": 0, "failed": 0})
    before = [await client.send("get_campaign", c) for c in (gen, dns)]
    app.close()

    reopened = CampaignApplication(env=env)
    client = Client(DomainContextHandler(reopened, in_thread=False))
    after = [await client.send("get_campaign", c) for c in (gen, dns)]
    assert after == before
    assert after[0][0].payload["totals"] == {"processed": 22, "succeeded": 15, "failed": 3}
    # 22 * 100 / 2^12 = 0.537109375 -> 0.54
    assert after[0][0].payload["percent"] == 0.54
    http = {"source_campaign_id": dns, "keywords": ["k"]}
    assert types(
        await client.send(
            "create_campaign",
            str(uuid.uuid4()),
            {"name": "h", "kind": "http_keyword_validation", "params": http},
        )
    ) == ["campaign_created"]
    reopened.close()


# Campaign.__deepcopy__ copies the attribute dict and its lists only: right as long as every
# other value in a campaign is immutable.
IMMUTABLE = (str, int, type(None), uuid.UUID, datetime, Totals)
PARAMS = (DomainGenerationParams, DnsValidationParams, HttpKeywordValidationParams)


def assert_immutable_state(campaign: Campaign) -> None:
    for name, value in vars(campaign).items():
        if type(value) is list:  # the pending events, which are frozen
            assert all(dataclasses.is_dataclass(e) for e in value), name
            continue
        if isinstance(value, PARAMS):
            assert type(value).__dataclass_params__.frozen  # type: ignore[attr-defined]
            for field in dataclasses.fields(value):
                item = getattr(value, field.name)
                assert isinstance(item, str | int | tuple), (name, field.name)
            continue
        assert isinstance(value, IMMUTABLE), (name, type(value))


async def test_campaign_copies_are_independent_and_share_only_immutable_values() -> None:
    app = CampaignApplication()
    client = Client(DomainContextHandler(app, in_thread=False))
    gen = await client.create("domain_generation", DOMAIN_PARAMS)
    dns = await client.create("dns_validation", {"source_campaign_id": gen, "resolvers": ["::1"]})
    http = {"source_campaign_id": dns, "keywords": ["k"]}
    web = await client.create("http_keyword_validation", http)
    await client.send("start", gen)
    await client.send("record_progress", gen, {"processed": 1, "succeeded": 1, "failed": 0})
    await client.send("start", dns)
    await client.send("fail", dns, {"reason": "resolver down"})
    for cid in (gen, dns, web):
        campaign = app.repository.get(uuid.UUID(cid))
        assert isinstance(campaign, Campaign)
        assert_immutable_state(campaign)

    original = app.repository.get(uuid.UUID(gen))
    clone = copy.deepcopy(original)
    clone.record_progress(1, 0, 1)
    assert len(clone.pending_events) == 1 and not original.pending_events
    assert clone.totals.processed == 2 and original.totals.processed == 1
    assert clone.version == original.version + 1
