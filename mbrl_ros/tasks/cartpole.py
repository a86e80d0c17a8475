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
from mbrl_ros.tasks.physics import MujocoTask, MujocoTaskConfig, set_joint_damping


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
    default_cost_weights = {"tip_distance": 1.0, "action": 0.01}
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
        x, theta = obs[..., 0], obs[..., 1]
        length = self.pole_length
        return torch.stack([x + length * torch.sin(theta), -length * torch.cos(theta)], dim=-1)

    def cost_terms(self, obs: torch.Tensor, action: torch.Tensor,
                   next_obs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Costs of reaching ``next_obs`` with ``action``; shapes ``(...)``."""
        upright = torch.tensor([0.0, self.pole_length], dtype=next_obs.dtype, device=next_obs.device)
        d2 = ((self.tip_position(next_obs) - upright) ** 2).sum(-1)
        return {
            "tip_distance": -torch.exp(-d2 / self.config.tip_sigma ** 2),
            "action": self._normalized_action_cost(action),
        }

    def casadi_cost_terms(self, obs, action, next_obs) -> dict:
        """:meth:`cost_terms` of one transition in CasADi: ``(O, 1)``, ``(A, 1)``, ``(O, 1)`` -> scalars."""
        import casadi  # only gradient-based planners need it

        x, theta = next_obs[0], next_obs[1]
        length = self.pole_length
        d2 = (x + length * casadi.sin(theta)) ** 2 + (-length * casadi.cos(theta) - length) ** 2
        return {
            "tip_distance": -casadi.exp(-d2 / self.config.tip_sigma ** 2),
            "action": casadi.sumsqr(action / casadi.DM(np.asarray(self._action_scale, dtype=float))),
        }
