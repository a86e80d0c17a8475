"""Integration tests for the process runner: real processes, real signals, bounded waits.

The launcher runs as a subprocess (``python -m mbrl_ros.launcher``) so that signals can be
sent to it; its children are ``fixtures/child.py`` stand-ins whose pids the launcher
prints (``[launch] started NAME (pid N)``).
"""
from __future__ import annotations

import io
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mbrl_ros.launcher import ProcessRunner, ProcessSpec

FIXTURES = Path(__file__).parent / "fixtures"
CHILD = str(FIXTURES / "child.py")
STARTUP_TIMEOUT = 30.0  # generous: two shared cores, Python start-up per child
EXIT_TIMEOUT = 20.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups and signals")


class Launcher:
    """``python -m mbrl_ros.launcher`` in its own session, its output read by a thread."""

    def __init__(self, launch_file: str, *arguments: str) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mbrl_ros.launcher", str(FIXTURES / launch_file), f"python:={sys.executable}",
             *arguments],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = STARTUP_TIMEOUT) -> re.Match:
        """First output line (seen so far or later) matching ``pattern``."""
        regex = re.compile(pattern)
        for line in self.lines:
            if (match := regex.search(line)) is not None:
                return match
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if (match := regex.search(line)) is not None:
                return match
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s; output:\n" + "\n".join(self.lines))

    def finish(self, timeout: float = EXIT_TIMEOUT) -> int:
        """Wait for the launcher to exit and collect the rest of its output."""
        returncode = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5.0)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        return returncode

    def started_pids(self) -> dict[str, int]:
        pids = {}
        for line in self.lines:
            if (match := re.match(r"\[launch\] started (\S+) \(pid (\d+)\)", line)) is not None:
                pids[match.group(1)] = int(match.group(2))
        return pids

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10.0)


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        # A zombie is dead; whoever inherited it reaps it.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def assert_all_gone(pids, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if not pid_gone(pid)]
        time.sleep(0.05)
    assert not alive, f"processes still running: {alive}"


@pytest.fixture
def launchers():
    started: list[Launcher] = []
    stray: list[int] = []
    yield started, stray
    for launcher in started:
        launcher.kill()
    for pid in stray:  # never leave a test's processes behind, even when it fails
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_signal_to_launcher_stops_every_process_and_grandchild(launchers, sig):
    started, stray = launchers
    launcher = Launcher("processes.launch.yaml")
    started.append(launcher)
    grandchild = int(launcher.wait_for(r"^\[parent\] grandchild pid=(\d+)").group(1))
    stray.append(grandchild)
    for name in ("talker", "parent", "stubborn"):
        launcher.wait_for(rf"^\[{name}\] ready pid=")
    launcher.wait_for(rf"^\[stubborn\] a line on stderr")  # stderr merged and prefixed too
    pids = launcher.started_pids()
    assert set(pids) == {"talker", "parent", "stubborn"}
    stray.extend(pids.values())

    launcher.proc.send_signal(sig)
    assert launcher.finish() == 128 + sig
    output = "\n".join(launcher.lines)
    assert f"[launch] shutting down: received {signal.Signals(sig).name}" in output
    assert "[talker] got SIGINT" in output and "[launch] talker exited with code 0" in output
    # stubborn ignores SIGINT: SIGTERM follows after its sigterm_timeout of 1 s.
    assert "[launch] stubborn is still running, sending SIGTERM" in output
    assert "[launch] stubborn was killed by SIGTERM" in output
    assert_all_gone([*pids.values(), grandchild])


