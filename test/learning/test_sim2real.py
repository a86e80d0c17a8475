"""`mbrl-ros sim2real` on a tiny budget: every phase runs and the report adds up."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import mbrl_ros
from mbrl_ros.learning.sim2real import episodes_to_reach, target_return

REPO = Path(mbrl_ros.__file__).resolve().parent.parent
TINY = ["-p", "learning.horizon:=4", "-p", "icem.population:=16", "-p", "icem.min_population:=8",
        "-p", "pets_ensemble.hidden_units:=8", "-p", "pets_ensemble.max_epochs:=2",
        "-p", "pendulum_swingup.episode_length:=20", "-p", "sim2real.eval_horizon:=3"]


def test_episodes_to_reach_counts_real_episodes():
    assert episodes_to_reach([1.0, 5.0, 9.5, 10.0], 9.0) == 3
    assert episodes_to_reach([1.0, 2.0], 9.0) is None


def test_target_is_a_fraction_of_the_oracle_for_rewards_and_for_costs():
    assert target_return(100.0, 0.9) == 90.0
    # Costs (negative returns): 10% more cost than the oracle, not 0.9 * -20 = -18 (less cost than it).
    assert target_return(-20.0, 0.9) == -22.0
    assert episodes_to_reach([-40.0, -23.0, -21.5, -19.0], target_return(-20.0, 0.9)) == 3
    assert target_return(-20.0, 1.0) == -20.0 and target_return(0.0, 0.9) == 0.0
    assert np.isnan(target_return(float("nan"), 0.9))


def test_sim2real_cli_runs_every_phase_and_writes_csv_png_json(tmp_path):
    out = tmp_path / "s2r"
    proc = subprocess.run([sys.executable, "-m", "mbrl_ros.cli", "sim2real", "--task", "pendulum_swingup",
                           "--sim-episodes", "2", "--finetune-episodes", "2", "--scratch-episodes", "2",
                           "--out", str(out), *TINY], capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "sim2real.json").read_text())["seeds"][0]
    phases = summary["phases"]
    assert set(phases) == {"oracle", "scratch", "sim/nominal", "finetune/nominal", "sim/randomized",
                           "finetune/randomized"}
    assert len(phases["finetune/randomized"]["returns"]) == 2 and len(phases["scratch"]["returns"]) == 2
    assert summary["randomized_zero_shot_return"] == phases["finetune/randomized"]["returns"][0]
    # Randomized sim sampled new physics every episode and logged it; the nominal one has none.
    physics = phases["sim/randomized"]["physics"]
    assert len(physics) == 2 and physics[0]["body_mass.pole"] != physics[1]["body_mass.pole"]
    assert phases["sim/nominal"]["physics"] == []
    for name in ("scratch", "sim/randomized", "finetune/randomized"):
        err = phases[name]["model_error"]
        assert np.isfinite(err["one_step"]) and np.isfinite(err["3_step"]) and err["transitions"] == 40
    rows = list(csv.DictReader((out / "sim2real.csv").open()))
    assert {r["phase"] for r in rows} == set(phases) and len(rows) == 1 + 2 * 5
    assert all(r["steps"] == "20" for r in rows)  # the pendulum never terminates: full 20-step episodes
    assert phases["scratch"]["steps"] == [20, 20]
    assert (out / "sim2real.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sim2real_refuses_a_task_without_a_stand_in(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mbrl_ros.cli", "sim2real", "--task", "reacher",
                           "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2 and "no stand_in physics profile for task 'reacher'" in proc.stderr
    assert not (tmp_path / "x").exists()
