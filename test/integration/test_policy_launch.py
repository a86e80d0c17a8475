"""launch/sim.launch.yaml with planner:=policy end to end: the ONNX policy drives the simulated robot.

1. A small exported policy (a seeded, untrained network: deterministic, so its returns are
   known) controls pendulum_swingup for 3 short lockstep episodes over DDS. Episode e starts
   from the same seed as in-process episode e, states pass through unchanged, so each return
   must equal the in-process return of the same ONNX file (measured: equal to 1e-9).
2. A policy file for another task: policy_controller exits with code 3 and says why, which
   ends the launch with that code and leaves no process behind.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from launch_runs import run_launch, wait_until_gone

from mbrl_ros.export.onnx_policy import PolicyNetwork, export_policy_onnx, load_policy_onnx
from mbrl_ros.launcher.process_tree import running_pids
from mbrl_ros.learning.loop import run_episode
from mbrl_ros.ros.runtime.testing import isolated_domain
from mbrl_ros.tasks import make_task

EPISODE_LENGTH = 60
SMALL_BUDGET = f"""\
/**:
  ros__parameters:
    learning: {{max_train_epochs: 5}}
    pendulum_swingup: {{episode_length: {EPISODE_LENGTH}}}
    pets_ensemble: {{hidden_units: 16}}
"""


def small_policy_file(tmp_path: Path, task_name: str = "pendulum_swingup") -> Path:
    task = make_task(task_name, {"episode_length": EPISODE_LENGTH})
    torch.set_num_threads(1)
    policy = PolicyNetwork.from_spec(task.spec, {"hidden_units": 16}, seed=2)
    policy.fit_normalization(np.random.default_rng(0).normal(scale=2.0, size=(256, task.spec.obs_dim)))
    return export_policy_onnx(policy, tmp_path / f"{task_name}.onnx", task_spec=task.spec, metadata={"version": 1})


def launch(tmp_path: Path, policy_file: Path, *launch_args: str, timeout_s: float = 240) -> tuple[int, str, set[int]]:
    params = tmp_path / "small.yaml"
    params.write_text(SMALL_BUDGET)
    with isolated_domain():
        return run_launch(tmp_path, "sim.launch.yaml", "task:=pendulum_swingup", "planner:=policy",
                          f"policy_file:={policy_file}", f"params_file:={params}", f"output_dir:={tmp_path / 'out'}",
                          *launch_args, timeout_s=timeout_s)


def test_policy_drives_the_simulation_like_in_process(tmp_path):
    policy_file = small_policy_file(tmp_path)
    code, text, seen = launch(tmp_path, policy_file, "episodes:=3", "seed:=4")
    assert code == 0, text[-4000:]
    for name in ("sim_bridge", "state_estimator", "model_learner", "policy_controller"):
        assert f"[{name}]" in text, f"no output from {name}"
    assert "[mpc_planner]" not in text and "Traceback" not in text, text[-4000:]
    assert not running_pids(seen), f"processes left behind: {running_pids(seen)}"
    rows = list(csv.DictReader((tmp_path / "out" / "progress.csv").open()))
    assert [int(r["env_steps"]) for r in rows] == [EPISODE_LENGTH * (e + 1) for e in range(3)]
    assert int(rows[-1]["missed_steps_total"]) == 0, rows  # every state was answered in time
    task = make_task("pendulum_swingup", {"episode_length": EPISODE_LENGTH})
    policy = load_policy_onnx(policy_file, expected_spec=task.spec)
    expected = [run_episode(task, 4 * 100003 + e, policy) for e in range(3)]
    returns = [float(r["episode_return"]) for r in rows]
    assert np.allclose(returns, expected, rtol=1e-6, atol=1e-6), (returns, expected)
    assert len(set(np.round(expected, 6))) == 3  # different starts, different returns: a real comparison


def test_a_policy_for_another_task_stops_the_launch(tmp_path):
    policy_file = small_policy_file(tmp_path, "cartpole_swingup")
    code, text, seen = launch(tmp_path, policy_file, "episodes:=2", timeout_s=120)
    assert code == 3, text[-4000:]
    assert "does not match task 'pendulum_swingup'" in text and "re-export" in text, text[-4000:]
    assert "Traceback" not in text
    wait_until_gone(seen, 5)
    assert not running_pids(seen), f"processes left behind: {running_pids(seen)}"


def test_planner_policy_swaps_the_mpc_for_the_policy_controller(tmp_path):
    import yaml

    from mbrl_ros.launcher import load_launch_file

    plan = load_launch_file("sim.launch.yaml", {"planner": "icem"})
    assert [p.node_name for p in plan.processes] == ["sim_bridge", "state_estimator", "model_learner", "mpc_planner"]
    plan.cleanup()
    plan = load_launch_file("sim.launch.yaml", {"planner": "policy", "policy_file": str(tmp_path / "p.onnx")})
    try:
        names = [p.node_name for p in plan.processes]
        assert names == ["sim_bridge", "state_estimator", "model_learner", "policy_controller"]
        controller = plan.processes[-1]
        assert controller.required  # a refused file ends the launch
        values = {}
        for path in controller.params_files:
            for section in yaml.safe_load(Path(path).read_text()).values():
                values.update(section["ros__parameters"])
        assert values["policy_file"] == str(tmp_path / "p.onnx") and values["task"] == "cartpole_swingup"
    finally:
        plan.cleanup()
