"""A bounded CPU hog for load tests: busy-loop processes that a test starts and stops itself.

Shared by the integration tests (on the path through pytest.ini's ``pythonpath = test``) and
bench/px4_heartbeat_load.py. Each hog also ends by itself after ``max_s``, so a test killed
half-way never leaves a core spinning.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import Iterator

_BUSY_LOOP = "import time\nend = time.monotonic() + {max_s}\nwhile time.monotonic() < end:\n    pass\n"


class CpuHog:
    """Busy-loop processes (one per core by default) at the caller's nice value."""

    def __init__(self, processes: list[subprocess.Popen]):
        self.processes = processes

    def running(self) -> bool:
        """Whether every hog process is still spinning."""
        return all(p.poll() is None for p in self.processes)

    def cpu_seconds(self) -> float:
        """CPU seconds the hogs have used so far (utime + stime from /proc; 0 for an ended one)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for p in self.processes:
            try:
                with open(f"/proc/{p.pid}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended (and reaped): nothing more to count
            total += (int(fields[11]) + int(fields[12])) / tick
        return total


@contextlib.contextmanager
def cpu_hog(processes: int | None = None, max_s: float = 300.0) -> Iterator[CpuHog]:
    """Run ``processes`` busy loops (default: one per core) for the duration of the block, at most ``max_s``."""
    count = processes or os.cpu_count() or 2
    hogs = [subprocess.Popen([sys.executable, "-c", _BUSY_LOOP.format(max_s=float(max_s))]) for _ in range(count)]
    try:
        yield CpuHog(hogs)
    finally:
        for p in hogs:
            p.kill()
        for p in hogs:
            p.wait(timeout=10)
