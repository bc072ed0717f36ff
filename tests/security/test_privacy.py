"""Privacy over whole simulated sessions: a player only ever sees their own hand and their own
`room_state`; a campaign's events reach only its owner and the actor of each command; a socket
with no part in anything receives nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from parallax_cli.sim.client import Reply, SimClient
from parallax_cli.sim.players import Tally, play_room, run_campaign
from parallax_cli.stack import Stack
from parallax_gateway.auth import mint_token

from .helpers import OWNER_PERMS, SECRET

pytestmark = pytest.mark.e2e


class RecordingClient(SimClient):
    """A SimClient that remembers the ids of the commands it sent."""

    def __init__(self, url: str, user: str, permissions: list[str] | None = None) -> None:
        super().__init__(url, mint_token(user, SECRET, permissions or []), user)
        self.sent: set[str] = set()

    async def send(
        self, context: str, command_type: str, payload: dict[str, Any], aggregate_id: str | None = None
    ) -> Reply:
        reply = await super().send(context, command_type, payload, aggregate_id)
        self.sent.add(reply.command_id)
        return reply


async def test_a_whole_game_shows_each_player_only_their_own_hand(stack: Stack) -> None:
    players = [RecordingClient(stack.gateway_ws, f"pv-{i}") for i in range(4)]
    outsider = RecordingClient(stack.gateway_ws, "pv-outsider")
    for client in [*players, outsider]:
        await client.connect()
    tally = Tally()
    try:
        room = await asyncio.wait_for(play_room(players, seed=7, tally=tally, on_command=lambda: None), 150)
        await asyncio.sleep(0.5)  # the last fan-out
    finally:
        for client in [*players, outsider]:
            await client.close()
    assert tally.games_over == 1
    for client in players:
        hands = [e for e in client.all_events if e["event"] == "hand_dealt"]
        assert hands, f"{client.user} saw no deal"
        assert all(e["payload"]["player"] == client.user for e in hands), client.user
        states = [e for e in client.all_events if e["event"] == "room_state"]
        assert states and all(e["command_id"] in client.sent for e in states), client.user
        rejections = [e for e in client.all_events if e["event"] == "command_rejected"]
        assert all(e["command_id"] in client.sent for e in rejections), client.user
        assert all(e["aggregate_id"] == room for e in client.all_events)
    # Each player's own hands, and no one else's, are the ones dealt to them.
    dealt = {(e["payload"]["player"], e["command_id"], e["payload"]["attempt"], e["payload"]["round"])
             for c in players for e in c.all_events if e["event"] == "hand_dealt"}  # fmt: skip
    assert len({d[0] for d in dealt}) == 4
    assert outsider.all_events == [] and outsider.errors == []


async def test_campaign_events_reach_only_the_owner_and_the_actor(stack: Stack) -> None:
    owner = RecordingClient(stack.gateway_ws, "pc-owner", OWNER_PERMS)
    intruder = RecordingClient(stack.gateway_ws, "pc-intruder", [])
    admin = RecordingClient(stack.gateway_ws, "pc-admin", ["campaigns:admin"])
    other_owner = RecordingClient(stack.gateway_ws, "pc-other", OWNER_PERMS)
    bystander = RecordingClient(stack.gateway_ws, "pc-bystander", ["campaigns:admin"])
    clients = [owner, intruder, admin, other_owner, bystander]
    for client in clients:
        await client.connect()
    tally = Tally()
    try:
        mine, theirs = await asyncio.gather(
            run_campaign(owner, intruder, admin, tally, lambda: None),
            run_campaign(other_owner, intruder, admin, tally, lambda: None),
        )
        await asyncio.sleep(0.5)
    finally:
        for client in clients:
            await client.close()
    assert tally.campaigns_completed == 2
    # Owners: only their own campaign, and nothing of what the intruder tried on it.
    for client, campaign in ((owner, mine), (other_owner, theirs)):
        assert client.all_events
        assert {e["aggregate_id"] for e in client.all_events} == {campaign}, client.user
        assert not any(e["command_id"] in intruder.sent for e in client.all_events)
        # Actor-only events are the owner's own.
        for e in client.all_events:
            if e["event"] in ("command_rejected", "campaign_state"):
                assert e["command_id"] in client.sent
    # Intruder and admin: only the events of the commands they sent themselves.
    for client in (intruder, admin):
        assert client.all_events
        assert all(e["command_id"] in client.sent for e in client.all_events), client.user
    assert all(e["event"] == "command_rejected" for e in intruder.all_events)
    # An admin who acted on nothing receives nothing.
    assert bystander.all_events == []
