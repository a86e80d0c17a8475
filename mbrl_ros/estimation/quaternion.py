"""Unit quaternions for attitude estimation (numpy only, no ROS imports).

Convention: Hamilton product, scalar first ``q = [w, x, y, z]`` (MuJoCo's
order; a ``geometry_msgs/Quaternion`` is filled by field name). ``q`` maps
body (FLU) vectors to the world (ENU) frame: ``v_world = R(q) v_body``.
Euler angles are ``roll, pitch, yaw`` about x, y, z with
``R = Rz(yaw) Ry(pitch) Rx(roll)`` (URDF ``rpy``, tf2 ``setRPY``).

Every function takes arrays with any leading batch shape ``(..., 4)`` or
``(..., 3)``. Reference: J. Sola, "Quaternion kinematics for the error-state
Kalman filter", arXiv:1711.02508 (2017).
"""
from __future__ import annotations

import math

import numpy as np

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])

# Below this rotation angle (rad) exp/log use their Taylor series: sin(x)/x loses
# precision long before x reaches machine epsilon.
_SMALL_ANGLE = 1e-6


def multiply(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Hamilton product ``q * r`` of ``(..., 4)`` quaternions (apply ``r`` first, then ``q``)."""
    q, r = np.asarray(q, dtype=np.float64), np.asarray(r, dtype=np.float64)
    if q.ndim == 1 and r.ndim == 1:
        # One quaternion each (the filter's per-sample case): ~10x faster than the batched path.
        w1, x1, y1, z1 = (float(c) for c in q)
        w2, x2, y2, z2 = (float(c) for c in r)
        stack = np.array
    else:
        w1, x1, y1, z1 = np.moveaxis(q, -1, 0)
        w2, x2, y2, z2 = np.moveaxis(r, -1, 0)
        stack = lambda rows: np.stack(rows, axis=-1)  # noqa: E731
    return stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ])


def conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse of a unit quaternion), ``(..., 4)``."""
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def normalize(q: np.ndarray) -> np.ndarray:
    """``q / |q|`` with the sign chosen so that ``w >= 0`` (one representative per rotation).

    Raises:
        ValueError: a quaternion of (near) zero norm, which is no rotation.
    """
    q = np.asarray(q, dtype=np.float64)
    if q.ndim == 1:
        norm = math.sqrt(float(q @ q))
        if norm < 1e-12:
            raise ValueError("cannot normalize a zero quaternion")
        return q * (math.copysign(1.0, q[0]) / norm)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < 1e-12):
        raise ValueError("cannot normalize a zero quaternion")
    sign = np.where(q[..., :1] < 0.0, -1.0, 1.0)
    return q * (sign / norm)


def from_rotation_vector(phi: np.ndarray) -> np.ndarray:
    """Exponential map: rotation vector ``phi`` (..., 3) (axis * angle, rad) -> unit quaternion (..., 4)."""
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim == 1:
        angle = math.sqrt(float(phi @ phi))
        scale = 0.5 - angle ** 2 / 48.0 if angle < _SMALL_ANGLE else math.sin(0.5 * angle) / angle
        return np.array([math.cos(0.5 * angle), scale * phi[0], scale * phi[1], scale * phi[2]])
    angle = np.linalg.norm(phi, axis=-1, keepdims=True)
    half = 0.5 * angle
    small = angle < _SMALL_ANGLE
    safe = np.where(small, 1.0, angle)
    # sin(a/2)/a -> 1/2 - a^2/48 for small a.
    scale = np.where(small, 0.5 - angle ** 2 / 48.0, np.sin(half) / safe)
    return np.concatenate([np.cos(half), scale * phi], axis=-1)


def to_rotation_vector(q: np.ndarray) -> np.ndarray:
    """Logarithmic map: unit quaternion (..., 4) -> rotation vector (..., 3), angle in ``[0, pi]``."""
    q = np.asarray(q, dtype=np.float64)
    q = np.where(q[..., :1] < 0.0, -q, q)  # q and -q are the same rotation; take the short way
    w, v = q[..., :1], q[..., 1:]
    sin_half = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, w)
    small = sin_half < _SMALL_ANGLE
    safe = np.where(small, 1.0, sin_half)
    # angle / sin(angle/2) -> 2 / w for small angles.
    scale = np.where(small, 2.0 / np.where(w == 0.0, 1.0, w), angle / safe)
    return scale * v


def to_rotation_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (..., 3, 3) of a unit quaternion (..., 4)."""
    q = np.asarray(q, dtype=np.float64)
    if q.ndim == 1:
        w, x, y, z = (float(c) for c in q)
        return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                         [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                         [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
    ], axis=-2)


def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``R(q) v`` for (..., 4) quaternions and (..., 3) vectors."""
    return np.einsum("...ij,...j->...i", to_rotation_matrix(q), np.asarray(v, dtype=np.float64))


def from_rpy(rpy: np.ndarray) -> np.ndarray:
    """Quaternion (..., 4) of ``[roll, pitch, yaw]`` (..., 3) in rad (``R = Rz Ry Rx``)."""
    rpy = np.asarray(rpy, dtype=np.float64)
    cr, cp, cy = (np.cos(0.5 * rpy[..., i]) for i in range(3))
    sr, sp, sy = (np.sin(0.5 * rpy[..., i]) for i in range(3))
    return np.stack([
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    ], axis=-1)


def to_rpy(q: np.ndarray) -> np.ndarray:
    """``[roll, pitch, yaw]`` (..., 3) in rad of a unit quaternion; pitch in ``[-pi/2, pi/2]``."""
    w, x, y, z = np.moveaxis(np.asarray(q, dtype=np.float64), -1, 0)
    roll = np.arctan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2.0 * (w * y - z * x), -1.0, 1.0))
    yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return np.stack([roll, pitch, yaw], axis=-1)


def angle_between(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Angle (rad, in ``[0, pi]``) of the rotation from ``q`` to ``r``; shape ``(...)``."""
    return np.linalg.norm(to_rotation_vector(multiply(conjugate(q), r)), axis=-1)


def skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrix ``[v]x`` (3, 3) of a vector (3,): ``skew(a) @ b == cross(a, b)``."""
    x, y, z = np.asarray(v, dtype=np.float64)
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
