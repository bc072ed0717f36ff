"""Scripts of simulated users: four players playing a whole game, campaign owners and intruders."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parallax_cli.sim.client import Reply, SimClient
from parallax_cli.sim.game_bot import choose_move

Progress = Callable[[], None]


@dataclass
class Tally:
    sent: int = 0
    answered: int = 0
    rejected: int = 0
    unanswered: list[str] = field(default_factory=list)
    first_event_latencies: list[float] = field(default_factory=list)
    games_over: int = 0
    campaigns_completed: int = 0

    def record(self, reply: Reply) -> None:
        self.sent += 1
        if reply.events:
            self.answered += 1
        if reply.rejected:
            self.rejected += 1
        if reply.latency_first_event is not None:
            self.first_event_latencies.append(reply.latency_first_event)


async def play_room(
    clients: list[SimClient], seed: int, tally: Tally, on_command: Progress, max_moves: int = 5000
) -> str:
    """Create a room, seat four players, play to `game_over`. Returns the room id."""
    rng = random.Random(seed)
    by_user = {c.user: c for c in clients}
    histories: dict[str, list[int]] = {c.user: [] for c in clients}

    async def send(client: SimClient, command_type: str, payload: dict[str, Any], room: str | None) -> Reply:
        reply = await client.send("game", command_type, payload, room)
        tally.record(reply)
        on_command()
        return reply

    def room_state(reply: Reply) -> dict[str, Any]:
        event = reply.first("room_state")
        if event is None:
            raise RuntimeError(f"no room_state in reply: {reply.events}")
        return dict(event["payload"])

    host = clients[0]
    created = await send(host, "create_room", {"name": f"Host {host.user}"}, None)
    room = created.aggregate_id
    for guest in clients[1:]:
        await send(guest, "join_room", {"name": f"Player {guest.user}"}, room)
    await send(host, "start_game", {}, room)

    view = room_state(await send(host, "get_room_state", {}, room))
    for _ in range(max_moves):
        if view["phase"] == "game_over":
            tally.games_over += 1
            return room
        if not view["awaiting"]:
            raise RuntimeError(f"room {room} awaits nobody in phase {view['phase']}")
        mover = by_user[view["awaiting"][0]]
        decision_view = {**view, "hand": list(mover.hand)}
        move = choose_move(decision_view, mover.user, histories[mover.user], rng)
        if move is None:
            raise RuntimeError(f"{mover.user} has no move in {view}")
        reply = await send(mover, move[0], move[1], room)
        if reply.rejected:
            # Its own events had not all arrived yet: ask for its own view and move again.
            own = room_state(await send(mover, "get_room_state", {}, room))
            move = choose_move(own, mover.user, histories[mover.user], rng)
            if move is None:
                view = own
                continue
            reply = await send(mover, move[0], move[1], room)
            if reply.rejected:
                raise RuntimeError(f"{mover.user}'s {move} was refused: {reply.rejected}")
        if move[0] == "declare":
            histories[mover.user].append(int(move[1]["value"]))
        view = room_state(await send(mover, "get_room_state", {}, room))
    raise RuntimeError(f"room {room} did not finish within {max_moves} moves")


DOMAIN_PARAMS = {
    "pattern_type": "prefix",
    "variable_length": 2,
    "character_set": "abc",
    "constant_string": "shop",
    "tld": ".com",
}


async def run_campaign(
    owner: SimClient, intruder: SimClient, admin: SimClient, tally: Tally, on_command: Progress
) -> str:
    """One campaign's life: created, started, progressed to completion (9 domains), with a user
    lacking permissions and an admin acting on it along the way."""

    async def send(client: SimClient, command_type: str, payload: dict[str, Any], cid: str | None) -> Reply:
        reply = await client.send("campaign", command_type, payload, cid)
        tally.record(reply)
        on_command()
        return reply

    created = await send(
        owner,
        "create_campaign",
        {"name": f"  Leads of {owner.user} ", "kind": "domain_generation", "params": DOMAIN_PARAMS},
        None,
    )
    cid = created.aggregate_id
    await send(intruder, "start", {}, cid)  # forbidden: not the owner, no permission
    await send(owner, "update_campaign", {"name": "Leads, renamed"}, cid)
    await send(owner, "start", {}, cid)
    await send(owner, "record_progress", {"processed": 4, "succeeded": 3, "failed": 1}, cid)
    await send(admin, "pause", {}, cid)  # admin acts on anyone's campaign
    await send(intruder, "get_campaign", {}, cid)  # forbidden
    await send(owner, "record_progress", {"processed": 1, "succeeded": 1, "failed": 0}, cid)  # paused
    await send(owner, "resume", {}, cid)
    done = await send(owner, "record_progress", {"processed": 5, "succeeded": 5, "failed": 0}, cid)
    if any(e["event"] == "campaign_status_changed" for e in done.events):
        tally.campaigns_completed += 1
    await send(owner, "get_campaign", {}, cid)
    await send(owner, "archive", {}, cid)
    await send(owner, "pause", {}, cid)  # archived: invalid_state
    return cid
