"""Where a task's joints sit in its observation, so a JointState maps to an observation and back.

MuJoCo tasks observe ``[qpos, qvel, extra]``: one position and one velocity
per hinge or slide joint, in the model's joint order, then per-episode
constants (the reacher's target). On ROS the joints travel as
``sensor_msgs/JointState`` named after the MJCF joints (or after the names a
robot uses, given as ``joint_names``) and ``extra`` as a separate
``std_msgs/Float64MultiArray`` (see ``sim_bridge``'s ``~/observation_extra``).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from mbrl_ros.tasks.base import Task


class JointLayoutError(ValueError):
    """The task's observation cannot be mapped to joints."""


@dataclasses.dataclass(frozen=True)
class JointLayout:
    """Observation ``[positions (J,), velocities (J,), extra (E,)]`` of a task.

    Attributes:
        joint_names: the J joint names as they appear on ROS, in observation order.
        obs_dim: O = 2 J + E.
    """

    joint_names: tuple[str, ...]
    obs_dim: int

    def __post_init__(self):
        if not self.joint_names:
            raise JointLayoutError("a joint layout needs at least one joint")
        if self.obs_dim < 2 * len(self.joint_names):
            raise JointLayoutError(f"an observation of {self.obs_dim} entries cannot hold "
                                   f"{len(self.joint_names)} positions and velocities")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def extra_dim(self) -> int:
        """E, per-episode constants after the joint entries."""
        return self.obs_dim - 2 * self.num_joints

    def observation(self, positions: np.ndarray, velocities: np.ndarray,
                    extra: np.ndarray | None = None) -> np.ndarray:
        """``(O,)`` observation from ``(J,)`` positions and velocities and ``(E,)`` extra."""
        if self.extra_dim and (extra is None or np.asarray(extra).size != self.extra_dim):
            raise ValueError(f"this task needs {self.extra_dim} extra observation entries")
        parts = [np.asarray(positions, dtype=np.float64).reshape(-1),
                 np.asarray(velocities, dtype=np.float64).reshape(-1)]
        if self.extra_dim:
            parts.append(np.asarray(extra, dtype=np.float64).reshape(-1))
        obs = np.concatenate(parts)
        if obs.shape != (self.obs_dim,):
            raise ValueError(f"expected {self.num_joints} positions and {self.num_joints} velocities, "
                             f"got {obs.size - self.extra_dim} values")
        return obs

    def split(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(positions (..., J), velocities (..., J), extra (..., E))`` views of ``obs (..., O)``."""
        j = self.num_joints
        return obs[..., :j], obs[..., j:2 * j], obs[..., 2 * j:]


def mujoco_joint_names(task: Task) -> tuple[str, ...] | None:
    """Joint names of a MuJoCo task in qpos order, or None for a task without MuJoCo physics.

    Raises:
        JointLayoutError: the model has ball or free joints (more than one qpos per joint).
    """
    physics = getattr(task, "physics", None)
    model = getattr(physics, "model", None)
    if model is None:
        return None
    import mujoco

    if model.nq != model.njnt or model.nv != model.njnt:
        raise JointLayoutError(f"{task.spec.name}: only hinge and slide joints map to JointState "
                               f"(nq={model.nq}, nv={model.nv}, joints={model.njnt})")
    order = np.argsort(model.jnt_qposadr)
    return tuple(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, int(i)) for i in order)


def joint_layout(task: Task, joint_names: Sequence[str] = ()) -> JointLayout:
    """The layout of ``task``'s observation.

    Args:
        task: a task whose observation starts with joint positions and velocities.
        joint_names: ROS names of the task's joints in observation order; empty: the MJCF
            names (MuJoCo tasks) — required for other tasks.
    Raises:
        JointLayoutError: names missing for a non-MuJoCo task, or the wrong number of names.
    """
    names = tuple(str(n) for n in joint_names)
    model_names = mujoco_joint_names(task)
    if not names:
        if model_names is None:
            raise JointLayoutError(f"{task.spec.name}: set joint_names (the task has no MuJoCo model "
                                   f"to take them from)")
        names = model_names
    elif model_names is not None and len(names) != len(model_names):
        raise JointLayoutError(f"{task.spec.name}: joint_names lists {len(names)} joints, the task has "
                               f"{len(model_names)} ({', '.join(model_names)})")
    if len(set(names)) != len(names):
        raise JointLayoutError(f"joint_names repeat: {list(names)}")
    return JointLayout(joint_names=names, obs_dim=task.spec.obs_dim)
