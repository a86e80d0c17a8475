"""PX4 (NED world, FRD body) <-> ROS (ENU world, FLU body) frame conversions, numpy only.

PX4 expresses world quantities in North-East-Down and body quantities in
Forward-Right-Down; ROS uses East-North-Up and Forward-Left-Up (REP 103,
REP 105). The two changes of axes are fixed rotations by pi:

* world: ``v_enu = (v_ned[1], v_ned[0], -v_ned[2])``, a rotation by pi about
  ``(1, 1, 0)/sqrt(2)``;
* body: ``v_flu = (v_frd[0], -v_frd[1], -v_frd[2])``, a rotation by pi about x.

Both are their own inverse, so each ``a_to_b`` equals ``b_to_a``.

Quaternions here are scalar first ``[w, x, y, z]`` like
:mod:`mbrl_ros.estimation.quaternion` (Hamilton product, ``q`` maps body
vectors to the world); :func:`wxyz_to_xyzw` gives the field order of
``geometry_msgs/Quaternion``. PX4's ``q`` rotates FRD body to NED world;
the ROS attitude rotates FLU body to ENU world::

    q_enu_flu = q_enu_ned * q_ned_frd * q_frd_flu

so a vehicle level and facing north (PX4 ``q = [1, 0, 0, 0]``) has ROS yaw
+pi/2 (north is +y in ENU), and facing east (PX4 yaw pi/2) has ROS yaw 0.

Every function takes arrays with any leading batch shape ``(..., 3)`` or
``(..., 4)`` and returns new float64 arrays. Reference: PX4 user guide,
"ROS 2 User Guide: ROS 2/PX4 Frame Conventions"; px4_ros_com
``frame_transforms.cpp``.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from mbrl_ros.estimation import quaternion

__all__ = [
    "POSE_FRAME_FRD",
    "POSE_FRAME_NED",
    "POSE_FRAME_UNKNOWN",
    "Q_ENU_NED",
    "Q_FRD_FLU",
    "VELOCITY_FRAME_BODY_FRD",
    "VELOCITY_FRAME_FRD",
    "VELOCITY_FRAME_NED",
    "VELOCITY_FRAME_UNKNOWN",
    "OdometryArrays",
    "body_rates_flu_to_frd",
    "body_rates_frd_to_flu",
    "collective_thrust_to_frd",
    "enu_to_ned",
    "flu_to_frd",
    "frd_to_flu",
    "ned_to_enu",
    "quaternion_enu_flu_to_ned_frd",
    "quaternion_ned_frd_to_enu_flu",
    "thrust_setpoint_flu_to_frd",
    "torque_setpoint_flu_to_frd",
    "vehicle_odometry_to_odometry",
    "wxyz_to_xyzw",
    "xyzw_to_wxyz",
    "yaw_enu_to_ned",
    "yaw_ned_to_enu",
]

# px4_msgs/msg/VehicleOdometry constants (copied so this module needs no message layer).
POSE_FRAME_UNKNOWN = 0
POSE_FRAME_NED = 1
POSE_FRAME_FRD = 2
VELOCITY_FRAME_UNKNOWN = 0
VELOCITY_FRAME_NED = 1
VELOCITY_FRAME_FRD = 2
VELOCITY_FRAME_BODY_FRD = 3

_SQRT_HALF = math.sqrt(0.5)
#: Rotation taking NED vectors to ENU (pi about (1, 1, 0)/sqrt(2)), ``[w, x, y, z]``.
Q_ENU_NED = np.array([0.0, _SQRT_HALF, _SQRT_HALF, 0.0])
#: Rotation taking FLU vectors to FRD (pi about x), ``[w, x, y, z]``; also FRD -> FLU.
Q_FRD_FLU = np.array([0.0, 1.0, 0.0, 0.0])


# --------------------------------------------------------------------------------- vectors


def ned_to_enu(v: np.ndarray) -> np.ndarray:
    """World vector (position m, velocity m/s, ...) NED -> ENU: ``(e, n, -d)``; shape ``(..., 3)``."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([v[..., 1], v[..., 0], -v[..., 2]], axis=-1)


def enu_to_ned(v: np.ndarray) -> np.ndarray:
    """World vector ENU -> NED: ``(n, e, -u)``; shape ``(..., 3)``."""
    return ned_to_enu(v)


