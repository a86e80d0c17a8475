"""`mbrl-ros export-policy` on a tiny training run: a loadable ONNX policy, parity, returns, clear errors."""
import json
import re

import numpy as np
import pytest
import torch

from mbrl_ros.cli import main
from mbrl_ros.export.onnx_policy import load_policy_onnx
from mbrl_ros.tasks import make_task

torch.set_num_threads(1)
TINY = ["-p", "learning.horizon:=5", "-p", "icem.population:=16", "-p", "icem.min_population:=8",
        "-p", "pets_ensemble.hidden_units:=16", "-p", "pets_ensemble.max_epochs:=3",
        "-p", "pendulum_swingup.episode_length:=30"]
EXPORT = ["--iterations", "1", "--expert-episodes", "1", "--episodes-per-iteration", "1", "--epochs", "5",
          "--hidden-units", "8"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    assert main(["train", "--task", "pendulum_swingup", "--episodes", "2", "--out", str(out), "--quiet", *TINY]) == 0
    return out


def test_exports_a_checked_policy_and_prints_parity_and_returns(run_dir, tmp_path, capsys):
    out = tmp_path / "policy.onnx"
    assert main(["export-policy", str(run_dir), "--out", str(out), *EXPORT, "--eval-episodes", "2",
                 "--compare-mpc", "--version", "4"]) == 0
    text = capsys.readouterr().out
    spec = make_task("pendulum_swingup", {"episode_length": 30}).spec
    policy = load_policy_onnx(out, expected_spec=spec)
    assert policy.version == 4 and policy.task == "pendulum_swingup" and policy.metadata["expert"] == "icem"
    parity = float(re.search(r"max abs diff (\S+) ", text).group(1))
    assert 0 <= parity <= 1e-5
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["parity_max_abs"] == pytest.approx(parity, rel=1e-2)
    # Iteration 0: one expert roll-out of 30 steps; iteration 1: one mixed roll-out of 30 more.
    assert [h["dataset_size"] for h in summary["history"]] == [30, 60]
    assert len(summary["policy_returns"]) == 2 and len(summary["mpc_returns"]) == 2
    assert all(np.isfinite(summary["policy_returns"])) and np.isfinite(summary["ratio"])
    assert "policy returns on 2 evaluation episode(s)" in text and "policy / MPC" in text


def test_default_output_goes_into_the_run(run_dir, capsys):
    assert main(["export-policy", str(run_dir), *EXPORT, "--eval-episodes", "0"]) == 0
    assert (run_dir / "policy.onnx").is_file() and "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["{tmp}/nowhere"], "does not exist"),
    (["{tmp}"], "has no params.yaml"),
    ([], "give a training run directory"),
    (["{run}", "--task", "cartpole_swingup"], "trained on another task"),
    (["{run}", "--out", "{tmp}/policy.txt"], "must name an .onnx file"),
    (["{run}", "-p", "distill.iteratons:=2"], "iteratons"),
    (["--model", "{tmp}/missing.npz", "--task", "pendulum_swingup", "--out", "{tmp}/p.onnx"], "does not exist"),
])
def test_bad_input_fails_with_a_clear_message(run_dir, tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path, run=run_dir) for a in args]
    assert main(["export-policy", *args, *EXPORT]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mbrl-ros: error:") and message in err, err
