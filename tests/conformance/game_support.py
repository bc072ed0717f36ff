"""Spec-derived helpers for the game conformance suite (written from game-rules.md only).

* the deal (SplitMix64 + Fisher-Yates), weak hands, play types and values;
* `Table`: drives one room through a ContextHandler and mirrors what the events tell
  (hands, who is awaited, phase) so tests can pick legal moves;
* `simulate_game`: the outcome of a game in which every player acts like an automatic
  (disconnected) player, except for the declarations of chosen players.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from parallax_contracts.envelopes import Command, EventDraft
from parallax_contracts.handling import ContextHandler

MASK = (1 << 64) - 1
TWO32 = 1 << 32

# The spec's piece table, row by row, RED before BLACK: kind -> (points, copies).
PIECES: dict[str, tuple[int, int]] = {
    "GENERAL_RED": (14, 1),
    "GENERAL_BLACK": (13, 1),
    "ADVISOR_RED": (12, 2),
    "ADVISOR_BLACK": (11, 2),
    "ELEPHANT_RED": (10, 2),
    "ELEPHANT_BLACK": (9, 2),
    "CHARIOT_RED": (8, 2),
    "CHARIOT_BLACK": (7, 2),
    "HORSE_RED": (6, 2),
    "HORSE_BLACK": (5, 2),
    "CANNON_RED": (4, 2),
    "CANNON_BLACK": (3, 2),
    "SOLDIER_RED": (2, 5),
    "SOLDIER_BLACK": (1, 5),
}
POINTS = {kind: pts for kind, (pts, _) in PIECES.items()}
KINDS = tuple(PIECES)
DECK = tuple(kind for kind, (_, copies) in PIECES.items() for _ in range(copies))

ROOM = "3FA9C1"
PLAYERS = ("u1", "u2", "u3", "u4")
NAMES = {"u1": "Ann", "u2": "Bob", "u3": "Cat", "u4": "Dan"}


# --------------------------------------------------------------------------- dealing


def splitmix64(seed: int) -> Callable[[], int]:
    state = seed & MASK

    def nxt() -> int:
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    return nxt


def deal(seed: int) -> list[list[str]]:
    """The four hands (by seat) of the deal with this deal seed."""
    deck = list(DECK)
    nxt = splitmix64(seed)
    for i in range(31, 0, -1):
        j = nxt() % (i + 1)
        deck[i], deck[j] = deck[j], deck[i]
    return [deck[s::4] for s in range(4)]


def deal_seed(game_seed: int, round_: int, attempt: int) -> int:
    return (game_seed + round_ * TWO32 + attempt) & MASK


def game_seed_for(deal_seed_: int, round_: int = 1, attempt: int = 0) -> int:
    """The start_game seed whose deal (round, attempt) uses `deal_seed_`."""
    return (deal_seed_ - round_ * TWO32 - attempt) & MASK


def first_deal(game_seed: int) -> list[list[str]]:
    return deal(deal_seed(game_seed, 1, 0))


def is_weak(hand: Sequence[str]) -> bool:
    return all(POINTS[k] <= 9 for k in hand)


def general_red_seat(hands: Sequence[Sequence[str]]) -> int:
    return next(s for s, h in enumerate(hands) if "GENERAL_RED" in h)


def find_seed(pred: Callable[[list[list[str]]], bool], start: int = 0, limit: int = 400_000) -> int:
    """The first game seed >= start whose round-1 first deal satisfies `pred`."""
    for s in range(start, start + limit):
        if pred(first_deal(s)):
            return s
    raise AssertionError("no seed found")


def no_weak(hands: Sequence[Sequence[str]]) -> bool:
    return not any(is_weak(h) for h in hands)


# --------------------------------------------------------------------------- play types

G1 = {"GENERAL", "ADVISOR", "ELEPHANT"}
G2 = {"CHARIOT", "HORSE", "CANNON"}


def name_of(kind: str) -> str:
    return kind.split("_")[0]


def color_of(kind: str) -> str:
    return kind.split("_")[1]


def classify(pieces: Sequence[str]) -> tuple[str, int]:
    """(play_type, value) of a play, per the spec's table."""
    n = len(pieces)
    total = sum(POINTS[k] for k in pieces)
    names = [name_of(k) for k in pieces]
    counts: dict[str, int] = {}
    for nm in names:
        counts[nm] = counts.get(nm, 0) + 1
    same_color = len({color_of(k) for k in pieces}) == 1
    if n == 1:
        return "SINGLE", total
    if not same_color or n == 0:
        return "INVALID", total

    def ext_value() -> int:
        best: dict[str, int] = {}
        for k in pieces:
            best[name_of(k)] = max(best.get(name_of(k), 0), POINTS[k])
        return sum(best.values())

    in_group = set(names) <= G1 or set(names) <= G2
    if n == 2 and len(set(pieces)) == 1:
        return "PAIR", total
    if n == 3:
        if counts == {"SOLDIER": 3}:
            return "THREE_OF_A_KIND", total
        if set(names) in (G1, G2) and len(counts) == 3:
            return "STRAIGHT", total
    if n == 4:
        if counts == {"SOLDIER": 4}:
            return "FOUR_OF_A_KIND", total
        if in_group and len(counts) == 3 and sorted(counts.values()) == [1, 1, 2]:
            return "EXTENDED_STRAIGHT", ext_value()
    if n == 5:
        if counts == {"SOLDIER": 5}:
            return "FIVE_OF_A_KIND", total
        if in_group and len(counts) == 3 and sorted(counts.values()) == [1, 2, 2]:
            return "EXTENDED_STRAIGHT_5", ext_value()
    if n == 6 and counts == {"CHARIOT": 2, "HORSE": 2, "CANNON": 2}:
        return "DOUBLE_STRAIGHT", total
    return "INVALID", total


