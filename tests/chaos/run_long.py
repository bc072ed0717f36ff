"""The long form of the chaos suite: `just chaos [CYCLES]` (docs/chaos.md).

    uv run python tests/chaos/run_long.py --cycles 50

Starts the stack in a fresh data directory (kept, with the services' logs and a report.txt),
injects `--cycles` faults in turn under continuous traffic, settles, audits, prints the report
and exits 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_support import FAULTS, create_schema, drop_schema, run_chaos

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=50, help=f"faults, in turn: {', '.join(FAULTS)}")
    parser.add_argument("--games", type=int, default=6, help="groups of four players")
    parser.add_argument("--campaigns", type=int, default=3, help="campaign owner/intruder/admin trios")
    parser.add_argument("--traffic-seconds", type=float, default=4.0, help="traffic before each fault")
    parser.add_argument("--pg-down", type=float, default=8.0, help="seconds PostgreSQL is unreachable")
    parser.add_argument("--nats-down", type=float, default=2.0, help="seconds nats-server stays dead")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--dsn", default=os.environ.get("PARALLAX_TEST_POSTGRES_DSN", DEFAULT_DSN), help="PostgreSQL"
    )
    args = parser.parse_args()
    data_dir = args.data_dir or Path(
        tempfile.mkdtemp(prefix=f"parallax-chaos-{time.strftime('%Y%m%d-%H%M%S')}-")
    )
    schema = create_schema(args.dsn)
    try:
        report = run_chaos(
            args.cycles,
            data_dir,
            args.dsn,
            schema,
            games=args.games,
            campaigns=args.campaigns,
            traffic_seconds=args.traffic_seconds,
            pg_down=args.pg_down,
            nats_down=args.nats_down,
            log=lambda line: print(line, flush=True),
        )
    finally:
        drop_schema(args.dsn, schema)
    text = report.render()
    (data_dir / "report.txt").write_text(text + "\n")
    print(text)
    return 0 if not report.violations else 1


if __name__ == "__main__":
    sys.exit(main())
