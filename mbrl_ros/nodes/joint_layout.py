"""Where a task's joints sit in its observation, so a JointState maps to an observation and back.

MuJoCo tasks observe ``[qpos, qvel, extra]``: one position and one velocity
per hinge or slide joint, in the model's joint order, then per-episode
constants (the reacher's target). On ROS the joints travel as
``sensor_msgs/JointState`` named after the MJCF joints (or after the names a
robot uses, given as ``joint_names``) and ``extra`` as a separate
``std_msgs/Float64MultiArray`` (see ``sim_bridge``'s ``~/observation_extra``).

Tasks whose state is not one position and one velocity per joint (a free-flying
body: the quadrotor's 7 qpos and 6 qvel) travel as an *observation JointState*
instead (:class:`ObservationLayout`): one pseudo-joint per observation entry,
named after the task's ``observation_names`` (``x, y, z, qw, qx, qy, qz, vx, ...``),
its value in ``position`` and ``velocity`` left empty. Robot adapters
(``px4_bridge``, ``crazyflie_bridge``) publish it; :func:`state_layout` picks
the layout a task needs, so the planner and learner take either.
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
    requires_velocity = True  # states carry positions and velocities (a class constant, not a field)

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


@dataclasses.dataclass(frozen=True)
class ObservationLayout:
    """Observation ``[entries (N,), extra (E,)]`` carried whole in a JointState's ``position``.

    Same interface as :class:`JointLayout` (``joint_names``, ``observation``, ``split``), so a
    node handles both; ``requires_velocity`` is False: the message's ``velocity`` is ignored.

    Attributes:
        joint_names: the N pseudo-joint names on ROS, one per observation entry before ``extra``.
        obs_dim: O = N + E.
    """

    joint_names: tuple[str, ...]
    obs_dim: int
    requires_velocity = False  # the message's velocity field is ignored

    def __post_init__(self):
        if not self.joint_names:
            raise JointLayoutError("an observation layout needs at least one entry")
        if self.obs_dim < len(self.joint_names):
            raise JointLayoutError(f"an observation of {self.obs_dim} entries cannot hold "
                                   f"{len(self.joint_names)} named entries")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def extra_dim(self) -> int:
        """E, per-episode constants after the named entries."""
        return self.obs_dim - self.num_joints

    def observation(self, positions: np.ndarray, velocities: np.ndarray | None = None,
                    extra: np.ndarray | None = None) -> np.ndarray:
        """``(O,)`` observation from the ``(N,)`` entries (``velocities`` is ignored) and ``(E,)`` extra."""
        if self.extra_dim and (extra is None or np.asarray(extra).size != self.extra_dim):
            raise ValueError(f"this task needs {self.extra_dim} extra observation entries")
        parts = [np.asarray(positions, dtype=np.float64).reshape(-1)]
        if self.extra_dim:
            parts.append(np.asarray(extra, dtype=np.float64).reshape(-1))
        obs = np.concatenate(parts)
        if obs.shape != (self.obs_dim,):
            raise ValueError(f"expected {self.num_joints} observation entries, got {obs.size - self.extra_dim}")
        return obs

    def split(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(entries (..., N), velocities (..., 0), extra (..., E))`` views of ``obs (..., O)``."""
        n = self.num_joints
        return obs[..., :n], obs[..., n:n], obs[..., n:]


def observation_layout(task: Task, names: Sequence[str] = ()) -> ObservationLayout:
    """The observation layout of ``task``: its ``observation_names`` up to the per-episode extra.

    Args:
        task: any task; MuJoCo tasks give ``extra`` as the entries after ``qpos`` and ``qvel``.
        names: ROS names of the entries (same count); empty: the task's observation names.
    Raises:
        JointLayoutError: the wrong number of names, or names that repeat.
    """
    spec = task.spec
    model = getattr(getattr(task, "physics", None), "model", None)
    count = spec.obs_dim if model is None else int(model.nq + model.nv)
    names = tuple(str(n) for n in names) or tuple(spec.observation_names[:count])
    if len(names) != count:
        raise JointLayoutError(f"{spec.name}: joint_names lists {len(names)} entries, its observation has "
                               f"{count} before the per-episode extra ({', '.join(spec.observation_names[:count])})")
    if len(set(names)) != len(names):
        raise JointLayoutError(f"joint_names repeat: {list(names)}")
    return ObservationLayout(joint_names=names, obs_dim=spec.obs_dim)


def state_layout(task: Task, joint_names: Sequence[str] = ()) -> JointLayout | ObservationLayout:
    """How ``task``'s state travels on ``/mbrl/state``: :func:`joint_layout` where the task's joints
    map to JointState (hinges and slides), else :func:`observation_layout` (free and ball joints).

    Raises:
        JointLayoutError: as the chosen layout function.
    """
    try:
        mujoco_joint_names(task)
    except JointLayoutError:
        return observation_layout(task, joint_names)
    return joint_layout(task, joint_names)