def combos_of_type(hand: Sequence[str], play_type: str) -> list[list[str]]:
    out: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for n in range(1, 7):
        for idx in itertools.combinations(range(len(hand)), n):
            combo = [hand[i] for i in idx]
            key = tuple(sorted(combo))
            if key in seen:
                continue
            seen.add(key)
            if classify(combo)[0] == play_type:
                out.append(combo)
    return out


def remove_pieces(hand: list[str], pieces: Iterable[str]) -> list[str]:
    rest = list(hand)
    for k in pieces:
        rest.remove(k)  # list.remove drops the first occurrence, as the spec says
    return rest


def has_pieces(hand: Sequence[str], pieces: Sequence[str]) -> bool:
    rest = list(hand)
    for k in pieces:
        if k not in rest:
            return False
        rest.remove(k)
    return True


# --------------------------------------------------------------------------- scoring


def base_score(declared: int, captured: int) -> int:
    if declared == 0:
        return 3 if captured == 0 else -captured
    if declared == captured:
        return declared + 5
    return -abs(declared - captured)


def allowed_values(history: Sequence[int], others_sum: int, last: bool) -> list[int]:
    out = []
    for v in range(9):
        if last and others_sum + v == 8:
            continue
        if v == 0 and len(history) >= 2 and history[-1] == 0 and history[-2] == 0:
            continue
        out.append(v)
    return out


def rotate(seq: Sequence[str], first: str) -> list[str]:
    i = list(seq).index(first)
    return list(seq[i:]) + list(seq[:i])


# --------------------------------------------------------------------------- commands

_counter = itertools.count()


def new_id() -> str:
    return str(uuid.UUID(int=next(_counter) + (0xC0FFEE << 96)))


def command(
    type_: str,
    actor: str,
    payload: Any = None,
    *,
    room: str = ROOM,
    seed: Any = None,
    command_id: str | None = None,
) -> Command:
    return Command(
        command_id=command_id or new_id(),
        context="game",
        aggregate_id=room,
        type=type_,
        actor=actor,
        payload={} if payload is None else payload,
        seed=seed,
    )


