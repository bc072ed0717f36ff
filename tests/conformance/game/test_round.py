"""A round: start events, redeals, declarations, the end of a round, scoring x multiplier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from game_support import (
    PLAYERS,
    Table,
    base_score,
    deal,
    deal_seed,
    find_seed,
    first_deal,
    general_red_seat,
    is_weak,
    no_weak,
    rejected,
    rotate,
    simulate_singles,
    triples,
)

ALL = list(PLAYERS)


def search(pred: Callable[[int], bool], start: int = 0, limit: int = 200_000) -> int:
    for s in range(start, start + limit):
        if pred(s):
            return s
    raise AssertionError("no seed")


def hands_of(seed: int, rnd: int, attempt: int) -> dict[str, list[str]]:
    return dict(zip(PLAYERS, deal(deal_seed(seed, rnd, attempt)), strict=True))


def weak_in_order(hands: dict[str, list[str]], starter: str) -> list[str]:
    return [p for p in rotate(PLAYERS, starter) if is_weak(hands[p])]


def dealt(seed: int, rnd: int, attempt: int) -> list[Any]:
    return [
        ("hand_dealt", {"round": rnd, "attempt": attempt, "player": p, "hand": h}, [p])
        for p, h in hands_of(seed, rnd, attempt).items()
    ]


async def test_start_without_weak_hands_opens_declarations(game) -> None:
    seed = find_seed(no_weak)
    starter = PLAYERS[general_red_seat(first_deal(seed))]
    table = Table(game)
    drafts = await table.start(seed)
    assert triples(drafts)[1:] == [
        *dealt(seed, 1, 0),
        (
            "round_started",
            {"round": 1, "starter": starter, "multiplier": 1, "order": rotate(PLAYERS, starter)},
            ALL,
        ),
    ]


async def test_declarations_and_first_turn(game) -> None:
    seed = find_seed(no_weak)
    starter = PLAYERS[general_red_seat(first_deal(seed))]
    order = rotate(PLAYERS, starter)
    table = Table(game)
    await table.start(seed)
    values = [8, 0, 3, 2]  # a running total of 8 is fine before the last declarer
    for i, (p, v) in enumerate(zip(order, values, strict=True)):
        drafts = await table.send("declare", p, {"value": v})
        expected: list[Any] = [("declared", {"player": p, "value": v, "auto": False}, ALL)]
        if i == 3:
            expected.append(("turn_started", {"round": 1, "turn": 1, "starter": starter}, ALL))
        assert triples(drafts) == expected
    state = await table.state(order[2])
    assert [(q["player"], q["declared"]) for q in state["players"]] == [
        (p, values[order.index(p)]) for p in PLAYERS
    ]
    assert (state["phase"], state["turn"], state["starter"], state["awaiting"]) == (
        "turn",
        1,
        starter,
        [starter],
    )


async def test_last_declarer_cannot_make_eight(game) -> None:
    seed = find_seed(no_weak)
    order = rotate(PLAYERS, PLAYERS[general_red_seat(first_deal(seed))])
    # one room per case (fresh ids)
    for n, (firsts, bad, good) in enumerate([([2, 2, 2], 2, 3), ([8, 0, 0], 0, 1), ([0, 0, 0], 8, 7)]):
        table = Table(game, room=f"ABC00{n}")
        await table.start(seed)
        for p, v in zip(order, firsts, strict=False):
            await table.ok("declare", p, {"value": v})
        before = await table.state(order[3])
        assert triples(await table.send("declare", order[3], {"value": bad})) == rejected(
            "invalid_input", "declare", order[3]
        )
        assert await table.state(order[3]) == before
        drafts = await table.ok("declare", order[3], {"value": good})
        assert drafts[0].payload == {"player": order[3], "value": good, "auto": False}


async def _to_round_3_declaration(game, first_two: list[int]) -> Table:
    """u1 (connected) declares `first_two` in rounds 1-2; the others are automatic."""
    table = Table(game)
    await table.start(0)
    for p in ("u2", "u3", "u4"):
        await table.ok("disconnect", p)
    while not (table.round == 3 and table.phase == "declaration" and table.awaited() == "u1"):
        assert table.awaited() == "u1"
        if table.phase == "declaration":
            await table.ok("declare", "u1", {"value": first_two[table.round - 1]})
        else:
            await table.act_like_auto("u1")
    assert table.history["u1"] == first_two
    # the automatic declarers before u1 leave room for 0 and 1
    assert sum(table.declared.values()) < 7
    return table


async def test_zero_rule_across_rounds(game) -> None:
    table = await _to_round_3_declaration(game, [0, 0])
    before = await table.state("u1")
    assert triples(await table.send("declare", "u1", {"value": 0})) == rejected(
        "invalid_input", "declare", "u1"
    )
    assert await table.state("u1") == before
    drafts = await table.ok("declare", "u1", {"value": 1})
    assert drafts[0].payload == {"player": "u1", "value": 1, "auto": False}


async def test_zero_rule_needs_two_consecutive_zeros(game) -> None:
    table = await _to_round_3_declaration(game, [0, 1])
    drafts = await table.ok("declare", "u1", {"value": 0})
    assert drafts[0].payload == {"player": "u1", "value": 0, "auto": False}


def _scoring_seed(s: int) -> bool:
    h0 = hands_of(s, 1, 0)
    prov = PLAYERS[general_red_seat([h0[p] for p in PLAYERS])]
    weak = weak_in_order(h0, prov)
    if not weak:
        return False
    h1 = hands_of(s, 1, 1)
    if any(is_weak(h) for h in h1.values()):
        return False
    caps, _ = simulate_singles(h1, weak[0])
    pos = [p for p in PLAYERS if caps[p] > 0]
    zero = [p for p in PLAYERS if caps[p] == 0]
    if len(pos) < 2 or not zero:
        return False
    decl = _scoring_declarations(caps)
    total = sum(decl.values())
    return total != 8


def _scoring_declarations(caps: dict[str, int]) -> dict[str, int]:
    pos = [p for p in PLAYERS if caps[p] > 0]
    zero = [p for p in PLAYERS if caps[p] == 0]
    decl = {zero[0]: 0, pos[0]: 0, pos[1]: caps[pos[1]]}
    rest = next(p for p in PLAYERS if p not in decl)
    decl[rest] = caps[rest] + 1
    return decl


async def test_redeal_accepted_then_scoring_times_multiplier(game) -> None:
    seed = search(_scoring_seed)
    h0 = hands_of(seed, 1, 0)
    prov = PLAYERS[general_red_seat([h0[p] for p in PLAYERS])]
    weak = weak_in_order(h0, prov)
    table = Table(game)
    drafts = await table.start(seed)
    assert triples(drafts)[-1] == (
        "redeal_phase_started",
        {"round": 1, "weak_players": weak, "multiplier": 1},
        ALL,
    )
    starter = weak[0]
    for i, p in enumerate(weak):
        accept = i == 0
        drafts = await table.send("redeal_decision", p, {"accept": accept})
        expected: list[Any] = [("redeal_decided", {"player": p, "accept": accept}, ALL)]
        if i == len(weak) - 1:
            expected += [
                (
                    "redeal_executed",
                    {"round": 1, "attempt": 1, "starter": starter, "multiplier": 2},
                    ALL,
                ),
                *dealt(seed, 1, 1),
                (
                    "round_started",
                    {
                        "round": 1,
                        "starter": starter,
                        "multiplier": 2,
                        "order": rotate(PLAYERS, starter),
                    },
                    ALL,
                ),
            ]
        assert triples(drafts) == expected
    h1 = hands_of(seed, 1, 1)
    caps, winners = simulate_singles(h1, starter)
    decl = _scoring_declarations(caps)
    await table.declare_all(decl)
    drafts = await table.play_round_like_auto()
    results = []
    for p in PLAYERS:
        base = base_score(decl[p], caps[p])
        results.append(
            {
                "player": p,
                "declared": decl[p],
                "captured": caps[p],
                "base": base,
                "delta": base * 2,
                "total": base * 2,
            }
        )
    # all four scoring cases are present
    bases = {(r["declared"] == 0, r["captured"] == 0, r["declared"] == r["captured"]) for r in results}
    assert (True, True, True) in bases and (True, False, False) in bases
    assert any(r["base"] == r["declared"] + 5 and r["declared"] > 0 for r in results)
    assert any(r["base"] == -1 and r["declared"] > 0 for r in results)
    completed = [d.payload for d in drafts if d.type == "turn_completed"]
    assert [c["winner"] for c in completed] == winners
    assert [c["turn"] for c in completed] == list(range(1, 9))
    assert [d.payload["turn"] for d in drafts if d.type == "turn_started"] == list(range(2, 9))
    i = [d.type for d in drafts].index("round_scored")
    assert [d.type for d in drafts[i - 2 : i]] == ["pieces_played", "turn_completed"]
    assert triples(drafts[i : i + 5]) == [
        ("round_scored", {"round": 1, "multiplier": 2, "results": results}, ALL),
        *dealt(seed, 2, 0),
    ]
    # the next round starts at multiplier 1 with the winner of the last turn
    h2 = hands_of(seed, 2, 0)
    nxt = drafts[i + 5]
    weak2 = weak_in_order(h2, winners[-1])
    if weak2:
        assert triples([nxt]) == [
            ("redeal_phase_started", {"round": 2, "weak_players": weak2, "multiplier": 1}, ALL)
        ]
    else:
        assert triples([nxt]) == [
            (
                "round_started",
                {
                    "round": 2,
                    "starter": winners[-1],
                    "multiplier": 1,
                    "order": rotate(PLAYERS, winners[-1]),
                },
                ALL,
            )
        ]
    assert len(drafts) == i + 6
    state = await table.state("u1")
    assert [q["total"] for q in state["players"]] == [r["total"] for r in results]
    assert [q["declared"] for q in state["players"]] == [None] * 4
    assert [q["captured"] for q in state["players"]] == [0] * 4
    assert state["round"] == 2


def _two_weak_then_weak(s: int) -> bool:
    h0 = hands_of(s, 1, 0)
    prov = PLAYERS[general_red_seat([h0[p] for p in PLAYERS])]
    weak = weak_in_order(h0, prov)
    if len(weak) < 2:
        return False
    return bool(weak_in_order(hands_of(s, 1, 1), weak[0]))


async def test_redeal_answers_order_and_chained_redeal(game) -> None:
    seed = search(_two_weak_then_weak)
    h0 = hands_of(seed, 1, 0)
    prov = PLAYERS[general_red_seat([h0[p] for p in PLAYERS])]
    weak = weak_in_order(h0, prov)
    table = Table(game)
    await table.start(seed)
    strong = next(p for p in PLAYERS if p not in weak)
    # only the next weak player may answer
    for p in (strong, weak[1]):
        assert triples(await table.send("redeal_decision", p, {"accept": True})) == rejected(
            "not_your_turn", "redeal_decision", p
        )
    assert triples(await table.send("declare", weak[0], {"value": 1})) == rejected(
        "invalid_state", "declare", weak[0]
    )
    state = await table.state(weak[0])
    assert (state["phase"], state["round"], state["turn"], state["multiplier"]) == ("redeal", 1, 0, 1)
    assert (state["starter"], state["awaiting"]) == (prov, [weak[0]])
    assert state["hand"] == h0[weak[0]]
    assert [q["hand_size"] for q in state["players"]] == [8] * 4
    assert [q["declared"] for q in state["players"]] == [None] * 4

    drafts = await table.send("redeal_decision", weak[0], {"accept": True})
    assert triples(drafts) == [("redeal_decided", {"player": weak[0], "accept": True}, ALL)]
    # answers are still collected after an accept; an answered player is not asked again
    assert triples(await table.send("redeal_decision", weak[0], {"accept": True})) == rejected(
        "not_your_turn", "redeal_decision", weak[0]
    )
    assert (await table.state("u1"))["awaiting"] == [weak[1]]
    for p in weak[1:-1]:
        await table.ok("redeal_decision", p, {"accept": False})
    drafts = await table.send("redeal_decision", weak[-1], {"accept": False})
    h1 = hands_of(seed, 1, 1)
    weak1 = weak_in_order(h1, weak[0])
    assert triples(drafts) == [
        ("redeal_decided", {"player": weak[-1], "accept": False}, ALL),
        ("redeal_executed", {"round": 1, "attempt": 1, "starter": weak[0], "multiplier": 2}, ALL),
        *dealt(seed, 1, 1),
        ("redeal_phase_started", {"round": 1, "weak_players": weak1, "multiplier": 2}, ALL),
    ]
    state = await table.state("u1")
    assert (state["phase"], state["multiplier"], state["starter"], state["awaiting"]) == (
        "redeal",
        2,
        weak[0],
        [weak1[0]],
    )
    drafts = await table.decline_all()
    assert triples(drafts)[-1] == (
        "round_started",
        {"round": 1, "starter": weak[0], "multiplier": 2, "order": rotate(PLAYERS, weak[0])},
        ALL,
    )
    assert [d.type for d in drafts] == ["redeal_decided"] * len(weak1) + ["round_started"]


async def test_second_weak_player_accepting_becomes_starter(game) -> None:
    seed = search(lambda s: len(weak_in_order(*_h0_prov(s))) >= 2)
    h0, prov = _h0_prov(seed)
    weak = weak_in_order(h0, prov)
    table = Table(game)
    await table.start(seed)
    drafts: list[Any] = []
    for i, p in enumerate(weak):
        drafts = await table.ok("redeal_decision", p, {"accept": i >= 1})
    assert drafts[0].payload == {"player": weak[-1], "accept": len(weak) >= 2}
    executed = next(d.payload for d in drafts if d.type == "redeal_executed")
    assert executed == {"round": 1, "attempt": 1, "starter": weak[1], "multiplier": 2}
    assert [d.payload["hand"] for d in drafts if d.type == "hand_dealt"] == deal(deal_seed(seed, 1, 1))


def _h0_prov(s: int) -> tuple[dict[str, list[str]], str]:
    h0 = hands_of(s, 1, 0)
    return h0, PLAYERS[general_red_seat([h0[p] for p in PLAYERS])]


async def test_all_decline_plays_the_weak_hands(game) -> None:
    seed = search(lambda s: len(weak_in_order(*_h0_prov(s))) >= 2)
    h0, prov = _h0_prov(seed)
    weak = weak_in_order(h0, prov)
    table = Table(game)
    await table.start(seed)
    drafts = await table.decline_all()
    assert triples(drafts) == [
        *[("redeal_decided", {"player": p, "accept": False}, ALL) for p in weak],
        (
            "round_started",
            {"round": 1, "starter": prov, "multiplier": 1, "order": rotate(PLAYERS, prov)},
            ALL,
        ),
    ]
    assert (await table.state(weak[0]))["hand"] == h0[weak[0]]
