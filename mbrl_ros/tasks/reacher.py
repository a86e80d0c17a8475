"""Planar two-link arm reaching a random target on MuJoCo (``sim/reacher.xml``),
like the dm_control and Gymnasium reachers.

Each seeded reset draws the arm's joint angles uniformly in ``[-pi, pi)`` and
a target uniformly (by area) in the annulus ``target_min_radius <= r <=
target_max_radius`` around the shoulder, which lies inside the reachable disc.
Episodes last 100 steps (5 s at 0.05 s).

Observation ``[q1, q2 (rad), q1_dot, q2_dot (rad/s), target_x, target_y (m)]``:
shoulder and elbow angles (both unlimited, unwrapped; the elbow angle is
relative to the upper arm), then the target, which stays fixed during the
episode. Actions ``[shoulder, elbow]`` torques in N*m. The arm moves in the
horizontal plane, so gravity does not act on it.
"""
from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import torch

from mbrl_ros.config import ConfigError, param
from mbrl_ros.tasks.costs import TORCH, CostTerm, NamedObs, Transition, normalized_action
from mbrl_ros.tasks.physics import MujocoTask, MujocoTaskConfig, set_joint_damping


def fingertip(ops, link_lengths: tuple[float, float], obs: NamedObs):
    """Fingertip (x, y) in m relative to the shoulder, as one vector of backend ``ops``."""
    q1 = obs["q1"]
    q12 = q1 + obs["q2"]
    l1, l2 = link_lengths
    return ops.stack([l1 * ops.cos(q1) + l2 * ops.cos(q12), l1 * ops.sin(q1) + l2 * ops.sin(q12)])


def target_distance(t: Transition):
    """Fingertip to target in m."""
    offset = fingertip(t.ops, t.task.link_lengths, t.next) - t.next["target"]
    # The tiny epsilon keeps the gradient finite at zero distance (changes the value by < 1e-6 m).
    return t.ops.sqrt(t.ops.sumsq(offset) + 1e-12)


@dataclasses.dataclass(frozen=True)
class ReacherConfig(MujocoTaskConfig):
    """Physics, target and cost settings of ``reacher``."""

    cost_weights: dict[str, float] = param(
        {"distance": 1.0, "action": 0.01},
        "Weight per cost term: distance (fingertip to target in m), action (sum (torque/limit)^2). "
        "Terms left out keep their default weight.")
    episode_length: int = param(100, "Control steps per episode (5 s at 0.05 s).", low=1, high=1_000_000)
    link_mass: float = param(0.1, "Mass of each of the two 0.12 m links in kg.", low=0.001, high=100.0)
    torque_limit: float = param(0.05, "Torque limit of both motors in N*m.", low=1e-4, high=100.0)
    damping: float = param(0.005, "Damping of both joints in N*m*s/rad.", low=0.0, high=10.0)
    target_min_radius: float = param(0.05, "Closest target distance from the shoulder in m.",
                                     low=0.0, high=10.0)
    target_max_radius: float = param(0.20, "Farthest target distance from the shoulder in m "
                                     "(at most the arm's reach, 0.24 m).", low=0.0, high=10.0)
    init_noise: float = param(0.05, "Half-width of the uniform noise on the start joint velocities "
                              "in rad/s.", low=0.0, high=10.0)


class ReacherTask(MujocoTask):
    """Move a planar two-link arm's fingertip to a target (see module docstring)."""

    name = "reacher"
    mjcf_file = "reacher.xml"
    Config = ReacherConfig
    costs = (CostTerm("distance", target_distance, 1.0), CostTerm("action", normalized_action, 0.01))
    observation_names = ("q1", "q2", "q1_dot", "q2_dot", "target_x", "target_y")
    observation_groups = (("target", ("target_x", "target_y")),)
    angle_indices = (0, 1)

    def __init__(self, config=None):
        super().__init__(config)
        #: Link lengths in m, read from the MJCF (elbow offset and fingertip site).
        self.link_lengths = (float(np.linalg.norm(self.physics.body_local_pos("forearm"))),
                             float(np.linalg.norm(self.physics.site_local_pos("fingertip"))))
        l1, l2 = self.link_lengths
        lo, hi = self.config.target_min_radius, self.config.target_max_radius
        if not abs(l1 - l2) <= lo <= hi <= l1 + l2:
            raise ConfigError(f"{self.name}: need {abs(l1 - l2):.3f} <= target_min_radius ({lo}) <= "
                              f"target_max_radius ({hi}) <= {l1 + l2:.3f} m so every target is reachable")

    def _edit_spec(self, spec: mujoco.MjSpec, config: ReacherConfig) -> None:
        for link in ("upper_arm", "forearm"):
            spec.geom(link).mass = config.link_mass
        for joint in ("shoulder", "elbow"):
            set_joint_damping(spec, joint, config.damping)
            spec.actuator(joint).ctrlrange = [-config.torque_limit, config.torque_limit]

    def _extra_dim(self) -> int:
        return 2

    def _reset_physics(self, rng: np.random.Generator) -> None:
        q = rng.uniform(-np.pi, np.pi, size=2)
        q_dot = rng.uniform(-self.config.init_noise, self.config.init_noise, size=2)
        self.physics.set_joint_state("shoulder", [q[0]], [q_dot[0]])
        self.physics.set_joint_state("elbow", [q[1]], [q_dot[1]])
        lo, hi = self.config.target_min_radius, self.config.target_max_radius
        radius = np.sqrt(rng.uniform(lo ** 2, hi ** 2))  # uniform by area
        angle = rng.uniform(-np.pi, np.pi)
        self._extra = np.array([radius * np.cos(angle), radius * np.sin(angle)])

    def _sync_visuals(self) -> None:
        self.physics.set_mocap_pos("target", [self._extra[0], self._extra[1], 0.0])

    @property
    def target(self) -> np.ndarray:
        """This episode's target (x, y) in m, a copy."""
        return self._extra.copy()

    def fingertip_position(self, obs: torch.Tensor) -> torch.Tensor:
        """Fingertip (x, y) in m relative to the shoulder, shape ``(..., 2)``."""
        return fingertip(TORCH, self.link_lengths, NamedObs(obs, self.spec.layout, TORCH))
