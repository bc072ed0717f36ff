"""`uv run python -m bench <name> [args...]` runs bench/<name>_bench.py; `all` runs each that exists.

Names: handlers, comparator, router, replay, e2e. Each benchmark runs in its own process (they
start servers and measure the process's memory), with the remaining arguments passed on, and
writes its JSON to bench/results/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = ("handlers", "comparator", "router", "replay", "e2e")


def script(name: str) -> Path:
    return HERE / f"{name}_bench.py"


def run(name: str, args: list[str]) -> int:
    print(f"== bench {name} ==", flush=True)
    return subprocess.call([sys.executable, str(script(name)), *args])


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        available = [n for n in NAMES if script(n).exists()]
        print(__doc__)
        print("available:", ", ".join(available) or "none")
        return 0 if argv else 2
    which, rest = argv[0], argv[1:]
    if which == "all":
        failed = [n for n in NAMES if script(n).exists() and run(n, rest) != 0]
        if failed:
            print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1 if failed else 0
    if which not in NAMES:
        print(f"unknown benchmark {which!r}; one of: {', '.join(NAMES)}, all", file=sys.stderr)
        return 2
    if not script(which).exists():
        print(f"bench/{which}_bench.py does not exist yet", file=sys.stderr)
        return 2
    return run(which, rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
