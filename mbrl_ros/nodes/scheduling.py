"""Process scheduling of a node: real-time priority for the robot paths, nice for planning and training.

Why: every node is its own process, so what delays a bridge's heartbeat or watchdog is not
the planner's GIL but CPU contention (training, planning, other jobs on a small companion
computer) and the bridge's own callbacks. A bridge therefore runs every thread of its
process under ``SCHED_FIFO`` (or ``SCHED_RR``) at a low real-time priority, which the
kernel runs before any normally scheduled process; the learner and planner run niced so
they yield to the rest. Linux's real-time throttling (``kernel.sched_rt_runtime_us``,
95 % by default) keeps a runaway real-time thread from locking the machine.

The parameters live under ``scheduling.*`` on every node that :func:`mbrl_ros.nodes.runner.run_node`
starts (each node's ``main`` passes its own defaults)::

    /**:
      ros__parameters:
        scheduling: {enabled: true, realtime_priority: 10, realtime_policy: fifo, nice: -10}

``nice`` is an increment over the nice value the process was started with (as ``nice -n``),
so a launch started under ``nice -n 5`` keeps its nodes' order; applying again (a second call)
counts from that same start, it does not add up. The defaults: ``0`` (left as
started) except :data:`REALTIME_DEFAULTS` (bridges, stand-ins), :data:`PLANNER_DEFAULTS` and
:data:`LEARNER_DEFAULTS`.

A real-time request the system refuses (no ``CAP_SYS_NICE``, ``RLIMIT_RTPRIO`` 0, a
container without real-time budget) falls back to ``nice``, and a refused negative nice to
normal scheduling, each with one INFO line; ``scheduling.enabled: false`` leaves the
process as it was started.

Small API (other nodes call these):

* :func:`apply_node_scheduling` (what ``run_node`` calls; a node may refine the defaults ``main``
  gave, once it knows its parameters, through a ``scheduling_defaults`` attribute): declare ``scheduling.*`` on a
  node with the node's defaults, apply it, log the outcome.
* :func:`apply_scheduling`: apply a :class:`SchedulingConfig` to the whole process.
* :func:`thread_scheduling`: ``(policy, rt priority, nice)`` of one thread, for tests and
  benchmarks.
"""
from __future__ import annotations

import dataclasses
import errno
import os
from typing import Any, Callable

from mbrl_ros.config import param

#: ``realtime_policy`` names -> Linux policies.
REALTIME_POLICIES = {"fifo": getattr(os, "SCHED_FIFO", 1), "rr": getattr(os, "SCHED_RR", 2)}
_POLICY_NAMES = {getattr(os, "SCHED_OTHER", 0): "other", getattr(os, "SCHED_BATCH", 3): "batch",
                 getattr(os, "SCHED_IDLE", 5): "idle", **{v: k for k, v in REALTIME_POLICIES.items()}}
# sched_getscheduler reports SCHED_RESET_ON_FORK or-ed into the policy when someone set it.
_RESET_ON_FORK = getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)

#: Defaults of the nodes on a robot's real-time path (bridges, stand-ins of hardware).
REALTIME_DEFAULTS = {"realtime_priority": 10, "nice": -10}
#: Defaults of the nodes on the sensor -> command path that do little work per message: the
#: state estimator, and the planner node when its optimizer runs in a child process
#: (``planning_process``; the child drops to normal scheduling). Below the bridges (10), so a
#: bridge's heartbeat and watchdog still come first. Measured (bench/ros_latency.py, 100 Hz,
#: planning and training running): at normal scheduling the two hops' p99 were 6.3 ms and 60 ms;
#: at SCHED_FIFO 5, 1.7 ms and 1.6 ms (sensor -> command p99 3.1 ms).
CONTROL_PATH_DEFAULTS = {"realtime_priority": 5}
#: Defaults of the model learner (training yields to everything).
LEARNER_DEFAULTS = {"nice": 10}
#: Defaults of the planner: not niced. Its answers keep a bridge's heartbeat alive (px4_bridge stops
#: offboard_control_mode when commands are older than command_timeout), so a planner niced below
#: unrelated load trips the failsafe: at nice +5 under a CPU hog it answered a state 0.216 s late
#: and the heartbeat skipped a beat (bench/px4_heartbeat_load.py). It still runs above training.
#: Raising it (-5) did not remove such late answers at load ~12 either (1 of 5 runs), so it is
#: left at the normal priority.
PLANNER_DEFAULTS = {"nice": 0}


