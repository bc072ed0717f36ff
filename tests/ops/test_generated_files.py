"""Generated files are current: AsyncAPI documents (docs/asyncapi/) and monitoring (scripts/ops).
The AsyncAPI documents describe what each service publishes, not only what it consumes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What each service publishes (architecture.md "Services", protocol.md "NATS subjects"), as the
# channel address of its AsyncAPI publisher and the schema of the message: one publisher per
# subject, the variable tokens as `{context}`, `{aggregate_id}` and `{result}` (the partition
# token is the streams' own, docs/scaling.md).
PUBLISHED = {
    "gateway": {"parallax.ingress.{context}.{aggregate_id}": "Command"},
    "router": {
        "parallax.handle.legacy.{context}.{aggregate_id}": "Command",
        "parallax.handle.domain.{context}.{aggregate_id}": "Command",
        "parallax.routed.{context}.{aggregate_id}": "RoutingRecord",
    },
    "legacy": {
        "parallax.events.legacy.{context}.{aggregate_id}": "Event",
        "parallax.events.legacy.unroutable": "Event",
    },
    "domain": {
        "parallax.events.domain.{context}.{aggregate_id}": "Event",
        "parallax.events.domain.unroutable": "Event",
    },
    # Its comparisons and the guard's alerts (protocol.md), the guard's audit entries (rollout.md).
    "comparator": {
        "parallax.comparisons.{context}.{result}": "ComparisonMessage",
        "parallax.alerts.{context}": "GuardAlert",
        "parallax.audit.rollout.{context}": "RolloutAuditEntry",
    },
}


def test_committed_asyncapi_documents_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "ignore", str(ROOT / "scripts/export_asyncapi.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_has_a_document() -> None:
    names = {p.stem for p in (ROOT / "docs/asyncapi").glob("*.json")}
    assert names == {"gateway", "router", "legacy", "domain", "comparator"}


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for token in ref.removeprefix("#/").split("/"):
        node = node[token]
    return node


def published(doc: dict[str, Any]) -> dict[str, str]:
    """Address of each publisher (`send` operation) of an AsyncAPI 3 document → the title of
    its message's payload schema."""
    out = {}
    for operation in doc["operations"].values():
        if operation["action"] != "send":
            continue
        channel = _resolve(doc, operation["channel"]["$ref"])
        [message_ref] = operation["messages"]
        message = _resolve(doc, _resolve(doc, message_ref["$ref"])["$ref"])
        out[channel["address"]] = _resolve(doc, message["payload"]["$ref"])["title"]
    return out


@pytest.mark.parametrize("service", sorted(PUBLISHED))
def test_documents_list_what_each_service_publishes(service: str) -> None:
    doc = json.loads((ROOT / f"docs/asyncapi/{service}.json").read_text())
    assert published(doc) == PUBLISHED[service]
    # The subscribers are still there too.
    assert any(op["action"] == "receive" for op in doc["operations"].values())


def test_generated_monitoring_files_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/ops/build_monitoring.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
