"""The chaos suite, short form (CI): one of each fault under traffic, then the audit.

The long form is `just chaos` (tests/chaos/run_long.py); docs/chaos.md describes both.
PARALLAX_CHAOS_CYCLES sets the number of faults here (default: one of each, 7).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from chaos_support import FAULTS, run_chaos

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(600)]


def test_nothing_is_lost_under_faults(tmp_path: Path, postgres_schema: tuple[str, str]) -> None:
    dsn, schema = postgres_schema
    cycles = int(os.environ.get("PARALLAX_CHAOS_CYCLES", len(FAULTS)))
    report = run_chaos(
        cycles, tmp_path, dsn, schema, games=3, campaigns=2, traffic_seconds=2.0, pg_down=4.0, log=print
    )
    print(report.render())
    assert report.cycles == cycles
    assert report.audit.ingress > 0 and report.audit.final_reads > 0
    assert not report.violations, report.render()
