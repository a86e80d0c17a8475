"""User tasks given as 'module:function', action repeat, the env's own reward, termination."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mbrl_ros.config import ConfigError
from mbrl_ros.learning.loop import run_episode_outcome
from mbrl_ros.learning.run_config import resolve_run_parameters
from mbrl_ros.tasks import UserTaskError, make_task, resolve_task_factory, task_section

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SPEC = "user_rail_task:make_task"


@pytest.fixture
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))


def test_spec_loads_the_users_factory(examples_on_path):
    task = make_task(SPEC, {"episode_length": 7})
    assert task.spec.name == "user_rail" and task.spec.episode_length == 7
    assert task_section(SPEC) == "task_params" and task_section("pendulum_swingup") == "pendulum_swingup"
    assert callable(resolve_task_factory(SPEC))


@pytest.mark.parametrize("spec, words", [("no_such_module_xyz:make", ["cannot import", "PYTHONPATH"]),
                                         ("user_rail_task:missing", ["no attribute", "missing"]),
                                         ("user_rail_task:", ["must look like"]),
                                         ("user_rail_task:TARGET", ["not callable"])])
def test_bad_spec_says_what_is_wrong(examples_on_path, spec, words):
    with pytest.raises(UserTaskError) as err:
        make_task(spec)
    assert all(w in str(err.value) for w in words)
    assert isinstance(err.value, ConfigError)  # the CLI and the nodes report it as a parameter error


def test_factory_without_arguments_rejects_parameters(tmp_path, monkeypatch):
    (tmp_path / "noarg_task_mod.py").write_text(
        "from mbrl_ros.tasks import make_task\n"
        "def build():\n    return make_task('pendulum_swingup', episode_length=5)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert make_task("noarg_task_mod:build").spec.episode_length == 5
    with pytest.raises(ConfigError, match="takes no parameters"):
        make_task("noarg_task_mod:build", {"episode_length": 3})


def test_user_task_gets_the_documented_default_config():
    params = resolve_run_parameters(SPEC, overrides=["task_params.episode_length:=50"])
    assert params.planner == "icem" and params.model == "pets_ensemble"
    assert params.section("icem")["population"] == 48
    assert params.section("learning")["horizon"] == 20 and params.section("learning")["action_repeat"] == 1
    assert params.task_config() == {"episode_length": 50}
    assert any(s.endswith("default.yaml") for s in params.sources)


def test_action_repeat_holds_each_action_and_counts_task_steps():
    task = make_task("pendulum_swingup", episode_length=10)
    held = []
    actions = iter(np.linspace(-2, 2, 10))
    outcome = run_episode_outcome(task, 3, lambda obs: np.array([next(actions)]),
                                  lambda o, a, n: held.append((o, a, n)), action_repeat=3)
    assert outcome.steps == 10
    assert len(held) == 3  # 3 + 3 + 3 full holds; the last single step was cut by truncation
    # Replaying the same actions step by step reproduces each held transition.
    replay = make_task("pendulum_swingup", episode_length=10)
    obs, _ = replay.reset(seed=3)
    np.testing.assert_array_equal(obs, outcome.start_obs)
    for o, a, n in held:
        np.testing.assert_array_equal(obs, o)
        for _ in range(3):
            obs, *_ = replay.step(a)
        np.testing.assert_array_equal(obs, n)
    assert outcome.env_return == pytest.approx(outcome.planning_return)


def test_env_reward_is_recorded_apart_from_the_planning_reward(examples_on_path):
    task = make_task(SPEC, {"episode_length": 40})
    outcome = run_episode_outcome(task, 0, lambda obs: np.array([1.0 if obs[0] < 1.0 else -1.0]),
                                  action_repeat=2)
    assert outcome.env_return > 0  # the sparse env reward: the cart passes the target region
    assert outcome.planning_return < 0  # the shaped planning reward is a cost
    assert outcome.steps == 40


def test_termination_ends_a_simulated_episode_and_the_user_env_episode(examples_on_path):
    task = make_task("pendulum_swingup", episode_length=50)
    task.termination_fn = lambda o, a, n: n[..., 0].abs() > 0.3
    task.reset(seed=0)
    steps, terminated = 0, False
    while not terminated:
        _, _, terminated, truncated, _ = task.step(np.array([3.0]))
        steps += 1
        assert not truncated
    assert steps < 50
    with pytest.raises(RuntimeError, match="terminated"):
        task.step(np.array([0.0]))
    # The user's env terminates when the cart leaves the rail; the episode stops there.
    rail = make_task(SPEC, {"episode_length": 400})
    outcome = run_episode_outcome(rail, 0, lambda obs: np.array([1.0]), action_repeat=4)
    assert outcome.steps < 400
    assert bool(rail.termination_fn(None, None, torch.tensor([2.5, 0.0])))


def test_an_early_termination_charges_every_step_left_in_the_episode_return(examples_on_path):
    def make():
        task = make_task("pendulum_swingup", episode_length=50, termination_reward=-2.0)
        task.termination_fn = lambda o, a, n: n[..., 0].abs() > 0.3
        return task

    replay = make()
    replay.reset(seed=0)
    rewards, terminated = [], False
    while not terminated:
        _, reward, terminated, _, _ = replay.step(np.array([3.0]))
        rewards.append(reward)
    k = len(rewards)
    assert 1 < k < 50 and make().spec.termination_charge(k) == -2.0 * (50 - k)
    outcome = run_episode_outcome(make(), 0, lambda obs: np.array([3.0]))
    assert outcome.steps == k
    assert outcome.planning_return == pytest.approx(sum(rewards) - 2.0 * (50 - k))
    assert outcome.env_return == pytest.approx(outcome.planning_return)  # no env reward of its own
    # The user's env has its own (sparse) reward: only the planning return is charged, -10 per step.
    rail = make_task(SPEC, {"episode_length": 400})
    assert rail.spec.termination_reward == -10.0
    obs, _ = rail.reset(seed=0)
    planning = env = 0.0
    for steps in range(1, 401):
        nxt, reward, terminated, _, info = rail.step(np.array([1.0]))
        planning, env = planning + reward, env + info["env_reward"]
        if terminated:
            break
    outcome = run_episode_outcome(make_task(SPEC, {"episode_length": 400}), 0, lambda obs: np.array([1.0]))
    assert outcome.steps == steps < 400
    assert outcome.planning_return == pytest.approx(planning - 10.0 * (400 - steps))
    assert outcome.env_return == pytest.approx(env)
    assert make_task(SPEC, {"termination_reward": -50.0}).spec.termination_reward == -50.0


def test_train_cli_runs_a_user_task_with_action_repeat(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(EXAMPLES)])}
    proc = subprocess.run([sys.executable, "-m", "mbrl_ros.cli", "train", "--task", SPEC, "--episodes", "2",
                           "--out", str(out), "--quiet", "-p", "learning.action_repeat:=2",
                           "-p", "task_params.episode_length:=30", "-p", "learning.horizon:=5",
                           "-p", "icem.population:=16", "-p", "icem.min_population:=8",
                           "-p", "pets_ensemble.hidden_units:=16", "-p", "pets_ensemble.max_epochs:=3",
                           "-p", "learning.terminal_value:=true", "-p", "sac_mbpo.min_updates:=5",
                           "-p", "sac_mbpo.updates_per_step:=0", "-p", "sac_mbpo.hidden_units:=8"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((out / "progress.csv").open()))
    assert [int(r["env_steps"]) for r in rows] == [30, 60]  # task steps, not planned actions
    assert all(np.isfinite(float(r["env_return"])) for r in rows)
    assert any(float(r["env_return"]) != float(r["episode_return"]) for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["env_returns"]) == 2
    assert "task_params" in (out / "params.yaml").read_text()
    # With the terminal value on, the run also writes the actor as an export-policy ONNX file.
    from mbrl_ros.export.onnx_policy import load_policy_onnx

    sys.path.insert(0, str(EXAMPLES))
    try:
        policy = load_policy_onnx(summary["actor_onnx"], expected_spec=make_task(SPEC).spec)
    finally:
        sys.path.remove(str(EXAMPLES))
    assert np.all(np.abs(policy(np.zeros(2))) <= 1.0)


def test_nodes_resolve_the_same_spec(examples_on_path):
    # What every node calls with its `task` parameter; the example's factory takes no Config class,
    # so no ROS parameters are declared and the node needs no running graph here.
    from mbrl_ros.nodes.shared_parameters import declare_task

    task = declare_task(None, SPEC)
    assert task.spec.name == "user_rail" and task.termination_fn is not None
