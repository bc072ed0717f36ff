"""Writes the AsyncAPI document of every Parallax service to docs/asyncapi/<service>.json.

Each service's `create_app()` builds its FastStream app without connecting to NATS; FastStream
0.7 generates the document from the app's brokers (`app.schema.to_specification()`), the same
one the running service serves at /asyncapi (and /asyncapi.json). The gateway's app is a
Starlette app with the FastStream app mounted at "/".

    uv run python scripts/export_asyncapi.py            # write
    uv run python scripts/export_asyncapi.py --check    # exit 1 if docs/asyncapi/ is stale

Settings are pinned (NATS URL, an in-memory store, a throwaway data directory) so that the
output depends on the code only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "asyncapi"
PINNED_ENV = {
    "NATS_URL": "nats://nats:4222",
    "PARALLAX_NATS_URL": "nats://nats:4222",
    "PARALLAX_STORE": "memory",
    "PARALLAX_LOG_LEVEL": "WARNING",
}


def faststream_app(app: Any) -> Any:
    """The AsgiFastStream app itself, or the one mounted inside a Starlette app."""
    if hasattr(app, "schema"):
        return app
    for route in getattr(app, "routes", []):
        inner = getattr(route, "app", None)
        if inner is not None and hasattr(inner, "schema"):
            return inner
    raise LookupError(f"no FastStream app in {app!r}")


def documents() -> dict[str, str]:
    from parallax_cli.services import SERVICES, build_app

    docs = {}
    for name in SERVICES:
        spec = faststream_app(build_app(name)).schema.to_specification()
        docs[name] = json.dumps(spec.to_jsonable(), indent=2, sort_keys=True) + "\n"
    return docs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="fail if a committed document differs")
    args = parser.parse_args()
    os.environ.update(PINNED_ENV)
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["PARALLAX_DATA_DIR"] = data_dir
        docs = documents()
    stale = []
    for name, text in docs.items():
        path = OUT / f"{name}.json"
        current = path.read_text() if path.exists() else None
        if args.check:
            if current != text:
                stale.append(str(path.relative_to(ROOT)))
        elif current != text:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    extra = sorted(p.name for p in OUT.glob("*.json") if p.stem not in docs) if OUT.exists() else []
    if args.check and extra:
        stale += [f"docs/asyncapi/{n} (no such service)" for n in extra]
    if stale:
        print(
            "stale AsyncAPI documents (run `uv run python scripts/export_asyncapi.py`): " + ", ".join(stale)
        )
        return 1
    state = "are current" if args.check else "written"
    print(f"AsyncAPI documents of {len(docs)} services {state} in docs/asyncapi/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
