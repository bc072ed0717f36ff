"""Regression tests for the two bugs the chaos suite found (docs/chaos.md), without a stack."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from nats.aio.client import Client
from parallax_comparator.app import consumer_ack_wait, orphan_max_age
from parallax_comparator.core.pairing import PairingSettings, PairingTable
from parallax_contracts.envelopes import Command, EventDraft
from parallax_runtime import acked_publisher, handler_service
from parallax_runtime.settings import ComparatorSettings


@pytest.mark.parametrize("env", [{}, {"ack_wait_seconds": 40.0}, {"ack_wait_seconds": 5.0}])
def test_events_wait_for_a_routing_record_redelivered_after_a_comparator_restart(env: dict[str, Any]) -> None:
    """A comparator killed holding a routing record gets it again after ack_wait; the events
    that arrive meanwhile must still be waiting then, else the command is never compared."""
    settings = ComparatorSettings(**env)
    ack_wait = consumer_ack_wait(settings)
    table: PairingTable[bytes] = PairingTable(
        PairingSettings(deadline_s=settings.deadline_seconds, orphan_max_age_s=orphan_max_age(settings))
    )
    cid = str(uuid.uuid4())
    assert table.add_event(cid, "legacy", 0, 1, b"{}", now=0.0) == []
    # The record (and domain's event) come back with the redelivery, ack_wait later.
    assert table.expire(ack_wait) == []
    record = {"command_id": cid, "context": "game", "aggregate_id": "ABC123", "type": "get_room_state",
              "primary": "domain", "shadow": "legacy"}  # fmt: skip
    assert table.add_record(record, now=ack_wait) == []
    [outcome] = table.add_event(cid, "domain", 0, 1, b"{}", now=ack_wait + 0.1)
    assert (outcome.status, outcome.reason) == ("paired", "complete")


async def test_a_response_whose_acks_never_come_fails_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch, nc: Client
) -> None:
    """A publish lost in a NATS restart is never acknowledged: the handler shell's publisher
    must give up (and the command be retried) rather than hold its partition for ever."""
    # The one default every AckedPublisher takes (the router's and the handlers').
    monkeypatch.setattr(acked_publisher, "PUBLISH_ACK_TIMEOUT_SECONDS", 0.2)
    # A core subscriber takes the events and never answers, as no stream does.
    silent_subject = f"parallax.silent.{uuid.uuid4().hex}"
    monkeypatch.setattr(handler_service, "events_subject", lambda impl, command: silent_subject)
    silent = await nc.subscribe(silent_subject)
    publisher = handler_service.response_publisher(nc)
    await publisher.start()
    command = Command(
        command_id=str(uuid.uuid4()), context="game", aggregate_id="ABC123", type="get_room_state", actor="u"
    )
    drafts = [EventDraft(type="room_state", payload={}, audience=["u"])]
    try:
        publishing = asyncio.create_task(
            handler_service.publish_response(publisher, "legacy", "primary", command, drafts, 0.1)
        )
        done, _ = await asyncio.wait({publishing}, timeout=3.0)
        assert publishing in done, "the response's publish still waits for acks that never come"
        assert isinstance(publishing.exception(), TimeoutError)
        assert silent.pending_msgs == 1  # published once, then given up on
        assert publisher.pending() == 0
    finally:
        await publisher.stop()
        await silent.unsubscribe()
