"""The event loop of the benchmarks' own processes: uvloop, as under the services.

Parallax's services run under uvicorn, which picks uvloop when it is installed (it is, through
`uvicorn[standard]`). The e2e benchmark's load generator and the bare pipeline's roles share the
same two cores with them, so they run on uvloop too: the bare baseline gets the same runtime as
the services, and the simulated players cost the measured pipeline less CPU.
`BENCH_NO_UVLOOP=1` (or `--no-uvloop` on the e2e benchmark) keeps asyncio's own loop for both.
"""

from __future__ import annotations

import asyncio
import os

NO_UVLOOP = "BENCH_NO_UVLOOP"


def install_uvloop() -> bool:
    """Make uvloop the loop of every later `asyncio.run` in this process; False if asked not
    to, or if uvloop is not installed."""
    if os.environ.get(NO_UVLOOP) == "1":
        return False
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
