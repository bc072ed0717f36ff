"""What the comparator publishes for each stored comparison: one `ComparisonMessage` on
`parallax.comparisons.<ctx>.<result>`, in the COMPARISONS stream (docs/comparison.md,
"Published comparisons"). Pure: the service publishes these through its `AckedPublisher`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from parallax_contracts import subjects
from parallax_contracts.comparisons import ComparisonMessage, encode_comparison
from parallax_runtime.acked_publisher import EXPECTED_STREAM, Message

from parallax_comparator.records import ComparisonRecord

STREAM = "COMPARISONS"


def comparison_message(record: ComparisonRecord) -> ComparisonMessage:
    """The record less both normalized responses (looked up in the store by command id)."""
    return ComparisonMessage.model_validate(
        {
            "command_id": record.command_id,
            "context": record.context,
            "aggregate_id": record.aggregate_id,
            "command_type": record.command_type,
            "result": record.result,
            "reason": record.reason,
            "signature": record.signature,
            "diffs": record.diffs,
            "diffs_truncated": False,
            "legacy_ms": record.legacy_ms,
            "domain_ms": record.domain_ms,
            "legacy_rejected": record.legacy_rejected,
            "domain_rejected": record.domain_rejected,
            "compared_at": datetime.fromtimestamp(record.compared_at, UTC),
        }
    )


def comparison_messages(records: Sequence[ComparisonRecord]) -> list[Message]:
    """One message per record, its command id as `Nats-Msg-Id`: a comparison published again
    (a retry, a redelivered command) within the stream's duplicate window is dropped there."""
    return [
        (
            subjects.comparisons(record.context, record.result),
            encode_comparison(comparison_message(record)),
            {subjects.MSG_ID: record.command_id, EXPECTED_STREAM: STREAM},
        )
        for record in records
    ]
