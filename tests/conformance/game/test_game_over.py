"""Whole games driven through automatic players, checked against the spec's arithmetic:
game over by score, at round 20, with tied winners; and what a finished room still does."""

from __future__ import annotations

from typing import Any

from game_support import (
    PLAYERS,
    SimGame,
    Table,
    drive_auto_game,
    exact_policy,
    rejected,
    simulate_game,
    triples,
)

ALL = list(PLAYERS)
BY_SCORE_SEED = 0  # u1 declares its captures: reaches 50 in round 7
TIE_SEED = 4  # everyone automatic: round 20 ends with u1 and u3 tied


def split_rounds(drafts: list[Any]) -> list[list[Any]]:
    """The events of each round, from its first hand_dealt (attempt 0) to its round_scored."""
    rounds: list[list[Any]] = []
    for d in drafts:
        if d.type == "hand_dealt" and d.payload["attempt"] == 0 and d.payload["player"] == "u1":
            rounds.append([])
        if rounds:
            rounds[-1].append(d)
    return rounds


def check_game(drafts: list[Any], sim: SimGame, me: str = "u1") -> None:
    rounds = split_rounds(drafts)
    assert len(rounds) == len(sim.rounds)
    for events, exp in zip(rounds, sim.rounds, strict=True):
        rnd = exp.round

        def pays(t: str, events: list[Any] = events) -> list[dict[str, Any]]:
            return [d.payload for d in events if d.type == t]

        assert [d.audience for d in events if d.type == "hand_dealt"] == [[p] for p in PLAYERS]
        if exp.weak:
            assert pays("redeal_phase_started") == [{"round": rnd, "weak_players": exp.weak, "multiplier": 1}]
            assert pays("redeal_decided") == [{"player": p, "accept": False} for p in exp.weak]
        else:
            assert pays("redeal_phase_started") == []
        assert pays("round_started") == [
            {"round": rnd, "starter": exp.starter, "multiplier": 1, "order": exp.order}
        ]
        assert pays("declared") == [{"player": p, "value": v, "auto": p != me} for p, v, _ in exp.declared], (
            rnd
        )
        played = pays("pieces_played")
        assert len(played) == 32
        assert all(pp["play_type"] == "SINGLE" and len(pp["pieces"]) == 1 for pp in played)
        assert all(pp["auto"] is (pp["player"] != me) for pp in played)
        completed = pays("turn_completed")
        assert [c["winner"] for c in completed] == exp.winners, rnd
        assert [(c["round"], c["turn"], c["piles"]) for c in completed] == [(rnd, t, 1) for t in range(1, 9)]
        assert pays("turn_started") == [
            {"round": rnd, "turn": t, "starter": s}
            for t, s in zip(range(1, 9), [exp.starter, *exp.winners[:7]], strict=True)
        ]
        assert pays("round_scored") == [{"round": rnd, "multiplier": 1, "results": exp.results}]
        assert all(d.audience == ALL for d in events if d.type != "hand_dealt")
    # the game ends right after the last round_scored
    assert triples(drafts[-2:]) == [
        (
            "round_scored",
            {"round": sim.rounds[-1].round, "multiplier": 1, "results": sim.rounds[-1].results},
            ALL,
        ),
        ("game_over", sim.game_over, ALL),
    ]
    assert drafts[-3].type == "turn_completed"
    assert drafts[-4].type == "pieces_played"
    assert [d.type for d in drafts].count("game_over") == 1


async def test_game_over_by_score(game) -> None:
    sim = simulate_game(BY_SCORE_SEED, policy=exact_policy("u1"))
    assert sim.game_over["rounds"] < 20
    assert max(sim.game_over["totals"].values()) >= 50
    assert all(max(r["total"] for r in rd.results) < 50 for rd in sim.rounds[:-1])
    table = Table(game)
    drafts = await drive_auto_game(table, BY_SCORE_SEED, policy=exact_policy("u1"))
    check_game(drafts, sim)
    assert sim.game_over["winners"] == ["u1"]
    await _after_game_over(table, sim)


async def test_game_over_at_round_20_with_tied_winners(game) -> None:
    sim = simulate_game(TIE_SEED)
    assert sim.game_over["rounds"] == 20
    assert len(sim.game_over["winners"]) == 2
    assert max(sim.game_over["totals"].values()) < 50
    table = Table(game)
    drafts = await drive_auto_game(table, TIE_SEED)
    check_game(drafts, sim)


async def _after_game_over(table: Table, sim: SimGame) -> None:
    last = sim.rounds[-1]
    state = await table.state("u1")
    assert state == {
        "phase": "game_over",
        "room_id": table.room,
        "host": "u1",
        "players": [
            {
                "seat": s,
                "player": p,
                "name": state["players"][s]["name"],
                "connected": p == "u1",
                "declared": next(r["declared"] for r in last.results if r["player"] == p),
                "captured": next(r["captured"] for r in last.results if r["player"] == p),
                "total": sim.game_over["totals"][p],
                "hand_size": 0,
            }
            for s, p in enumerate(PLAYERS)
        ],
        "round": last.round,
        "turn": 8,
        "multiplier": state["multiplier"],
        "starter": None,
        "awaiting": [],
        "hand": [],
        "turn_plays": [],
        "required": None,
    }
    for actor, type_, payload, seed in [
        ("u1", "declare", {"value": 1}, None),
        ("u1", "play", {"pieces": ["GENERAL_RED"]}, None),
        ("u1", "redeal_decision", {"accept": False}, None),
        ("u1", "start_game", {}, 9),
        ("u2", "declare", {"value": 1}, None),
    ]:
        assert triples(await table.send(type_, actor, payload, seed=seed)) == rejected(
            "invalid_state", type_, actor
        )
    assert triples(await table.send("start_game", "u2", seed=9)) == rejected("forbidden", "start_game", "u2")
    assert triples(await table.send("join_room", "u9", {"name": "Zed"})) == rejected(
        "invalid_state", "join_room", "u9"
    )
    drafts = await table.send("reconnect", "u2")
    assert [d.type for d in drafts] == ["player_reconnected", "room_state"]
    assert triples(drafts[:1]) == [("player_reconnected", {"player": "u2"}, ALL)]
    assert drafts[1].audience == ["u2"] and drafts[1].payload["phase"] == "game_over"
    # the host leaves: host passes to the next connected seat (u2), no automatic actions
    assert triples(await table.send("leave_room", "u1")) == [
        ("player_disconnected", {"player": "u1"}, ALL),
        ("host_changed", {"old_host": "u1", "new_host": "u2"}, ALL),
    ]
    assert triples(await table.send("disconnect", "u1")) == rejected("invalid_state", "disconnect", "u1")
    assert triples(await table.send("disconnect", "u2")) == [("room_closed", {"reason": "abandoned"}, ALL)]
    assert triples(await table.send("get_room_state", "u2")) == rejected("not_found", "get_room_state", "u2")
