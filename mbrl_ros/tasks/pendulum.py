"""Torque-limited pendulum swing-up on MuJoCo (``sim/pendulum.xml``).

The pendulum starts hanging down; its motor gives at most 58 % of the
gravity torque of the horizontal pole (3 of 5.15 N*m), so it has to swing
back and forth (about 1.5 s with good control) before it can balance upright.

Observation ``[theta (rad), theta_dot (rad/s)]`` with ``theta = 0`` hanging
down and ``theta = +-pi`` upright, unwrapped. Action ``[torque (N*m)]``.
"""
from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import torch

from mbrl_ros.config import param
from mbrl_ros.tasks.costs import TORCH, CostTerm, Transition, normalized_action
from mbrl_ros.tasks.physics import MujocoTask, MujocoTaskConfig, set_joint_damping


def pendulum_tip(ops, length: float, theta) -> tuple:
    """Tip ``(x, z)`` in m relative to the pivot for angle ``theta`` (rad, 0 hanging down)."""
    return length * ops.sin(theta), -length * ops.cos(theta)


def tip_distance(t: Transition):
    """``-exp(-d^2 / sigma^2)``, ``d`` the tip's distance to the upright tip in m."""
    length = t.task.length
    tip_x, tip_z = pendulum_tip(t.ops, length, t.next["theta"])
    d2 = tip_x ** 2 + (tip_z - length) ** 2
    return -t.ops.exp(-d2 / t.task.config.tip_sigma ** 2)


def angular_speed(t: Transition):
    """``theta_dot^2`` in rad^2/s^2."""
    return t.next["theta_dot"] ** 2


@dataclasses.dataclass(frozen=True)
class PendulumSwingupConfig(MujocoTaskConfig):
    """Physics, noise and cost settings of ``pendulum_swingup``."""

    cost_weights: dict[str, float] = param(
        {"tip_distance": 1.0, "action": 0.01, "velocity": 0.0},
        "Weight per cost term: tip_distance (-exp(-d^2/sigma^2), d = tip to upright tip in m), "
        "action (sum (torque/torque_limit)^2), velocity (theta_dot^2 in rad^2/s^2). "
        "Terms left out keep their default weight.")
    episode_length: int = param(200, "Control steps per episode (10 s at 0.05 s).", low=1, high=1_000_000)
    bob_mass: float = param(1.0, "Mass of the ball at the pole's end in kg (the 0.5 m rod adds 0.1 kg).",
                            low=0.01, high=100.0)
    torque_limit: float = param(3.0, "Motor torque limit in N*m; gravity needs up to 5.15 N*m with the "
                                "default masses, so the pendulum has to swing (about 1.5 s).",
                                low=0.01, high=1000.0)
    damping: float = param(0.05, "Hinge damping in N*m*s/rad.", low=0.0, high=100.0)
    tip_sigma: float = param(0.5, "Width sigma of the tip_distance cost in m (the pole length, as PETS "
                             "uses for its cart-pole; at 0.3 m the hanging reward is 1e-5 and a 1 s "
                             "planning horizon sees no way up).", low=0.01, high=10.0)
    init_noise: float = param(0.05, "Half-width of the uniform noise on the start angle (rad) and "
                              "angular velocity (rad/s).", low=0.0, high=3.14)


class PendulumSwingupTask(MujocoTask):
    """Swing a torque-limited pendulum up and balance it (see module docstring)."""

    name = "pendulum_swingup"
    mjcf_file = "pendulum.xml"
    Config = PendulumSwingupConfig
    costs = (CostTerm("tip_distance", tip_distance, 1.0), CostTerm("action", normalized_action, 0.01),
             CostTerm("velocity", angular_speed, 0.0))
    observation_names = ("theta", "theta_dot")
    angle_indices = (0,)

    def __init__(self, config=None):
        super().__init__(config)
        #: Pivot-to-tip distance in m, read from the MJCF's ``tip`` site.
        self.length = float(np.linalg.norm(self.physics.site_local_pos("tip")))

    def _edit_spec(self, spec: mujoco.MjSpec, config: PendulumSwingupConfig) -> None:
        spec.geom("bob").mass = config.bob_mass
        set_joint_damping(spec, "hinge", config.damping)
        spec.actuator("torque").ctrlrange = [-config.torque_limit, config.torque_limit]

    def _reset_physics(self, rng: np.random.Generator) -> None:
        noise = self.config.init_noise
        theta, theta_dot = rng.uniform(-noise, noise, size=2)
        self.physics.set_joint_state("hinge", [theta], [theta_dot])

    def tip_position(self, obs: torch.Tensor) -> torch.Tensor:
        """Tip position ``(..., 2)`` as (x, z) in m relative to the pivot."""
        return torch.stack(pendulum_tip(TORCH, self.length, obs[..., self.spec.layout["theta"]]), dim=-1)
