"""The round flow: deal, weak hands and redeals, declarations, turns, scoring, automatic moves.

Every function takes the room document and the list of drafts of the current response, changes
the document in place and appends the events in the order the rules produce them.
"""

from __future__ import annotations

from typing import Any

from parallax_contracts.pieces import SEATS

from parallax_legacy.game import dealing, plays, scoring
from parallax_legacy.game.room import (
    GAME_PHASES,
    Doc,
    Drafts,
    awaited,
    emit_room,
    emit_to,
    is_connected,
    members,
    order_from,
)

MAX_DECLARATION = 8
ZERO_STREAK = 2  # this many zeros in a row and the next declaration must be at least 1

# --- dealing and redeals ---------------------------------------------------------------------


def start_round(doc: Doc, out: Drafts) -> None:
    """Step 1-3 of a round: reset, deal, choose the provisional starter, check weak hands."""
    players = members(doc)
    doc["round"] += 1
    doc["attempt"] = 0
    doc["multiplier"] = 1
    doc["turn"] = 0
    doc["turn_starter"] = None
    doc["turn_plays"] = []
    doc["required"] = None
    doc["declared"] = {player: None for player in players}
    doc["captured"] = {player: 0 for player in players}
    deal(doc, out)
    if doc["round"] == 1:
        doc["starter"] = holder_of(doc, "GENERAL_RED")
    else:
        doc["starter"] = doc["last_winner"]
    check_weak_hands(doc, out)


def deal(doc: Doc, out: Drafts) -> None:
    seed = dealing.deal_seed(doc["game_seed"], doc["round"], doc["attempt"])
    hands = dealing.deal_hands(seed)
    players = members(doc)
    for index, player in enumerate(players):
        doc["hands"][player] = hands[index]
    for player in players:
        emit_to(
            out,
            player,
            "hand_dealt",
            {
                "round": doc["round"],
                "attempt": doc["attempt"],
                "player": player,
                "hand": doc["hands"][player],
            },
        )


def holder_of(doc: Doc, kind: str) -> str:
    for player in members(doc):
        if kind in doc["hands"][player]:
            return player
    raise ValueError(f"nobody holds {kind}")


def check_weak_hands(doc: Doc, out: Drafts) -> None:
    weak = []
    for player in order_from(doc, doc["starter"]):
        if dealing.is_weak(doc["hands"][player]):
            weak.append(player)
    if not weak:
        open_declarations(doc, out)
        return
    doc["phase"] = "redeal"
    doc["redeal_order"] = weak
    doc["redeal_answers"] = []
    emit_room(
        doc,
        out,
        "redeal_phase_started",
        {"round": doc["round"], "weak_players": weak, "multiplier": doc["multiplier"]},
    )


def answer_redeal(doc: Doc, out: Drafts, player: str, accept: bool) -> None:
    doc["redeal_answers"].append(accept)
    emit_room(doc, out, "redeal_decided", {"player": player, "accept": accept})
    order: list[str] = doc["redeal_order"]
    answers: list[bool] = doc["redeal_answers"]
    if len(answers) < len(order):
        return
    first_accepter = None
    for index, answer in enumerate(answers):
        if answer:
            first_accepter = order[index]
            break
    doc["redeal_order"] = []
    doc["redeal_answers"] = []
    if first_accepter is None:
        open_declarations(doc, out)
        return
    doc["starter"] = first_accepter
    doc["multiplier"] += 1
    doc["attempt"] += 1
    emit_room(
        doc,
        out,
        "redeal_executed",
        {
            "round": doc["round"],
            "attempt": doc["attempt"],
            "starter": first_accepter,
            "multiplier": doc["multiplier"],
        },
    )
    deal(doc, out)
    check_weak_hands(doc, out)


# --- declarations ------------------------------------------------------------------------------


def open_declarations(doc: Doc, out: Drafts) -> None:
    doc["phase"] = "declaration"
    emit_room(
        doc,
        out,
        "round_started",
        {
            "round": doc["round"],
            "starter": doc["starter"],
            "multiplier": doc["multiplier"],
            "order": order_from(doc, doc["starter"]),
        },
    )


def declaration_allowed(doc: Doc, player: str, value: int) -> bool:
    if value < 0 or value > MAX_DECLARATION:
        return False
    history: list[int] = doc["history"].get(player, [])
    if value == 0 and len(history) >= ZERO_STREAK and all(v == 0 for v in history[-ZERO_STREAK:]):
        return False
    others = [v for p, v in doc["declared"].items() if p != player and v is not None]
    is_last = len(others) == SEATS - 1
    return not (is_last and sum(others) + value == MAX_DECLARATION)


def smallest_allowed_declaration(doc: Doc, player: str) -> int:
    for value in range(MAX_DECLARATION + 1):
        if declaration_allowed(doc, player, value):
            return value
    raise ValueError("no declaration allowed")  # cannot happen: at most two values are barred


