"""The Campaign aggregate: lifecycle, progress and the rules that guard them.

Command methods check state first, then values (the spec's precedence), and only then trigger a
domain event; the `@event` methods only apply already-decided facts, so replaying them never
re-checks anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from parallax_domain.campaign.params import (
    CampaignDirectory,
    CampaignParams,
    DomainGenerationParams,
    parse_params,
)
from parallax_domain.campaign.values import (
    FORBIDDEN,
    INVALID_STATE,
    Kind,
    Progress,
    Rejected,
    Status,
    Totals,
    campaign_kind,
    campaign_name,
    failure_reason,
    invalid_input,
    percent_of,
)

# --- access -------------------------------------------------------------------------------

ADMIN: Final = "campaigns:admin"
REQUIRED_PERMISSION: Final[dict[str, str]] = {
    "create_campaign": "campaigns:create",
    "update_campaign": "campaigns:update",
    "get_campaign": "campaigns:read",
    "archive": "campaigns:delete",
    "start": "campaigns:execute",
    "pause": "campaigns:execute",
    "resume": "campaigns:execute",
    "complete": "campaigns:execute",
    "fail": "campaigns:execute",
    "retry": "campaigns:execute",
    "restart": "campaigns:execute",
    "cancel": "campaigns:execute",
    "record_progress": "campaigns:execute",
}


def authorize(command_type: str, actor: str, permissions: Iterable[str], owner: str | None) -> None:
    """`campaigns:admin` grants every permission and lifts the owner check; otherwise the
    command's permission is needed and, on an existing campaign (`owner`), the actor must own it."""
    granted = set(permissions)
    if ADMIN in granted:
        return
    if REQUIRED_PERMISSION[command_type] not in granted:
        raise Rejected(FORBIDDEN)
    if owner is not None and owner != actor:
        raise Rejected(FORBIDDEN)


# --- lifecycle ----------------------------------------------------------------------------

Transition = Literal["start", "pause", "resume", "complete", "fail", "retry", "restart", "cancel", "archive"]
TRANSITIONS: Final[dict[Transition, tuple[frozenset[Status], Status]]] = {
    "start": (frozenset({"draft"}), "running"),
    "pause": (frozenset({"running"}), "paused"),
    "resume": (frozenset({"paused"}), "running"),
    "complete": (frozenset({"running", "paused"}), "completed"),
    "fail": (frozenset({"running"}), "failed"),
    "retry": (frozenset({"failed"}), "running"),
    "restart": (frozenset({"completed"}), "running"),
    "cancel": (frozenset({"draft", "running", "paused", "failed"}), "cancelled"),
    "archive": (frozenset({"completed", "cancelled"}), "archived"),
}
UPDATABLE: Final[frozenset[Status]] = frozenset({"draft", "paused"})
RECORDING: Final[frozenset[Status]] = frozenset({"running"})