@dataclasses.dataclass(frozen=True)
class SchedulingConfig:
    """Parameters ``scheduling.*`` of every node started by ``run_node``."""

    enabled: bool = param(True, "false: leave the process at the priority it was started with (the shell's "
                          "or the launcher's).")
    realtime_priority: int = param(0, "Run every thread of the process under realtime_policy at this "
                                   "real-time priority (1 lowest .. 99); 0: normal scheduling. Needs "
                                   "CAP_SYS_NICE (root) or RLIMIT_RTPRIO; refused: falls back to nice.",
                                   low=0, high=99)
    realtime_policy: str = param("fifo", "fifo (SCHED_FIFO: runs until it blocks) or rr (SCHED_RR: "
                                 "round robin among equal priorities).", choices=tuple(REALTIME_POLICIES))
    nice: int = param(0, "Added to the nice value the process started with, on every thread, as `nice -n` "
                      "(the result is kept within -20 .. 19; higher yields the CPU to others); 0: unchanged. "
                      "Lowering needs CAP_SYS_NICE; refused: unchanged.", low=-39, high=39)


@dataclasses.dataclass(frozen=True)
class SchedulingOutcome:
    """What :func:`apply_scheduling` achieved for the process."""

    policy: str  # "fifo", "rr" or "other" (normal scheduling)
    realtime_priority: int  # 0 unless policy is fifo or rr
    nice: int
    threads: int  # threads of the process that were set
    notes: tuple[str, ...]  # refusals and fallbacks, one sentence each

    def summary(self) -> str:
        """One line for the log: ``SCHED_FIFO priority 10 on 7 thread(s)`` or ``nice 10 on 3 thread(s)``."""
        head = (f"SCHED_{self.policy.upper()} priority {self.realtime_priority}" if self.realtime_priority
                else f"normal scheduling, nice {self.nice}")
        return f"{head} on {self.threads} thread(s)" + "".join(f"; {note}" for note in self.notes)


def thread_ids() -> list[int]:
    """Kernel thread ids of this process (``/proc/self/task``); ``[0]`` (the caller) without procfs."""
    try:
        return sorted(int(name) for name in os.listdir("/proc/self/task"))
    except OSError:
        return [0]


def thread_scheduling(tid: int = 0) -> tuple[str, int, int]:
    """``(policy name, real-time priority, nice)`` of thread ``tid`` (0: the calling thread)."""
    policy = os.sched_getscheduler(tid) & ~_RESET_ON_FORK
    return (_POLICY_NAMES.get(policy, str(policy)), os.sched_getparam(tid).sched_priority,
            os.getpriority(os.PRIO_PROCESS, tid))


def _for_each_thread(action: Callable[[int], None]) -> int:
    """Run ``action(tid)`` on every thread; returns how many were set. Linux scheduling is per
    thread (even setpriority on the pid changes only the main thread), and threads created later
    inherit from their creator, so setting all current ones covers the process."""
    done = 0
    for tid in thread_ids():
        try:
            action(tid)
        except ProcessLookupError:
            continue  # the thread ended between listing and setting: nothing left to set
        done += 1
    return done


# The nice value the process had when scheduling was first applied: increments count from it,
# so applying twice (run_node and a node's own call) does not add up.
_started_nice: int | None = None


