"""sim.launch.yaml resume:=true: a launch continues the run directory another launch left.

Two lockstep launches on pendulum_swingup at a tiny budget (30-step episodes, a 16-unit ensemble,
3 epochs): ``episodes:=2`` (random, MPC), then ``episodes:=3 resume:=true``. The second takes over
the transitions and model in output_dir, first makes up the retrain the first run's last episode
did not need, and runs episode 2 only. (What resume:=true refuses, and a launch replacing a run,
are node tests: test/nodes/test_run_directory_nodes.py.)
"""
from __future__ import annotations

import csv
from pathlib import Path

from launch_runs import run_launch

from mbrl_ros.learning.archive import LearnerArchive
from mbrl_ros.models.ensemble import EnsembleDynamics
from mbrl_ros.ros.runtime.testing import isolated_domain

TINY_BUDGET = """\
/**:
  ros__parameters:
    learning: {horizon: 5, max_train_epochs: 3}
    pendulum_swingup: {episode_length: 30}
    pets_ensemble: {hidden_units: 16}
    icem: {population: 16, min_population: 8}
"""


def launch(tmp_path: Path, *args: str, timeout_s: float = 120) -> tuple[int, str]:
    params = tmp_path / "tiny.yaml"
    params.write_text(TINY_BUDGET)
    with isolated_domain():
        code, text, _ = run_launch(tmp_path, "sim.launch.yaml", "task:=pendulum_swingup", "planner:=icem",
                                   f"params_file:={params}", f"output_dir:={tmp_path / 'out'}", *args,
                                   timeout_s=timeout_s, linger_s=5)
    return code, text


def test_resume_continues_a_launch_run(tmp_path):
    out = tmp_path / "out"
    code, text = launch(tmp_path, "episodes:=2")
    assert code == 0, text[-4000:]
    first = LearnerArchive(out, 2, 1).load_transitions()
    assert first[3] == 2 and first[0].shape[0] > 40
    assert EnsembleDynamics.load(out / "model.npz").extra_metadata["version"] == 1

    code, text = launch(tmp_path, "episodes:=3", "resume:=true")
    assert code == 0, text[-4000:]
    assert "resuming" in text and "Traceback" not in text, text[-4000:]
    rows = list(csv.DictReader((out / "progress.csv").open()))
    assert [int(r["episode"]) for r in rows] == [0, 1, 2], rows
    assert [r["kind"] for r in rows] == ["random", "mpc", "mpc"]
    assert [int(r["env_steps"]) for r in rows] == [30, 60, 90]
    assert int(rows[1]["train_epochs"]) > 0  # the retrain made up after episode 1
    obs, _, next_obs, episodes = LearnerArchive(out, 2, 1).load_transitions()
    assert episodes == 3 and obs.shape[0] > first[0].shape[0]
    assert (obs[:first[0].shape[0]] == first[0]).all()
    model = EnsembleDynamics.load(out / "model.npz")
    assert model.extra_metadata["version"] == 2 and model.extra_metadata["episodes"] == 2
    assert len((out / "training.csv").read_text().splitlines()) == 1 + 2
