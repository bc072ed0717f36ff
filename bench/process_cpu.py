"""CPU time per command, per process, over a measured phase (Linux: /proc).

Throughput alone does not say where a saturated machine's CPU goes. Each figure is the CPU time a
process used during the phase divided by the commands completed in it; `machine` is what the
whole machine's cores were busy with, and `other` the part of it no listed process used: other
work on a shared machine, which makes the phase's figures less trustworthy.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may contain spaces), from field 3 on: utime is the
    # 14th field of the line, stime the 15th.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _machine_busy_seconds() -> float | None:
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    ticks = [int(x) for x in first[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / _TICKS


class CpuMeter:
    """`start()`, then `stop(commands)` for the phase's figures; names map to process ids."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self._began: dict[str, float | None] = {}
        self._busy: float | None = None
        self._wall = 0.0

    def start(self) -> None:
        self._began = {name: _process_seconds(pid) for name, pid in self.processes.items()}
        self._busy = _machine_busy_seconds()
        self._wall = time.monotonic()

    def stop(self, commands: int) -> dict[str, Any]:
        wall = time.monotonic() - self._wall
        busy_end = _machine_busy_seconds()
        per_process: dict[str, dict[str, float]] = {}
        listed = 0.0
        for name, pid in self.processes.items():
            began, ended = self._began.get(name), _process_seconds(pid)
            if began is None or ended is None:
                continue
            used = ended - began
            listed += used
            per_process[name] = _figures(used, wall, commands)
        result: dict[str, Any] = {"seconds": round(wall, 2), "commands": commands, "processes": per_process}
        if self._busy is not None and busy_end is not None:
            busy = busy_end - self._busy
            result["machine"] = _figures(busy, wall, commands)
            result["other"] = _figures(max(0.0, busy - listed), wall, commands)
        return result


def _figures(cpu_seconds: float, wall: float, commands: int) -> dict[str, float]:
    return {
        "cores": round(cpu_seconds / wall, 3) if wall > 0 else 0.0,
        "us_per_command": round(cpu_seconds / commands * 1e6, 1) if commands else 0.0,
    }
