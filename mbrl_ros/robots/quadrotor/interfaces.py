"""The quadrotor tasks' observations and actions <-> what PX4 and Crazyswarm2 speak (numpy only).

The quadrotor tasks (:mod:`mbrl_ros.tasks.quadrotor`) observe
``[x, y, z, qw, qx, qy, qz, vx, vy, vz, wx, wy, wz]``: position and velocity in a
z-up world (ENU on ROS), the FLU-body-to-world quaternion and body FLU rates; they
act with rotor thrusts (N) or collective thrust (N) + body torques (N*m). Both
action modes reduce to a *wrench* ``[thrust (N), tau_x, tau_y, tau_z (N*m)]`` through
the task's mixer, and every robot mapping below starts from that wrench, so a robot
can be flown in either action mode.

PX4 (uXRCE-DDS, NED world / FRD body, see :mod:`mbrl_ros.robots.frames`):

* ``VehicleOdometry`` -> observation: :func:`observation_from_px4_odometry`.
* wrench -> normalized ``VehicleThrustSetpoint``/``VehicleTorqueSetpoint``:
  :func:`px4_thrust_torque_setpoint`: ``thrust_frd = (0, 0, -T / max_thrust)`` and
  ``torque_frd = flu_to_frd(tau / max_torque)``, each clipped to PX4's ranges
  (``[-1, 0]`` for z thrust, ``[-1, 1]`` for torques). ``max_thrust`` is the collective
  thrust in N that PX4's normalized 1 produces (all motors at full thrust),
  ``max_torque`` the body torque per axis that a normalized 1 produces; both come from
  the vehicle (motor thrust curve and geometry, as in PX4's control allocation).
* rotor thrusts -> ``ActuatorMotors.control``: :func:`px4_motor_setpoint`, each rotor's
  thrust over ``max_rotor_thrust`` in ``[0, 1]``, reordered by ``motor_order``, unused
  motors NaN (PX4: stopped).

Crazyswarm2 (ROS frames, z up, no conversion):

* ``nav_msgs/Odometry`` -> observation: :func:`observation_from_odometry`.
* wrench -> ``cmd_full_state``: :func:`full_state_setpoint` integrates the rigid body
  one control period ahead from the measured state under the planned wrench and sends
  that predicted state (position, velocity, the planned acceleration as feedforward,
  attitude, body rates). The Crazyflie's full-state controller (Mellinger) tracks it,
  so the vehicle moves to where the planner's action would take it; the planner and
  learner still see the task's own actions.

Stand-ins invert these maps (:func:`wrench_from_px4_setpoint`,
:func:`rotor_thrusts_from_px4_motors`, :func:`wrench_tracking_full_state`,
:func:`px4_odometry_fields`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from mbrl_ros.estimation import quaternion
from mbrl_ros.robots import frames

__all__ = [
    "FullStateSetpoint",
    "QuadrotorParameters",
    "QuadrotorStateError",
    "full_state_setpoint",
    "observation_from_odometry",
    "observation_from_px4_odometry",
    "px4_motor_setpoint",
    "px4_odometry_fields",
    "px4_thrust_torque_setpoint",
    "rotor_thrusts_from_px4_motors",
    "wrench_from_px4_setpoint",
    "wrench_tracking_full_state",
]

#: Length of the quadrotor state in the observation (before any per-episode extra).
STATE_DIM = 13
PX4_MOTORS = 12


class QuadrotorStateError(ValueError):
    """A robot state message cannot be turned into an observation (invalid, unknown frame, NaN)."""


@dataclasses.dataclass(frozen=True)
class QuadrotorParameters:
    """What the robot mappings need to know about a quadrotor task.

    Attributes:
        mass: kg. gravity: m/s^2 (positive).
        inertia: ``(3,)`` principal moments Ixx, Iyy, Izz in kg*m^2 (body FLU axes).
        mixer: ``(4, 4)`` rotor thrusts (N) -> wrench ``[T (N), tau_x, tau_y, tau_z (N*m)]``.
        max_rotor_thrust: N per rotor.
        control_period: s.
        action_mode: ``rotor_thrusts`` or ``thrust_torques`` (the task's actions).
    """

    mass: float
    gravity: float
    inertia: np.ndarray
    mixer: np.ndarray
    max_rotor_thrust: float
    control_period: float
    action_mode: str

    @classmethod
    def from_task(cls, task: Any) -> "QuadrotorParameters":
        """Read them from a :class:`~mbrl_ros.tasks.quadrotor.QuadrotorTask`.

        Raises:
            TypeError: ``task`` is not a quadrotor task (no mixer).
        """
        if not hasattr(task, "mixer") or not hasattr(task, "max_rotor_thrust"):
            raise TypeError(f"{task.spec.name} is not a quadrotor task (it has no rotor mixer); use "
                            f"quadrotor_hover or quadrotor_waypoints")
        return cls(mass=float(task.mass), gravity=float(task.gravity),
                   inertia=np.asarray(task.config.inertia, dtype=np.float64),
                   mixer=np.asarray(task.mixer, dtype=np.float64),
                   max_rotor_thrust=float(task.max_rotor_thrust),
                   control_period=float(task.spec.control_period), action_mode=str(task.config.action_mode))

    # -- actions <-> rotor thrusts <-> wrench -------------------------------------------------
    def rotor_thrusts(self, action: np.ndarray) -> np.ndarray:
        """Rotor thrusts ``(4,)`` N for a task action ``(4,)`` (clipped to the rotor limits)."""
        action = np.asarray(action, dtype=np.float64).reshape(4)
        thrusts = action if self.action_mode == "rotor_thrusts" else np.linalg.solve(self.mixer, action)
        return np.clip(thrusts, 0.0, self.max_rotor_thrust)

    def action_from_rotor_thrusts(self, thrusts: np.ndarray) -> np.ndarray:
        """The task action ``(4,)`` that applies rotor thrusts ``(4,)`` N."""
        thrusts = np.clip(np.asarray(thrusts, dtype=np.float64).reshape(4), 0.0, self.max_rotor_thrust)
        return thrusts.copy() if self.action_mode == "rotor_thrusts" else self.mixer @ thrusts

    def wrench(self, action: np.ndarray) -> np.ndarray:
        """``[T (N), tau_x, tau_y, tau_z (N*m)]`` in body FLU that a task action ``(4,)`` applies."""
        return self.mixer @ self.rotor_thrusts(action)

    def rotor_thrusts_from_wrench(self, wrench: np.ndarray) -> np.ndarray:
        """Rotor thrusts ``(4,)`` N for a wrench (saturated at the rotor limits, as on the vehicle)."""
        thrusts = np.linalg.solve(self.mixer, np.asarray(wrench, dtype=np.float64).reshape(4))
        return np.clip(thrusts, 0.0, self.max_rotor_thrust)

    @property
    def max_collective_thrust(self) -> float:
        """N with every rotor at full thrust."""
        return float(self.mixer[0].sum() * self.max_rotor_thrust)

    @property
    def max_body_torque(self) -> np.ndarray:
        """``(3,)`` N*m: the largest torque per body axis the rotors reach."""
        return self.max_rotor_thrust * np.maximum(self.mixer[1:], 0.0).sum(axis=1)


def _canonical(q_wxyz: np.ndarray) -> np.ndarray:
    # Scaled first: a finite quaternion with entries near 1e154 overflows q @ q to inf, and
    # normalizing by that gives zeros (refused below as no rotation) instead of its direction.
    q = np.asarray(q_wxyz, dtype=np.float64)
    scale = float(np.max(np.abs(q))) if q.size and np.all(np.isfinite(q)) else 0.0
    try:
        q = quaternion.normalize(q / scale if scale > 0 else q)
    except ValueError as exc:
        raise QuadrotorStateError(f"invalid orientation {q.tolist()}: {exc}") from None
    return -q if q[0] < 0.0 else q


def _state(position, q_wxyz, velocity_world, rates_body) -> np.ndarray:
    obs = np.concatenate([np.asarray(position, dtype=np.float64).reshape(3), _canonical(q_wxyz),
                          np.asarray(velocity_world, dtype=np.float64).reshape(3),
                          np.asarray(rates_body, dtype=np.float64).reshape(3)])
    if not np.all(np.isfinite(obs)):
        raise QuadrotorStateError(f"the state has NaN or inf entries: {obs.tolist()}")
    return obs


# ------------------------------------------------------------------------------------ PX4


def observation_from_px4_odometry(message: Any, position_offset: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """``px4_msgs/VehicleOdometry`` -> the quadrotor state ``(13,)`` in ENU world / FLU body.

    Args:
        message: the VehicleOdometry (or a mapping with its fields).
        position_offset: ``(3,)`` m added to the ENU position (PX4's local origin is where
            its estimator started; the task's hover point is in the task's world).
    Raises:
        QuadrotorStateError: unknown frames, or position, attitude, velocity or rates invalid.
    """
    try:
        odom = frames.vehicle_odometry_to_odometry(message)
    except ValueError as exc:
        raise QuadrotorStateError(str(exc)) from None
    if odom.world_frame == "unknown":
        raise QuadrotorStateError("VehicleOdometry.pose_frame is UNKNOWN; PX4's estimator has no local frame yet")
    missing = [name for name, ok in (("position", odom.position_valid), ("q", odom.orientation_valid),
                                     ("velocity", bool(np.all(np.isfinite(odom.velocity_world)))),
                                     ("angular_velocity", odom.angular_velocity_valid)) if not ok]
    if missing:
        raise QuadrotorStateError(f"VehicleOdometry has invalid {', '.join(missing)} (NaN or unknown frame)")
    return _state(odom.position + np.asarray(position_offset, dtype=np.float64), odom.orientation_wxyz,
                  odom.velocity_world, odom.angular_velocity)


def px4_odometry_fields(obs: np.ndarray, position_offset: Sequence[float] = (0.0, 0.0, 0.0)) -> dict[str, Any]:
    """The quadrotor state ``(13,)`` as VehicleOdometry fields (pose and velocity in NED, rates in FRD).

    The inverse of :func:`observation_from_px4_odometry`; for stand-ins and tests.
    """
    obs = np.asarray(obs, dtype=np.float64)
    position = obs[0:3] - np.asarray(position_offset, dtype=np.float64)
    return {
        "pose_frame": frames.POSE_FRAME_NED,
        "position": frames.enu_to_ned(position).tolist(),
        "q": frames.quaternion_enu_flu_to_ned_frd(obs[3:7]).tolist(),
        "velocity_frame": frames.VELOCITY_FRAME_NED,
        "velocity": frames.enu_to_ned(obs[7:10]).tolist(),
        "angular_velocity": frames.body_rates_flu_to_frd(obs[10:13]).tolist(),
    }


def px4_thrust_torque_setpoint(wrench: np.ndarray, max_thrust: float,
                               max_torque: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Wrench ``[T, tau (FLU)]`` -> normalized FRD ``(thrust_xyz (3,), torque_xyz (3,))`` for PX4.

    Args:
        wrench: ``(4,)`` collective thrust N (up) and body FLU torques N*m.
        max_thrust: N that PX4's normalized thrust 1 means (> 0).
        max_torque: ``(3,)`` N*m that a normalized torque 1 means per axis (> 0).
    Returns:
        ``thrust_xyz`` = ``(0, 0, -c)`` with c in ``[0, 1]``; ``torque_xyz`` in ``[-1, 1]``.
    Raises:
        ValueError: non-positive scales, or a non-finite wrench (never sent: NaN stops motors).
    """
    wrench = np.asarray(wrench, dtype=np.float64).reshape(4)
    max_torque = np.asarray(max_torque, dtype=np.float64).reshape(3)
    if not max_thrust > 0 or not np.all(max_torque > 0):
        raise ValueError(f"max_thrust ({max_thrust}) and max_torque ({max_torque.tolist()}) must be > 0")
    if not np.all(np.isfinite(wrench)):
        raise ValueError(f"refusing to convert a non-finite wrench {wrench.tolist()} (NaN stops PX4's motors)")
    thrust = frames.collective_thrust_to_frd(np.clip(wrench[0] / max_thrust, 0.0, 1.0))
    torque = frames.torque_setpoint_flu_to_frd(np.clip(wrench[1:] / max_torque, -1.0, 1.0))
    return thrust, torque


def wrench_from_px4_setpoint(thrust_xyz: Sequence[float], torque_xyz: Sequence[float], max_thrust: float,
                             max_torque: Sequence[float]) -> np.ndarray:
    """Inverse of :func:`px4_thrust_torque_setpoint` for a multicopter: ``[T (N), tau FLU (N*m)]``.

    Only body z thrust acts (a multicopter has no x/y thrust); it is ``-thrust_xyz[2]``.
    """
    thrust = -float(np.clip(thrust_xyz[2], -1.0, 0.0)) * max_thrust
    torque = frames.frd_to_flu(np.clip(np.asarray(torque_xyz, dtype=np.float64), -1.0, 1.0))
    return np.concatenate([[thrust], torque * np.asarray(max_torque, dtype=np.float64)])


def px4_motor_setpoint(rotor_thrusts: np.ndarray, max_rotor_thrust: float,
                       motor_order: Sequence[int]) -> np.ndarray:
    """Rotor thrusts ``(4,)`` N -> ``ActuatorMotors.control`` ``(12,)``: motor i = rotor ``motor_order[i]``.

    Values are ``thrust / max_rotor_thrust`` in ``[0, 1]``; motors past the rotors are NaN
    (PX4 stops them). PX4's quad X numbers motors front-right, back-left, front-left,
    back-right; the task's rotors are front-right, back-right, back-left, front-left, so the
    default order is ``(0, 2, 3, 1)``.
    """
    thrusts = np.asarray(rotor_thrusts, dtype=np.float64).reshape(-1)
    order = _motor_order(motor_order, thrusts.size)
    control = np.full(PX4_MOTORS, np.nan)
    control[:len(order)] = np.clip(thrusts[order] / max_rotor_thrust, 0.0, 1.0)
    return control


def rotor_thrusts_from_px4_motors(control: Sequence[float], max_rotor_thrust: float,
                                  motor_order: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`px4_motor_setpoint`: rotor thrusts ``(R,)`` N (NaN, i.e. stopped, is 0)."""
    order = _motor_order(motor_order, len(motor_order))
    values = np.nan_to_num(np.asarray(control, dtype=np.float64)[:len(order)], nan=0.0)
    thrusts = np.zeros(len(order))
    thrusts[order] = np.clip(values, 0.0, 1.0) * max_rotor_thrust
    return thrusts


def _motor_order(motor_order: Sequence[int], rotors: int) -> np.ndarray:
    order = np.asarray(motor_order, dtype=int).reshape(-1)
    if sorted(order.tolist()) != list(range(rotors)):
        raise ValueError(f"motor_order {order.tolist()} must list each of the {rotors} rotors 0..{rotors - 1} "
                         f"once (entry i: the rotor that PX4 motor i+1 drives)")
    return order


# ------------------------------------------------------------------------------------ Crazyswarm2


def observation_from_odometry(position: Sequence[float], orientation_xyzw: Sequence[float],
                              linear: Sequence[float], angular: Sequence[float],
                              twist_frame: str = "body") -> np.ndarray:
    """``nav_msgs/Odometry`` fields -> the quadrotor state ``(13,)``.

    Args:
        position: ``(3,)`` m, world (z up). orientation_xyzw: geometry_msgs order.
        linear: twist linear velocity m/s, in the body frame (``twist_frame="body"``, REP 105's
            child frame) or the world frame (``"world"``).
        angular: body rates rad/s (FLU).
    Raises:
        QuadrotorStateError: NaN or a zero quaternion; ValueError: unknown ``twist_frame``.
    """
    if twist_frame not in ("body", "world"):
        raise ValueError(f"twist_frame must be 'body' or 'world', got {twist_frame!r}")
    q = frames.xyzw_to_wxyz(np.asarray(orientation_xyzw, dtype=np.float64))
    if not np.all(np.isfinite(q)) or float(q @ q) < 1e-12:
        raise QuadrotorStateError(f"invalid orientation {list(orientation_xyzw)}")
    q = _canonical(q)
    velocity = np.asarray(linear, dtype=np.float64)
    if twist_frame == "body":
        velocity = quaternion.to_rotation_matrix(q) @ velocity
    return _state(position, q, velocity, angular)


@dataclasses.dataclass(frozen=True)
class FullStateSetpoint:
    """A Crazyswarm2 ``FullState`` setpoint in ROS frames.

    Attributes:
        position: ``(3,)`` m world. velocity: ``(3,)`` m/s world. acceleration: ``(3,)`` m/s^2
        world, the feedforward kinematic acceleration (0 at hover; gravity is the controller's). orientation_wxyz: ``(4,)`` FLU body -> world.
        angular_velocity: ``(3,)`` rad/s body FLU.
    """

    position: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray
    orientation_wxyz: np.ndarray
    angular_velocity: np.ndarray


def _rigid_body_accelerations(obs: np.ndarray, wrench: np.ndarray,
                              params: QuadrotorParameters) -> tuple[np.ndarray, np.ndarray]:
    """World linear acceleration ``(3,)`` (gravity included) and body angular acceleration ``(3,)``."""
    rotation = quaternion.to_rotation_matrix(obs[3:7])
    acceleration = rotation[:, 2] * wrench[0] / params.mass - np.array([0.0, 0.0, params.gravity])
    rates = obs[10:13]
    inertia = params.inertia
    angular = (wrench[1:] - np.cross(rates, inertia * rates)) / inertia
    return acceleration, angular


def full_state_setpoint(obs: np.ndarray, wrench: np.ndarray, params: QuadrotorParameters,
                        dt: float | None = None) -> FullStateSetpoint:
    """The state ``dt`` (default one control period) ahead of ``obs`` under a constant ``wrench``.

    Rigid-body Euler step (semi-implicit: the attitude turns with the mean rate):
    ``a = R e_z T / m - g e_z``, ``v' = v + a dt``, ``p' = p + v dt + a dt^2 / 2``,
    ``w' = w + I^-1 (tau - w x I w) dt``, ``q' = q * exp((w + w') dt / 2)``.

    Args:
        obs: ``(13,)`` (or longer: extra entries are ignored) quadrotor state.
        wrench: ``(4,)`` ``[T (N), tau (N*m) body FLU]``.
    Raises:
        QuadrotorStateError: the prediction is not finite (a state with absurd magnitudes, e.g.
            rates near 1e308 rad/s, overflows): no setpoint can be sent for it.
    """
    obs = np.asarray(obs, dtype=np.float64)
    wrench = np.asarray(wrench, dtype=np.float64).reshape(4)
    dt = params.control_period if dt is None else float(dt)
    with np.errstate(over="ignore", invalid="ignore"):
        acceleration, angular = _rigid_body_accelerations(obs, wrench, params)
        rates = obs[10:13] + angular * dt
        turn = 0.5 * (obs[10:13] + rates) * dt
        position = obs[0:3] + obs[7:10] * dt + 0.5 * acceleration * dt ** 2
        velocity = obs[7:10] + acceleration * dt
        turn_squared = np.dot(turn, turn)  # the exponential map needs the angle, not only the vector
    if not all(np.all(np.isfinite(v)) for v in (acceleration, rates, turn_squared, position, velocity)):
        raise QuadrotorStateError(f"the state {obs[:13].tolist()} under wrench {wrench.tolist()} predicts NaN or "
                                  "inf; no setpoint")
    q = quaternion.multiply(obs[3:7], quaternion.from_rotation_vector(turn))
    return FullStateSetpoint(position=position, velocity=velocity, acceleration=acceleration,
                             orientation_wxyz=_canonical(q), angular_velocity=rates)


def wrench_tracking_full_state(obs: np.ndarray, setpoint: FullStateSetpoint, params: QuadrotorParameters,
                               dt: float | None = None) -> np.ndarray:
    """A minimal full-state tracking controller, the stand-in for the Crazyflie's onboard one.

    Thrust: the feedforward of Mellinger's controller, the mass times the setpoint's
    acceleration plus gravity, projected on the current body z axis. Torques: drive the body
    rates to the setpoint's in one period ``dt``, ``tau = I (w_sp - w) / dt + w x I w``.
    For a setpoint from :func:`full_state_setpoint` at the same state this returns the wrench
    it was built from (up to the attitude change within the period).

    Returns:
        ``(4,)`` wrench ``[T (N), tau (N*m)]`` (not yet saturated at the rotor limits).
    """
    obs = np.asarray(obs, dtype=np.float64)
    dt = params.control_period if dt is None else float(dt)
    rotation = quaternion.to_rotation_matrix(obs[3:7])
    wanted = params.mass * (np.asarray(setpoint.acceleration) + np.array([0.0, 0.0, params.gravity]))
    thrust = max(0.0, float(wanted @ rotation[:, 2]))
    rates = obs[10:13]
    inertia = params.inertia
    torque = inertia * (np.asarray(setpoint.angular_velocity) - rates) / dt + np.cross(rates, inertia * rates)
    return np.concatenate([[thrust], torque])
