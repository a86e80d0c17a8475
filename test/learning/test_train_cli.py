"""Smoke run of `mbrl-ros train` on a tiny budget, and the PETS loop's bookkeeping."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from mbrl_ros.learning import TransitionBuffer, run_learning
from mbrl_ros.learning.run_config import parse_assignment, resolve_run_parameters
from mbrl_ros.config import ConfigError
from mbrl_ros.models.ensemble import EnsembleDynamics

TINY = ["-p", "learning.horizon:=5", "-p", "icem.population:=16", "-p", "icem.min_population:=8",
        "-p", "pets_ensemble.hidden_units:=16", "-p", "pets_ensemble.max_epochs:=3",
        "-p", "pendulum_swingup.episode_length:=30"]


def test_train_cli_writes_curve_csv_and_model(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "mbrl_ros.cli", "train", "--task", "pendulum_swingup",
                           "--planner", "icem", "--episodes", "2", "--seed", "3", "--out", str(out), "--quiet", *TINY],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "final return" in proc.stdout
    rows = list(csv.DictReader((out / "progress.csv").open()))
    assert [r["kind"] for r in rows] == ["random", "mpc"]
    assert [int(r["env_steps"]) for r in rows] == [30, 60]
    assert all(np.isfinite(float(r["episode_return"])) for r in rows)
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = EnsembleDynamics.load(out / "model.npz")
    assert model.trained and model.config.hidden_units == 16
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["seed"] == 3
    assert "icem" in (out / "params.yaml").read_text()


def test_train_cli_rejects_unknown_parameter(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mbrl_ros.cli", "train", "--task", "pendulum_swingup",
                           "--episodes", "1", "--out", str(tmp_path), "-p", "icem.populaton:=3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "populaton" in proc.stderr and "valid:" in proc.stderr


def test_unknown_task_lists_registered_ones(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mbrl_ros.cli", "train", "--task", "cartpol",
                           "--episodes", "1", "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "cartpole_swingup" in proc.stderr


def test_oracle_run_needs_no_training_and_is_deterministic():
    kwargs = dict(planner="cem", model="oracle", seed=1,
                  learning={"episodes": 1, "horizon": 5},
                  task_config={"episode_length": 15},
                  planner_config={"population": 20, "num_elites": 4, "iterations": 2})
    a = run_learning("pendulum_swingup", **kwargs)
    b = run_learning("pendulum_swingup", **kwargs)
    assert a.records[0].kind == "mpc" and a.records[0].train_epochs == 0
    assert a.records[0].episode_return == b.records[0].episode_return
    assert a.data.size == 15


def test_learned_model_requires_seed_episode():
    with pytest.raises(ValueError, match="seed_episodes"):
        run_learning("pendulum_swingup", learning={"episodes": 1, "seed_episodes": 0})


def test_transition_buffer_grows_and_copies():
    buf = TransitionBuffer(2, 1, capacity=2)
    for i in range(5):
        buf.add(np.array([i, i]), np.array([i]), np.array([i + 1, i + 1]))
    obs, act, nxt = buf.arrays()
    assert buf.size == 5 and obs.shape == (5, 2) and np.array_equal(act[:, 0], np.arange(5))
    obs[0] = 99
    assert buf.arrays()[0][0, 0] == 0


def test_parameter_precedence_and_parsing(tmp_path):
    params_file = tmp_path / "p.yaml"
    params_file.write_text("/**:\n  ros__parameters:\n    icem: {population: 33}\n    learning: {horizon: 7}\n")
    params = resolve_run_parameters("cartpole_swingup", "icem", params_files=[params_file],
                                    overrides=["learning.horizon:=9"])
    assert params.section("icem")["population"] == 33  # user file beats package defaults
    assert params.section("icem")["iterations"] == 3  # package default kept
    assert params.section("learning")["horizon"] == 9  # -p beats files
    assert parse_assignment("a.b:=[1, 2]") == {"a": {"b": [1, 2]}}
    with pytest.raises(ConfigError):
        parse_assignment("nonsense")
