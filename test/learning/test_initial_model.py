"""Model carry-over: a preloaded model is checked, planned with before any retrain, and fine-tuned."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mbrl_ros
from mbrl_ros.learning import run_learning
from mbrl_ros.learning.initial_model import InitialModelError, load_initial_model
from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics
from mbrl_ros.ros.runtime.testing import isolated_domain
from mbrl_ros.tasks import make_task

REPO = Path(mbrl_ros.__file__).resolve().parent.parent
SMALL = dict(ensemble_size=2, num_elites=2, hidden_layers=1, hidden_units=8, num_particles=2, max_epochs=2,
             batch_size=16)


def small_model(spec, seed=0, task=None):
    model = EnsembleDynamics(spec.obs_dim, spec.act_dim, EnsembleConfig(**SMALL), angle_indices=spec.angle_indices,
                             seed=seed)
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(40, spec.obs_dim))
    act = rng.uniform(-1, 1, size=(40, spec.act_dim))
    model.fit(obs, act, obs + 0.01 * rng.normal(size=obs.shape))
    model.extra_metadata = {"task": task or spec.name}
    return model


@pytest.fixture
def pendulum():
    return make_task("pendulum_swingup", {"episode_length": 12})


def test_refuses_missing_corrupt_untrained_and_foreign_models(tmp_path, pendulum):
    spec = pendulum.spec
    with pytest.raises(InitialModelError, match="cannot read"):
        load_initial_model(tmp_path / "missing.npz", spec)
    (tmp_path / "garbage.npz").write_bytes(b"not a model")
    with pytest.raises(InitialModelError, match=r"refused \(decode\)"):
        load_initial_model(tmp_path / "garbage.npz", spec)
    cartpole = make_task("cartpole_swingup").spec
    small_model(cartpole).save(tmp_path / "cartpole.npz")
    with pytest.raises(InitialModelError, match=r"refused \(dims\).*pendulum_swingup"):
        load_initial_model(tmp_path / "cartpole.npz", spec)
    small_model(spec, task="reacher").save(tmp_path / "renamed.npz")       # right sizes, other task
    with pytest.raises(InitialModelError, match=r"refused \(task\).*'reacher'"):
        load_initial_model(tmp_path / "renamed.npz", spec)
    EnsembleDynamics(spec.obs_dim, spec.act_dim, EnsembleConfig(**SMALL), angle_indices=spec.angle_indices).save(
        tmp_path / "fresh.npz")
    with pytest.raises(InitialModelError, match="untrained"):
        load_initial_model(tmp_path / "fresh.npz", spec)
    small_model(spec).save(tmp_path / "ok.npz")
    with pytest.raises(InitialModelError, match="deterministic_ensemble"):
        load_initial_model(tmp_path / "ok.npz", spec, model="deterministic_ensemble")
    assert load_initial_model(tmp_path / "ok.npz", spec, model="pets_ensemble").trained


def _weights(model):
    inner = getattr(model, "ensemble", model)
    return {k: v.clone() for k, v in inner.state_dict().items()}


def test_in_process_loop_plans_with_the_carried_model_from_episode_0(tmp_path, pendulum):
    carried = small_model(pendulum.spec, seed=4)
    path = carried.save(tmp_path / "model.npz")
    learning = {"episodes": 1, "horizon": 4, "seed_episodes": 1, "planning_backend": "torch"}
    planner = {"population": 12, "min_population": 6, "num_elites": 3, "iterations": 1}
    one = run_learning("pendulum_swingup", seed=2, learning=learning, task_config={"episode_length": 12},
                       planner_config=planner, initial_model=path)
    # One episode, no retrain after the last one: what planned is exactly the file's model.
    assert [r.kind for r in one.records] == ["mpc"] and one.records[0].train_epochs == 0
    expected = _weights(EnsembleDynamics.load(path))
    assert all(torch.equal(expected[k], v) for k, v in _weights(one.model).items())
    # The same carried model plans the same episode: the return is the carried model's.
    again = run_learning("pendulum_swingup", seed=2, learning=learning, task_config={"episode_length": 12},
                         planner_config=planner, initial_model=EnsembleDynamics.load(path))
    assert again.records[0].episode_return == one.records[0].episode_return

    two = run_learning("pendulum_swingup", seed=2, learning={**learning, "episodes": 2, "max_train_epochs": 30},
                       task_config={"episode_length": 40}, planner_config=planner, initial_model=path)
    assert [r.kind for r in two.records] == ["mpc", "mpc"] and two.records[0].train_epochs > 0
    # Fine-tuning keeps the carried normalization (the documented rule) and moves the weights.
    tuned = _weights(two.model)
    assert torch.equal(tuned["input_norm.mean"], expected["input_norm.mean"])
    assert not all(torch.equal(expected[k], tuned[k]) for k in expected if k.startswith("layers."))


def _run_cli(args, timeout=300):
    return subprocess.run([sys.executable, "-m", "mbrl_ros.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


TINY = ["-p", "learning.horizon:=4", "-p", "icem.population:=16", "-p", "icem.min_population:=8",
        "-p", "pets_ensemble.hidden_units:=8", "-p", "pets_ensemble.max_epochs:=2",
        "-p", "pendulum_swingup.episode_length:=12"]


def test_train_cli_saves_the_task_and_fine_tunes_its_own_model(tmp_path):
    first = tmp_path / "sim"
    proc = _run_cli(["train", "--task", "pendulum_swingup", "--episodes", "2", "--out", str(first), "--quiet", *TINY])
    assert proc.returncode == 0, proc.stderr
    assert EnsembleDynamics.load(first / "model.npz").extra_metadata["task"] == "pendulum_swingup"
    second = tmp_path / "real"
    proc = _run_cli(["train", "--task", "pendulum_swingup", "--episodes", "2", "--out", str(second), "--quiet",
                     "--initial-model", str(first / "model.npz"), *TINY])
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((second / "summary.json").read_text())
    assert summary["episodes"] == 2
    assert "random" not in (second / "progress.csv").read_text()
    assert EnsembleDynamics.load(second / "model.npz").extra_metadata["initial_model"] == str(first / "model.npz")


def test_train_cli_refuses_a_model_for_another_task_and_writes_nothing(tmp_path):
    small_model(make_task("cartpole_swingup").spec).save(tmp_path / "cartpole.npz")
    out = tmp_path / "run"
    out.mkdir()
    (out / "params.yaml").write_text("kept")
    proc = _run_cli(["train", "--task", "pendulum_swingup", "--episodes", "1", "--out", str(out), "--quiet",
                     "--initial-model", str(tmp_path / "cartpole.npz")], timeout=120)
    assert proc.returncode == 2
    assert "initial_model" in proc.stderr and "cartpole.npz" in proc.stderr and "dims" in proc.stderr
    assert (out / "params.yaml").read_text() == "kept" and sorted(p.name for p in out.iterdir()) == ["params.yaml"]


@pytest.mark.parametrize("node", ["mbrl_ros.nodes.planner", "mbrl_ros.nodes.model_learner"])
def test_nodes_refuse_a_model_for_another_task_with_exit_code_2(tmp_path, node):
    small_model(make_task("cartpole_swingup").spec).save(tmp_path / "cartpole.npz")
    with isolated_domain():
        result = subprocess.run([sys.executable, "-m", node, "--ros-args", "-p", "task:=pendulum_swingup",
                                 "-p", f"initial_model:={tmp_path / 'cartpole.npz'}"],
                                capture_output=True, text=True, timeout=60, cwd=REPO,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2, result.stderr
    assert "invalid parameters: initial_model" in result.stderr and "refused (dims)" in result.stderr