def declare(doc: Doc, out: Drafts, player: str, value: int, auto: bool) -> None:
    doc["declared"][player] = value
    doc["history"].setdefault(player, []).append(value)
    emit_room(doc, out, "declared", {"player": player, "value": value, "auto": auto})
    if all(doc["declared"][p] is not None for p in members(doc)):
        doc["phase"] = "turn"
        begin_turn(doc, out, 1, doc["starter"])


# --- turns -------------------------------------------------------------------------------------


def begin_turn(doc: Doc, out: Drafts, turn: int, starter: str) -> None:
    doc["turn"] = turn
    doc["turn_starter"] = starter
    doc["turn_plays"] = []
    doc["required"] = None
    emit_room(doc, out, "turn_started", {"round": doc["round"], "turn": turn, "starter": starter})


def has_pieces(hand: list[str], pieces: list[str]) -> bool:
    remaining = list(hand)
    for kind in pieces:
        if kind not in remaining:
            return False
        remaining.remove(kind)
    return True


def play_is_legal(doc: Doc, player: str, pieces: list[str]) -> bool:
    if doc["turn_plays"]:
        if len(pieces) != doc["required"]:
            return False
    elif plays.play_type(pieces) == plays.INVALID:  # also covers 0 or more than 6 pieces
        return False
    return has_pieces(doc["hands"][player], pieces)


def play(doc: Doc, out: Drafts, player: str, pieces: list[str], auto: bool) -> None:
    hand: list[str] = doc["hands"][player]
    for kind in pieces:
        hand.remove(kind)  # the first occurrence; the rest keep their order
    ptype, value = plays.classify(pieces)
    if not doc["turn_plays"]:
        doc["required"] = len(pieces)
    doc["turn_plays"].append({"player": player, "pieces": list(pieces), "play_type": ptype, "value": value})
    emit_room(
        doc,
        out,
        "pieces_played",
        {"player": player, "pieces": pieces, "play_type": ptype, "value": value, "auto": auto},
    )
    if len(doc["turn_plays"]) == SEATS:
        complete_turn(doc, out)


def turn_winner(turn_plays: list[dict[str, Any]]) -> str:
    """The starter's play wins unless a later one has the same type and a greater value."""
    best = turn_plays[0]
    for candidate in turn_plays[1:]:
        if candidate["play_type"] == best["play_type"] and candidate["value"] > best["value"]:
            best = candidate
    winner: str = best["player"]
    return winner


def complete_turn(doc: Doc, out: Drafts) -> None:
    winner = turn_winner(doc["turn_plays"])
    piles: int = doc["required"]
    doc["captured"][winner] += piles
    doc["last_winner"] = winner
    emit_room(
        doc,
        out,
        "turn_completed",
        {
            "round": doc["round"],
            "turn": doc["turn"],
            "winner": winner,
            "piles": piles,
            "plays": doc["turn_plays"],
        },
    )
    if all(not doc["hands"][p] for p in members(doc)):
        doc["turn_plays"] = []
        doc["required"] = None
        score_round(doc, out)
    else:
        begin_turn(doc, out, doc["turn"] + 1, winner)


# --- scoring -------------------------------------------------------------------------------------


def score_round(doc: Doc, out: Drafts) -> None:
    results = []
    for player in members(doc):
        declared: int = doc["declared"][player]
        captured: int = doc["captured"][player]
        base = scoring.base_score(declared, captured)
        delta = base * doc["multiplier"]
        doc["totals"][player] = doc["totals"].get(player, 0) + delta
        results.append(
            {
                "player": player,
                "declared": declared,
                "captured": captured,
                "base": base,
                "delta": delta,
                "total": doc["totals"][player],
            }
        )
    emit_room(
        doc,
        out,
        "round_scored",
        {"round": doc["round"], "multiplier": doc["multiplier"], "results": results},
    )
    totals = [doc["totals"][p] for p in members(doc)]
    if scoring.is_game_over(totals, doc["round"]):
        doc["phase"] = "game_over"
        top = max(totals)
        emit_room(
            doc,
            out,
            "game_over",
            {
                "winners": [p for p in members(doc) if doc["totals"][p] == top],
                "totals": {p: doc["totals"][p] for p in members(doc)},
                "rounds": doc["round"],
            },
        )
    else:
        start_round(doc, out)


# --- disconnected players ------------------------------------------------------------------------


def run_automatic(doc: Doc, out: Drafts) -> None:
    """While the game waits for a disconnected player, make their move for them."""
    while doc["phase"] in GAME_PHASES:
        player = awaited(doc)
        if player is None or is_connected(doc, player):
            return
        if doc["phase"] == "redeal":
            answer_redeal(doc, out, player, False)
        elif doc["phase"] == "declaration":
            declare(doc, out, player, smallest_allowed_declaration(doc, player), auto=True)
        elif doc["turn_plays"]:
            play(doc, out, player, doc["hands"][player][: doc["required"]], auto=True)
        else:
            play(doc, out, player, doc["hands"][player][:1], auto=True)
