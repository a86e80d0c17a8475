"""Running ``mbrl-ros launch`` from a test: start it, watch its node processes, stop it.

Shared by the integration tests (on the path through pytest.ini's ``pythonpath = test``).
Callers wrap these in :func:`mbrl_ros.ros.runtime.testing.isolated_domain`.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mbrl_ros.launcher.process_tree import descendant_pids, running_pids


def start_launch(cwd: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """``python -m mbrl_ros.cli launch *args`` in ``cwd``, its output in ``cwd/launch.log``."""
    log = cwd / "launch.log"
    with log.open("w") as handle:
        process = subprocess.Popen([sys.executable, "-m", "mbrl_ros.cli", "launch", *args], stdout=handle,
                                   stderr=subprocess.STDOUT, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return process, log


def watch(process: subprocess.Popen, log: Path, timeout_s: float, until: str | None = None) -> set[int]:
    """Wait for exit (or for ``until`` in the log); returns every node PID seen meanwhile."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        seen |= descendant_pids(process.pid)
        if until is not None and until in log.read_text(errors="replace"):
            return seen
        time.sleep(0.2)
    return seen


def wait_until_gone(pids: set[int], timeout_s: float) -> None:
    """Give exiting node processes up to ``timeout_s`` to disappear."""
    deadline = time.monotonic() + timeout_s
    while running_pids(pids) and time.monotonic() < deadline:
        time.sleep(0.1)


def run_launch(cwd: Path, *args: str, timeout_s: float, linger_s: float = 0.0) -> tuple[int, str, set[int]]:
    """Launch, wait for the end (SIGINT after ``timeout_s``), then ``linger_s`` for nodes to go.

    Returns the launch's exit code, its log and every node PID seen.
    """
    process, log = start_launch(cwd, *args)
    try:
        seen = watch(process, log, timeout_s)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    wait_until_gone(seen, linger_s)
    return code, log.read_text(errors="replace"), seen
