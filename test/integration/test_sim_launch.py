"""launch/sim.launch.yaml end to end: the four nodes as separate processes learn pendulum_swingup.

The node command lines are built from the launch file itself by a minimal reading of it
(``arg``, ``node`` with ``param`` ``from`` files and ``name``/``value`` pairs, ``$(var ...)`` and
``$(find-pkg-share mbrl_ros)``), so the file's parameter layering is what runs.

The learning check (always on, about a minute on two cores) runs 1 random + 2 MPC episodes of
5 s with a small ensemble, in lockstep, and asserts that MPC beats the random episode by a wide
margin (in-process runs with these settings, seeds 0-5: random 1.5-1.8, best MPC 34-72).
``MBRL_ROS_SLOW_TESTS=1`` adds a longer run with the package's default model and episodes.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import mbrl_ros
from mbrl_ros.package_data import share_dir
from mbrl_ros.ros.compat import (
    DurabilityPolicy,
    Node,
    QoSProfile,
    ReliabilityPolicy,
    SingleThreadedExecutor,
    msg,
    rclpy_api,
)
from mbrl_ros.ros.runtime.testing import isolated_domain

REPO = Path(mbrl_ros.__file__).resolve().parent.parent
LAUNCH_FILE = share_dir() / "launch" / "sim.launch.yaml"
#: Executable -> module, as setup.py's console_scripts declare them.
EXECUTABLES = {"sim_bridge": "mbrl_ros.nodes.sim_bridge", "state_estimator": "mbrl_ros.nodes.state_estimator",
               "model_learner": "mbrl_ros.nodes.model_learner", "mpc_planner": "mbrl_ros.nodes.planner"}
_SUBSTITUTION = re.compile(r"\$\((var|find-pkg-share) ([^)]+)\)")
SLOW = os.environ.get("MBRL_ROS_SLOW_TESTS", "") not in ("", "0")


def launch_entries() -> list[dict]:
    document = yaml.safe_load(LAUNCH_FILE.read_text())
    assert isinstance(document, dict) and list(document) == ["launch"], "a YAML launch file has one 'launch' list"
    return document["launch"]


def substitute(text: str, args: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        kind, value = match.groups()
        if kind == "var":
            return args[value]
        assert value == "mbrl_ros", f"find-pkg-share of another package: {value}"
        return str(share_dir())

    return _SUBSTITUTION.sub(replace, str(text))


def node_commands(overrides: dict[str, str]) -> dict[str, list[str]]:
    """Node name -> argv for the launch file with ``overrides`` as launch arguments."""
    args: dict[str, str] = {}
    commands: dict[str, list[str]] = {}
    for entry in launch_entries():
        (kind, body), = entry.items()
        if kind == "arg":
            args[body["name"]] = str(overrides.get(body["name"], body["default"]))
            continue
        assert kind == "node", f"unexpected launch entry {kind!r}"
        unknown = set(body) - {"pkg", "exec", "name", "param", "output"}
        assert not unknown, f"launch keys this test does not interpret: {unknown}"
        assert body["pkg"] == "mbrl_ros"
        argv = [sys.executable, "-m", EXECUTABLES[body["exec"]], "--ros-args", "-r", f"__node:={body['name']}"]
        for param in body.get("param", []):
            if "from" in param:
                argv += ["--params-file", substitute(param["from"], args)]
            else:
                argv += ["-p", f"{param['name']}:={substitute(param['value'], args)}"]
        commands[body["name"]] = argv
    unused = set(overrides) - set(args)
    assert not unused, f"launch arguments not declared: {unused}"
    return commands


def test_launch_file_is_well_formed():
    entries = launch_entries()
    args = {e["arg"]["name"] for e in entries if "arg" in e}
    assert {"task", "planner", "realtime", "seed", "episodes"} <= args
    nodes = {e["node"]["name"]: e["node"] for e in entries if "node" in e}
    assert set(nodes) == {"sim_bridge", "state_estimator", "model_learner", "mpc_planner"}
    setup = (REPO / "setup.py").read_text()
    for node in nodes.values():
        module = EXECUTABLES[node["exec"]]
        assert f'"{node["exec"]} = {module}:main"' in setup, f"setup.py lacks the console script {node['exec']}"
    # Every parameter file exists for every registered planner and every task sim_bridge can run
    # (a MuJoCo model with hinge and slide joints only).
    from mbrl_ros.nodes.joint_layout import JointLayoutError, joint_layout
    from mbrl_ros.planning import PLANNERS
    from mbrl_ros.tasks import TASKS, make_task

    def bridgeable(name):
        try:
            joint_layout(make_task(name))
        except JointLayoutError:
            return False
        return True

    for task in filter(bridgeable, TASKS.names()):
        for planner in PLANNERS.names():
            for argv in node_commands({"task": task, "planner": planner}).values():
                files = [argv[i + 1] for i, a in enumerate(argv) if a == "--params-file"]
                assert all(Path(f).is_file() for f in files), files


class _Processes:
    """Node processes with their output in log files; always stopped (SIGINT, then SIGKILL)."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               "PYTHONUNBUFFERED": "1"}
        log = open(self.log_dir / f"{name}.log", "w")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.log_dir)
        log.close()
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop(self) -> dict[str, int]:
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        codes = {}
        for name, process in self.running.items():
            try:
                codes[name] = process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait(timeout=10)
        return codes


