"""The fault suite's shared stack: one real-time launch of test/faults/faults.launch.yaml on a DDS
domain of its own, a probe node in this process that times every message it hears, and the
results table the tests fill (printed at the end; written as JSON to ``$FAULTS_RESULTS`` if set).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from launch_runs import start_launch
from ros_graph import RosGraph

from mbrl_ros.ros.compat import MutuallyExclusiveCallbackGroup, msg, qos_profile_latched
from mbrl_ros.ros.runtime.testing import isolated_domain

LAUNCH_FILE = Path(__file__).with_name("faults.launch.yaml")
TASK = "pendulum_swingup"
START_TIMEOUT_S = 150.0
# Small budget: a 2 s episode, a tiny ensemble that trains in about a second, a short horizon.
PARAMS = """\
/**:
  ros__parameters:
    diagnostics_period: 0.2
    learning: {horizon: 8, max_train_epochs: 5, seed_episodes: 1}
    pendulum_swingup: {episode_length: 40}
    pets_ensemble: {ensemble_size: 2, num_elites: 2, hidden_layers: 2, hidden_units: 16, num_particles: 2}
    icem: {population: 16}
sim_bridge:
  ros__parameters: {reset_gap: 0.2, start_delay: 0.2, learner_topic: "", learning: {episodes: 100000}}
model_learner:
  ros__parameters: {persist_period: 0.5, learning: {episodes: 3}}
mpc_planner:
  ros__parameters: {state_timeout: 0.3}
"""


class TimedStream:
    """Every message on a topic with its arrival time (``time.monotonic()``) at the probe."""

    def __init__(self, graph: RosGraph, ros_type: str, topic: str, qos: Any = 1000):
        self.items: list[tuple[float, Any]] = []
        graph.probe.create_subscription(msg(ros_type), topic, lambda m: self.items.append((time.monotonic(), m)),
                                        qos, callback_group=MutuallyExclusiveCallbackGroup())

    def between(self, start: float, end: float = float("inf")) -> list[tuple[float, Any]]:
        return [(t, m) for t, m in list(self.items) if start <= t <= end]


class Diagnostics:
    """The newest /diagnostics values of each node, as numbers where they parse."""

    def __init__(self, graph: RosGraph):
        self.latest: dict[str, tuple[float, dict[str, Any]]] = {}
        graph.probe.create_subscription(msg("diagnostic_msgs/msg/DiagnosticArray"), "/diagnostics", self._on, 1000,
                                        callback_group=MutuallyExclusiveCallbackGroup())

    def _on(self, array: Any) -> None:
        for status in array.status:
            self.latest[status.name] = (time.monotonic(), {kv.key: _number(kv.value) for kv in status.values})

    def of(self, node: str, newer_than: float = 0.0, timeout: float = 30.0) -> dict[str, Any]:
        """``node``'s values from a message that arrived after ``newer_than`` (waits for one)."""
        deadline = time.monotonic() + timeout
        while True:
            stamp, values = self.latest.get(node, (0.0, {}))
            if stamp > newer_than:
                return values
            if time.monotonic() > deadline:
                pytest.fail(f"no /diagnostics from {node} after {timeout} s")
            time.sleep(0.05)

    def rejected(self, node: str, source: str, newer_than: float = 0.0) -> dict[str, int]:
        head = f"rejected.{source}."
        return {k[len(head):]: int(v) for k, v in self.of(node, newer_than).items() if k.startswith(head)}


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


@dataclasses.dataclass
class Stack:
    """The running launch and what the probe sees of it."""

    tmp: Path
    process: subprocess.Popen
    log_path: Path
    graph: RosGraph
    commands: TimedStream
    applied: TimedStream
    policy_commands: TimedStream
    states: TimedStream
    episode_ends: TimedStream
    diagnostics: Diagnostics
    data_dir: Path
    policy_file: Path
    period: float
    safe_action: np.ndarray
    results: list[dict]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        """The newest pid of every node the launcher started (from its ``started NAME (pid N)`` lines)."""
        return {name: int(pid) for name, pid in re.findall(r"\[launch\] started (\w+) \(pid (\d+)\)", self.log())}

    def wait_log(self, text: str, timeout: float, after: int = 0) -> None:
        """Wait until ``text`` appears in the launch log after character ``after``."""
        deadline = time.monotonic() + timeout
        while text not in self.log()[after:]:
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"{text!r} not in the launch log after {timeout} s:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def wait_commands(self, stream: TimedStream, since: float, count: int, timeout: float) -> float:
        """Wait for ``count`` messages on ``stream`` after ``since``; returns the first one's arrival."""
        deadline = time.monotonic() + timeout
        while len(stream.between(since)) < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"fewer than {count} commands after {timeout} s:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        return stream.between(since)[0][0]

    def record(self, **row: Any) -> None:
        self.results.append(row)


def _export_policy(path: Path, spec) -> Path:
    from mbrl_ros.export.onnx_policy import PolicyNetwork, export_policy_onnx

    policy = PolicyNetwork(spec.obs_dim, spec.action_low, spec.action_high, {"hidden_units": 8},
                           angle_indices=spec.angle_indices)
    return export_policy_onnx(policy, path, task_spec=spec, metadata={"version": 1})


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from mbrl_ros.tasks import make_task

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("faults")
    spec = make_task(TASK).spec
    policy_file = _export_policy(tmp / "policy.onnx", spec)
    (tmp / "params.yaml").write_text(PARAMS)
    results: list[dict] = []
    with isolated_domain():
        graph = RosGraph()
        stack = Stack(tmp=tmp, process=None, log_path=tmp / "launch.log", graph=graph,
                      commands=TimedStream(graph, "std_msgs/msg/Float64MultiArray", "/effort_controller/commands"),
                      applied=TimedStream(graph, "std_msgs/msg/Float64MultiArray", "/sim_bridge/applied_command"),
                      policy_commands=TimedStream(graph, "std_msgs/msg/Float64MultiArray", "/fault_policy/commands"),
                      states=TimedStream(graph, "sensor_msgs/msg/JointState", "/mbrl/state"),
                      episode_ends=TimedStream(graph, "std_msgs/msg/Float64", "/sim_bridge/episode_return", 100),
                      diagnostics=Diagnostics(graph), data_dir=tmp / "learner", policy_file=policy_file,
                      period=spec.control_period, safe_action=np.asarray(spec.safe_action()), results=results)
        stack.process, _ = start_launch(tmp, str(LAUNCH_FILE), f"params_file:={tmp / 'params.yaml'}",
                                        f"data_dir:={stack.data_dir}", f"policy_file:={policy_file}")
        try:
            # Ready: the planner plans on a learned model and the policy answers states.
            deadline = time.monotonic() + START_TIMEOUT_S
            while stack.diagnostics.latest.get("mpc_planner", (0, {}))[1].get("model_version", -1) < 1:
                if time.monotonic() > deadline or stack.process.poll() is not None:
                    pytest.fail(f"the stack did not get to a learned model:\n{stack.log()[-4000:]}")
                time.sleep(0.2)
            stack.wait_commands(stack.policy_commands, time.monotonic() - 1.0, 1, 30)
            yield stack
        finally:
            if stack.process.poll() is None:
                stack.process.send_signal(signal.SIGINT)
                stack.process.wait(timeout=60)
            graph.close()
            _report(results)


def _report(results: list[dict]) -> None:
    if not results:
        return
    keys = ["fault", "time_to_safe", "data_lost", "node_fate"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in results]
    print("\n" + "\n".join(lines))
    out = os.environ.get("FAULTS_RESULTS")
    if out:
        Path(out).write_text(json.dumps(results, indent=2, default=float) + "\n")


@pytest.fixture(scope="module")
def latched():
    return qos_profile_latched
