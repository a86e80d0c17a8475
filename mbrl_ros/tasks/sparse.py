"""Sparse-reward swing-up tasks: ``pendulum_sparse`` and ``cartpole_sparse`` (dm_control style).

Same physics and observations as ``pendulum_swingup`` / ``cartpole_swingup``; the reward is
dm_control's ``tolerance``: 1 inside the bounds, 0 outside (``margin`` 0; a positive margin
gives a Gaussian tail), so it is non-zero only near upright. Episodes last 20 s of 0.02 s
steps (1000 steps; train with ``learning.action_repeat: 4``) and start at a hidden, uniformly
random pole angle (``start_angle_range``), so some episodes start near the reward and a
learned value can carry it back to the hanging-down starts. From hanging down the reward is
out of reach of a 20-step planning horizon: that is what ``learning.terminal_value`` is for.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from mbrl_ros.config import param
from mbrl_ros.tasks.costs import CostTerm, Transition, normalized_action
from mbrl_ros.tasks.cartpole import CartpoleSwingupConfig, CartpoleSwingupTask
from mbrl_ros.tasks.pendulum import PendulumSwingupConfig, PendulumSwingupTask


def tolerance(x: torch.Tensor, lower: float, upper: float, margin: float = 0.0,
              value_at_margin: float = 0.1) -> torch.Tensor:
    """dm_control's ``rewards.tolerance`` with a Gaussian sigmoid, batched: ``(...) -> (...)`` in [0, 1].

    1 for ``lower <= x <= upper``; outside, 0 when ``margin`` is 0, else a Gaussian in the
    distance to the bounds that equals ``value_at_margin`` at ``margin``.
    """
    if lower > upper:
        raise ValueError(f"tolerance: lower {lower} must not exceed upper {upper}")
    inside = (x >= lower) & (x <= upper)
    if margin <= 0:
        return inside.to(x.dtype)
    distance = torch.where(x < lower, lower - x, x - upper) / margin
    scale = math.sqrt(-2.0 * math.log(value_at_margin))
    return torch.where(inside, torch.ones_like(x), torch.exp(-0.5 * (distance * scale) ** 2))


@dataclasses.dataclass(frozen=True)
class SparseSwingupFields:
    """The fields both sparse tasks add to (or change in) their dense twin's config."""

    control_period: float = param(0.02, "Seconds between two task steps (dm_control's 0.02).",
                                  low=0.001, high=1.0)
    episode_length: int = param(1000, "Task steps per episode (20 s at 0.02 s).", low=1, high=1_000_000)
    upright_angle: float = param(30.0, "Reward only within this pole angle from upright, in degrees.",
                                 low=0.1, high=180.0)
    margin: float = param(0.0, "tolerance margin on the pole cosine (0: a hard 0/1 reward).", low=0.0, high=2.0)
    start_angle_range: float = param(math.pi, "Start pole angle uniform in +-this around hanging down, in rad "
                                     "(pi: anywhere on the circle; 0: hanging down plus init_noise).",
                                     low=0.0, high=math.pi)


# SparseSwingupFields comes first so that its fields override the dense twin's (control_period,
# episode_length): dataclasses collect fields along the reversed MRO.
@dataclasses.dataclass(frozen=True)
class PendulumSparseConfig(SparseSwingupFields, PendulumSwingupConfig):
    """``pendulum_swingup``'s physics with a sparse upright reward."""

    cost_weights: dict[str, float] = param(
        {"upright": 1.0, "action": 0.0},
        "Weight per cost term: upright (-tolerance(cos of the angle from upright, [cos(upright_angle), 1], "
        "margin)), action (sum (torque/torque_limit)^2).")


def _upright_tolerance(t: Transition) -> torch.Tensor:
    """``tolerance`` of the cosine of the pole's angle from upright (theta = +-pi is upright)."""
    cos_up = -torch.cos(t.next["theta"])
    lower = math.cos(math.radians(t.task.config.upright_angle))
    return tolerance(cos_up, lower, 1.0, t.task.config.margin)


def pendulum_upright(t: Transition) -> torch.Tensor:
    """``-tolerance(cos from upright)``: -1 near upright, else 0 (torch only: no gradient)."""
    return -_upright_tolerance(t)


def cartpole_upright(t: Transition) -> torch.Tensor:
    """``-tolerance(cos from upright) * tolerance(x, +-centre_width)`` (torch only: no gradient)."""
    width = t.task.config.centre_width
    return -(_upright_tolerance(t) * tolerance(t.next["x"], -width, width))


class PendulumSparseTask(PendulumSwingupTask):
    """Pendulum swing-up whose reward is 1 within ``upright_angle`` of upright, else 0."""

    name = "pendulum_sparse"
    Config = PendulumSparseConfig
    costs = (CostTerm("upright", pendulum_upright, 1.0, casadi=False), CostTerm("action", normalized_action, 0.0))

    def _reset_physics(self, rng: np.random.Generator) -> None:
        noise, span = self.config.init_noise, self.config.start_angle_range
        theta = rng.uniform(-span, span) + rng.uniform(-noise, noise)
        self.physics.set_joint_state("hinge", [theta], [rng.uniform(-noise, noise)])


@dataclasses.dataclass(frozen=True)
class CartpoleSparseConfig(SparseSwingupFields, CartpoleSwingupConfig):
    """``cartpole_swingup``'s physics with a sparse reward: pole upright and cart centred."""

    cost_weights: dict[str, float] = param(
        {"upright": 1.0, "action": 0.0},
        "Weight per cost term: upright (-tolerance(cos from upright) * tolerance(x, +-centre_width)), "
        "action (sum (force/force_limit)^2).")
    centre_width: float = param(1.0, "... and with the cart within +-this of the rail's middle, in m.",
                                low=0.01, high=3.0)


class CartpoleSparseTask(CartpoleSwingupTask):
    """Cart-pole swing-up whose reward is 1 near upright with the cart centred, else 0."""

    name = "cartpole_sparse"
    Config = CartpoleSparseConfig
    costs = (CostTerm("upright", cartpole_upright, 1.0, casadi=False), CostTerm("action", normalized_action, 0.0))

    def _reset_physics(self, rng: np.random.Generator) -> None:
        noise, span = self.config.init_noise, self.config.start_angle_range
        x, theta, x_dot, theta_dot = rng.uniform(-noise, noise, size=4)
        theta += rng.uniform(-span, span)
        self.physics.set_joint_state("slider", [x], [x_dot])
        self.physics.set_joint_state("hinge", [theta], [theta_dot])