@pytest.mark.timeout(90)
def test_second_signal_escalates_at_once(launchers):
    started, stray = launchers
    # Without the escalation stubborn would get SIGTERM only after 60 s, past finish()'s timeout.
    launcher = Launcher("processes.launch.yaml", "with_grandchild:=false", "stubborn_sigterm_timeout:=60")
    started.append(launcher)
    for name in ("talker", "stubborn"):
        launcher.wait_for(rf"^\[{name}\] ready pid=")
    pids = launcher.started_pids()
    stray.extend(pids.values())
    launcher.proc.send_signal(signal.SIGINT)
    launcher.wait_for(r"^\[launch\] shutting down: received SIGINT", timeout=EXIT_TIMEOUT)
    launcher.proc.send_signal(signal.SIGINT)
    assert launcher.finish() == 130
    output = "\n".join(launcher.lines)
    assert "[launch] received SIGINT again, escalating" in output
    assert "[launch] stubborn was killed by SIGTERM" in output
    assert_all_gone(pids.values())


@pytest.mark.timeout(90)
def test_required_process_exit_shuts_down_the_rest(launchers):
    started, stray = launchers
    launcher = Launcher("required.launch.yaml")
    started.append(launcher)
    returncode = launcher.finish(timeout=STARTUP_TIMEOUT + EXIT_TIMEOUT)
    pids = launcher.started_pids()
    stray.extend(pids.values())
    output = "\n".join(launcher.lines)
    assert returncode == 3, output
    assert "[quitter] exiting with code 3" in output
    assert "[launch] shutting down: quitter exited and has on_exit: shutdown" in output
    assert set(pids) == {"talker", "stubborn", "quitter"}
    assert_all_gone(pids.values())


@pytest.mark.timeout(90)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_children_die_with_a_sigkilled_launcher(launchers):
    started, stray = launchers
    launcher = Launcher("processes.launch.yaml", "with_grandchild:=false")
    started.append(launcher)
    for name in ("talker", "stubborn"):
        launcher.wait_for(rf"^\[{name}\] ready pid=")
    pids = launcher.started_pids()
    stray.extend(pids.values())
    launcher.proc.send_signal(signal.SIGKILL)
    assert launcher.finish() == -signal.SIGKILL
    assert_all_gone(pids.values())


def make_spec(name: str, code: str, **kwargs) -> ProcessSpec:
    return ProcessSpec(name=name, cmd=[sys.executable, "-c", code], **kwargs)


@pytest.mark.timeout(60)
def test_runner_prefixes_output_and_reports_the_first_failure():
    out, log = io.StringIO(), io.StringIO()
    specs = [
        make_spec("ok", "import sys; print('to stdout'); print('to stderr', file=sys.stderr); "
                  "print('no newline', end='')"),
        make_spec("bad", "import sys, time; time.sleep(0.3); print('failing'); sys.exit(4)"),
        ProcessSpec(name="missing", cmd=["/nonexistent/program"]),
    ]
    assert ProcessRunner(specs, stdout=out, log=log).run() == 127
    lines = out.getvalue().splitlines()
    assert {"[ok] to stdout", "[ok] to stderr", "[ok] no newline", "[bad] failing"} == set(lines)
    messages = log.getvalue()
    assert "[launch] ERROR: cannot start missing (/nonexistent/program)" in messages
    assert "[launch] ERROR: bad exited with code 4" in messages and "[launch] ok exited with code 0" in messages


@pytest.mark.timeout(60)
def test_runner_respawns_and_passes_environment():
    out, log = io.StringIO(), io.StringIO()
    specs = [
        make_spec("flaky", "import os; print(os.environ['GREETING'], os.environ['PYTHONUNBUFFERED'], "
                  "'HOME' in os.environ)", respawn=True, respawn_delay=0.1, env={"GREETING": "hello"},
                  unset_env=("HOME",)),
        make_spec("main", "import time; time.sleep(1.0)", required=True),
    ]
    assert ProcessRunner(specs, stdout=out, log=log).run() == 0
    assert out.getvalue().count("[flaky] hello 1 False") >= 2
    assert log.getvalue().count("[launch] started flaky") >= 2
    assert "shutting down: main exited and has on_exit: shutdown" in log.getvalue()


def test_runner_rejects_duplicate_names():
    with pytest.raises(ValueError, match="unique"):
        ProcessRunner([ProcessSpec("a", ["true"]), ProcessSpec("a", ["true"])])