class Campaign(Aggregate):
    """One lead-generation campaign; its id is the campaign id."""

    class Created(Aggregate.Created):
        owner: str
        name: str
        kind: str
        params: CampaignParams

    class Updated(Aggregate.Event):
        name: str
        params: CampaignParams

    class ProgressRecorded(Aggregate.Event):
        processed: int
        succeeded: int
        failed: int

    class Started(Aggregate.Event):
        pass

    class Paused(Aggregate.Event):
        pass

    class Resumed(Aggregate.Event):
        pass

    class Completed(Aggregate.Event):
        pass

    class Failed(Aggregate.Event):
        reason: str

    class Retried(Aggregate.Event):
        pass

    class Restarted(Aggregate.Event):
        pass

    class Cancelled(Aggregate.Event):
        pass

    class Archived(Aggregate.Event):
        pass

    # --- creation -------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        campaign_id: UUID,
        *,
        owner: str,
        name: str,
        kind: str,
        params: object,
        directory: CampaignDirectory,
    ) -> Campaign:
        """Value rules of `create_campaign` (permission and id collision are checked before)."""
        valid_name = campaign_name(name)
        valid_kind = campaign_kind(kind)
        valid_params = parse_params(valid_kind, params, owner=owner, directory=directory)
        return cls(campaign_id, owner, valid_name, valid_kind, valid_params)

    @event(Created)
    def __init__(self, id: UUID, owner: str, name: str, kind: str, params: CampaignParams) -> None:
        self.owner = owner
        self.name = name
        self.kind: Kind = campaign_kind(kind)
        self.params = params
        self.status: Status = "draft"
        self.totals = Totals()
        self.failure_reason: str | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Campaign:
        """A cheap deep copy: a command copies its campaign up to three times (out of the
        repository's cache, and twice to render public events from the state before it), and
        the generic deepcopy walked every value object field by field.

        The state holds only immutable values (str, int, None, UUID, datetime, and frozen
        dataclasses of those and of tuples) besides the list of pending events (immutable
        events); copying that list is a deep copy. `tests/test_campaign_domain_smoke.py`
        checks the types."""
        clone = object.__new__(type(self))
        clone.__dict__.update(
            {key: list(value) if type(value) is list else value for key, value in self.__dict__.items()}
        )
        return clone

    # --- queries --------------------------------------------------------------------------

    @property
    def target(self) -> int | None:
        """How many domains a `domain_generation` campaign generates; None for other kinds."""
        if isinstance(self.params, DomainGenerationParams):
            return self.params.target
        return None

    @property
    def percent(self) -> Decimal | None:
        target = self.target
        return None if target is None else percent_of(self.totals.processed, target)

    # --- commands -------------------------------------------------------------------------

    def update(self, *, name: str | None, params: object | None, directory: CampaignDirectory) -> None:
        self._require(UPDATABLE)
        new_name = self.name if name is None else campaign_name(name)
        new_params = (
            self.params
            if params is None
            else parse_params(self.kind, params, owner=self.owner, directory=directory)
        )
        if isinstance(new_params, DomainGenerationParams) and new_params.target < self.totals.processed:
            raise invalid_input()
        self._updated(name=new_name, params=new_params)

    def record_progress(self, processed: int, succeeded: int, failed: int) -> None:
        self._require(RECORDING)
        progress = Progress.parse(processed, succeeded, failed)
        target = self.target
        if target is not None and self.totals.add(progress).processed > target:
            raise invalid_input()
        self._progress_recorded(
            processed=progress.processed, succeeded=progress.succeeded, failed=progress.failed
        )
        if target is not None and self.totals.processed == target:
            self._completed()

    def start(self) -> None:
        self._require_transition("start")
        self._started()

    def pause(self) -> None:
        self._require_transition("pause")
        self._paused()

    def resume(self) -> None:
        self._require_transition("resume")
        self._resumed()

    def complete(self) -> None:
        self._require_transition("complete")
        self._completed()

    def fail(self, reason: str) -> None:
        self._require_transition("fail")
        self._failed(reason=failure_reason(reason))

    def retry(self) -> None:
        self._require_transition("retry")
        self._retried()

    def restart(self) -> None:
        self._require_transition("restart")
        self._restarted()

    def cancel(self) -> None:
        self._require_transition("cancel")
        self._cancelled()

    def archive(self) -> None:
        self._require_transition("archive")
        self._archived()

    def _require_transition(self, transition: Transition) -> None:
        self._require(TRANSITIONS[transition][0])

    def _require(self, allowed: frozenset[Status]) -> None:
        if self.status not in allowed:
            raise Rejected(INVALID_STATE)

    # --- event application (no rules here: replay must reproduce the state) ---------------

    @event(Updated)
    def _updated(self, name: str, params: CampaignParams) -> None:
        self.name = name
        self.params = params

    @event(ProgressRecorded)
    def _progress_recorded(self, processed: int, succeeded: int, failed: int) -> None:
        self.totals = self.totals.add(Progress(processed, succeeded, failed))

    @event(Started)
    def _started(self) -> None:
        self.status = TRANSITIONS["start"][1]

    @event(Paused)
    def _paused(self) -> None:
        self.status = TRANSITIONS["pause"][1]

    @event(Resumed)
    def _resumed(self) -> None:
        self.status = TRANSITIONS["resume"][1]

    @event(Completed)
    def _completed(self) -> None:
        self.status = TRANSITIONS["complete"][1]

    @event(Failed)
    def _failed(self, reason: str) -> None:
        self.status = TRANSITIONS["fail"][1]
        self.failure_reason = reason

    @event(Retried)
    def _retried(self) -> None:
        self.status = TRANSITIONS["retry"][1]
        self.failure_reason = None

    @event(Restarted)
    def _restarted(self) -> None:
        self.status = TRANSITIONS["restart"][1]
        self.totals = Totals()

    @event(Cancelled)
    def _cancelled(self) -> None:
        self.status = TRANSITIONS["cancel"][1]

    @event(Archived)
    def _archived(self) -> None:
        self.status = TRANSITIONS["archive"][1]
