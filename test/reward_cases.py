"""Seeded reward inputs for every built-in task, shared by the golden-reward test and its generator.

``PYTHONPATH=.:test python test/reward_cases.py`` rewrites ``data/golden_rewards.json`` from the current code;
the stored file was produced on main before cost terms became :class:`~mbrl_ros.tasks.costs.CostTerm`
lists, so the test proves the rewrite kept every reward bit for bit.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np
import torch

GOLDEN = pathlib.Path(__file__).parent / "tasks" / "data" / "golden_rewards.json"

#: (case name, task, config): the defaults, every term weighted (zero-weight defaults too), and the
#: quadrotor's second action mode.
CASES = (
    ("pendulum_swingup", "pendulum_swingup", {}),
    ("pendulum_swingup_all", "pendulum_swingup", {"cost_weights": {"tip_distance": 0.7, "action": 0.3,
                                                                   "velocity": 0.2}}),
    ("cartpole_swingup", "cartpole_swingup", {}),
    ("reacher", "reacher", {"cost_weights": {"action": 0.5}}),
    ("quadrotor_hover", "quadrotor_hover", {}),
    ("quadrotor_hover_torques", "quadrotor_hover", {"action_mode": "thrust_torques"}),
    ("quadrotor_waypoints", "quadrotor_waypoints", {}),
    ("pendulum_sparse", "pendulum_sparse", {"cost_weights": {"action": 0.1}, "margin": 0.3}),
    ("cartpole_sparse", "cartpole_sparse", {"cost_weights": {"action": 0.1}}),
)


def reward_inputs(spec, seed: int = 0, n: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(obs, action, next_obs)`` float64 tensors ``(n, O)``, ``(n, A)``, ``(n, O)``; actions reach 20 %
    past the bounds so clamps are exercised."""
    rng = np.random.default_rng(seed)
    low, high = np.asarray(spec.action_low), np.asarray(spec.action_high)
    margin = 0.2 * (high - low)
    obs = rng.normal(scale=1.5, size=(n, spec.obs_dim))
    action = rng.uniform(low - margin, high + margin, size=(n, spec.act_dim))
    next_obs = rng.normal(scale=1.5, size=(n, spec.obs_dim))
    return tuple(torch.tensor(v) for v in (obs, action, next_obs))


def current_rewards() -> dict[str, list[float]]:
    from mbrl_ros.tasks import make_task

    out = {}
    for case, name, config in CASES:
        task = make_task(name, config)
        with torch.no_grad():
            out[case] = task.reward(*reward_inputs(task.spec)).tolist()
        task.close()
    return out


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(current_rewards(), indent=1) + "\n")
