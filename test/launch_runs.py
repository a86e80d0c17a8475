"""Running ``mbrl-ros launch`` from a test: start it, watch its node processes, stop it.

Shared by the integration tests (on the path through pytest.ini's ``pythonpath = test``).
Callers wrap these in :func:`mbrl_ros.ros.runtime.testing.isolated_domain`.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, ContextManager

from mbrl_ros.launcher.process_tree import descendant_pids, running_pids


def start_launch(cwd: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """``python -m mbrl_ros.cli launch *args`` in ``cwd``, its output in ``cwd/launch.log``."""
    log = cwd / "launch.log"
    with log.open("w") as handle:
        process = subprocess.Popen([sys.executable, "-m", "mbrl_ros.cli", "launch", *args], stdout=handle,
                                   stderr=subprocess.STDOUT, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return process, log


def watch(process: subprocess.Popen, log: Path, timeout_s: float,
          until: str | Callable[[str], bool] | None = None) -> set[int]:
    """Wait for exit (or for ``until``: a string in the log, or a test of the log's text); returns
    every node PID seen meanwhile."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        seen |= descendant_pids(process.pid)
        if until is not None:
            text = log.read_text(errors="replace")
            if until(text) if callable(until) else until in text:
                return seen
        time.sleep(0.2)
    return seen


def wait_until_gone(pids: set[int], timeout_s: float) -> None:
    """Give exiting node processes up to ``timeout_s`` to disappear."""
    deadline = time.monotonic() + timeout_s
    while running_pids(pids) and time.monotonic() < deadline:
        time.sleep(0.1)


def run_launch(cwd: Path, *args: str, timeout_s: float, linger_s: float = 0.0,
               load: Callable[[], ContextManager] | None = None,
               load_when: Callable[[str], bool] | None = None) -> tuple[int, str, set[int]]:
    """Launch, wait for the end (SIGINT after ``timeout_s``), then ``linger_s`` for nodes to go.

    ``load``: a context manager (e.g. a CPU hog) entered once ``load_when(log text)`` holds
    (default: at once) and left when the launch has exited.
    Returns the launch's exit code, its log and every node PID seen.
    """
    process, log = start_launch(cwd, *args)
    deadline = time.monotonic() + timeout_s
    try:
        seen = watch(process, log, timeout_s, until=load_when) if load is not None and load_when else set()
        with load() if load is not None else contextlib.nullcontext():
            seen |= watch(process, log, max(0.0, deadline - time.monotonic()))
            code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    wait_until_gone(seen, linger_s)
    return code, log.read_text(errors="replace"), seen
