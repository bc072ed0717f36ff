"""Comparisons on `parallax.comparisons.<ctx>.<result>` (protocol.md): one message per command
the comparator compared and stored, in the COMPARISONS stream (docs/comparison.md, "Published
comparisons"). What the store keeps, less both normalized responses: a subscriber looks those
up by command id (`parallax report`, the comparator's `/report`, the store)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

ComparisonResult = Literal[
    "match",
    "payload_mismatch",
    "sequence_mismatch",
    "rejection_mismatch",
    "missing_legacy",
    "missing_domain",
]

# The largest encoded message the comparator publishes (NATS's max_payload is 1 MiB): past it the
# diffs are left out (`diffs_truncated`), and past it without them the text fields are cut to
# MAX_TEXT_CHARS. A comparison is always published, never refused for its size.
MAX_COMPARISON_MESSAGE_BYTES = 64 * 1024
MAX_TEXT_CHARS = 1024
_TEXT_FIELDS = ("context", "aggregate_id", "command_type", "reason", "signature")


class FieldDiff(BaseModel):
    """One field that differs: `path` as the comparator writes it (`[2].payload.hand[0]`: event
    index, then the path in the event). A side where the path does not exist has no key at all
    (`left` or `right` absent), so a JSON `null` there is a real null."""

    model_config = ConfigDict(extra="ignore")

    path: str
    left: Any = Field(default=None, description="The legacy side's value; absent if the path is not there.")
    right: Any = Field(default=None, description="The domain side's value; absent if the path is not there.")

    @model_serializer(mode="wrap")
    def _absent_sides_stay_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for side in ("left", "right"):
            if side not in self.model_fields_set:
                data.pop(side, None)
        return data


class ComparisonMessage(BaseModel):
    """One stored comparison. Header `Nats-Msg-Id`: the command id (a republish of the same
    comparison within the stream's duplicate window is dropped)."""

    model_config = ConfigDict(extra="ignore", use_attribute_docstrings=True)

    command_id: str
    context: str
    """`game` or `campaign`; `unknown` when the routing record named none (the subject says
    `unknown` too, as it does for any context that cannot be a subject token)."""
    aggregate_id: str | None
    command_type: str
    result: ComparisonResult
    reason: str
    """Why the pair was resolved: `complete`, `deadline`, `max_pending`, `max_age`,
    `no_routing_record`."""
    signature: str | None
    """The mismatch group: command type, result and differing paths (indices collapsed); null
    for a match."""
    diffs: list[FieldDiff]
    """Field-level differences (legacy left, domain right); empty for a match."""
    diffs_truncated: bool = False
    """True when `diffs` was emptied to keep the message under MAX_COMPARISON_MESSAGE_BYTES
    (64 KiB): the store has them."""
    legacy_ms: float | None
    """The legacy handler's time (its events' `handler_ms`); null when legacy sent no event."""
    domain_ms: float | None
    """The same for domain."""
    legacy_rejected: bool
    """Whether legacy answered with a `command_rejected`."""
    domain_rejected: bool
    """Whether domain answered with a `command_rejected`."""
    compared_at: datetime


def encode_comparison(message: ComparisonMessage, limit: int = MAX_COMPARISON_MESSAGE_BYTES) -> bytes:
    """The message as JSON, at most `limit` bytes (for any sane text field): the diffs left out
    (`diffs_truncated: true`) when they would make it larger, then the text fields cut too."""
    body = message.model_dump_json().encode()
    if len(body) <= limit:
        return body
    message = message.model_copy(update={"diffs": [], "diffs_truncated": True})
    body = message.model_dump_json().encode()
    if len(body) <= limit:
        return body
    # Only a routing record with absurd fields gets here (the router publishes none).
    cut = {
        name: value[:MAX_TEXT_CHARS]
        for name in _TEXT_FIELDS
        if isinstance(value := getattr(message, name), str)
    }
    return message.model_copy(update=cut).model_dump_json().encode()