def frd_to_flu(v: np.ndarray) -> np.ndarray:
    """Body vector FRD -> FLU (also world FRD -> world FLU): ``(x, -y, -z)``; shape ``(..., 3)``."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([v[..., 0], -v[..., 1], -v[..., 2]], axis=-1)


def flu_to_frd(v: np.ndarray) -> np.ndarray:
    """Body vector FLU -> FRD: ``(x, -y, -z)``; shape ``(..., 3)``."""
    return frd_to_flu(v)


def body_rates_frd_to_flu(omega: np.ndarray) -> np.ndarray:
    """Body angular rates (rad/s) FRD -> FLU: roll rate kept, pitch and yaw rates negated."""
    return frd_to_flu(omega)


def body_rates_flu_to_frd(omega: np.ndarray) -> np.ndarray:
    """Body angular rates (rad/s) FLU -> FRD: roll rate kept, pitch and yaw rates negated."""
    return frd_to_flu(omega)


# --------------------------------------------------------------------------------- attitude


def wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    """``[w, x, y, z]`` -> ``[x, y, z, w]`` (geometry_msgs/Quaternion field order); shape ``(..., 4)``."""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 1:], q[..., :1]], axis=-1)


def xyzw_to_wxyz(q: np.ndarray) -> np.ndarray:
    """``[x, y, z, w]`` -> ``[w, x, y, z]``; shape ``(..., 4)``."""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 3:], q[..., :3]], axis=-1)


def quaternion_ned_frd_to_enu_flu(q_ned_frd: np.ndarray) -> np.ndarray:
    """PX4 attitude (FRD body -> NED world) to ROS attitude (FLU body -> ENU world).

    Args:
        q_ned_frd: ``(..., 4)`` ``[w, x, y, z]``, e.g. VehicleOdometry ``q``.

    Returns:
        ``(..., 4)`` unit ``[w, x, y, z]`` with ``w >= 0``.

    Raises:
        ValueError: a zero quaternion.
    """
    q = quaternion.multiply(quaternion.multiply(Q_ENU_NED, q_ned_frd), Q_FRD_FLU)
    return quaternion.normalize(q)


def quaternion_enu_flu_to_ned_frd(q_enu_flu: np.ndarray) -> np.ndarray:
    """ROS attitude (FLU body -> ENU world) to PX4 attitude (FRD body -> NED world).

    Args:
        q_enu_flu: ``(..., 4)`` ``[w, x, y, z]`` (use :func:`xyzw_to_wxyz` on a geometry_msgs order).

    Returns:
        ``(..., 4)`` unit ``[w, x, y, z]`` with ``w >= 0``.

    Raises:
        ValueError: a zero quaternion.
    """
    # Both fixed rotations are by pi, so each is its own inverse (up to sign).
    q = quaternion.multiply(quaternion.multiply(Q_ENU_NED, q_enu_flu), Q_FRD_FLU)
    return quaternion.normalize(q)


def yaw_ned_to_enu(yaw_ned: np.ndarray | float) -> np.ndarray:
    """Heading (rad) from north, clockwise (PX4) -> from east, counter-clockwise (ROS), in ``[-pi, pi)``."""
    return _wrap(0.5 * np.pi - np.asarray(yaw_ned, dtype=np.float64))


def yaw_enu_to_ned(yaw_enu: np.ndarray | float) -> np.ndarray:
    """Heading (rad) ROS ENU -> PX4 NED (e.g. TrajectorySetpoint ``yaw``), in ``[-pi, pi)``."""
    return _wrap(0.5 * np.pi - np.asarray(yaw_enu, dtype=np.float64))


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


# --------------------------------------------------------------------------------- setpoints


def thrust_setpoint_flu_to_frd(thrust_flu: np.ndarray) -> np.ndarray:
    """Normalized body thrust FLU -> FRD for VehicleThrustSetpoint ``xyz``.

    A multirotor pushes up along body +z in FLU, so a hover thrust ``(0, 0, 0.5)``
    becomes ``(0, 0, -0.5)``: PX4 expects its z thrust in ``[-1, 0]``. No
    clipping: the caller owns the limits, and a NaN component tells PX4 to stop
    the motors on that axis.
    """
    return frd_to_flu(thrust_flu)


def torque_setpoint_flu_to_frd(torque_flu: np.ndarray) -> np.ndarray:
    """Normalized body torque FLU -> FRD for VehicleTorqueSetpoint ``xyz``: ``(x, -y, -z)``."""
    return frd_to_flu(torque_flu)


def collective_thrust_to_frd(collective: np.ndarray | float) -> np.ndarray:
    """Upward collective thrust in ``[0, 1]`` -> VehicleThrustSetpoint ``xyz`` ``(0, 0, -c)``.

    Args:
        collective: Normalized thrust, scalar or ``(...)``; 1 is full thrust.

    Returns:
        ``(..., 3)`` FRD thrust vector.

    Raises:
        ValueError: a value outside ``[0, 1]`` or NaN (NaN would stop the motors).
    """
    c = np.asarray(collective, dtype=np.float64)
    if not np.all((c >= 0.0) & (c <= 1.0)):
        raise ValueError(
            f"collective thrust must be in [0, 1] (normalized, up), got {c!r}; "
            "scale by the vehicle's max thrust and clip before converting"
        )
    zeros = np.zeros_like(c)
    return np.stack([zeros, zeros, -c], axis=-1)


# --------------------------------------------------------------------------------- odometry


@dataclasses.dataclass(frozen=True)
class OdometryArrays:
    """A PX4 VehicleOdometry in ROS frames, ready for ``nav_msgs/Odometry``.

    Invalid or unknown PX4 entries (NaN, frame UNKNOWN) come out as NaN with
    their ``*_valid`` flag False; a node decides whether to publish.

    Attributes:
        timestamp_sample_us: PX4 ``timestamp_sample`` (us since PX4 boot).
        world_frame: ``"enu"`` (PX4 pose frame NED) or ``"flu"`` (PX4 world FRD,
            arbitrary heading: x forward at start, z up), or ``"unknown"``.
        position: ``(3,)`` m in ``world_frame`` (pose.pose.position).
        orientation_wxyz: ``(4,)`` FLU body -> ``world_frame``.
        orientation_xyzw: the same in geometry_msgs order (pose.pose.orientation).
        velocity_world: ``(3,)`` m/s in ``world_frame``.
        velocity_body: ``(3,)`` m/s in body FLU (twist.twist.linear; REP 105 puts
            the twist in the child frame).
        angular_velocity: ``(3,)`` rad/s in body FLU (twist.twist.angular).
        pose_covariance: ``(6, 6)`` row-major; position variances in
            ``world_frame`` axes, orientation variances about body axes as PX4
            reports them (the FRD -> FLU sign flips leave variances unchanged).
        twist_covariance: ``(6, 6)``; linear block rotated into body FLU,
            angular block zero (PX4 reports none).
        position_valid, orientation_valid, angular_velocity_valid: Whether the
            quantity holds finite numbers.
        velocity_valid: Whether ``velocity_body`` (the twist) is finite;
            ``velocity_world`` may be NaN on its own (body velocity, no attitude).
        reset_counter: PX4 reset counter (changes on estimator resets).
    """

    timestamp_sample_us: int
    world_frame: str
    position: np.ndarray
    orientation_wxyz: np.ndarray
    orientation_xyzw: np.ndarray
    velocity_world: np.ndarray
    velocity_body: np.ndarray
    angular_velocity: np.ndarray
    pose_covariance: np.ndarray
    twist_covariance: np.ndarray
    position_valid: bool
    orientation_valid: bool
    velocity_valid: bool
    angular_velocity_valid: bool
    reset_counter: int


def _field(msg: Any, name: str) -> Any:
    if isinstance(msg, Mapping):
        return msg[name]
    return getattr(msg, name)


def _vector(msg: Any, name: str, size: int) -> np.ndarray:
    value = np.asarray(_field(msg, name), dtype=np.float64).reshape(-1)
    if value.shape != (size,):
        raise ValueError(f"VehicleOdometry.{name}: expected {size} values, got {value.shape[0]}")
    return value


def _world_from_px4(v: np.ndarray, px4_world: int) -> np.ndarray:
    return ned_to_enu(v) if px4_world == POSE_FRAME_NED else frd_to_flu(v)


def _variance_world(var: np.ndarray, px4_world: int) -> np.ndarray:
    """Per-axis variances follow the axis swap NED -> ENU; sign flips leave them unchanged."""
    return var[[1, 0, 2]] if px4_world == POSE_FRAME_NED else var.copy()


def vehicle_odometry_to_odometry(msg: Any) -> OdometryArrays:
    """Convert a ``px4_msgs/msg/VehicleOdometry`` to ROS-frame arrays.

    Handles ``pose_frame`` NED (-> ENU world) and FRD (-> FLU world), and
    ``velocity_frame`` NED, FRD and BODY_FRD. Body velocity needs the attitude
    unless PX4 already sent it in the body frame; world velocity in the other
    direction likewise. A world velocity frame that differs from the pose frame
    (NED pose, FRD velocity) shares no heading with it, so both velocities are
    then NaN.

    Args:
        msg: The message, or any object / mapping with its field names
            (``to_dict(msg)`` works).

    Returns:
        :class:`OdometryArrays`.

    Raises:
        ValueError: ``pose_frame`` or ``velocity_frame`` holds a value PX4 does
            not define, or an array has the wrong length.
    """
    pose_frame = int(_field(msg, "pose_frame"))
    velocity_frame = int(_field(msg, "velocity_frame"))
    if pose_frame not in (POSE_FRAME_UNKNOWN, POSE_FRAME_NED, POSE_FRAME_FRD):
        raise ValueError(f"VehicleOdometry.pose_frame={pose_frame} is not a PX4 POSE_FRAME_* value (0, 1, 2)")
    if velocity_frame not in (VELOCITY_FRAME_UNKNOWN, VELOCITY_FRAME_NED, VELOCITY_FRAME_FRD, VELOCITY_FRAME_BODY_FRD):
        raise ValueError(
            f"VehicleOdometry.velocity_frame={velocity_frame} is not a PX4 VELOCITY_FRAME_* value (0, 1, 2, 3)"
        )
    position_px4 = _vector(msg, "position", 3)
    q_px4 = _vector(msg, "q", 4)
    velocity_px4 = _vector(msg, "velocity", 3)
    omega_px4 = _vector(msg, "angular_velocity", 3)
    position_var = _vector(msg, "position_variance", 3)
    orientation_var = _vector(msg, "orientation_variance", 3)
    velocity_var = _vector(msg, "velocity_variance", 3)
    nan3 = np.full(3, np.nan)

    known_pose = pose_frame != POSE_FRAME_UNKNOWN
    world_frame = {POSE_FRAME_NED: "enu", POSE_FRAME_FRD: "flu"}.get(pose_frame, "unknown")
    position_valid = known_pose and bool(np.all(np.isfinite(position_px4)))
    position = _world_from_px4(position_px4, pose_frame) if position_valid else nan3

    orientation_valid = known_pose and bool(np.all(np.isfinite(q_px4))) and float(q_px4 @ q_px4) > 1e-12
    if orientation_valid:
        # World FRD -> world FLU is the same pi-about-x turn as the body change.
        q_world = Q_ENU_NED if pose_frame == POSE_FRAME_NED else Q_FRD_FLU
        orientation = quaternion.normalize(quaternion.multiply(quaternion.multiply(q_world, q_px4), Q_FRD_FLU))
        rotation = quaternion.to_rotation_matrix(orientation)  # body FLU -> world
    else:
        orientation = np.full(4, np.nan)
        rotation = None

    velocity_world = velocity_body = nan3
    velocity_cov_body = np.full((3, 3), np.nan)
    finite_velocity = bool(np.all(np.isfinite(velocity_px4)))
    if finite_velocity and velocity_frame == VELOCITY_FRAME_BODY_FRD:
        velocity_body = frd_to_flu(velocity_px4)
        velocity_cov_body = np.diag(velocity_var)  # diag(1, -1, -1) keeps a diagonal covariance
        if rotation is not None:
            velocity_world = rotation @ velocity_body
    elif finite_velocity and velocity_frame in (VELOCITY_FRAME_NED, VELOCITY_FRAME_FRD):
        px4_world = POSE_FRAME_NED if velocity_frame == VELOCITY_FRAME_NED else POSE_FRAME_FRD
        if px4_world == pose_frame:  # else no common heading: not expressible in world_frame
            velocity_world = _world_from_px4(velocity_px4, px4_world)
        if rotation is not None and px4_world == pose_frame:
            velocity_body = rotation.T @ velocity_world
            world_cov = np.diag(_variance_world(velocity_var, px4_world))
            velocity_cov_body = rotation.T @ world_cov @ rotation
    velocity_valid = bool(np.all(np.isfinite(velocity_body)))

    angular_velocity_valid = bool(np.all(np.isfinite(omega_px4)))
    angular_velocity = body_rates_frd_to_flu(omega_px4) if angular_velocity_valid else nan3

    pose_covariance = np.zeros((6, 6))
    pose_covariance[:3, :3] = np.diag(_variance_world(position_var, pose_frame)) if known_pose else np.nan
    pose_covariance[3:, 3:] = np.diag(orientation_var)
    twist_covariance = np.zeros((6, 6))
    twist_covariance[:3, :3] = velocity_cov_body

    return OdometryArrays(
        timestamp_sample_us=int(_field(msg, "timestamp_sample")),
        world_frame=world_frame,
        position=position,
        orientation_wxyz=orientation,
        orientation_xyzw=wxyz_to_xyzw(orientation),
        velocity_world=velocity_world,
        velocity_body=velocity_body,
        angular_velocity=angular_velocity,
        pose_covariance=pose_covariance,
        twist_covariance=twist_covariance,
        position_valid=position_valid,
        orientation_valid=orientation_valid,
        velocity_valid=velocity_valid,
        angular_velocity_valid=angular_velocity_valid,
        reset_counter=int(_field(msg, "reset_counter")),
    )