def triples(drafts: Iterable[EventDraft]) -> list[tuple[str, dict[str, Any], list[str]]]:
    return [(d.type, d.payload, d.audience) for d in drafts]


def types(drafts: Iterable[EventDraft]) -> list[str]:
    return [d.type for d in drafts]


def rejected(code: str, command_type: str, actor: str) -> list[tuple[str, dict[str, Any], list[str]]]:
    return [("command_rejected", {"code": code, "command_type": command_type}, [actor])]


# --------------------------------------------------------------------------- the table


@dataclass
class Table:
    """One room driven through a handler, with a mirror of what the events say."""

    handler: ContextHandler
    room: str = ROOM
    seats: list[str] = field(default_factory=list)
    hands: dict[str, list[str]] = field(default_factory=dict)
    queue: list[str] = field(default_factory=list)
    phase: str = "none"
    host: str | None = None
    connected: dict[str, bool] = field(default_factory=dict)
    history: dict[str, list[int]] = field(default_factory=dict)
    declared: dict[str, int] = field(default_factory=dict)
    required: int | None = None
    turn_plays: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    round: int = 0
    turn: int = 0
    log: list[EventDraft] = field(default_factory=list)

    # -- sending

    async def send(
        self,
        type_: str,
        actor: str,
        payload: Any = None,
        *,
        seed: Any = None,
        command_id: str | None = None,
    ) -> list[EventDraft]:
        cmd = command(type_, actor, payload, room=self.room, seed=seed, command_id=command_id)
        drafts = await self.handler.handle(cmd)
        self.observe(drafts)
        return drafts

    async def ok(self, type_: str, actor: str, payload: Any = None, **kw: Any) -> list[EventDraft]:
        drafts = await self.send(type_, actor, payload, **kw)
        assert drafts, f"{type_} by {actor}: empty response"
        assert "command_rejected" not in types(drafts), (type_, actor, payload, triples(drafts))
        return drafts

    async def state(self, actor: str) -> dict[str, Any]:
        drafts = await self.send("get_room_state", actor)
        assert types(drafts) == ["room_state"], triples(drafts)
        assert drafts[0].audience == [actor]
        return drafts[0].payload

    # -- set-up

    async def fill(self, n: int = 4) -> list[list[EventDraft]]:
        out = [await self.ok("create_room", PLAYERS[0], {"name": NAMES[PLAYERS[0]]})]
        for p in PLAYERS[1:n]:
            out.append(await self.ok("join_room", p, {"name": NAMES[p]}))
        return out

    async def start(self, seed: int) -> list[EventDraft]:
        await self.fill()
        return await self.ok("start_game", PLAYERS[0], seed=seed)

    # -- mirror

    def awaited(self) -> str | None:
        return self.queue[0] if self.queue else None

    def observe(self, drafts: Sequence[EventDraft]) -> None:
        for d in drafts:
            self.log.append(d)
            p = d.payload
            t = d.type
            if t == "room_created":
                self.seats = [q["player"] for q in p["players"]]
                self.host = p["host"]
                self.phase = "waiting"
                self.connected = {q: True for q in self.seats}
            elif t == "player_joined":
                self.seats.insert(p["seat"], p["player"])
                self.connected[p["player"]] = True
            elif t == "player_left":
                self.seats.remove(p["player"])
            elif t == "room_closed":
                self.phase = "closed"
                self.queue = []
            elif t == "host_changed":
                self.host = p["new_host"]
            elif t == "game_started":
                self.seats = [q["player"] for q in p["players"]]
                self.totals = {q: 0 for q in self.seats}
                self.history = {q: [] for q in self.seats}
            elif t == "hand_dealt":
                self.hands[p["player"]] = list(p["hand"])
                self.queue = []
                self.round = p["round"]
                self.turn = 0
                self.declared = {}
            elif t == "redeal_phase_started":
                self.phase = "redeal"
                self.queue = list(p["weak_players"])
            elif t == "redeal_decided":
                self.queue.pop(0)
            elif t == "round_started":
                self.phase = "declaration"
                self.queue = list(p["order"])
            elif t == "declared":
                self.queue.pop(0)
                self.declared[p["player"]] = p["value"]
                self.history[p["player"]].append(p["value"])
            elif t == "turn_started":
                self.phase = "turn"
                self.turn = p["turn"]
                self.queue = rotate(self.seats, p["starter"])
                self.required = None
                self.turn_plays = []
            elif t == "pieces_played":
                self.queue.pop(0)
                self.hands[p["player"]] = remove_pieces(self.hands[p["player"]], p["pieces"])
                if self.required is None:
                    self.required = len(p["pieces"])
                self.turn_plays.append({k: p[k] for k in ("player", "pieces", "play_type", "value")})
            elif t == "turn_completed":
                self.queue = []
            elif t == "round_scored":
                for r in p["results"]:
                    self.totals[r["player"]] = r["total"]
            elif t == "game_over":
                self.phase = "game_over"
                self.queue = []
            elif t == "player_disconnected":
                self.connected[p["player"]] = False
            elif t == "player_reconnected":
                self.connected[p["player"]] = True

    # -- moves

    def auto_value(self, player: str) -> int:
        """The smallest allowed declaration for the awaited declarer."""
        last = len(self.declared) == 3
        return allowed_values(self.history[player], sum(self.declared.values()), last)[0]

    def auto_play(self, player: str) -> list[str]:
        n = self.required or 1
        return self.hands[player][:n]

    async def act_like_auto(self, player: str) -> list[EventDraft]:
        """What an automatic player would do, sent as a command by `player`."""
        assert self.awaited() == player, (self.awaited(), player, self.phase)
        if self.phase == "redeal":
            return await self.ok("redeal_decision", player, {"accept": False})
        if self.phase == "declaration":
            return await self.ok("declare", player, {"value": self.auto_value(player)})
        return await self.ok("play", player, {"pieces": self.auto_play(player)})

    async def declare_all(self, values: dict[str, int] | None = None) -> list[EventDraft]:
        out: list[EventDraft] = []
        while self.phase == "declaration":
            p = self.awaited()
            assert p is not None
            v = values[p] if values and p in values else self.auto_value(p)
            out += await self.ok("declare", p, {"value": v})
        return out

    async def decline_all(self) -> list[EventDraft]:
        out: list[EventDraft] = []
        while self.phase == "redeal":
            p = self.awaited()
            assert p is not None
            out += await self.ok("redeal_decision", p, {"accept": False})
        return out

    async def play_round_like_auto(self) -> list[EventDraft]:
        """Plays the current round's remaining turns with first-piece moves."""
        out: list[EventDraft] = []
        start_round = self.round
        while self.phase == "turn" and self.round == start_round:
            p = self.awaited()
            assert p is not None
            out += await self.act_like_auto(p)
        return out


