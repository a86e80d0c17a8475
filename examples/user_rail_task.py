"""A user task loaded by ``mbrl-ros train --task user_rail_task:make_task`` (no registration needed).

A cart on a 4 m rail (a double integrator in numpy, Gymnasium API) must stop at x = 1 m. The
episode *terminates* when the cart leaves the rail (|x| > 2 m). The environment's own reward is
sparse (1 within 10 cm of the target), the planner optimizes a dense shaped reward, and the
batched ``termination_fn`` lets the planner see that leaving the rail ends the episode. The shaped
reward is a cost, so leaving the rail must cost more than staying on it: every step left after it
counts ``termination_reward`` (-10, below the worst position cost on the rail, (2 + 1)^2 = 9).

    PYTHONPATH=examples mbrl-ros train --task user_rail_task:make_task \\
        -p learning.action_repeat:=2 -p task_params.episode_length:=200 --episodes 4 --out runs/rail

``progress.csv`` then holds ``episode_return`` (the planning reward) and ``env_return`` (the
environment's own), and ``learning_curve.png`` draws both.
"""
from __future__ import annotations

import numpy as np
import torch

from mbrl_ros.tasks.gym_task import GymTask, GymTaskConfig
from mbrl_ros.config import from_dict

TARGET, RAIL = 1.0, 2.0


class _Box:
    def __init__(self, low, high):
        self.low, self.high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
        self.shape = self.low.shape


class RailEnv:
    """x'' = u (N/kg) with Euler steps of 0.05 s; obs [x (m), v (m/s)], action [u] in [-1, 1]."""

    dt = 0.05
    action_space = _Box([-1.0], [1.0])
    observation_space = _Box([-np.inf, -np.inf], [np.inf, np.inf])

    def reset(self, seed=None):
        self.rng = np.random.default_rng(seed)
        self.state = np.array([self.rng.uniform(-0.1, 0.1), 0.0])
        return self.state.copy(), {}

    def step(self, action):
        x, v = self.state
        v = v + self.dt * float(np.clip(action[0], -1.0, 1.0))
        x = x + self.dt * v
        self.state = np.array([x, v])
        reward = 1.0 if abs(x - TARGET) < 0.1 else 0.0  # the env's own, sparse reward
        return self.state.copy(), reward, bool(abs(x) > RAIL), False, {}


def shaped_reward(obs, action, next_obs):
    """The planner's dense reward, batched over any leading dimensions."""
    return -(next_obs[..., 0] - TARGET) ** 2 - 0.1 * next_obs[..., 1] ** 2 - 0.01 * (action ** 2).sum(-1)


def off_the_rail(obs, action, next_obs):
    """Batched termination: the cart left the rail."""
    return next_obs[..., 0].abs() > RAIL


#: Reward per step left after leaving the rail: below the worst position cost on it, (RAIL + TARGET)^2.
OFF_THE_RAIL_REWARD = -10.0


def make_task(config=None):
    """Task factory: ``config`` is the ``task_params`` section (episode_length, termination_reward)."""
    values = from_dict(GymTaskConfig, config or {}, prefix="task_params.")
    charge = OFF_THE_RAIL_REWARD if np.isnan(values.termination_reward) else values.termination_reward
    return GymTask("user_rail", RailEnv(), shaped_reward, control_period=RailEnv.dt,
                   episode_length=values.episode_length or 200, observation_names=("x", "v"),
                   action_names=("force",), termination_fn=off_the_rail, termination_reward=charge)