def run_learning(tmp_path: Path, launch_args: dict[str, str], extra: dict[str, list[str]],
                 timeout_s: float) -> tuple[list[float], _Processes]:
    """Run the launch file's nodes until sim_bridge exits; returns the episode returns."""
    commands = node_commands(launch_args)
    processes = _Processes(tmp_path)
    returns: list[float] = []
    context = rclpy_api.context.Context()
    rclpy_api.init(args=[], context=context)
    try:
        listener = Node("integration_test", context=context)
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        listener.create_subscription(msg("std_msgs/msg/Float64"), "/sim_bridge/episode_return",
                                     lambda m: returns.append(m.data), qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(listener)
        for name in ("state_estimator", "model_learner", "mpc_planner", "sim_bridge"):
            processes.start(name, commands[name] + extra.get(name, []) + extra.get("all", []))
        sim = processes.running["sim_bridge"]
        deadline = time.monotonic() + timeout_s
        while sim.poll() is None and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
            crashed = [n for n, p in processes.running.items() if n != "sim_bridge" and p.poll() is not None]
            assert not crashed, f"{crashed[0]} exited early:\n{processes.log(crashed[0])[-3000:]}"
        finished = sim.poll() is not None
        for _ in range(20):  # collect what is still in flight
            executor.spin_once(timeout_sec=0.05)
        codes = processes.stop()
        assert finished, f"sim_bridge did not finish in {timeout_s} s:\n{processes.log('sim_bridge')[-3000:]}"
        assert codes["sim_bridge"] == 0, processes.log("sim_bridge")[-3000:]
        for name in ("state_estimator", "model_learner", "mpc_planner"):
            assert "Traceback" not in processes.log(name), processes.log(name)[-3000:]
        return returns, processes
    finally:
        processes.stop()
        context.try_shutdown()


def _learning_report(returns: list[float], processes: _Processes) -> str:
    lines = [line for line in processes.log("sim_bridge").splitlines() if "episode" in line or "done" in line]
    lines += [line for line in processes.log("model_learner").splitlines() if "model version" in line]
    return f"returns {returns}\n" + "\n".join(lines)


def test_nodes_learn_pendulum_swingup_over_topics(tmp_path):
    small_budget = ["-p", "pendulum_swingup.episode_length:=100"]
    extra = {
        "all": ["-p", "learning.horizon:=15"],
        "sim_bridge": small_budget,
        "model_learner": small_budget + ["-p", "pets_ensemble.hidden_units:=64", "-p", "learning.max_train_epochs:=50"],
        "mpc_planner": small_budget + ["-p", "icem.population:=64"],
    }
    launch_args = {"task": "pendulum_swingup", "episodes": "3", "seed": "0", "estimator": "finite_difference"}
    with isolated_domain():
        returns, processes = run_learning(tmp_path, launch_args, extra, timeout_s=150)
    report = _learning_report(returns, processes)
    assert len(returns) == 3, report
    random_return, mpc_returns = returns[0], returns[1:]
    assert all(r > random_return for r in mpc_returns), report
    assert max(mpc_returns) > random_return + 15.0, report
    # Lockstep: a step only goes without its command after a 1 s timeout, which a healthy run never hits.
    missed = re.search(r"done: .* (\d+) missed step\(s\)", processes.log("sim_bridge"))
    assert missed is not None and int(missed.group(1)) <= 5, report


@pytest.mark.skipif(not SLOW, reason="set MBRL_ROS_SLOW_TESTS=1 for the full learning run (several minutes)")
def test_nodes_learn_pendulum_swingup_with_default_settings(tmp_path):
    """Default parameters, 1 random + 4 MPC episodes of 10 s: close to the planner on the true physics.

    Measured (seed 1, two shared cores): returns [3.9, 64.4, 171.0, 169.8, 172.8] against 174.1 for
    iCEM on the true physics with the same 40 ms deadline.
    """
    from mbrl_ros.learning.loop import run_learning as run_in_process
    from mbrl_ros.learning.run_config import resolve_run_parameters

    params = resolve_run_parameters("pendulum_swingup")
    oracle = run_in_process("pendulum_swingup", planner="icem", model="oracle", seed=1,
                            learning={**params.section("learning"), "episodes": 1, "plan_deadline": 0.04},
                            planner_config=params.section("icem")).records[0].episode_return
    launch_args = {"task": "pendulum_swingup", "episodes": "5", "seed": "1"}
    with isolated_domain():
        returns, processes = run_learning(tmp_path, launch_args, {}, timeout_s=1200)
    report = _learning_report(returns, processes) + f"\noracle return {oracle:.1f}"
    assert len(returns) == 5, report
    assert max(returns[2:]) >= 0.8 * oracle, report
