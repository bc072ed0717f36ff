"""Generated files are current: AsyncAPI documents (docs/asyncapi/) and monitoring (scripts/ops)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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


def test_generated_monitoring_files_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/ops/build_monitoring.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
