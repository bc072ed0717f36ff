"""Normalize one side's response by the ignore rules, before the diff.

A normalized event keeps `type`, `payload` and `audience` only (everything else in the envelope
is correlation or timing). Containers the rules do not touch are shared with the input, not
copied; the input is never mutated.
"""

from __future__ import annotations

import fnmatch
import json
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from parallax_comparator.core.rules import EACH, GLOB, INDEX, KEY, NormalizationRules, OpNode

_TYPE_RANK = {type(None): 0, bool: 1, int: 2, float: 2, str: 3}


def canonical_key(value: Any) -> tuple[int, Any]:
    """A total order over JSON values, used to sort arrays whose order does not matter."""
    rank = _TYPE_RANK.get(type(value))
    if rank is None:
        return (4, json.dumps(value, sort_keys=True, separators=(",", ":"), default=str))
    if rank == 0:
        return (0, 0)
    return (rank, value)


def apply_tree(value: Any, node: OpNode) -> Any:
    """Apply a compiled drop/unordered tree to `value`, copying only what it changes."""
    if node.children:
        if isinstance(value, dict):
            out = dict(value)
            for (kind, arg), child in node.children:
                if kind == KEY:
                    keys: list[Any] = [arg] if arg in out else []
                elif kind == GLOB:
                    pattern = str(arg)
                    keys = [k for k in out if isinstance(k, str) and fnmatch.fnmatchcase(k, pattern)]
                else:
                    continue
                for k in keys:
                    if child.drop:
                        del out[k]
                    else:
                        out[k] = apply_tree(out[k], child)
            value = out
        elif isinstance(value, list):
            items = list(value)
            dropped: set[int] = set()
            for (kind, arg), child in node.children:
                if kind == EACH:
                    indices: range | tuple[int, ...] = range(len(items))
                elif kind == INDEX:
                    i = int(arg)
                    indices = (i,) if i < len(items) else ()
                else:
                    continue
                for i in indices:
                    if child.drop:
                        dropped.add(i)
                    else:
                        items[i] = apply_tree(items[i], child)
            value = [v for i, v in enumerate(items) if i not in dropped] if dropped else items
    if node.unordered and isinstance(value, list):
        value = sorted(value, key=canonical_key)
    return value


_by_seq = operator.itemgetter("seq")


def normalize(
    response: Sequence[Mapping[str, Any]], context: str, rules: NormalizationRules
) -> list[dict[str, Any]]:
    """The events of one side (sorted by `seq` here if they are not), reduced to type, payload
    and audience, with the rules of (context, event type) applied."""
    events = response
    if len(response) > 1:
        try:  # noqa: SIM105 (contextlib.suppress costs a microsecond here)
            events = sorted(response, key=_by_seq)
        except (KeyError, TypeError):  # no or odd seq: keep the order given
            pass
    trees = rules.trees(context)
    out: list[dict[str, Any]] = []
    for event in events:
        etype = event["type"]
        norm: dict[str, Any] = {
            "type": etype,
            "payload": event.get("payload"),
            "audience": event.get("audience"),
        }
        tree = trees[etype] if etype in trees else rules.tree(context, etype)
        if tree is not None:
            norm = apply_tree(norm, tree)
        out.append(norm)
    return out
