"""launch/sim.launch.yaml end to end through `mbrl-ros launch`: four node processes over DDS.

1. Learning: 1 random + 2 MPC episodes of 5 s on pendulum_swingup with a small ensemble, in
   lockstep; sim_bridge exits after the last episode (``on_exit: shutdown``), which ends the
   launch with code 0, writes the learning curve, and leaves no process behind. In-process runs
   with these settings (seeds 0-5) give random 1.5-1.8 and best MPC 34-72; the assertion asks for
   a margin of 15 over the random episode.
2. SIGINT to the launcher mid-run: exit code 130, every node process gone.

The full-budget run (5 episodes of 10 s, package defaults) is README's main job with
task:=pendulum_swingup episodes:=5; bench/results/ros_launch_pendulum_icem.log holds one.
"""
from __future__ import annotations

import csv
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from launch_runs import run_launch, start_launch, wait_until_gone, watch

from mbrl_ros.launcher.process_tree import descendant_pids, running_pids
from mbrl_ros.ros.runtime.testing import isolated_domain

SMALL_BUDGET = """\
/**:
  ros__parameters:
    learning: {horizon: 15, max_train_epochs: 50}
    pendulum_swingup: {episode_length: 100}
    pets_ensemble: {hidden_units: 64}
    icem: {population: 64}
"""


def sim_launch_args(tmp_path: Path) -> tuple[str, ...]:
    """sim.launch.yaml on pendulum_swingup with the small budget, writing under ``tmp_path``."""
    params = tmp_path / "small.yaml"
    params.write_text(SMALL_BUDGET)
    return ("sim.launch.yaml", "task:=pendulum_swingup", "planner:=icem", "estimator:=finite_difference",
            f"params_file:={params}", f"output_dir:={tmp_path / 'out'}")


def test_launch_learns_pendulum_and_exits_cleanly(tmp_path):
    with isolated_domain():
        code, text, seen = run_launch(tmp_path, *sim_launch_args(tmp_path), "episodes:=3", "seed:=0", timeout_s=240)
    assert code == 0, text[-4000:]
    assert len(seen) >= 4, f"expected the four node processes, saw {seen}"
    assert not running_pids(seen), f"processes left behind: {running_pids(seen)}"
    for name in ("sim_bridge", "state_estimator", "model_learner", "mpc_planner"):
        assert f"[{name}]" in text, f"no output from {name}"
    assert "Traceback" not in text, text[-4000:]
    rows = list(csv.DictReader((tmp_path / "out" / "progress.csv").open()))
    returns = [float(r["episode_return"]) for r in rows]
    assert [r["kind"] for r in rows] == ["random", "mpc", "mpc"], rows
    assert [int(r["env_steps"]) for r in rows] == [100, 200, 300]
    random_return, mpc_returns = returns[0], returns[1:]
    assert all(r > random_return for r in mpc_returns), returns
    assert max(mpc_returns) > random_return + 15.0, returns
    # Lockstep: a step only goes without its command after a 1 s timeout; a healthy run hardly does.
    assert int(rows[-1]["missed_steps_total"]) <= 5, rows
    assert (tmp_path / "out" / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_sigint_stops_every_node(tmp_path):
    with isolated_domain():
        process, log = start_launch(tmp_path, *sim_launch_args(tmp_path), "episodes:=20")
        try:
            seen = watch(process, log, timeout_s=120, until="episode 0: return")
            assert "episode 0: return" in log.read_text(errors="replace"), log.read_text()[-4000:]
            seen |= descendant_pids(process.pid)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    assert code == 130, log.read_text()[-4000:]
    assert len(seen) >= 4
    wait_until_gone(seen, 5)
    assert not running_pids(seen), f"processes left behind: {running_pids(seen)}"
    assert "Traceback" not in log.read_text(errors="replace")


@pytest.mark.parametrize("bad, named", [("task:=cartpol", "cartpol"), ("colour:=red", "colour")])
def test_bad_launch_arguments_fail_fast(tmp_path, bad, named):
    """An unknown task (no config/tasks file) or an undeclared argument stops before any process starts."""
    proc = subprocess.run([sys.executable, "-m", "mbrl_ros.cli", "launch", "sim.launch.yaml", bad, "--print"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and named in proc.stderr, proc.stderr


def test_every_bridgeable_task_and_planner_resolves():
    """The launch file finds its parameter files for every task sim_bridge can run and every planner."""
    from mbrl_ros.launcher import load_launch_file
    from mbrl_ros.nodes.joint_layout import JointLayoutError, joint_layout
    from mbrl_ros.planning import PLANNERS
    from mbrl_ros.tasks import TASKS, make_task

    def bridgeable(name):
        try:
            joint_layout(make_task(name))
        except JointLayoutError:
            return False
        return True

    tasks = [t for t in TASKS.names() if bridgeable(t)]
    assert {"pendulum_swingup", "cartpole_swingup"} <= set(tasks)
    for task in tasks:
        for planner in PLANNERS.names():
            plan = load_launch_file("sim.launch.yaml", {"task": task, "planner": planner})
            try:
                assert [p.node_name for p in plan.processes] == ["sim_bridge", "state_estimator",
                                                                 "model_learner", "mpc_planner"]
                for spec in plan.processes:
                    assert all(Path(f).is_file() for f in spec.params_files), spec.params_files
            finally:
                plan.cleanup()
