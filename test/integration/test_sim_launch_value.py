"""launch/sim.launch.yaml with terminal_value:=true and learning.action_repeat 2, end to end.

One random and one MPC episode of 40 physics steps (20 held commands) on pendulum_swingup with a
small ensemble and a small critic, in lockstep: model_learner trains the critic after the random
episode and sends it inside model version 1; mpc_planner plans the MPC episode with it. The
run directory has the held episodes' env steps and the critic's training time, and its model.npz
is a model file that carries the critic.
"""
from __future__ import annotations

import csv
from pathlib import Path

from launch_runs import run_launch

from mbrl_ros.learning.model_payload import decode_model, decode_value, model_version
from mbrl_ros.ros.runtime.testing import isolated_domain
from mbrl_ros.tasks import make_task

SMALL_BUDGET = """\
/**:
  ros__parameters:
    learning: {horizon: 5, max_train_epochs: 20, action_repeat: 2}
    pendulum_swingup: {episode_length: 40}
    pets_ensemble: {hidden_units: 32}
    icem: {population: 32}
    sac_mbpo: {hidden_units: 32, min_updates: 20, rollout_starts: 64, num_proposals: 4}
"""


def test_launch_with_terminal_value_and_action_repeat_plans_with_the_learners_critic(tmp_path: Path):
    params = tmp_path / "small.yaml"
    params.write_text(SMALL_BUDGET)
    out = tmp_path / "out"
    with isolated_domain():
        code, text, _seen = run_launch(tmp_path, "sim.launch.yaml", "task:=pendulum_swingup", "planner:=icem",
                                       "estimator:=passthrough", "terminal_value:=true", "episodes:=2",
                                       f"params_file:={params}", f"output_dir:={out}", timeout_s=240)
    assert code == 0, text[-4000:]
    assert "Traceback" not in text, text[-4000:]
    learner_lines = [line for line in text.splitlines() if line.startswith("[model_learner]")]
    assert any("model version 1: 20 transitions" in line and "with critic sac_mbpo version 1" in line
               for line in learner_lines), "\n".join(learner_lines)
    assert "[mpc_planner]" in text and "planning with model version 1 and critic sac_mbpo version 1" in text, \
        text[-4000:]
    rows = list(csv.DictReader((out / "progress.csv").open()))
    assert [r["kind"] for r in rows] == ["random", "mpc"]
    assert [int(r["env_steps"]) for r in rows] == [40, 80]          # physics steps: 20 held commands each
    assert float(rows[0]["value_seconds"]) > 0.0                    # the critic trained after episode 0
    training = list(csv.DictReader((out / "training.csv").open()))
    assert [int(r["value_updates"]) for r in training] == [20]     # one gradient step per new transition
    task = make_task("pendulum_swingup")
    data = (out / "model.npz").read_bytes()
    model = decode_model(data, task.spec)
    critic = decode_value(data, model, task.spec, reward_fn=task.reward)
    assert model_version(model) == 1 and critic.version == 1 and critic.config.hidden_units == 32