def room_events(drafts: Sequence[EventDraft], type_: str) -> list[dict[str, Any]]:
    return [d.payload for d in drafts if d.type == type_]


# --------------------------------------------------------------------------- simulation

Policy = Callable[[str, int, list[int], int, bool, int], int | None]
"""(player, round, own history, others' sum so far, is last, predicted captures) -> value or None
(None: the automatic choice)."""


@dataclass
class SimRound:
    round: int
    starter: str
    order: list[str]
    declared: list[tuple[str, int, bool]]  # (player, value, chosen-by-policy)
    winners: list[str]
    results: list[dict[str, Any]]
    weak: list[str]


@dataclass
class SimGame:
    rounds: list[SimRound]
    game_over: dict[str, Any]


def simulate_game(game_seed: int, players: Sequence[str] = PLAYERS, policy: Policy | None = None) -> SimGame:
    """Every redeal declined, every play the first piece(s) of the hand (so all turns are
    singles); declarations by `policy` where it returns a value, else the smallest allowed."""
    totals = dict.fromkeys(players, 0)
    history: dict[str, list[int]] = {p: [] for p in players}
    rounds: list[SimRound] = []
    prev_winner: str | None = None
    for rnd in range(1, 21):
        hands = {players[s]: h for s, h in enumerate(deal(deal_seed(game_seed, rnd, 0)))}
        starter = prev_winner or players[general_red_seat([hands[p] for p in players])]
        order = rotate(players, starter)
        weak = [p for p in order if is_weak(hands[p])]
        # turns (independent of the declarations)
        captured, winners = simulate_singles(hands, starter, players)
        prev_winner = winners[-1]
        declared: list[tuple[str, int, bool]] = []
        for i, p in enumerate(order):
            others = sum(v for _, v, _ in declared)
            last = i == 3
            allowed = allowed_values(history[p], others, last)
            chosen = policy(p, rnd, history[p], others, last, captured[p]) if policy else None
            if chosen is None:
                value, by_policy = allowed[0], False
            else:
                value = chosen if chosen in allowed else min(allowed, key=lambda v: abs(v - chosen))
                by_policy = True
            declared.append((p, value, by_policy))
            history[p].append(value)
        dmap = {p: v for p, v, _ in declared}
        results = []
        for p in players:
            base = base_score(dmap[p], captured[p])
            totals[p] += base
            results.append(
                {
                    "player": p,
                    "declared": dmap[p],
                    "captured": captured[p],
                    "base": base,
                    "delta": base,
                    "total": totals[p],
                }
            )
        rounds.append(SimRound(rnd, starter, order, declared, winners, results, weak))
        if max(totals.values()) >= 50 or rnd == 20:
            top = max(totals.values())
            return SimGame(
                rounds,
                {
                    "winners": [p for p in players if totals[p] == top],
                    "totals": dict(totals),
                    "rounds": rnd,
                },
            )
    raise AssertionError("unreachable")


