"""Crazyflie-2.x-like quadrotor on MuJoCo (``sim/quadrotor.xml``): hover and waypoint tracking.

``quadrotor_hover`` starts near a hover point with a seeded random offset,
velocity, attitude and spin, and has to hold the hover point.
``quadrotor_waypoints`` flies to a seeded sequence of waypoints, one every
``waypoint_period`` steps (1 s by default); the current waypoint is part of the
observation. Both run at 50 Hz (0.02 s) for 250 steps (5 s).

Observation (float64)::

    [x, y, z (m, world),  qw, qx, qy, qz (body-to-world unit quaternion, qw >= 0),
     vx, vy, vz (m/s, world frame),  wx, wy, wz (rad/s, body frame)]
    + [target_x, target_y, target_z (m)]  for quadrotor_waypoints

which is exactly MuJoCo's free-joint ``[qpos, qvel]``, so an observation
determines the physics state (needed by the oracle model). ``q`` and ``-q`` are
the same attitude; the observation always uses the one with ``qw >= 0`` so a
learned model sees one value per attitude near hover (the sign flips only at
180 degree rotations, far outside hover; MuJoCo's dynamics are exactly
symmetric under ``q -> -q``). No entry is an unwrapped angle, so the spec's
``angle_indices`` is empty.

Actions (config ``action_mode``):

* ``rotor_thrusts``: four rotor thrusts in N, each in ``[0, f_max]`` with
  ``f_max = thrust_to_weight * m * g / 4`` (0.132 N by default).
* ``thrust_torques``: collective thrust (N) and body torques ``tau_x, tau_y,
  tau_z`` (N*m), mapped to rotor thrusts by the inverse of the mixer matrix
  (:attr:`QuadrotorTask.mixer`) and then clipped to the rotor limits. The
  bounds are the largest values the rotors can reach one at a time; a
  combination outside the rotors' reach saturates (as on the real drone).

Rotor layout (body x forward, z up), yaw reaction torque ``+-c * thrust``::

    rotor1 front-right (+a, -a) +c      rotor2 back-right (-a, -a) -c
    rotor3 back-left   (-a, +a) +c      rotor4 front-left (+a, +a) -c

Cost terms (each weighted by ``cost_weights``; see the config for units):
``position`` (squared distance to the target), ``velocity`` (squared speed),
``attitude`` (tilt, ``1 - cos(tilt)``), ``angular_velocity`` (squared body
rates) and ``action`` (sum over rotors of ``((f - f_hover) / f_max)^2``, the
same physical quantity in both action modes). Every term is evaluated on the
state reached (``next_obs``); the waypoint task measures distance to the
target that was in force when the action was chosen (``obs``), and by default
weights velocity and tilt ten times less than hover does, so a planner flies
to the next waypoint instead of creeping.

Crashes (config ``crash_distance > 0``): the episode terminates once the drone is
farther than ``crash_distance`` from its target (:attr:`QuadrotorTask.termination_fn`,
which planners predict with), and every step left then counts
``termination_reward`` (the crash charge, default -5 per step). The rewards are
negative costs, so without a charge a drone that crashes after 30 steps would sum
less cost than one that hovers for 250, and returns would rank crashing above
hovering. The rule: the charge is at most minus the worst per-step cost of the
bounded terms inside the fence (``QuadrotorConfig.bounded_cost_at_fence``, 1.21
with the hover weights at 1 m; a config whose charge is above minus that bound is
rejected), so from any state crashing never costs less per step than staying as far
as the bounded terms go; only the unbounded velocity and
body-rate terms (``0.1 |v|^2 > 3.8``, i.e. above 6 m/s held inside a 1 m fence)
could make staying costlier than -5.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import mujoco
import numpy as np
import torch

from mbrl_ros.config import ConfigError, param
from mbrl_ros.tasks.costs import TORCH, CostTerm, NamedObs, Transition, with_weights
from mbrl_ros.tasks.physics import MujocoTask, MujocoTaskConfig

ACTION_MODES = ("rotor_thrusts", "thrust_torques")
ROTORS = ("rotor1", "rotor2", "rotor3", "rotor4")
_QUAT = slice(3, 7)
_DEFAULT_WEIGHTS = {"position": 1.0, "velocity": 0.1, "attitude": 0.1, "angular_velocity": 0.001,
                    "action": 0.01}
# Flying between waypoints needs speed and tilt: lighter velocity and attitude weights let a
# short-horizon planner arrive (with the hover weights it stops 0.2-0.3 m short of each waypoint).
_WAYPOINT_WEIGHTS = {**_DEFAULT_WEIGHTS, "velocity": 0.01, "attitude": 0.01}
#: Default crash charge per step left (``termination_reward``): about 4x the bounded cost terms'
#: worst inside a 1 m fence with the hover weights (1.21, :meth:`QuadrotorConfig.bounded_cost_at_fence`).
CRASH_REWARD = -5.0
_WEIGHTS_DOC = ("Weight per cost term: position (|p - target|^2, m^2), velocity (|v|^2, m^2/s^2), "
                "attitude (1 - cos(tilt), 0 level .. 2 upside down), angular_velocity (|w|^2, rad^2/s^2), "
                "action (sum ((f_i - f_hover) / f_max)^2 over the rotor thrusts). "
                "Terms left out keep their default weight.")


@dataclasses.dataclass(frozen=True)
class QuadrotorConfig(MujocoTaskConfig):
    """Physics, action, start-noise and cost settings shared by the quadrotor tasks."""

    cost_weights: dict[str, float] = param(dict(_DEFAULT_WEIGHTS), _WEIGHTS_DOC)
    control_period: float = param(0.02, "Seconds between two actions (50 Hz).", low=0.001, high=1.0)
    timestep: float = param(0.005, "Physics timestep in seconds.", low=1e-4, high=0.01)
    episode_length: int = param(250, "Control steps per episode (5 s at 0.02 s).", low=1, high=1_000_000)
    action_mode: str = param("rotor_thrusts", "rotor_thrusts: four rotor thrusts in N; thrust_torques: "
                             "collective thrust in N and body torques in N*m (mixed onto the rotors).",
                             choices=ACTION_MODES)
    mass: float = param(0.027, "Mass in kg (Crazyflie 2.x with battery).", low=0.001, high=100.0)
    inertia: tuple[float, ...] = param((1.4e-5, 1.4e-5, 2.17e-5),
                                       "Principal moments of inertia Ixx, Iyy, Izz in kg*m^2.",
                                       low=1e-9, high=100.0)
    arm_length: float = param(0.046, "Distance from the centre to each rotor in m (X frame).",
                              low=0.005, high=2.0)
    thrust_to_weight: float = param(
        2.0, "All four rotors' largest thrust over the weight; sets each rotor's limit to "
        "thrust_to_weight * mass * g / 4 N (0.132 N by default). 2.0 puts the hover thrust at the middle "
        "of the action range, where sampling planners start their plans.", low=1.05, high=20.0)
    yaw_torque_ratio: float = param(0.006, "Rotor drag torque per unit thrust in m (N*m per N); "
                                    "above 0, else yaw could not be controlled.", low=1e-4, high=1.0)
    init_position: float = param(0.2, "Half-width of the uniform start offset from the hover point "
                                 "per axis in m.", low=0.0, high=10.0)
    init_velocity: float = param(0.2, "Half-width of the uniform start velocity per axis in m/s.",
                                 low=0.0, high=10.0)
    init_angle: float = param(0.2, "Half-width of the uniform start roll, pitch and yaw in rad.",
                              low=0.0, high=1.5)
    init_angular_velocity: float = param(0.5, "Half-width of the uniform start body rates in rad/s.",
                                         low=0.0, high=50.0)
    hover_point: tuple[float, ...] = param((0.0, 0.0, 1.0), "Hover point (x, y, z) in m; the hover "
                                           "target and the centre of the start states.",
                                           low=-1000.0, high=1000.0)
    crash_distance: float = param(0.0, "End the episode (terminated) once the drone is farther than this "
                                  "from the current target, in m, as a geofence or the ground would; "
                                  "0 never ends it early.", low=0.0, high=1000.0)
    termination_reward: float = param(
        CRASH_REWARD, "Reward per step left after a crash (crash_distance): the crash charge that the "
        "episode return and the planners count. At most minus the largest cost of the bounded terms "
        "inside the fence (position * crash_distance^2 + 2 attitude + action weights), so that "
        "crashing never costs less than staying; the default, -5, is 4x that for the default weights "
        "at 1 m.", low=-1e9, high=0.0)

    def __post_init__(self):
        super().__post_init__()
        if len(self.inertia) != 3 or len(self.hover_point) != 3:
            raise ConfigError("inertia and hover_point must have three entries each")
        if self.crash_distance > 0:
            bound = self.bounded_cost_at_fence()
            if self.termination_reward > -bound:
                raise ConfigError(
                    f"termination_reward {self.termination_reward} would make a crash at crash_distance "
                    f"{self.crash_distance} m cheaper than staying inside the fence (whose bounded cost terms "
                    f"reach {bound:.4g} per step): set termination_reward <= {-bound:.4g}, e.g. {-4 * bound:.4g}")

    def bounded_cost_at_fence(self) -> float:
        """Largest per-step cost of the bounded terms inside the fence (1.21 for the hover weights at
        1 m): ``w_position d^2 + 2 w_attitude + w_action * 4 max(1/t, 1 - 1/t)^2`` with ``t`` the
        thrust-to-weight ratio (each rotor's ``(f - f_hover) / f_max`` lies in ``[-1/t, 1 - 1/t]``).
        Terms left out of ``cost_weights`` count with the hover defaults (the waypoint ones are
        lower). Velocity and body-rate costs are unbounded and not included."""
        weights = {**_DEFAULT_WEIGHTS, **self.cost_weights}
        inverse = 1.0 / self.thrust_to_weight
        action_bound = 4 * max(inverse, 1.0 - inverse) ** 2
        return (weights["position"] * self.crash_distance ** 2 + 2 * weights["attitude"]
                + weights["action"] * action_bound)


@dataclasses.dataclass(frozen=True)
class QuadrotorWaypointsConfig(QuadrotorConfig):
    """``quadrotor_waypoints``: the shared settings plus where and how often waypoints appear."""

    cost_weights: dict[str, float] = param(dict(_WAYPOINT_WEIGHTS), _WEIGHTS_DOC)
    waypoint_period: int = param(50, "Control steps between two waypoints (1 s at 0.02 s).",
                                 low=1, high=1_000_000)
    waypoint_range: tuple[float, ...] = param((0.5, 0.5, 0.3), "Half-widths (x, y, z) in m of the box "
                                              "around hover_point that waypoints are drawn from uniformly.",
                                              low=0.0, high=100.0)

    def __post_init__(self):
        super().__post_init__()
        if len(self.waypoint_range) != 3:
            raise ConfigError("waypoint_range must have three entries (x, y, z)")


def _position_error(t: Transition):
    return t.ops.sumsq(t.next["position"] - t.task._target(t.ops, t.obs))  # noqa: SLF001 - the task's own


def _speed(t: Transition):
    return t.ops.sumsq(t.next["velocity"])


def _tilt(t: Transition):
    # 1 - R_zz: the body z axis's drop from vertical; dividing by |q|^2 keeps it right for
    # the slightly non-unit quaternions a learned model predicts.
    norm2 = t.ops.clip(t.ops.sumsq(t.next["quaternion"]), 1e-12, None)
    return 2.0 * (t.next["qx"] ** 2 + t.next["qy"] ** 2) / norm2


def _body_rates(t: Transition):
    return t.ops.sumsq(t.next["angular_velocity"])


def _thrust_effort(t: Transition):
    task = t.task
    thrusts = task._rotor_thrusts_of(t.ops, t.action)  # noqa: SLF001 - the task's own
    return t.ops.sumsq((thrusts - task.hover_thrust) / task.max_rotor_thrust)


_COSTS = with_weights((CostTerm("position", _position_error), CostTerm("velocity", _speed),
                       CostTerm("attitude", _tilt), CostTerm("angular_velocity", _body_rates),
                       CostTerm("action", _thrust_effort)), _DEFAULT_WEIGHTS, "quadrotor")


def quat_from_euler(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)`` of the rotation ``Rz(yaw) Ry(pitch) Rx(roll)`` (rad)."""
    cr, sr = np.cos(roll / 2), np.sin(roll / 2)
    cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
    cy, sy = np.cos(yaw / 2), np.sin(yaw / 2)
    return np.array([cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
                     cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy])


class QuadrotorTask(MujocoTask):
    """Shared quadrotor physics, actions, observation and costs (see module docstring).

    Subclasses choose the target: :meth:`target` gives it for a batch of observations.
    """

    mjcf_file = "quadrotor.xml"
    Config = QuadrotorConfig
    costs = _COSTS
    observation_names = ("x", "y", "z", "qw", "qx", "qy", "qz", "vx", "vy", "vz", "wx", "wy", "wz")
    observation_groups = (("position", ("x", "y", "z")), ("quaternion", ("qw", "qx", "qy", "qz")),
                          ("velocity", ("vx", "vy", "vz")), ("angular_velocity", ("wx", "wy", "wz")))

    def __init__(self, config=None):
        super().__init__(config)
        model = self.physics.model
        body = model.body("quadrotor").id
        #: Total mass in kg and gravity in m/s^2, read from the compiled model.
        self.mass = float(model.body_subtreemass[body])
        self.gravity = float(-model.opt.gravity[2])
        #: Per-rotor thrust in N that balances gravity, and the per-rotor limit in N.
        self.hover_thrust = self.mass * self.gravity / len(ROTORS)
        self.max_rotor_thrust = float(model.actuator_ctrlrange[0, 1])
        #: ``(4, 4)`` map from rotor thrusts (N) to [collective thrust (N), tau_x, tau_y, tau_z (N*m)]
        #: about the centre of mass in the body frame, computed from the compiled actuators.
        self.mixer = self._mixer_from_model(model, body)
        self._unmixer = np.linalg.inv(self.mixer)
        if self.config.action_mode == "thrust_torques":
            self._use_wrench_actions()
        self._hover_action = self._hover_action_for_mode()
        if self.config.crash_distance > 0:
            self.termination_fn = self.crashed
        self.spec = dataclasses.replace(self.spec, nominal_action=tuple(float(v) for v in self._hover_action))

    # -- model -----------------------------------------------------------
    def _edit_spec(self, spec: mujoco.MjSpec, config: QuadrotorConfig) -> None:
        body = spec.body("quadrotor")
        body.mass = config.mass
        body.inertia = list(config.inertia)
        offset = config.arm_length / np.sqrt(2.0)
        max_thrust = config.thrust_to_weight * config.mass * -spec.option.gravity[2] / len(ROTORS)
        signs = {"rotor1": (1, -1), "rotor2": (-1, -1), "rotor3": (-1, 1), "rotor4": (1, 1)}
        for rotor, (sx, sy) in signs.items():
            site = spec.site(rotor)
            site.pos = [sx * offset, sy * offset, site.pos[2]]
            actuator = spec.actuator(rotor)
            actuator.ctrlrange = [0.0, max_thrust]
            gear = np.array(actuator.gear, dtype=np.float64)
            gear[5] = np.sign(gear[5]) * config.yaw_torque_ratio
            actuator.gear = gear

    @staticmethod
    def _mixer_from_model(model: mujoco.MjModel, body: int) -> np.ndarray:
        mixer = np.zeros((4, len(ROTORS)))
        com = model.body_ipos[body]
        for column, rotor in enumerate(ROTORS):
            actuator = model.actuator(rotor)
            site = model.site(int(actuator.trnid[0]))
            rotation = np.zeros(9)
            mujoco.mju_quat2Mat(rotation, site.quat)
            rotation = rotation.reshape(3, 3)
            force = rotation @ actuator.gear[:3]
            torque = np.cross(site.pos - com, force) + rotation @ actuator.gear[3:]
            mixer[:, column] = [force[2], *torque]
        return mixer

    def _use_wrench_actions(self) -> None:
        limit = self.max_rotor_thrust
        low = limit * np.minimum(self.mixer, 0.0).sum(axis=1)
        high = limit * np.maximum(self.mixer, 0.0).sum(axis=1)
        self.spec = dataclasses.replace(self.spec, action_names=("thrust", "tau_x", "tau_y", "tau_z"),
                                        action_low=tuple(float(v) for v in low),
                                        action_high=tuple(float(v) for v in high))

    def _hover_action_for_mode(self) -> np.ndarray:
        if self.config.action_mode == "thrust_torques":
            return np.array([self.mass * self.gravity, 0.0, 0.0, 0.0])
        return np.full(len(ROTORS), self.hover_thrust)

    @property
    def hover_action(self) -> np.ndarray:
        """The action that balances gravity when level, shape ``(A,)`` (in the task's action mode)."""
        return self._hover_action.copy()

    # -- actions -> rotor thrusts ---------------------------------------
    def rotor_thrusts(self, action: np.ndarray) -> np.ndarray:
        """Rotor thrusts (N) applied for actions ``(..., A)`` inside the bounds: ``(..., 4)``."""
        action = np.asarray(action, dtype=np.float64)
        if self.config.action_mode == "rotor_thrusts":
            return action.copy()
        return np.clip(action @ self._unmixer.T, 0.0, self.max_rotor_thrust)

    def _rotor_thrusts_of(self, ops, action):
        """Rotor thrusts (N) for actions in backend ``ops`` (see :mod:`mbrl_ros.tasks.costs`)."""
        if self.config.action_mode == "rotor_thrusts":
            return action
        return ops.clip(ops.matvec(self._unmixer, action), 0.0, self.max_rotor_thrust)

    # -- observation -----------------------------------------------------
    def target(self, obs: torch.Tensor) -> torch.Tensor:
        """Target position ``(..., 3)`` in m for observations ``(..., O)``."""
        return torch.broadcast_to(self._target(TORCH, NamedObs(obs, self.spec.layout, TORCH)),
                                  (*obs.shape[:-1], 3))

    def _target(self, ops, obs: NamedObs):
        """Target position in m for named observations in backend ``ops`` (may broadcast)."""
        raise NotImplementedError

    # -- reset -------------------------------------------------------------
    def _reset_physics(self, rng: np.random.Generator) -> None:
        cfg = self.config
        position = np.asarray(cfg.hover_point) + rng.uniform(-cfg.init_position, cfg.init_position, 3)
        quat = quat_from_euler(*rng.uniform(-cfg.init_angle, cfg.init_angle, 3))
        velocity = rng.uniform(-cfg.init_velocity, cfg.init_velocity, 3)
        rates = rng.uniform(-cfg.init_angular_velocity, cfg.init_angular_velocity, 3)
        self.physics.set_joint_state("root", np.concatenate([position, quat]),
                                     np.concatenate([velocity, rates]))

    # -- stepping (actions are mixed onto the rotors before they reach MuJoCo) ----
    def _ctrl_from_action(self, action: np.ndarray) -> np.ndarray:
        return self.rotor_thrusts(action)

    def _canonicalize(self, obs: np.ndarray) -> np.ndarray:
        _canonical_quaternion(obs)
        return obs

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Hold the clipped ``action`` (A,) for one control period (see :meth:`MujocoTask.step`).

        ``info["rotor_thrusts"]`` holds the four rotor thrusts (N) that were applied. Rollouts
        keep the target that ``obs`` holds (waypoint switches are not predicted). With
        ``crash_distance > 0`` the episode ends (``terminated``, ``info["crashed"]``) when the
        drone is farther than that from the target it was flying to (:meth:`crashed`).
        """
        next_obs, reward, terminated, truncated, info = super().step(action)
        info["rotor_thrusts"] = info["ctrl"]
        if self.config.crash_distance > 0:
            info["crashed"] = terminated
        return next_obs, reward, terminated, truncated, info

    def crashed(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """Batched crash test ``(..., O), (..., A), (..., O) -> bool (...)``: ``next_obs``'s position is
        farther than ``crash_distance`` from the target that ``obs`` holds (the termination_fn)."""
        offset = next_obs[..., :3] - self.target(obs).to(next_obs.dtype)
        return torch.linalg.vector_norm(offset, dim=-1) > self.config.crash_distance


def _canonical_quaternion(obs: np.ndarray) -> None:
    """Flip quaternions ``(..., 3:7)`` with ``qw < 0`` in place (``q`` and ``-q`` are one attitude)."""
    quat = obs[..., _QUAT]
    quat *= np.where(quat[..., :1] < 0.0, -1.0, 1.0)


class QuadrotorHoverTask(QuadrotorTask):
    """Hold a hover point after a perturbed start (see module docstring)."""

    name = "quadrotor_hover"

    def _sync_visuals(self) -> None:
        self.physics.set_mocap_pos("target", self.config.hover_point)

    def _target(self, ops, obs: NamedObs):
        """The hover point."""
        return ops.constant(self.config.hover_point, obs.values)


class QuadrotorWaypointsTask(QuadrotorTask):
    """Fly to a seeded sequence of waypoints, a new one every ``waypoint_period`` steps."""

    name = "quadrotor_waypoints"
    Config = QuadrotorWaypointsConfig
    costs = with_weights(_COSTS, _WAYPOINT_WEIGHTS, "quadrotor_waypoints")
    observation_names = QuadrotorTask.observation_names + ("target_x", "target_y", "target_z")
    observation_groups = QuadrotorTask.observation_groups + (("target", ("target_x", "target_y", "target_z")),)

    def __init__(self, config=None):
        self._waypoints = np.zeros((1, 3))
        super().__init__(config)

    def _extra_dim(self) -> int:
        return 3

    def _reset_physics(self, rng: np.random.Generator) -> None:
        super()._reset_physics(rng)
        cfg = self.config
        count = -(-cfg.episode_length // cfg.waypoint_period)
        half = np.asarray(cfg.waypoint_range)
        self._waypoints = np.asarray(cfg.hover_point) + rng.uniform(-half, half, size=(count, 3))
        self._extra = self._waypoints[0].copy()

    def _after_physics_step(self, steps: int) -> None:
        if steps % self.config.waypoint_period == 0 and steps < self.spec.episode_length:
            self._extra = self._waypoints[steps // self.config.waypoint_period].copy()
            self._sync_visuals()

    def _sync_visuals(self) -> None:
        self.physics.set_mocap_pos("target", self._extra)

    @property
    def waypoints(self) -> np.ndarray:
        """This episode's waypoints ``(K, 3)`` in m, in order (a copy)."""
        return self._waypoints.copy()

    def _target(self, ops, obs: NamedObs):
        """The waypoint carried in the observation."""
        return obs["target"]
