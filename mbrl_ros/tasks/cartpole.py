"""PETS cart-pole swing-up on MuJoCo (``sim/cartpole.xml``), after Chua et al. 2018,
"Deep Reinforcement Learning in a Handful of Trials using Probabilistic Dynamics Models".

A 0.6 m pole hangs from a cart on a +-3 m rail; a force on the cart has to
swing the pole up and balance it with the cart near the middle.

Observation ``[x (m), theta (rad), x_dot (m/s), theta_dot (rad/s)]`` with
``theta = 0`` hanging down and ``theta = +-pi`` upright, unwrapped (PETS
measures from upright instead; the cost is the same). Action ``[force (N)]``.
"""
from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import torch

from mbrl_ros.config import param
from mbrl_ros.tasks.costs import TORCH, CostTerm, Transition, normalized_action
from mbrl_ros.tasks.physics import MujocoTask, MujocoTaskConfig, set_joint_damping


def pole_tip(ops, length: float, x, theta) -> tuple:
    """Pole tip ``(x, z)`` in m for cart position ``x`` (m) and pole angle ``theta`` (rad, 0 hanging);
    z relative to the hinge height. Any backend of :mod:`mbrl_ros.tasks.costs`."""
    return x + length * ops.sin(theta), -length * ops.cos(theta)


def tip_distance(t: Transition):
    """``-exp(-d^2 / sigma^2)``, ``d`` the tip's distance to the upright tip above x = 0 (PETS)."""
    length = t.task.pole_length
    tip_x, tip_z = pole_tip(t.ops, length, t.next["x"], t.next["theta"])
    d2 = tip_x ** 2 + (tip_z - length) ** 2
    return -t.ops.exp(-d2 / t.task.config.tip_sigma ** 2)


@dataclasses.dataclass(frozen=True)
class CartpoleSwingupConfig(MujocoTaskConfig):
    """Physics, noise and cost settings of ``cartpole_swingup``."""

    cost_weights: dict[str, float] = param(
        {"tip_distance": 1.0, "action": 0.01},
        "Weight per cost term: tip_distance (-exp(-d^2/sigma^2), d = pole tip to the upright tip "
        "above x=0 in m, as in PETS), action (sum (force/force_limit)^2). "
        "Terms left out keep their default weight.")
    episode_length: int = param(200, "Control steps per episode (10 s at 0.05 s).", low=1, high=1_000_000)
    cart_mass: float = param(1.0, "Cart mass in kg.", low=0.01, high=100.0)
    pole_mass: float = param(0.2, "Pole mass in kg (a uniform 0.6 m rod).", low=0.001, high=100.0)
    force_limit: float = param(15.0, "Actuator force limit in N (a good swing-up then takes about 1 s; "
                               "at 10 N about 2 s).", low=0.01, high=10000.0)
    slider_damping: float = param(0.1, "Cart damping in N*s/m.", low=0.0, high=100.0)
    hinge_damping: float = param(0.005, "Pole hinge damping in N*m*s/rad.", low=0.0, high=100.0)
    tip_sigma: float = param(0.6, "Width sigma of the tip_distance cost in m (PETS: 0.6).", low=0.01, high=10.0)
    init_noise: float = param(0.05, "Half-width of the uniform noise on every start position "
                              "(m, rad) and velocity (m/s, rad/s).", low=0.0, high=3.14)


class CartpoleSwingupTask(MujocoTask):
    """Swing up and balance a pole on a cart (see module docstring)."""

    name = "cartpole_swingup"
    mjcf_file = "cartpole.xml"
    Config = CartpoleSwingupConfig
    costs = (CostTerm("tip_distance", tip_distance, 1.0), CostTerm("action", normalized_action, 0.01))
    observation_names = ("x", "theta", "x_dot", "theta_dot")
    angle_indices = (1,)

    def __init__(self, config=None):
        super().__init__(config)
        #: Hinge-to-tip distance in m, read from the MJCF's ``tip`` site.
        self.pole_length = float(np.linalg.norm(self.physics.site_local_pos("tip")))

    def _edit_spec(self, spec: mujoco.MjSpec, config: CartpoleSwingupConfig) -> None:
        spec.geom("cart").mass = config.cart_mass
        spec.geom("pole").mass = config.pole_mass
        set_joint_damping(spec, "slider", config.slider_damping)
        set_joint_damping(spec, "hinge", config.hinge_damping)
        spec.actuator("force").ctrlrange = [-config.force_limit, config.force_limit]

    def _reset_physics(self, rng: np.random.Generator) -> None:
        noise = self.config.init_noise
        x, theta, x_dot, theta_dot = rng.uniform(-noise, noise, size=4)
        self.physics.set_joint_state("slider", [x], [x_dot])
        self.physics.set_joint_state("hinge", [theta], [theta_dot])

    def tip_position(self, obs: torch.Tensor) -> torch.Tensor:
        """Pole tip ``(..., 2)`` as (x, z) in m; z relative to the hinge height."""
        layout = self.spec.layout
        return torch.stack(pole_tip(TORCH, self.pole_length, obs[..., layout["x"]], obs[..., layout["theta"]]),
                           dim=-1)
