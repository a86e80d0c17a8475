"""README's documented flow end to end, at a tiny budget: the main job (launch/sim.launch.yaml over
ROS 2 topics) -> ``mbrl-ros export-policy`` on its output directory -> ``planner:=policy`` launch.

The main job must leave the run directory ``mbrl-ros train`` leaves (progress.csv with train's
columns in train's order, learning_curve.png, model.npz, params.yaml, summary.json), exit on its
own with every node exiting on SIGINT (no SIGTERM), and say the lockstep pauses at INFO, not as
warnings.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

from launch_runs import run_launch

from mbrl_ros.learning.loop import EpisodeRecord
from mbrl_ros.ros.runtime.testing import isolated_domain

EPISODE_LENGTH = 40
TINY_BUDGET = f"""\
/**:
  ros__parameters:
    learning: {{max_train_epochs: 5, horizon: 8}}
    pendulum_swingup: {{episode_length: {EPISODE_LENGTH}}}
    pets_ensemble: {{hidden_units: 16, hidden_layers: 2}}
    icem: {{population: 16}}
sim_bridge:
  ros__parameters:
    progress_period: 0.1   # a progress line even when a 40-step episode takes well under a second
"""


def test_main_job_then_export_policy_then_policy_launch(tmp_path):
    params = tmp_path / "tiny.yaml"
    params.write_text(TINY_BUDGET)
    run = tmp_path / "runs" / "pendulum"
    with isolated_domain():
        code, text, _ = run_launch(tmp_path, "sim.launch.yaml", "task:=pendulum_swingup", "planner:=icem",
                                   "episodes:=3", f"params_file:={params}", f"output_dir:={run}", timeout_s=300)
    assert code == 0, text[-4000:]
    assert "SIGTERM" not in text and "Traceback" not in text, text[-4000:]
    assert "ignoring unknown parameter" not in text, text[-4000:]
    assert not [line for line in text.splitlines() if "[WARN]" in line and "no state for more than" in line]
    assert "(the lockstep simulator pauses between episodes; said once)" in text
    # The live progress line (every 0.1 s here): mid-episode ("episode 2/3, step 17/40 return ...")
    # or between episodes ("episode 1/3 done, waiting for model_learner's training").
    assert re.search(r"episode [1-3]/3(, step \d+/40 return | done, waiting for model_learner)", text), \
        text[-4000:]
    for name in ("progress.csv", "learning_curve.png", "model.npz", "params.yaml", "summary.json"):
        assert (run / name).is_file(), f"the main job wrote no {name}: {sorted(p.name for p in run.iterdir())}"
    with (run / "progress.csv").open() as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames
    train_columns = [f.name for f in dataclasses.fields(EpisodeRecord)]
    assert columns[:len(train_columns)] == train_columns, columns
    assert [r["kind"] for r in rows] == ["random", "mpc", "mpc"]
    assert [int(r["env_steps"]) for r in rows] == [EPISODE_LENGTH, 2 * EPISODE_LENGTH, 3 * EPISODE_LENGTH]
    assert int(rows[0]["train_epochs"]) == 5 and int(rows[1]["train_epochs"]) == 5  # trained after episodes 0, 1
    # From mpc_planner's /diagnostics (once a second): an episode shorter than that may have none yet.
    assert float(rows[2]["plan_ms_p99"]) > 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["task"] == "pendulum_swingup" and summary["planner"] == "icem" and summary["episodes"] == 3
    assert summary["returns"] == [float(r["episode_return"]) for r in rows]

    export = subprocess.run(
        [sys.executable, "-m", "mbrl_ros.cli", "export-policy", str(run), "--iterations", "1", "--expert-episodes",
         "1", "--episodes-per-iteration", "1", "--epochs", "5", "--hidden-units", "16", "--eval-episodes", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert export.returncode == 0, export.stdout[-3000:] + export.stderr[-3000:]
    assert (run / "policy.onnx").is_file() and "policy returns on 1 evaluation episode" in export.stdout

    with isolated_domain():
        code, text, _ = run_launch(tmp_path, "sim.launch.yaml", "task:=pendulum_swingup", "planner:=policy",
                                   f"policy_file:={run / 'policy.onnx'}", "episodes:=1", f"params_file:={params}",
                                   f"output_dir:={tmp_path / 'runs' / 'policy'}", timeout_s=180)
    assert code == 0, text[-4000:]
    assert "[policy_controller]" in text and "[mpc_planner]" not in text and "SIGTERM" not in text, text[-4000:]
    assert (tmp_path / "runs" / "policy" / "progress.csv").is_file()
