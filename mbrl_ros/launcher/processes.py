"""Run a launch plan's processes: prefixed output, signal forwarding, no orphans.

Every child runs in a process group of its own (so a terminal's Ctrl-C reaches only the
launcher, which forwards it) with stdin closed, stdout and stderr merged into one pipe,
``PYTHONUNBUFFERED=1``, and, on Linux, ``PR_SET_PDEATHSIG`` = SIGKILL so that it dies
even when the launcher is killed with SIGKILL.

Shutdown (SIGINT, SIGTERM or SIGHUP to the launcher, or an ``on_exit: shutdown`` process
exiting) sends SIGINT to every process group, SIGTERM after the process's
``sigterm_timeout`` and SIGKILL after a further ``sigkill_timeout`` (5 s each by
default, as in ``ros2 launch``); another signal to the launcher skips to the next step
at once. Finally every child's process group gets SIGKILL, which also takes down
grandchildren that outlived their parent.

Exit code of :meth:`ProcessRunner.run`:

* a signal stopped the launch: 128 + signal number (130 for SIGINT, 143 for SIGTERM);
* an ``on_exit: shutdown`` process exited: that process's exit code (128 + signal
  number when a signal killed it);
* every process exited by itself: 0 when all exited with 0, else the exit code of the
  first one that failed;
* a process that cannot be started counts as exiting with 127.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence, TextIO

from mbrl_ros.launcher.yaml_launch import ProcessSpec

#: Signal a child receives when the launcher dies without cleaning up (Linux only).
PARENT_DEATH_SIGNAL = signal.SIGKILL
#: Signals that make the launcher shut everything down.
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_CODE_NOT_STARTED = 127
_PR_SET_PDEATHSIG = 1
_ESCALATION = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
_SIGKILL_WAIT = 5.0


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return libc.prctl


# Loaded once here: the child must not dlopen between fork and exec.
_PRCTL = _load_prctl()


def _child_setup(parent_pid: int) -> Callable[[], None]:
    """``preexec_fn``: own process group, default SIGINT/SIGTERM, die with the launcher."""

    def setup() -> None:
        os.setpgid(0, 0)
        # A launcher started in the background inherits SIGINT ignored; its children must not.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, int(PARENT_DEATH_SIGNAL), 0, 0, 0)
            if os.getppid() != parent_pid:
                # The launcher died before prctl took effect.
                os._exit(1)

    return setup


def exit_code_of(returncode: int) -> int:
    """A ``Popen.returncode`` as a shell exit status (``-2`` -> 130)."""
    return 128 - returncode if returncode < 0 else returncode


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass
class _Child:
    spec: ProcessSpec
    popen: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    returncode: int | None = None
    respawn_at: float | None = None
    stage: int = -1
    stage_deadline: float = 0.0


class ProcessRunner:
    """Start processes, merge their output, and stop them all together.

    Args:
        specs: Processes to start, in order.
        stdout: Where ``[name] line`` output goes (default ``sys.stdout``).
        log: Where the launcher's own ``[launch] ...`` messages go (default ``sys.stderr``).
        poll_interval: Seconds between checks of the children (the reaction time).
    """

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        stdout: TextIO | None = None,
        log: TextIO | None = None,
        poll_interval: float = 0.05,
    ) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"process names must be unique, got {names}")
        self._children = [_Child(spec) for spec in specs]
        self._stdout = stdout if stdout is not None else sys.stdout
        self._log = log if log is not None else sys.stderr
        self._poll = poll_interval
        self._lock = threading.Lock()
        self._signals: list[int] = []
        self._shutting_down = False
        self._exit_code: int | None = None
        self._first_failure: int | None = None

    # -- output

    def _write(self, stream: TextIO, line: str) -> None:
        with self._lock:
            try:
                stream.write(line)
                stream.flush()
            except (BrokenPipeError, ValueError):
                pass  # the reader went away (closed pipe/stream); children keep being drained

    def _say(self, message: str) -> None:
        self._write(self._log, f"[launch] {message}\n")

    def _pump(self, name: str, pipe) -> None:
        with pipe:
            for raw in iter(pipe.readline, b""):
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                self._write(self._stdout, f"[{name}] {text}\n")

    # -- lifecycle

    def _start(self, child: _Child) -> None:
        spec = child.spec
        env = dict(os.environ)
        env.update(spec.env)
        for key in spec.unset_env:
            env.pop(key, None)
        env.setdefault("PYTHONUNBUFFERED", "1")
        child.returncode, child.respawn_at, child.stage = None, None, -1
        try:
            child.popen = subprocess.Popen(
                spec.cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.cwd,
                preexec_fn=_child_setup(os.getpid()),
                close_fds=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            child.popen = None
            self._say(f"ERROR: cannot start {spec.name} ({spec.cmd[0]}): {exc}")
            self._on_exit(child, EXIT_CODE_NOT_STARTED, may_respawn=False)
            return
        self._say(f"started {spec.name} (pid {child.popen.pid})")
        child.reader = threading.Thread(
            target=self._pump, args=(spec.name, child.popen.stdout), name=f"launch-output-{spec.name}", daemon=True
        )
        child.reader.start()

    def _on_exit(self, child: _Child, returncode: int, may_respawn: bool = True) -> None:
        child.returncode = returncode
        spec = child.spec
        failed = returncode != 0 and not self._shutting_down
        self._say(f"{'ERROR: ' if failed else ''}{spec.name} {_describe_exit(returncode)}")
        if self._shutting_down:
            return
        if failed and self._first_failure is None:
            self._first_failure = exit_code_of(returncode)
        if spec.required:
            self._begin_shutdown(f"{spec.name} exited and has on_exit: shutdown", exit_code_of(returncode))
        elif spec.respawn and may_respawn:
            child.respawn_at = time.monotonic() + spec.respawn_delay
            self._say(f"respawning {spec.name} in {spec.respawn_delay:g} s")

    def _begin_shutdown(self, reason: str, exit_code: int) -> None:
        if self._shutting_down:
            return
        self._shutting_down = True
        self._exit_code = exit_code
        self._say(f"shutting down: {reason}")
        for child in self._children:
            child.respawn_at = None
            if self._alive(child):
                self._advance(child)

    def _alive(self, child: _Child) -> bool:
        return child.popen is not None and child.returncode is None

    def _advance(self, child: _Child) -> None:
        """Send the next signal of SIGINT -> SIGTERM -> SIGKILL to the child's group."""
        if child.stage >= len(_ESCALATION) - 1:
            if time.monotonic() >= child.stage_deadline:
                # Unkillable (e.g. stuck in the kernel): stop waiting for it.
                self._say(f"ERROR: {child.spec.name} (pid {child.popen.pid}) did not die after SIGKILL")
                child.returncode = -signal.SIGKILL
            return
        child.stage += 1
        sig = _ESCALATION[child.stage]
        if child.stage > 0:
            self._say(f"{child.spec.name} is still running, sending {sig.name}")
        timeout = (child.spec.sigterm_timeout, child.spec.sigkill_timeout, _SIGKILL_WAIT)[child.stage]
        child.stage_deadline = time.monotonic() + timeout
        self._signal_group(child, sig)

    def _signal_group(self, child: _Child, sig: int) -> None:
        if child.popen is None:
            return
        try:
            os.killpg(child.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            # The child left its group (setsid/setpgid) or already exited: signal it alone
            # (Popen.send_signal does nothing once the child has been reaped).
            try:
                child.popen.send_signal(sig)
            except ProcessLookupError:
                pass

    def _on_signal(self, signum: int, _frame) -> None:
        self._signals.append(signum)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            name = signal.Signals(signum).name
            if not self._shutting_down:
                self._begin_shutdown(f"received {name}", 128 + signum)
            else:
                self._say(f"received {name} again, escalating")
                for child in self._children:
                    if self._alive(child):
                        self._advance(child)

    def _step(self) -> bool:
        """One poll of the children; False when the launch is over."""
        self._handle_signals()
        now = time.monotonic()
        for child in self._children:
            if self._alive(child):
                returncode = child.popen.poll()
                if returncode is not None:
                    # Take down what the child left behind in its group, now, while the
                    # group id cannot have been reused.
                    self._signal_group(child, signal.SIGKILL)
                    self._on_exit(child, returncode)
        for child in self._children:
            if self._shutting_down:
                if self._alive(child) and now >= child.stage_deadline:
                    self._advance(child)
            elif child.respawn_at is not None and now >= child.respawn_at:
                self._start(child)
        return any(self._alive(c) or c.respawn_at is not None for c in self._children)

    def run(self) -> int:
        """Start every process, supervise them until the launch ends, and return the exit code.

        Must run in the main thread to receive signals; elsewhere only an
        ``on_exit: shutdown`` process or the processes' own exits end it.
        """
        in_main = threading.current_thread() is threading.main_thread()
        previous = {}
        if in_main:
            for sig in SHUTDOWN_SIGNALS:
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            for child in self._children:
                self._handle_signals()
                if self._shutting_down:
                    break
                self._start(child)
            while self._step():
                time.sleep(self._poll)
        finally:
            self._cleanup()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._exit_code is not None:
            return self._exit_code
        return self._first_failure or 0

    def _cleanup(self) -> None:
        """Leave nothing behind, even after an error in the loop above."""
        for child in self._children:
            if child.popen is None or child.popen.returncode is not None:
                continue
            self._signal_group(child, signal.SIGKILL)
            try:
                child.popen.wait(timeout=_SIGKILL_WAIT)
            except subprocess.TimeoutExpired:
                self._say(f"ERROR: {child.spec.name} (pid {child.popen.pid}) did not die after SIGKILL")
        for child in self._children:
            if child.reader is not None:
                child.reader.join(timeout=2.0)

    @property
    def pids(self) -> dict[str, int]:
        """Current pid of every started process, by name."""
        return {c.spec.name: c.popen.pid for c in self._children if c.popen is not None}


def run_processes(specs: Sequence[ProcessSpec], **kwargs) -> int:
    """Run ``specs`` with :class:`ProcessRunner` and return its exit code."""
    return ProcessRunner(specs, **kwargs).run()
