"""`mbrl-ros train --resume`: a run continued from its directory, and the inputs it refuses."""
import csv
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from mbrl_ros.learning.archive import LearnerArchive
from mbrl_ros.learning.run_directory import RunDirectoryError, load_resume_point, resume_differences
from mbrl_ros.models.ensemble import EnsembleDynamics

from test_train_cli import TINY

PENDULUM = ("--task", "pendulum_swingup", "--planner", "icem")


def train(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mbrl_ros.cli", "train", "--quiet", *args],
                          capture_output=True, text=True, timeout=timeout)


def digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def two_episodes(tmp_path_factory):
    """A 2-episode run (1 random, 1 MPC) of pendulum_swingup at a tiny budget."""
    out = tmp_path_factory.mktemp("resume") / "run"
    proc = train(*PENDULUM, "--episodes", "2", "--seed", "3", "--out", str(out), *TINY)
    assert proc.returncode == 0, proc.stderr
    return out


def test_resume_continues_episodes_model_and_data(two_episodes, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name, data in ((p.name, p.read_bytes()) for p in two_episodes.iterdir() if p.is_file()):
        (out / name).write_bytes(data)
    before = EnsembleDynamics.load(out / "model.npz").extra_metadata
    assert before["version"] == 1 and before["episodes"] == 1  # trained after the seed episode only
    assert LearnerArchive(out, 2, 1).load_transitions()[3] == 2

    proc = train("--out", str(out), "--resume", "--episodes", "3")  # task, seed, budget: the run's
    assert proc.returncode == 0, proc.stderr
    assert "resuming" in proc.stdout and "2 episode(s) done, 60 transitions" in proc.stdout
    rows = list(csv.DictReader((out / "progress.csv").open()))
    assert [int(r["episode"]) for r in rows] == [0, 1, 2]
    assert [r["kind"] for r in rows] == ["random", "mpc", "mpc"]
    assert [int(r["env_steps"]) for r in rows] == [30, 60, 90]
    # The retrain an uninterrupted 3-episode run does after episode 1 (the old run's last) came first.
    assert int(rows[1]["train_epochs"]) == 3 and int(rows[2]["train_epochs"]) == 0
    after = EnsembleDynamics.load(out / "model.npz")
    assert after.extra_metadata["version"] == 2 and after.extra_metadata["episodes"] == 2
    assert after.config.hidden_units == 16  # the run's model parameters, from its params.yaml
    obs, action, next_obs, episodes = LearnerArchive(out, 2, 1).load_transitions()
    assert episodes == 3 and obs.shape == (90, 2) and action.shape == (90, 1)
    old = LearnerArchive(two_episodes, 2, 1).load_transitions()
    assert np.array_equal(obs[:60], old[0]) and np.array_equal(next_obs[:60], old[2])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 3 and summary["seed"] == 3 and len(summary["returns"]) == 3


def test_resume_without_a_run_fails_and_writes_nothing(tmp_path):
    missing = tmp_path / "none"
    proc = train("--out", str(missing), "--resume", "--episodes", "3")
    assert proc.returncode == 2
    assert "has no run to resume (no params.yaml)" in proc.stderr
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("mine")
    proc = train("--out", str(empty), "--resume", "--episodes", "3")
    assert proc.returncode == 2 and "no run to resume" in proc.stderr
    assert [p.name for p in empty.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("change, message", [
    (("--task", "cartpole_swingup"), "task: 'pendulum_swingup' -> 'cartpole_swingup'"),
    (("-p", "pets_ensemble.hidden_units:=32"), "pets_ensemble.hidden_units: 16 -> 32"),
    (("-p", "pendulum_swingup.episode_length:=40", "-p", "learning.action_repeat:=2"),
     "learning.action_repeat: 1 -> 2; pendulum_swingup.episode_length: 30 -> 40"),
])
def test_resume_refuses_another_task_or_model(two_episodes, change, message):
    before = digests(two_episodes)
    proc = train("--out", str(two_episodes), "--resume", "--episodes", "4", *change)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr and "only the planner and the budget may change" in proc.stderr
    assert digests(two_episodes) == before


def test_new_run_replaces_an_old_one_whole(two_episodes, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("params.yaml", "progress.csv", "model.npz", "transitions.npz", "summary.json"):
        (out / name).write_bytes((two_episodes / name).read_bytes())
    proc = train("--task", "pendulum_swingup", "--model", "oracle", "--planner", "cem", "--episodes", "1",
                 "--out", str(out), "-p", "learning.horizon:=3", "-p", "cem.population:=8", "-p",
                 "cem.num_elites:=2", "-p", "cem.iterations:=1", "-p", "pendulum_swingup.episode_length:=10")
    assert proc.returncode == 0, proc.stderr
    assert "replacing the run" in proc.stdout
    assert not (out / "model.npz").exists()  # the oracle has none: the old one must not stay
    assert len(list(csv.DictReader((out / "progress.csv").open()))) == 1
    obs, _, _, episodes = LearnerArchive(out, 2, 1).load_transitions()
    assert episodes == 1 and obs.shape == (10, 2)


def test_resume_point_drops_a_row_the_transitions_never_committed(two_episodes, tmp_path):
    out = tmp_path / "killed"
    out.mkdir()
    for name in ("params.yaml", "progress.csv", "model.npz"):
        (out / name).write_bytes((two_episodes / name).read_bytes())
    obs, action, next_obs, _ = LearnerArchive(two_episodes, 2, 1).load_transitions()
    # Killed after episode 1's row was written, before its transitions were: one episode committed.
    LearnerArchive(out, 2, 1).save_transitions(obs[:30], action[:30], next_obs[:30], episodes=1)
    point = load_resume_point(out, 2, 1)
    assert point.episodes == 1 and [r["episode"] for r in point.rows] == [0] and point.env_steps == 30
    with pytest.raises(RunDirectoryError, match="cartpole|another data_dir"):
        load_resume_point(out, 4, 1)


def test_resume_differences_allow_planner_and_budget():
    saved = {"task": "pendulum_swingup", "model": "pets_ensemble", "planner": "icem",
             "learning": {"episodes": 2, "horizon": 5, "action_repeat": 1}, "icem": {"population": 16},
             "pets_ensemble": {"hidden_units": 16}, "pendulum_swingup": {"episode_length": 30}}
    wanted = {**saved, "planner": "cem", "cem": {"population": 8},
              "learning": {"episodes": 9, "horizon": 12, "action_repeat": 1}}
    assert resume_differences(saved, wanted) == []
    assert resume_differences(saved, {**saved, "model": "deterministic_ensemble"}) == [
        "model: 'pets_ensemble' -> 'deterministic_ensemble'"]
    assert resume_differences(saved, {**saved, "pets_ensemble": {"hidden_units": 16, "lr": 0.01}}) == [
        "pets_ensemble.lr: (unset) -> 0.01"]


VALUE = ["-p", "learning.terminal_value:=true", "-p", "sac_mbpo.min_updates:=5", "-p", "sac_mbpo.updates_per_step:=0",
         "-p", "sac_mbpo.hidden_units:=8"]


def test_resume_continues_the_critic_of_a_terminal_value_run(tmp_path):
    """The critic and actor travel in model.npz (attached.value.*): a resumed run starts from them."""
    import zipfile

    out = tmp_path / "run"
    proc = train(*PENDULUM, "--episodes", "3", "--seed", "3", "--out", str(out), *TINY, *VALUE)
    assert proc.returncode == 0, proc.stderr
    saved = EnsembleDynamics.load(out / "model.npz").extra_metadata
    assert saved["version"] == 2 and saved["value"]["trained"] and saved["value"]["version"] == 2
    with zipfile.ZipFile(out / "model.npz") as archive:
        before = {n: archive.read(n) for n in archive.namelist() if n.startswith("attached.value.")}
    assert before  # the critic's arrays

    proc = train("--out", str(out), "--resume", "--episodes", "4")
    assert proc.returncode == 0, proc.stderr
    after = EnsembleDynamics.load(out / "model.npz").extra_metadata
    # One more retrain and one more critic update, counted on from the saved critic's version.
    assert after["version"] == 3 and after["value"]["version"] == 3
    with zipfile.ZipFile(out / "model.npz") as archive:
        assert set(archive.namelist()) >= set(before)
        assert any(archive.read(n) != data for n, data in before.items())  # trained on
    rows = list(csv.DictReader((out / "progress.csv").open()))
    assert [int(r["episode"]) for r in rows] == [0, 1, 2, 3] and float(rows[3]["value_seconds"]) == 0.0