def _refused(exc: OSError) -> bool:
    return isinstance(exc, PermissionError) or exc.errno in (errno.EPERM, errno.EACCES)


def apply_scheduling(config: SchedulingConfig) -> SchedulingOutcome:
    """Apply ``config`` to every thread of this process.

    Real time first (``realtime_priority`` > 0); refused, the process keeps normal scheduling
    and the nice increment applies. A refused nice leaves the nice value as it was. A new
    thread inherits its creator's policy and nice, so threads started later follow. Refusals are
    reported in the outcome's ``notes`` rather than raised: a node runs, at normal priority,
    where the system does not allow more.

    Raises:
        OSError: an error other than a refusal (not expected on Linux).
    """
    global _started_nice
    notes: list[str] = []
    current_policy, current_priority, current_nice = thread_scheduling(0)
    if not config.enabled:
        return SchedulingOutcome(current_policy, current_priority, current_nice, 0, ("scheduling.enabled false: "
                                                                                   "left as started",))
    if _started_nice is None:
        _started_nice = current_nice
    target_nice = min(19, max(-20, _started_nice + config.nice))
    threads = 0
    realtime = False
    if config.realtime_priority > 0:
        policy = REALTIME_POLICIES[config.realtime_policy]
        limit = os.sched_get_priority_max(policy)
        priority = min(config.realtime_priority, limit)
        try:
            threads = _for_each_thread(lambda tid: os.sched_setscheduler(tid, policy, os.sched_param(priority)))
            realtime = True
        except OSError as exc:
            if not _refused(exc):
                raise
            # Undo a partial success so the process is uniform (normal scheduling everywhere).
            _for_each_thread(lambda tid: os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0)))
            notes.append(f"real-time SCHED_{config.realtime_policy.upper()} {priority} not permitted "
                         f"({exc.strerror}; needs CAP_SYS_NICE or RLIMIT_RTPRIO), falling back to nice "
                         f"{target_nice}")
    if target_nice != current_nice:
        try:
            nice_threads = _for_each_thread(lambda tid: os.setpriority(os.PRIO_PROCESS, tid, target_nice))
            threads = max(threads, nice_threads)
        except OSError as exc:
            if not _refused(exc):
                raise
            notes.append(f"nice {target_nice} not permitted ({exc.strerror}; lowering it needs CAP_SYS_NICE), "
                         f"staying at nice {current_nice}")
    policy_name, priority_now, nice_now = thread_scheduling(0)
    if realtime and policy_name not in REALTIME_POLICIES:
        notes.append(f"real-time policy did not stick (now {policy_name})")
    return SchedulingOutcome(policy_name, priority_now, nice_now, threads or len(thread_ids()), tuple(notes))


def declare_scheduling(node: Any, **defaults: Any) -> SchedulingConfig:
    """Declare ``scheduling.*`` on ``node`` (``defaults``: field values replacing the dataclass's)."""
    from mbrl_ros.nodes.parameters import declare_config  # parameters imports ROS compat; keep this light

    unknown = set(defaults) - {f.name for f in dataclasses.fields(SchedulingConfig)}
    if unknown:
        raise TypeError(f"unknown scheduling default(s) {sorted(unknown)}")
    return declare_config(node, SchedulingConfig, prefix="scheduling", defaults=defaults)


def apply_node_scheduling(node: Any, **defaults: Any) -> SchedulingOutcome:
    """Declare ``scheduling.*`` on ``node`` with ``defaults``, apply it to the process and log one INFO line.

    Example (a node's ``main`` without :func:`~mbrl_ros.nodes.runner.run_node`)::

        node = MyNode()
        apply_node_scheduling(node, nice=10)

    Raises:
        ConfigError: a ``scheduling.*`` value is out of bounds.
    """
    outcome = apply_scheduling(declare_scheduling(node, **defaults))
    node.get_logger().info(f"scheduling: {outcome.summary()}")
    return outcome