def simulate_singles(
    hands: dict[str, list[str]], starter: str, seats: Sequence[str] = PLAYERS
) -> tuple[dict[str, int], list[str]]:
    """A round in which every play is the first piece of the hand: (captures, turn winners)."""
    hands = {p: list(h) for p, h in hands.items()}
    captured = dict.fromkeys(seats, 0)
    winners: list[str] = []
    ts = starter
    while hands[ts]:
        best_p, best_v = ts, -1
        for p in rotate(seats, ts):
            v = POINTS[hands[p].pop(0)]
            if v > best_v:
                best_p, best_v = p, v
        captured[best_p] += 1
        winners.append(best_p)
        ts = best_p
    return captured, winners


def exact_policy(player: str) -> Policy:
    """`player` declares what it will capture (as near as the rules allow); others auto."""

    def policy(p: str, rnd: int, hist: list[int], others: int, last: bool, captured: int) -> int | None:
        return captured if p == player else None

    return policy


async def drive_auto_game(
    table: Table, seed: int, me: str = "u1", policy: Policy | None = None
) -> list[EventDraft]:
    """Starts a game, disconnects everyone but `me`, and plays `me` like the simulation."""
    out = list(await table.start(seed))
    for p in PLAYERS:
        if p != me:
            out += await table.ok("disconnect", p)
    while table.phase not in ("game_over", "closed"):
        assert table.awaited() == me, (table.awaited(), table.phase)
        if table.phase == "declaration" and policy is not None:
            predicted = _predict_captures(table, me)
            chosen = policy(
                me,
                table.round,
                table.history[me],
                sum(table.declared.values()),
                len(table.declared) == 3,
                predicted,
            )
            if chosen is not None:
                allowed = allowed_values(
                    table.history[me], sum(table.declared.values()), len(table.declared) == 3
                )
                value = chosen if chosen in allowed else min(allowed, key=lambda v: abs(v - chosen))
                out += await table.ok("declare", me, {"value": value})
                continue
        out += await table.act_like_auto(me)
    return out


def _predict_captures(table: Table, me: str) -> int:
    """Captures of `me` this round if everyone plays first pieces (asked before any play)."""
    starter = [d.payload for d in table.log if d.type == "round_started"][-1]["starter"]
    return simulate_singles(table.hands, starter, table.seats)[0][me]
