"""Sensor-to-command latency of the whole ROS stack at 100 Hz in real time (goal: p99 <= 5 ms).

What runs: launch/sim.launch.yaml through ``python -m mbrl_ros.cli launch`` with
``realtime:=true trigger:=state_async`` and config/bench/latency_100hz.yaml (pendulum_swingup at
a 0.01 s control period; 1 random + 4 MPC episodes of 10 s; retraining capped at 30 epochs;
iCEM with horizon 30; every torch process on one thread).
sim_bridge steps on the wall clock, state_estimator relays /joint_states to /mbrl/state,
model_learner retrains in the background after each episode and mpc_planner answers each state
at once from its newest plan while it plans in its own thread.

What is measured, by an observer node in this process (a separate process from the four nodes,
on the same DDS domain), for every command: the joint state it answers is found through the
command's tag (``layout.dim[0].label = "actions;stamp_ns=<int>"`` = the header stamp of the
/joint_states message it answers; the estimator keeps stamps). Sim time is not wall time, so
two wall-clock differences are taken, both needing no change to the nodes:

* publish latency (the headline): the command's DDS source timestamp minus the joint state's,
  i.e. wall time the planner published the command minus wall time sim_bridge published the
  measurement (right after the physics step that produced it). It spans one DDS delivery to
  the estimator, its callback and republish, one DDS delivery to the planner and its state
  callback up to ``publish()``. DDS stamps samples with CLOCK_REALTIME at write time, and all
  processes share that clock.
* arrival latency: the command's arrival at the observer minus the joint state's arrival
  (what the brief calls stamp-arrival to command-arrival). It adds the difference of two
  deliveries to the observer and the observer's own scheduling (it is one more Python process
  on the same cores), so it is a noisier upper view of the same path.

Only commands for states of MPC episodes count: episodes after the seed episode(s) that
started after the planner's /diagnostics first reported a plan on a model (``plans`` > 0).
Episodes are told apart by the reset gap in the joint-state stamps. Also reported: the same
for the random episode (exploration answers), states that got no command, per-hop times
(joint state -> /mbrl/state -> command), plan staleness (a plan's ~/plan publish minus its
start state's publish), the planner's plan time p50/p99 (its window of the last 200 plans) and
deadline misses, sim_bridge's missed steps and overruns per episode (progress.csv and
/diagnostics), CPU use per node process, machine CPU use and load average.

Notes from building it on 2 shared cores: the tail is set by CPU scheduling, not by the nodes'
code: even state_estimator, a plain relay, shows a hop p99 over 10 ms while the planning thread
and the learner's training thread each keep a core busy. Giving the planning thread a higher
nice value (10) made the tail worse (p99 ~35 ms): a descheduled planning thread that holds the
GIL stalls the state callback of the same process. Isolating planning from the control path in
CPU terms needs a separate planning process (or free cores), not thread priorities.
With ``planning_process`` (config/bench/latency_100hz_process.yaml) the node that answers states
does little work, and it and state_estimator run at SCHED_FIFO priority 5 (the bridges at 10; the
planning child and the learner at normal scheduling, nice 0 and +10): publish latency p99 3.6 ms
on an otherwise idle machine (bench/results/ros_latency_process_rt.log). Two things had to go
for that: at normal priority the two hops' p99 were 6 ms and 60 ms; and a model message (1.6 MB
of uint8[]) cost ~100 ms of interpreter lock to read as a list of ints (now read as bytes).

The launcher gets SIGINT if it has not exited when the run should be over; the script fails
(exit 1) if any process of the launch is left behind, or no MPC command was measured.

Example (~1 minute; writes bench/results/ros_latency.json):
    python bench/ros_latency.py
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_header  # noqa: E402

from mbrl_ros.launcher.process_tree import descendant_pids, running_pids  # noqa: E402

from mbrl_ros.nodes.conversions import command_tag, stamp_to_ns  # noqa: E402
from mbrl_ros.ros.compat import (  # noqa: E402
    ExternalShutdownException,
    Node,
    QoSProfile,
    SingleThreadedExecutor,
    msg,
    rclpy_api,
)
from mbrl_ros.ros.runtime.arguments import load_params_file  # noqa: E402
from mbrl_ros.ros.runtime.testing import isolated_domain  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GOAL_P99_MS = 5.0
NS_PER_MS = 1e6


# -- observer ------------------------------------------------------------------------------
class LatencyObserver(Node):
    """Records source and arrival wall times (ns) of joint states, states, commands and plans."""

    def __init__(self, controller: str, **kwargs: Any):
        super().__init__("latency_observer", **kwargs)
        self.lock = threading.Lock()
        self.joint: dict[int, tuple[int, int]] = {}    # stamp -> (source ns, arrival ns)
        self.state: dict[int, tuple[int, int]] = {}
        self.command: dict[int, tuple[int, int]] = {}  # tag -> first command answering it
        self.duplicate_commands = 0
        self.untagged_commands = 0
        self.plan: dict[int, tuple[int, int]] = {}     # plan's start-state stamp -> (source, arrival)
        self.diagnostics: list[tuple[int, str, dict[str, str]]] = []  # (arrival ns, node, values)
        self.episode_ends: list[int] = []                  # arrival ns of each /sim_bridge/episode_return
        self.processed: list[tuple[int, int]] = []         # (arrival ns, episodes model_learner is done with)
        deep = QoSProfile(depth=1000)
        self.create_subscription(msg("sensor_msgs/msg/JointState"), "/joint_states", self._on_joint, deep)
        self.create_subscription(msg("sensor_msgs/msg/JointState"), "/mbrl/state", self._on_state, deep)
        self.create_subscription(msg("std_msgs/msg/Float64MultiArray"), f"/{controller}/commands",
                                 self._on_command, deep)
        self.create_subscription(msg("nav_msgs/msg/Path"), "/mpc_planner/plan", self._on_plan, deep)
        self.create_subscription(msg("diagnostic_msgs/msg/DiagnosticArray"), "/diagnostics",
                                 self._on_diagnostics, deep)
        self.create_subscription(msg("std_msgs/msg/Float64"), "/sim_bridge/episode_return",
                                 self._on_episode_end, deep)
        self.create_subscription(msg("std_msgs/msg/Int32"), "/model_learner/processed_episodes",
                                 self._on_processed, deep)

    @staticmethod
    def _times(info: Any) -> tuple[int, int]:
        """(source timestamp, arrival) in wall ns; source 0 when the middleware gives none."""
        arrival = int(info.get("received_timestamp") or time.time_ns())
        return int(info.get("source_timestamp") or 0), arrival

    def _on_joint(self, message: Any, info: Any) -> None:
        times = self._times(info)
        with self.lock:
            self.joint.setdefault(stamp_to_ns(message.header.stamp), times)

    def _on_state(self, message: Any, info: Any) -> None:
        times = self._times(info)
        with self.lock:
            self.state.setdefault(stamp_to_ns(message.header.stamp), times)

    def _on_command(self, message: Any, info: Any) -> None:
        times = self._times(info)
        tag = command_tag(message)
        with self.lock:
            if tag is None:
                self.untagged_commands += 1
            elif tag in self.command:
                self.duplicate_commands += 1  # e.g. the watchdog's safe command, tagged with the last state
            else:
                self.command[tag] = times

    def _on_plan(self, message: Any, info: Any) -> None:
        times = self._times(info)
        if message.poses:
            with self.lock:
                # pose 0 is stamped start state + one control period; the offset is removed later.
                self.plan.setdefault(stamp_to_ns(message.poses[0].header.stamp), times)

    def _on_episode_end(self, _message: Any, info: Any) -> None:
        with self.lock:
            self.episode_ends.append(self._times(info)[1])

    def _on_processed(self, message: Any, info: Any) -> None:
        with self.lock:
            self.processed.append((self._times(info)[1], int(message.data)))

    def training_at(self, wall_ns: int, seed_episodes: int) -> bool:
        """Whether model_learner was (likely) training at ``wall_ns``: an episode that it trains after
        had ended, and it had not yet reported being done with it."""
        ended = sum(1 for t in self.episode_ends if t <= wall_ns)
        done = max([n for t, n in self.processed if t <= wall_ns], default=0)
        return ended >= seed_episodes and ended > done

    def _on_diagnostics(self, message: Any, info: Any) -> None:
        arrival = self._times(info)[1]
        with self.lock:
            for status in message.status:
                self.diagnostics.append((arrival, status.name, {kv.key: kv.value for kv in status.values}))


# -- processes and load --------------------------------------------------------------------


def process_label(pid: int) -> str:
    """``node:<name>`` for a node process (its ``__node:=`` remap), else the command's first word."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return f"pid:{pid}"
    for arg in argv:
        if arg.startswith("__node:="):
            return "node:" + arg.split(":=", 1)[1]
    return "launcher" if "launch" in argv else Path(argv[0]).name


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` in seconds (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / tick, total / tick


class LoadMonitor:
    """Samples load average, machine CPU and the CPU time of each process of the launch."""

    def __init__(self, root_pid: int):
        self.root_pid = root_pid
        self.samples: list[dict[str, Any]] = []  # wall ns, loadavg, machine busy/total, per-label cpu s

    def sample(self) -> None:
        per_label: dict[str, float] = {}
        for pid in [self.root_pid, *descendant_pids(self.root_pid)]:
            seconds = cpu_seconds(pid)
            if seconds is not None:
                label = process_label(pid)
                per_label[label] = per_label.get(label, 0.0) + seconds
        per_label["bench_observer"] = cpu_seconds(os.getpid()) or 0.0  # this process, not the launch
        busy, total = machine_cpu()
        self.samples.append({"wall_ns": time.time_ns(), "loadavg_1m": os.getloadavg()[0],
                             "busy": busy, "total": total, "cpu": per_label})

    def window(self, start_ns: int, end_ns: int) -> dict[str, Any]:
        """Load between the samples nearest ``start_ns`` and ``end_ns`` (wall ns)."""
        inside = [s for s in self.samples if start_ns <= s["wall_ns"] <= end_ns]
        if len(inside) < 2:
            return {}
        first, last = inside[0], inside[-1]
        wall = (last["wall_ns"] - first["wall_ns"]) / 1e9
        cores = {label: round((last["cpu"].get(label, 0.0) - first["cpu"].get(label, 0.0)) / wall, 3)
                 for label in last["cpu"]}
        machine_busy = (last["busy"] - first["busy"]) / (last["total"] - first["total"]) * os.cpu_count()
        loads = [s["loadavg_1m"] for s in inside]
        return {"seconds": round(wall, 2), "cores_used_by_process": cores,
                "cores_used_by_launch": round(sum(v for k, v in cores.items() if k != "bench_observer"), 3),
                "cores_busy_machine": round(machine_busy, 3),
                "cores_busy_other_processes": round(machine_busy - sum(cores.values()), 3),
                "cores": os.cpu_count(),
                "loadavg_1m": {"min": min(loads), "mean": round(float(np.mean(loads)), 2), "max": max(loads)}}


# -- analysis ------------------------------------------------------------------------------
def stats_ms(values_ns: list[int] | np.ndarray) -> dict[str, Any]:
    values = np.asarray(values_ns, dtype=np.float64) / NS_PER_MS
    if values.size == 0:
        return {"n": 0}
    return {"n": int(values.size), "p50_ms": round(float(np.percentile(values, 50)), 3),
            "p90_ms": round(float(np.percentile(values, 90)), 3),
            "p99_ms": round(float(np.percentile(values, 99)), 3),
            "max_ms": round(float(values.max()), 3), "mean_ms": round(float(values.mean()), 3),
            "min_ms": round(float(values.min()), 3)}


def split_episodes(stamps: list[int], period_ns: int) -> list[list[int]]:
    """Sorted joint-state stamps cut into episodes at gaps over 1.5 control periods (the resets)."""
    episodes: list[list[int]] = []
    for stamp in sorted(stamps):
        if not episodes or stamp - episodes[-1][-1] > 1.5 * period_ns:
            episodes.append([])
        episodes[-1].append(stamp)
    return episodes


def as_number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def last_status(diagnostics: list, node: str, before_ns: int) -> dict[str, str]:
    """Values of ``node``'s last /diagnostics status that arrived before ``before_ns``."""
    found: dict[str, str] = {}
    for arrival, name, values in diagnostics:
        if name == node and arrival <= before_ns:
            found = values
    return found


def counter_delta(start: dict[str, str], end: dict[str, str], key: str) -> int:
    return int((as_number(end.get(key)) or 0) - (as_number(start.get(key)) or 0))


def latencies(obs: LatencyObserver, stamps: list[int]) -> dict[str, Any]:
    """Latency statistics over the commands answering the joint states stamped ``stamps``."""
    publish, arrival, estimator_hop, planner_reaction = [], [], [], []
    unanswered = []
    for position, stamp in enumerate(stamps):
        command = obs.command.get(stamp)
        if command is None:
            unanswered.append(position)
            continue
        joint_src, joint_arrival = obs.joint[stamp]
        arrival.append(command[1] - joint_arrival)
        if command[0] and joint_src:
            publish.append(command[0] - joint_src)
        state = obs.state.get(stamp)
        if state is not None and state[0] and joint_src and command[0]:
            estimator_hop.append(state[0] - joint_src)
            planner_reaction.append(command[0] - state[0])
    publish_stats = stats_ms(publish)
    if publish:
        publish_stats["over_goal"] = int(np.sum(np.asarray(publish) > GOAL_P99_MS * NS_PER_MS))
    return {"states": len(stamps), "unanswered_states": len(unanswered),
            "unanswered_positions": unanswered[:20],
            "publish_latency": publish_stats, "arrival_latency": stats_ms(arrival),
            "hop_joint_states_to_mbrl_state": stats_ms(estimator_hop),
            "hop_mbrl_state_to_command": stats_ms(planner_reaction)}


def analyse(obs: LatencyObserver, period_ns: int, seed_episodes: int, monitor: LoadMonitor,
            output_dir: Path) -> dict[str, Any]:
    with obs.lock:
        episodes = split_episodes(list(obs.joint), period_ns)
        diagnostics = list(obs.diagnostics)
    first_plan_ns = next((arrival for arrival, name, values in diagnostics
                          if name == "mpc_planner" and (as_number(values.get("plans")) or 0) > 0), None)
    rows = []
    for index, stamps in enumerate(episodes):
        start_arrival = obs.joint[stamps[0]][1]
        kind = "random" if index < seed_episodes else "mpc"
        with_model = first_plan_ns is not None and first_plan_ns < start_arrival
        rows.append({"episode": index, "kind": kind, "states_seen": len(stamps),
                     "planning_on_a_model_from_start": kind == "mpc" and with_model,
                     "start_wall_ns": start_arrival, "end_wall_ns": obs.joint[stamps[-1]][1]})
    measured = [r["episode"] for r in rows if r["planning_on_a_model_from_start"]]
    measured_stamps = [s for e in measured for s in episodes[e]]
    random_stamps = [s for e in range(min(seed_episodes, len(episodes))) for s in episodes[e]]
    training = [s for s in measured_stamps if obs.training_at(obs.joint[s][1], seed_episodes)]
    training_set = set(training)
    report: dict[str, Any] = {
        "measured_episodes": measured,
        "mpc": latencies(obs, measured_stamps),
        "mpc_while_learner_trains": latencies(obs, training),
        "mpc_while_learner_idle": latencies(obs, [s for s in measured_stamps if s not in training_set]),
        "random_episode": latencies(obs, random_stamps),
        "per_episode": [],
        "commands_untagged": obs.untagged_commands, "commands_duplicate_tag": obs.duplicate_commands,
    }
    for row, stamps in zip(rows, episodes):
        lat = latencies(obs, stamps)
        row.update({"publish_latency": lat["publish_latency"], "unanswered_states": lat["unanswered_states"],
                    "unanswered_positions": lat["unanswered_positions"]})
        report["per_episode"].append({k: v for k, v in row.items() if not k.endswith("_wall_ns")})
    if not measured:
        return report
    start_ns = rows[measured[0]]["start_wall_ns"]
    end_ns = rows[measured[-1]]["end_wall_ns"]

    # Plan staleness: a plan's publish on ~/plan minus the publish of the joint state it started from.
    staleness = []
    measured_set = set(measured_stamps)
    for first_pose_ns, (plan_src, _) in obs.plan.items():
        start_stamp = first_pose_ns - period_ns
        joint = obs.joint.get(start_stamp)
        if joint is not None and plan_src and joint[0] and start_stamp in measured_set:
            staleness.append(plan_src - joint[0])
    report["plan_staleness"] = stats_ms(staleness)

    before, during = (last_status(diagnostics, "mpc_planner", start_ns),
                      last_status(diagnostics, "mpc_planner", end_ns))
    report["planner"] = {
        "source": "mpc_planner /diagnostics: plan_ms_* over its last 200 plans at the end of the window, "
                  "counters as differences over the measured episodes",
        "plan_ms_median": as_number(during.get("plan_ms_median")),
        "plan_ms_p99": as_number(during.get("plan_ms_p99")),
        "plan_iterations_last": as_number(during.get("plan_iterations")),
        "plan_index_median": as_number(during.get("plan_index_median")),
        "plan_index_max": as_number(during.get("plan_index_max")),
        **{key.replace(".", "_"): counter_delta(before, during, key)
           for key in ("plans", "deadline_misses", "commands", "commands.plan", "commands.plan_exhausted",
                       "commands.explore", "commands.no_plan", "commands.safe", "states_skipped",
                       "models_swapped", "planning_errors")},
        "model_version_end": as_number(during.get("model_version")),
        "rejected_inputs_total": sum(int(as_number(v) or 0) for k, v in during.items()
                                     if k.startswith("rejected.")),
    }
    sim_before, sim_end = (last_status(diagnostics, "sim_bridge", start_ns),
                           last_status(diagnostics, "sim_bridge", end_ns))
    sim_last = last_status(diagnostics, "sim_bridge", time.time_ns())
    report["sim_bridge"] = {
        "missed_steps_measured": counter_delta(sim_before, sim_end, "missed_steps"),
        "overruns_measured": counter_delta(sim_before, sim_end, "overruns"),
        "missed_steps_total": int(as_number(sim_last.get("missed_steps")) or 0),
        "overruns_total": int(as_number(sim_last.get("overruns")) or 0),
        "steps_total": int(as_number(sim_last.get("steps")) or 0),
    }
    progress = output_dir / "progress.csv"
    if progress.is_file():
        previous = 0
        per_episode = []
        for row in csv.DictReader(progress.open()):
            total = int(row["missed_steps_total"])
            per_episode.append({"episode": int(row["episode"]), "kind": row["kind"],
                                "episode_return": round(float(row["episode_return"]), 3),
                                "missed_steps": total - previous})
            previous = total
        report["sim_bridge"]["per_episode"] = per_episode
    report["load_during_measured_episodes"] = monitor.window(start_ns, end_ns)
    return report


# -- run -----------------------------------------------------------------------------------
def spin(executor: Any) -> None:
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(REPO / "config/bench/latency_100hz.yaml"),
                        help="params_file of the launch (task, rate, episodes, trigger)")
    parser.add_argument("--task", default="pendulum_swingup", help="must be the task the params file sets")
    parser.add_argument("--planner", default="icem")
    parser.add_argument("--controller", default="effort_controller")
    parser.add_argument("--timeout", type=float, default=300.0, help="wall s before the launch gets SIGINT")
    parser.add_argument("--out", default=str(REPO / "bench/results/ros_latency.json"))
    args = parser.parse_args()

    planner_params = load_params_file(args.params).get("/mpc_planner", {})
    period_s = float(planner_params[f"{args.task}.control_period"])
    seed_episodes = int(planner_params.get("learning.seed_episodes", 1))
    episodes = int(planner_params.get("learning.episodes", 4))
    threads = int(planner_params.get("learning.threads", 1))
    period_ns = round(period_s * 1e9)
    header_start = environment_header("ROS 2 stack (mbrl_ros runtime on Cyclone DDS), torch eager CPU", threads)
    print(header_start, flush=True)

    work = Path(tempfile.mkdtemp(prefix="ros_latency_"))
    output_dir = work / "out"
    log_path = work / "launch.log"
    command = [sys.executable, "-m", "mbrl_ros.cli", "launch", "sim.launch.yaml", f"task:={args.task}",
               f"planner:={args.planner}", "realtime:=true", "trigger:=state_async", f"episodes:={episodes}",
               f"threads:={threads}", f"controller:={args.controller}", f"params_file:={args.params}",
               f"output_dir:={output_dir}"]
    print(f"# {' '.join(command[1:])}\n# log: {log_path}", flush=True)

    seen: set[int] = set()
    left_behind: set[int] = set()
    with isolated_domain() as domain_id:
        rclpy_api.init(args=[])  # after isolated_domain() set ROS_DOMAIN_ID
        observer = LatencyObserver(args.controller)
        executor = SingleThreadedExecutor()
        executor.add_node(observer)
        spinner = threading.Thread(target=spin, args=(executor,), daemon=True)
        spinner.start()
        # Inside isolated_domain(): the nodes inherit its ROS_DOMAIN_ID. One thread for torch's and
        # the BLAS libraries' pools in every process, whatever they read.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads),
               "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
        with log_path.open("w") as log:
            launcher = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work, env=env)
        monitor = LoadMonitor(launcher.pid)
        started = time.monotonic()
        code: int | None = None
        try:
            while launcher.poll() is None and time.monotonic() - started < args.timeout:
                seen |= descendant_pids(launcher.pid)
                monitor.sample()
                time.sleep(0.5)
        finally:
            if launcher.poll() is None:
                print(f"# the launch is still running after {time.monotonic() - started:.0f} s: SIGINT",
                      flush=True)
                launcher.send_signal(signal.SIGINT)
            try:
                code = launcher.wait(timeout=60)
            except subprocess.TimeoutExpired:
                launcher.kill()
                code = launcher.wait(timeout=10)
            deadline = time.monotonic() + 10
            while running_pids(seen) and time.monotonic() < deadline:
                time.sleep(0.1)
            left_behind = running_pids(seen)
            for pid in left_behind:  # ours: started by this run's launcher
                os.kill(pid, signal.SIGKILL)
            executor.shutdown(timeout_sec=5.0)
            observer.destroy_node()
            rclpy_api.try_shutdown()
            spinner.join(timeout=5.0)
    wall_s = time.monotonic() - started
    header_end = environment_header("ROS 2 stack (mbrl_ros runtime on Cyclone DDS), torch eager CPU", threads)

    result = analyse(observer, period_ns, seed_episodes, monitor, output_dir)
    mpc = result["mpc"]["publish_latency"]
    report = {
        "goal": f"p99 of sensor stamp -> command publish <= {GOAL_P99_MS} ms at {1 / period_s:.0f} Hz, real time",
        "goal_met_publish_latency": bool(mpc.get("n") and mpc["p99_ms"] <= GOAL_P99_MS),
        "goal_met_arrival_latency": bool(result["mpc"]["arrival_latency"].get("n")
                                         and result["mpc"]["arrival_latency"]["p99_ms"] <= GOAL_P99_MS),
        "definitions": {
            "publish_latency": "command DDS source timestamp - joint state DDS source timestamp (wall clock, "
                               "CLOCK_REALTIME at write): sim_bridge publishing the measurement -> mpc_planner "
                               "publishing the command answering it (via state_estimator; two DDS deliveries)",
            "arrival_latency": "command arrival - joint state arrival at the observer (a separate process): the "
                               "same path plus the difference of the two deliveries to the observer and its "
                               "own scheduling",
            "hop_joint_states_to_mbrl_state": "state_estimator's republish source ts - joint state source ts",
            "hop_mbrl_state_to_command": "command source ts - /mbrl/state source ts (planner reaction)",
            "plan_staleness": "~/plan source ts - source ts of the joint state the plan started from (plan "
                              "time + wait for the planning thread + path rollout)",
            "unanswered_states": "joint states of the episode for which no tagged command was seen",
            "measured episodes": "MPC episodes that started after the planner reported its first plan on a "
                                 "model (so the command path includes a trained model)",
            "mpc_while_learner_trains": "measured states that arrived after an episode end that model_learner "
                                        "trains after and before its ~/processed_episodes reported it done "
                                        "(training runs in the background in real time)",
            "random_episode": "the seed episode: exploration answers, no planning, no training",
        },
        "mpc": result.pop("mpc"),
        **result,
        "run": {"command": " ".join(command[1:]), "params_file": args.params,
                "params_mpc_planner": planner_params, "control_period_s": period_s,
                "trigger": planner_params.get("trigger"), "torch_threads_per_process": threads,
                "episodes": episodes, "seed_episodes": seed_episodes, "dds_domain": domain_id,
                "launch_exit_code": code, "wall_s": round(wall_s, 1), "launch_descendants_seen": len(seen),
                "processes_left_behind": sorted(left_behind), "launch_log": str(log_path)},
        "environment_start": header_start, "environment_end": header_end,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")

    print(header_end)
    rows = [(f"mpc {name}", report["mpc"][name]) for name in
            ("publish_latency", "arrival_latency", "hop_joint_states_to_mbrl_state", "hop_mbrl_state_to_command")]
    rows += [(f"{part} publish_latency", report[part]["publish_latency"])
             for part in ("mpc_while_learner_trains", "mpc_while_learner_idle", "random_episode")]
    for name, s in rows:
        if s.get("n"):
            print(f"{name:45s} n={s['n']:5d} p50={s['p50_ms']:7.3f} p99={s['p99_ms']:7.3f} "
                  f"max={s['max_ms']:8.3f} ms")
    print(f"unanswered states {report['mpc']['unanswered_states']} of {report['mpc']['states']} "
          f"(measured episodes {report['measured_episodes']})")
    if "planner" in report:
        p = report["planner"]
        print(f"planner: plan p50 {p['plan_ms_median']} ms p99 {p['plan_ms_p99']} ms, {p['plans']} plans, "
              f"{p['deadline_misses']} deadline misses, staleness p50 {report['plan_staleness'].get('p50_ms')} ms; "
              f"commands from a plan {p['commands_plan']}, past its horizon (safe) {p['commands_plan_exhausted']}, "
              f"plan index p50 {p['plan_index_median']}")
        print(f"sim_bridge: {report['sim_bridge']['missed_steps_measured']} missed steps in the measured episodes "
              f"({report['sim_bridge']['missed_steps_total']} in all), per episode "
              f"{[e['missed_steps'] for e in report['sim_bridge'].get('per_episode', [])]}")
        print(f"load: {json.dumps(report['load_during_measured_episodes'])}")
    verdict = {True: "met", False: "NOT met"}
    print(f"goal p99 <= {GOAL_P99_MS} ms: publish latency {verdict[report['goal_met_publish_latency']]}, "
          f"arrival latency {verdict[report['goal_met_arrival_latency']]}")
    print(f"wrote {out}")
    if left_behind:
        print(f"processes left behind (killed): {sorted(left_behind)}", file=sys.stderr)
        return 1
    if not mpc.get("n"):
        print(f"no MPC command was measured; see {log_path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
