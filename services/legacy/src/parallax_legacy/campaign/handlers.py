"""Procedural command handlers over the campaign document.

The document (stored by the legacy handler as the aggregate's state):
    {"campaign_id", "owner", "name", "kind", "params" (defaults filled in), "status",
     "totals": {"processed", "succeeded", "failed"}, "last_failure_reason"}

Each handler gets the document as stored, already checked for shape, existence, permission,
ownership and status; it checks the value rules and returns an Outcome. It never changes the
document it was given: a change builds a new one (`revised`: a shallow copy with new top-level
values; nested values, `params` and `totals`, are replaced whole, never changed in place), so a
refusal needs no copy at all.
"""

from __future__ import annotations

from typing import Any

from parallax_contracts.envelopes import Command, rejection

from parallax_legacy.campaign import events
from parallax_legacy.campaign.shapes import shape_ok
from parallax_legacy.campaign.transitions import (
    has_permission,
    may_act_on,
    next_status,
    status_allows,
)
from parallax_legacy.campaign.validation import (
    KINDS,
    clean_name,
    clean_params,
    clean_reason,
    target_for_params,
    target_of,
)
from parallax_legacy.ports import Document, Lookup, Outcome


def refuse(command: Command, code: str) -> Outcome:
    return Outcome(state=None, drafts=[rejection(code, command.type, command.actor)])


def revised(stored: Document, **changes: Any) -> Document:
    """A new document: `stored` with some top-level values replaced (shared values are never
    changed in place, by any handler, so sharing them with the stored document is safe)."""
    return {**stored, **changes}


def handle_command(state: Document | None, command: Command, lookup: Lookup) -> Outcome:
    # 1. payload shape
    if not shape_ok(command.type, command.aggregate_id, command.payload):
        return refuse(command, "invalid_input")
    payload: dict[str, Any] = command.payload
    permissions = list(command.permissions)

    if command.type == "create_campaign":
        # 2. (no existence check) 3. permission 4. state: an existing id
        if not has_permission(permissions, command.type):
            return refuse(command, "forbidden")
        if state is not None:
            return refuse(command, "invalid_state")
        return do_create(command, payload, lookup)

    # 2. exists
    if state is None:
        return refuse(command, "not_found")
    doc = state  # read only (see the module's docstring): no copy
    # 3. permission and ownership
    if not has_permission(permissions, command.type):
        return refuse(command, "forbidden")
    if not may_act_on(doc, command.actor, permissions):
        return refuse(command, "forbidden")
    # 4. status
    if not status_allows(doc["status"], command.type):
        return refuse(command, "invalid_state")
    # 5. value rules, then the change
    if command.type == "get_campaign":
        return Outcome(state=None, drafts=[events.campaign_state(doc, command.actor)])
    if command.type == "update_campaign":
        return do_update(doc, command, payload, lookup)
    if command.type == "record_progress":
        return do_record_progress(doc, command, payload)
    if command.type == "fail":
        return do_fail(doc, command, payload)
    return do_transition(doc, command, None)


def do_create(command: Command, payload: dict[str, Any], lookup: Lookup) -> Outcome:
    name = clean_name(payload["name"])
    if name is None:
        return refuse(command, "invalid_input")
    kind = payload["kind"]
    if kind not in KINDS:
        return refuse(command, "invalid_input")
    params = clean_params(kind, payload["params"], command.actor, lookup)
    if params is None:
        return refuse(command, "invalid_input")

    doc: Document = {
        "campaign_id": command.aggregate_id,
        "owner": command.actor,
        "name": name,
        "kind": kind,
        "params": params,
        "status": "draft",
        "totals": {"processed": 0, "succeeded": 0, "failed": 0},
        "last_failure_reason": None,
    }
    return Outcome(state=doc, drafts=[events.campaign_created(doc, command.actor)])


def do_update(doc: Document, command: Command, payload: dict[str, Any], lookup: Lookup) -> Outcome:
    new_name = doc["name"]
    if "name" in payload:
        new_name = clean_name(payload["name"])
        if new_name is None:
            return refuse(command, "invalid_input")

    new_params = doc["params"]
    if "params" in payload:
        # The kind is fixed; the source campaign must belong to the campaign's owner.
        new_params = clean_params(doc["kind"], payload["params"], doc["owner"], lookup)
        if new_params is None:
            return refuse(command, "invalid_input")
        # An update may not set a domain_generation target below the processed total.
        too_low = (
            doc["kind"] == "domain_generation" and target_for_params(new_params) < doc["totals"]["processed"]
        )
        if too_low:
            return refuse(command, "invalid_input")

    new = revised(doc, name=new_name, params=new_params)
    return Outcome(state=new, drafts=[events.campaign_updated(new, command.actor)])


def do_fail(doc: Document, command: Command, payload: dict[str, Any]) -> Outcome:
    reason = clean_reason(payload["reason"])
    if reason is None:
        return refuse(command, "invalid_input")
    return do_transition(revised(doc, last_failure_reason=reason), command, reason)


def do_transition(doc: Document, command: Command, reason: str | None) -> Outcome:
    old = doc["status"]
    new = next_status(command.type)
    changed = revised(doc, status=new)
    if command.type == "restart":
        changed["totals"] = {"processed": 0, "succeeded": 0, "failed": 0}
    return Outcome(
        state=changed,
        drafts=[events.status_changed(changed, command.actor, old, new, reason)],
    )


def do_record_progress(doc: Document, command: Command, payload: dict[str, Any]) -> Outcome:
    processed: int = payload["processed"]
    succeeded: int = payload["succeeded"]
    failed: int = payload["failed"]
    if processed < 0 or succeeded < 0 or failed < 0:
        return refuse(command, "invalid_input")
    if succeeded + failed > processed:
        return refuse(command, "invalid_input")

    totals = doc["totals"]
    new_processed = totals["processed"] + processed
    target = target_of(doc)
    if target is not None and new_processed > target:
        return refuse(command, "invalid_input")

    new_totals = {
        "processed": new_processed,
        "succeeded": totals["succeeded"] + succeeded,
        "failed": totals["failed"] + failed,
    }
    new = revised(doc, totals=new_totals)
    drafts = [events.progress_recorded(new, command.actor, processed, succeeded, failed)]

    if target is not None and new_processed == target:
        new["status"] = "completed"
        drafts.append(events.status_changed(new, command.actor, "running", "completed", None))
    return Outcome(state=new, drafts=drafts)
