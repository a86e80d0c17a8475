"""Error-state EKF for a rigid body (a quadrotor, a mobile base): ``rigid_body_ekf``.

Nominal state: position ``p`` and velocity ``v`` in the world frame (ENU, z up,
gravity ``[0, 0, -g]``), attitude ``q`` (unit quaternion ``[w, x, y, z]``,
body FLU -> world), gyro bias ``b_g`` and accelerometer bias ``b_a`` (body).
The filter's covariance lives on the 15-dim error state
``[dp, dv, dtheta, db_g, db_a]`` with a body-frame attitude error
``q_true = q * Exp(dtheta)``, so the quaternion never needs a constraint: it is
renormalized after each step and the error is folded back in (the ESKF of
J. Sola, "Quaternion kinematics for the error-state Kalman filter",
arXiv:1711.02508, secs. 5-7).

Propagation uses IMU samples (gyro rad/s, specific force m/s^2, body frame); an
accelerometer at rest reads ``+g`` along body z when level. The interval between
two IMU samples is integrated with their mean (second order); a measurement
that falls between two samples is applied at its own stamp, propagated with
the last sample held. Without any IMU sample
(e.g. through the joint-state interface) the filter falls back to a
constant-velocity, constant-rate model with its own process noise.

Corrections: a pose (position + orientation, from motion capture or an
odometry source), a position alone (GPS-like, UWB), or a world-frame velocity.

Latency: every input is processed in stamp order. The filter keeps the inputs
of the last ``max_delay`` seconds, each with the filter state just before it;
a measurement that arrives late (its stamp is older than inputs already
processed) is inserted where it belongs: the filter restores the state before
that point, applies it, and re-applies the newer inputs. The result is exactly
what in-order arrival would have given (a 30 ms late mocap stream at 50 Hz
costs about six IMU steps of re-propagation per pose). Inputs older than the
buffer are rejected with reason ``too_late``, IMU samples older than the last
IMU sample with ``out_of_order``, and repeated stamps with ``duplicate_stamp``;
all are counted in :attr:`RigidBodyEKF.rejected` and leave the filter as it was.
An optional chi-square innovation gate rejects outliers (``outlier``) on arrival.

It is also registered as a joint-state estimator (``rigid_body_ekf``) with 3
"joints" (a position, output ``[p, v]``) or 6 (position + roll, pitch, yaw;
output ``[p, rpy, v_world, omega_body]``), so the ``state_estimator`` node can
run it on a pose stream; the IMU is then fed through :meth:`predict_imu`.

Example:
    ekf = RigidBodyEKF({"position_noise": 0.002, "attitude_noise": 0.01})
    ekf.predict_imu(t, gyro, accel)                 # at the IMU rate
    ekf.update_pose(t_pose, position, quaternion)   # mocap, possibly late
    out = ekf.estimate()                            # RigidBodyEstimate with 6x6 covariances
"""
from __future__ import annotations

import bisect
import collections
import dataclasses
from typing import Any, Sequence

import numpy as np

from mbrl_ros.config import param
from mbrl_ros.estimation import quaternion as quat
from mbrl_ros.estimation.base import ESTIMATORS, EstimatorInputError, StateEstimator, wrap_to_pi

# Error-state blocks.
P, V, TH, BG, BA = (slice(3 * k, 3 * k + 3) for k in range(5))
ERROR_DIM = 15

#: Variance reported for a quantity the filter has no information about (ROS convention: large).
UNKNOWN_VARIANCE = 1e6


@dataclasses.dataclass(frozen=True)
class RigidBodyEKFConfig:
    """Settings of the ``rigid_body_ekf`` estimator (IMU noise values are continuous-time densities)."""

    gravity: float = param(9.80665, "Gravity magnitude (m/s^2); the world z axis points up.", low=0.0, high=100.0)
    gyro_noise_density: float = param(1e-3, "Gyro white noise (rad/s/sqrt(Hz)).", low=1e-9, high=10.0)
    accel_noise_density: float = param(2e-2, "Accelerometer white noise (m/s^2/sqrt(Hz)).", low=1e-9, high=100.0)
    gyro_bias_random_walk: float = param(1e-4, "Gyro bias random walk (rad/s^2/sqrt(Hz)).", low=0.0, high=10.0)
    accel_bias_random_walk: float = param(1e-3, "Accelerometer bias random walk (m/s^3/sqrt(Hz)).",
                                          low=0.0, high=100.0)
    position_noise: float = param(0.01, "Standard deviation of a measured position (m) when the caller "
                                  "gives no covariance.", low=1e-9, high=1e6)
    attitude_noise: float = param(0.01, "Standard deviation of a measured orientation per axis (rad) when "
                                  "the caller gives no covariance.", low=1e-9, high=10.0)
    velocity_noise: float = param(0.05, "Standard deviation of a measured velocity (m/s) when the caller "
                                  "gives no covariance.", low=1e-9, high=1e6)
    initial_velocity_std: float = param(1.0, "Prior standard deviation of the velocity (m/s; mean 0).",
                                        low=1e-9, high=1e6)
    initial_tilt_std: float = param(0.1, "Prior standard deviation of roll and pitch (rad) when the first "
                                    "measurement is a position only (tilt from the accelerometer).",
                                    low=1e-9, high=3.2)
    initial_yaw_std: float = param(3.14, "Prior standard deviation of yaw (rad) when the first measurement "
                                   "is a position only (yaw 0).", low=1e-9, high=10.0)
    initial_gyro_bias_std: float = param(0.05, "Prior standard deviation of the gyro bias (rad/s; mean 0).",
                                         low=1e-9, high=10.0)
    initial_accel_bias_std: float = param(0.3, "Prior standard deviation of the accelerometer bias "
                                          "(m/s^2; mean 0).", low=1e-9, high=100.0)
    max_delay: float = param(0.25, "Inputs this many seconds older than the newest one are still "
                             "fused in stamp order (re-propagating); older ones are rejected.",
                             low=0.0, high=10.0)
    innovation_gate: float = param(0.0, "Reject a measurement whose squared Mahalanobis distance exceeds "
                                   "this (chi-square, e.g. 22.5 for 6 dof at 0.1%); 0: off.",
                                   low=0.0, high=1e9)
    acceleration_noise_without_imu: float = param(
        5.0, "White acceleration (m/s^2/sqrt(Hz)) of the constant-velocity model used while no IMU "
        "sample has been received.", low=1e-9, high=1e6)
    angular_rate_noise_without_imu: float = param(
        1.0, "White angular acceleration (rad/s/sqrt(Hz)) of the attitude model used while no IMU sample "
        "has been received.", low=1e-9, high=1e6)


@dataclasses.dataclass(frozen=True)
class RigidBodyEstimate:
    """The filter's output at ``stamp``, in the shapes a ``nav_msgs/Odometry`` needs.

    Attributes:
        stamp: seconds.
        position: ``(3,)`` m, world.
        velocity: ``(3,)`` m/s, world.
        body_velocity: ``(3,)`` m/s, body (``twist.twist.linear`` with the body as child frame).
        quaternion: ``(4,)`` ``[w, x, y, z]``, body -> world.
        angular_velocity: ``(3,)`` rad/s, body, bias-corrected gyro.
        gyro_bias, accel_bias: ``(3,)`` rad/s, m/s^2.
        pose_covariance: ``(6, 6)`` over ``[x, y, z, rot_x, rot_y, rot_z]``, rotations about the
            world axes (``pose.covariance`` of Odometry, row-major when flattened).
        twist_covariance: ``(6, 6)`` over body ``[vx, vy, vz, wx, wy, wz]`` (``twist.covariance``).
        error_covariance: ``(15, 15)`` over ``[dp, dv, dtheta_body, db_g, db_a]``.
    """

    stamp: float
    position: np.ndarray
    velocity: np.ndarray
    body_velocity: np.ndarray
    quaternion: np.ndarray
    angular_velocity: np.ndarray
    gyro_bias: np.ndarray
    accel_bias: np.ndarray
    pose_covariance: np.ndarray
    twist_covariance: np.ndarray
    error_covariance: np.ndarray

    @property
    def rpy(self) -> np.ndarray:
        """``[roll, pitch, yaw]`` (rad) of :attr:`quaternion`."""
        return quat.to_rpy(self.quaternion)


@dataclasses.dataclass
class _FilterState:
    """Everything needed to continue filtering from ``time``; copied into the input history."""

    time: float
    p: np.ndarray
    v: np.ndarray
    q: np.ndarray
    bg: np.ndarray
    ba: np.ndarray
    cov: np.ndarray                       # (15, 15)
    gyro: np.ndarray | None = None        # held IMU sample (None: no IMU yet)
    accel: np.ndarray | None = None
    imu_stamp: float | None = None        # stamp of the held IMU sample
    imu_dt: float = 0.0                   # last IMU sample interval (s), for the rate noise
    rate: np.ndarray | None = None        # measured angular velocity held when there is no IMU

    def copy(self) -> "_FilterState":
        return dataclasses.replace(self, **{f.name: (getattr(self, f.name).copy()
                                                     if isinstance(getattr(self, f.name), np.ndarray)
                                                     else getattr(self, f.name))
                                            for f in dataclasses.fields(self)})


@dataclasses.dataclass
class _Input:
    """One stamped input in the history, with the filter state just before it was applied."""

    stamp: float
    kind: str                             # "imu", "pose", "position", "velocity"
    values: tuple
    before: _FilterState | None           # None: this input initialized the filter


def _checked(values: Any, size: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.shape != (size,):
        raise EstimatorInputError("wrong_length", f"{what}: expected {size} values, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise EstimatorInputError("non_finite", f"{what} contains NaN or inf: {array.tolist()}")
    return array


def _checked_covariance(cov: Any, size: int, what: str) -> np.ndarray | None:
    if cov is None:
        return None
    matrix = np.asarray(cov, dtype=np.float64)
    if matrix.size == size * size:
        matrix = matrix.reshape(size, size)
    elif matrix.shape == (size,):
        matrix = np.diag(matrix)
    else:
        raise EstimatorInputError("wrong_length", f"{what} covariance: expected ({size}, {size}) or "
                                  f"({size},) variances, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise EstimatorInputError("non_finite", f"{what} covariance contains NaN or inf")
    if np.any(np.linalg.eigvalsh(0.5 * (matrix + matrix.T)) <= 0.0):
        raise EstimatorInputError("bad_covariance", f"{what} covariance is not positive definite")
    return matrix


@ESTIMATORS.register("rigid_body_ekf")
class RigidBodyEKF(StateEstimator):
    """Error-state EKF: IMU propagation, pose / position / velocity corrections (module docstring).

    Args:
        config: :class:`RigidBodyEKFConfig` or a mapping validated into it.
        num_joints: only for the joint-state interface (:meth:`update`): 3 (position) or 6
            (position + roll, pitch, yaw).
        continuous_joints: joint-state interface only: indices whose angle may wrap (3, 4, 5).

    Attributes:
        rejected: count of rejected inputs per reason (``out_of_order``, ``duplicate_stamp``,
            ``too_late``, ``outlier``, ``non_finite``, ``wrong_length``, ``bad_covariance``,
            ``not_initialized``); kept across resets.
        replays: how many late inputs were fused by re-propagating the newer ones.
    """

    Config = RigidBodyEKFConfig

    def __init__(self, config: Any = None, num_joints: int = 6, continuous_joints: Sequence[int] = ()):
        super().__init__(config, num_joints, continuous_joints)
        if self.num_joints not in (3, 6):
            raise ValueError(f"rigid_body_ekf takes 3 joints (x, y, z) or 6 (x, y, z, roll, pitch, yaw), "
                             f"got {self.num_joints}")
        cfg = self.config
        self._gravity = np.array([0.0, 0.0, -cfg.gravity])
        self.replays = 0
        self._state: _FilterState | None = None
        self._history: list[_Input] = []
        self._pre_init_imu: collections.deque[_Input] = collections.deque()
        self._last_imu_stamp: float | None = None

    # -- public API -------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        """True once a pose or position measurement has set the state."""
        return self._state is not None

    @property
    def time(self) -> float | None:
        """Stamp (s) the filter state refers to (the newest input), or None."""
        return None if self._state is None else self._state.time

    def reset(self) -> None:
        super().reset()
        self._state = None
        self._history.clear()
        self._pre_init_imu.clear()
        self._last_imu_stamp = None

    def predict_imu(self, stamp: float, gyro: Sequence[float], accel: Sequence[float]) -> None:
        """Propagate to ``stamp`` and hold this IMU sample until the next input.

        Args:
            stamp: seconds; IMU stamps must increase strictly.
            gyro: ``(3,)`` angular velocity (rad/s), body.
            accel: ``(3,)`` specific force (m/s^2), body; ``[0, 0, g]`` at rest and level.
        Raises:
            EstimatorInputError: out of order / duplicate / too late / bad values (counted).
        """
        self._guard(self._predict_imu, stamp, gyro, accel)

    def update_pose(self, stamp: float, position: Sequence[float], quaternion: Sequence[float],
                    covariance: Any = None) -> None:
        """Fuse a measured pose at ``stamp`` (possibly older than inputs already processed).

        Args:
            position: ``(3,)`` m, world.
            quaternion: ``(4,)`` ``[w, x, y, z]`` body -> world (normalized here).
            covariance: ``(6, 6)`` over ``[x, y, z, rot_x, rot_y, rot_z]`` with rotations about the
                body axes (or 6 variances); None: the configured ``position_noise``/``attitude_noise``.
        """
        self._guard(self._update_pose, stamp, position, quaternion, covariance)

    def update_position(self, stamp: float, position: Sequence[float], covariance: Any = None) -> None:
        """Fuse a measured position ``(3,)`` (m, world) with ``(3, 3)`` covariance (or None)."""
        self._guard(self._update_position, stamp, position, covariance)

    def update_velocity(self, stamp: float, velocity: Sequence[float], covariance: Any = None,
                        angular_velocity: Sequence[float] | None = None) -> None:
        """Fuse a measured world-frame velocity ``(3,)`` (m/s) with ``(3, 3)`` covariance (or None).

        ``angular_velocity`` (body, rad/s), if given, is held as the rotation rate for attitude
        propagation and output while no IMU sample has been received (an IMU supersedes it).
        """
        self._guard(self._update_velocity, stamp, velocity, covariance, angular_velocity)

    def estimate(self, stamp: float | None = None) -> RigidBodyEstimate | None:
        """The current estimate, or None before the first pose/position measurement.

        Args:
            stamp: predict to this later time with the held IMU sample (the filter itself is
                not changed); None: at the newest input.
        """
        if self._state is None:
            return None
        state = self._state
        if stamp is not None and stamp > state.time:
            state = state.copy()
            self._propagate(state, float(stamp))
        return self._output(state)

    # -- joint-state interface ---------------------------------------------------------
    def _estimate(self, stamp, positions, velocities):
        if self.num_joints == 3:
            self._update_position(stamp, positions, None)
        else:
            self._update_pose(stamp, positions[:3], quat.from_rpy(positions[3:]), None)
        if velocities is not None:
            rate = velocities[3:] if self.num_joints == 6 else None
            self._update_velocity(stamp, velocities[:3], None, rate)
        out = self._output(self._state)
        if self.num_joints == 3:
            return np.concatenate([out.position, out.velocity])
        # Keep the angles continuous with the (possibly unwrapped) measurement.
        rpy = positions[3:] + wrap_to_pi(out.rpy - positions[3:])
        return np.concatenate([out.position, rpy, out.velocity, out.angular_velocity])

    # -- input handling --------------------------------------------------------------
    def _guard(self, method, stamp, *args):
        try:
            method(stamp, *args)
        except EstimatorInputError as err:
            self.rejected[err.reason] += 1
            raise

    def _stamp(self, stamp: float) -> float:
        stamp = float(stamp)
        if not np.isfinite(stamp):
            raise EstimatorInputError("non_finite", f"stamp is not finite: {stamp}")
        return stamp

    def _predict_imu(self, stamp, gyro, accel):
        stamp = self._stamp(stamp)
        values = (_checked(gyro, 3, "gyro"), _checked(accel, 3, "accel"))
        if self._last_imu_stamp is not None:
            if stamp == self._last_imu_stamp:
                raise EstimatorInputError("duplicate_stamp", f"IMU stamp {stamp:.9f} s was already used")
            if stamp < self._last_imu_stamp:
                raise EstimatorInputError("out_of_order", f"IMU stamp {stamp:.9f} s is older than the last "
                                          f"one ({self._last_imu_stamp:.9f} s)")
        item = _Input(stamp, "imu", values, None)
        if self._state is None:
            self._pre_init_imu.append(item)
            while self._pre_init_imu and self._pre_init_imu[0].stamp < stamp - self.config.max_delay:
                self._pre_init_imu.popleft()
        else:
            self._insert(item)
        self._last_imu_stamp = stamp

    def _update_pose(self, stamp, position, quaternion, covariance):
        stamp = self._stamp(stamp)
        position = _checked(position, 3, "position")
        q = _checked(quaternion, 4, "quaternion")
        norm = np.linalg.norm(q)
        if not 0.5 < norm < 2.0:
            raise EstimatorInputError("non_unit_quaternion", f"quaternion norm {norm:.3g} is far from 1")
        cov = _checked_covariance(covariance, 6, "pose")
        if cov is None:
            cov = np.diag([self.config.position_noise ** 2] * 3 + [self.config.attitude_noise ** 2] * 3)
        self._measurement(_Input(stamp, "pose", (position, quat.normalize(q), cov), None))

    def _update_position(self, stamp, position, covariance):
        stamp = self._stamp(stamp)
        position = _checked(position, 3, "position")
        cov = _checked_covariance(covariance, 3, "position")
        if cov is None:
            cov = np.eye(3) * self.config.position_noise ** 2
        self._measurement(_Input(stamp, "position", (position, cov), None))

    def _update_velocity(self, stamp, velocity, covariance, angular_velocity):
        stamp = self._stamp(stamp)
        velocity = _checked(velocity, 3, "velocity")
        cov = _checked_covariance(covariance, 3, "velocity")
        if cov is None:
            cov = np.eye(3) * self.config.velocity_noise ** 2
        rate = None if angular_velocity is None else _checked(angular_velocity, 3, "angular_velocity")
        if self._state is None:
            raise EstimatorInputError("not_initialized", "a velocity cannot start the filter; send a pose "
                                      "or position first")
        self._insert(_Input(stamp, "velocity", (velocity, cov, rate), None))

    def _measurement(self, item: _Input) -> None:
        if self._state is None:
            self._initialize(item)
        else:
            self._insert(item)

    def _insert(self, item: _Input) -> None:
        """Apply ``item`` in stamp order, re-applying newer inputs if it came late."""
        stamps = [h.stamp for h in self._history]
        index = bisect.bisect_right(stamps, item.stamp)
        for other in self._history[bisect.bisect_left(stamps, item.stamp):index]:
            if other.kind == item.kind:
                raise EstimatorInputError("duplicate_stamp", f"a {item.kind} input with stamp "
                                          f"{item.stamp:.9f} s was already used")
        if index == len(self._history):          # the newest input (the history ends at state.time)
            # Work on a copy so that a rejected input (an outlier) leaves the filter as it was.
            state = self._state.copy()
            self._apply(state, item)
            item.before = self._state
            self._state = state
            self._history.append(item)
        else:
            start = self._history[index].before
            if start is None or item.stamp < start.time:
                raise EstimatorInputError(
                    "too_late", f"{item.kind} stamp {item.stamp:.9f} s is more than max_delay "
                    f"({self.config.max_delay} s) older than the newest input ({self._state.time:.9f} s)")
            # Re-run from the state before the first newer input (it is restored only once the late
            # input was accepted, so a rejected one leaves the filter as it was).
            state = start.copy()
            item.before = state.copy()
            self._apply(state, item)
            newer = self._history[index:]
            for other in newer:
                other.before = state.copy()
                self._apply(state, other, replay=True)
            self._history.insert(index, item)
            self._state = state
            self.replays += 1
        self._trim()

    def _trim(self) -> None:
        horizon = self._state.time - self.config.max_delay
        drop = 0
        while drop < len(self._history) - 1 and self._history[drop + 1].stamp < horizon:
            drop += 1
        del self._history[:drop]

    def _initialize(self, item: _Input) -> None:
        cfg = self.config
        cov = np.zeros((ERROR_DIM, ERROR_DIM))
        earlier = [i for i in self._pre_init_imu if i.stamp <= item.stamp]
        later = [i for i in self._pre_init_imu if i.stamp > item.stamp]
        if item.kind == "pose":
            position, q, meas_cov = item.values
            cov[P, P] = meas_cov[:3, :3]
            cov[TH, TH] = meas_cov[3:, 3:]
        else:
            position, meas_cov = item.values
            q = self._attitude_from_gravity([i.values[1] for i in earlier])
            cov[P, P] = meas_cov
            cov[TH, TH] = np.diag([cfg.initial_tilt_std ** 2] * 2 + [cfg.initial_yaw_std ** 2])
        cov[V, V] = np.eye(3) * cfg.initial_velocity_std ** 2
        cov[BG, BG] = np.eye(3) * cfg.initial_gyro_bias_std ** 2
        cov[BA, BA] = np.eye(3) * cfg.initial_accel_bias_std ** 2
        state = _FilterState(item.stamp, position.copy(), np.zeros(3), q.copy(), np.zeros(3), np.zeros(3), cov)
        if earlier:
            state.gyro, state.accel = (v.copy() for v in earlier[-1].values)
            state.imu_stamp = earlier[-1].stamp
        self._state = state
        self._history = [item]                        # item.before stays None: nothing before it
        self._pre_init_imu.clear()
        for imu in later:
            imu.before = self._state.copy()
            self._apply(self._state, imu)
            self._history.append(imu)

    def _attitude_from_gravity(self, accels: list[np.ndarray]) -> np.ndarray:
        """Roll and pitch from the mean specific force (the body assumed still), yaw 0."""
        if not accels:
            return quat.IDENTITY.copy()
        ax, ay, az = np.mean(accels, axis=0)
        roll = np.arctan2(ay, az)
        pitch = np.arctan2(-ax, np.hypot(ay, az))
        return quat.from_rpy([roll, pitch, 0.0])

    # -- filter ---------------------------------------------------------------------------
    def _apply(self, state: _FilterState, item: _Input, replay: bool = False) -> None:
        """Propagate ``state`` to the input's stamp and apply the input."""
        if item.kind == "imu":
            gyro, accel = item.values
            if state.gyro is not None:
                # Over the interval since the previous sample, use the mean of the two samples
                # (second order, as if the rate and force changed linearly); a measurement between
                # two samples only had the previous one to go on (zero-order hold).
                held = state.gyro, state.accel
                state.gyro, state.accel = 0.5 * (held[0] + gyro), 0.5 * (held[1] + accel)
            self._propagate(state, item.stamp)
            if state.imu_stamp is not None:
                state.imu_dt = item.stamp - state.imu_stamp
            state.gyro, state.accel = gyro.copy(), accel.copy()
            state.imu_stamp = item.stamp
            return
        self._propagate(state, item.stamp)
        if item.kind == "pose":
            position, q, cov = item.values
            y = np.concatenate([position - state.p, quat.to_rotation_vector(quat.multiply(quat.conjugate(state.q), q))])
            h = np.zeros((6, ERROR_DIM))
            h[:3, P] = np.eye(3)
            h[3:, TH] = np.eye(3)
        elif item.kind == "position":
            position, cov = item.values
            y = position - state.p
            h = np.zeros((3, ERROR_DIM))
            h[:, P] = np.eye(3)
        else:
            velocity, cov, rate = item.values
            if rate is not None:
                state.rate = rate.copy()
            y = velocity - state.v
            h = np.zeros((3, ERROR_DIM))
            h[:, V] = np.eye(3)
        self._correct(state, y, h, cov, item, replay)

    def _propagate(self, state: _FilterState, stamp: float) -> None:
        """Nominal-state integration and error-covariance prediction from ``state.time`` to ``stamp``."""
        dt = stamp - state.time
        if dt <= 0.0:
            return
        cfg = self.config
        f = np.eye(ERROR_DIM)
        q_noise = np.zeros(ERROR_DIM)
        if state.gyro is not None:
            omega = state.gyro - state.bg
            specific_force = state.accel - state.ba
            # The force is rotated with the attitude at mid-interval: with the start attitude the
            # velocity would pick up an error of dt/2 * (omega x f) per step (~1 cm/s^2 at 1 rad/s).
            rot = quat.to_rotation_matrix(quat.multiply(state.q, quat.from_rotation_vector(0.5 * dt * omega)))
            accel_world = rot @ specific_force + self._gravity
            f[V, TH] = -rot @ quat.skew(specific_force) * dt
            f[V, BA] = -rot * dt
            f[TH, BG] = -np.eye(3) * dt
            q_noise[V] = cfg.accel_noise_density ** 2 * dt
            q_noise[TH] = cfg.gyro_noise_density ** 2 * dt
        else:
            omega = np.zeros(3) if state.rate is None else state.rate
            accel_world = np.zeros(3)
            q_noise[V] = cfg.acceleration_noise_without_imu ** 2 * dt
            q_noise[TH] = cfg.angular_rate_noise_without_imu ** 2 * dt ** 3 / 3.0
            # Under a constant-velocity model the position also picks up the white acceleration.
            q_noise[P] = cfg.acceleration_noise_without_imu ** 2 * dt ** 3 / 3.0
        q_noise[BG] = cfg.gyro_bias_random_walk ** 2 * dt
        q_noise[BA] = cfg.accel_bias_random_walk ** 2 * dt
        delta_q = quat.from_rotation_vector(omega * dt)
        f[P, V] = np.eye(3) * dt
        f[TH, TH] = quat.to_rotation_matrix(delta_q).T
        state.p = state.p + state.v * dt + 0.5 * accel_world * dt ** 2
        state.v = state.v + accel_world * dt
        state.q = quat.normalize(quat.multiply(state.q, delta_q))
        cov = f @ state.cov @ f.T
        cov[np.diag_indices(ERROR_DIM)] += q_noise
        if state.gyro is None:
            cross = cfg.acceleration_noise_without_imu ** 2 * dt ** 2 / 2.0
            cov[P, V] += np.eye(3) * cross
            cov[V, P] += np.eye(3) * cross
        state.cov = 0.5 * (cov + cov.T)
        state.time = stamp

    def _correct(self, state: _FilterState, y: np.ndarray, h: np.ndarray, r: np.ndarray,
                 item: _Input, replay: bool) -> None:
        ph = state.cov @ h.T
        s = h @ ph + r
        # The gate decides once, when an input arrives; a replay re-applies what was accepted.
        if self.config.innovation_gate > 0.0 and not replay:
            distance = float(y @ np.linalg.solve(s, y))
            if distance > self.config.innovation_gate:
                raise EstimatorInputError("outlier", f"{item.kind} at {item.stamp:.9f} s: squared "
                                          f"Mahalanobis distance {distance:.1f} > {self.config.innovation_gate}")
        gain = np.linalg.solve(s, ph.T).T
        dx = gain @ y
        a = np.eye(ERROR_DIM) - gain @ h
        cov = a @ state.cov @ a.T + gain @ r @ gain.T
        # Inject the error into the nominal state, then reset the error to zero: the attitude
        # error's covariance is re-expressed about the corrected attitude (Sola, eq. 287).
        state.p = state.p + dx[P]
        state.v = state.v + dx[V]
        state.q = quat.normalize(quat.multiply(state.q, quat.from_rotation_vector(dx[TH])))
        state.bg = state.bg + dx[BG]
        state.ba = state.ba + dx[BA]
        g = np.eye(ERROR_DIM)
        g[TH, TH] = np.eye(3) - quat.skew(0.5 * dx[TH])
        cov = g @ cov @ g.T
        state.cov = 0.5 * (cov + cov.T)

    def _output(self, state: _FilterState) -> RigidBodyEstimate:
        rot = quat.to_rotation_matrix(state.q)
        cov = state.cov
        # Pose: position and attitude error about the world axes (dtheta_world = R dtheta_body).
        jp = np.zeros((6, ERROR_DIM))
        jp[:3, P] = np.eye(3)
        jp[3:, TH] = rot
        pose_cov = jp @ cov @ jp.T
        # Twist: v_body = R^T v, so dv_body = R^T dv + [R^T v]x dtheta; omega = gyro - b_g.
        body_velocity = rot.T @ state.v
        jt = np.zeros((6, ERROR_DIM))
        jt[:3, V] = rot.T
        jt[:3, TH] = quat.skew(body_velocity)
        jt[3:, BG] = -np.eye(3)
        twist_cov = jt @ cov @ jt.T
        if state.gyro is not None:
            omega = state.gyro - state.bg
            sample_var = self.config.gyro_noise_density ** 2 / state.imu_dt if state.imu_dt > 0 else 0.0
            twist_cov[3:, 3:] += np.eye(3) * sample_var
        elif state.rate is not None:
            omega = state.rate.copy()
            twist_cov[3:, 3:] = np.eye(3) * self.config.angular_rate_noise_without_imu ** 2
            twist_cov[3:, :3] = twist_cov[:3, 3:] = 0.0
        else:
            omega = np.zeros(3)
            twist_cov[3:, 3:] = np.eye(3) * UNKNOWN_VARIANCE
            twist_cov[3:, :3] = twist_cov[:3, 3:] = 0.0
        return RigidBodyEstimate(
            stamp=state.time, position=state.p.copy(), velocity=state.v.copy(), body_velocity=body_velocity,
            quaternion=state.q.copy(), angular_velocity=omega, gyro_bias=state.bg.copy(),
            accel_bias=state.ba.copy(), pose_covariance=0.5 * (pose_cov + pose_cov.T),
            twist_covariance=0.5 * (twist_cov + twist_cov.T), error_covariance=cov.copy())


# -- a known answer for tests and benchmarks ------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SyntheticFlight:
    """A smooth 3D flight with its true states, IMU samples and noisy poses (see :func:`simulate_flight`).

    Arrays over IMU samples have N rows, over pose samples M rows; quaternions are ``[w, x, y, z]``.
    """

    imu_stamps: np.ndarray          # (N,) s
    gyro: np.ndarray                # (N, 3) rad/s, body, with bias and noise
    accel: np.ndarray               # (N, 3) m/s^2, body specific force, with bias and noise
    position: np.ndarray            # (N, 3) true, world
    velocity: np.ndarray            # (N, 3) true, world
    quaternion: np.ndarray          # (N, 4) true, body -> world
    angular_velocity: np.ndarray    # (N, 3) true, body
    gyro_bias: np.ndarray           # (N, 3) true
    accel_bias: np.ndarray          # (N, 3) true
    pose_index: np.ndarray          # (M,) index of each pose's stamp in imu_stamps
    pose_position: np.ndarray       # (M, 3) measured
    pose_quaternion: np.ndarray     # (M, 4) measured

    @property
    def pose_stamps(self) -> np.ndarray:
        return self.imu_stamps[self.pose_index]


def _sinusoids(t: np.ndarray, amplitude, frequency, phase, slope, offset):
    """Value, first and second derivative (N, 3) of ``offset + slope t + a sin(w t + phi)`` per axis."""
    a, w, phi = (np.asarray(x, dtype=np.float64) for x in (amplitude, frequency, phase))
    arg = np.outer(t, w) + phi
    value = np.asarray(offset) + np.outer(t, slope) + a * np.sin(arg)
    return value, np.asarray(slope) + a * w * np.cos(arg), -a * w ** 2 * np.sin(arg)


def simulate_flight(duration: float = 30.0, imu_rate: float = 200.0, pose_rate: float = 50.0, *,
                    gyro_noise_density: float = 1e-3, accel_noise_density: float = 2e-2,
                    gyro_bias_random_walk: float = 1e-4, accel_bias_random_walk: float = 1e-3,
                    gyro_bias: Sequence[float] = (0.02, -0.01, 0.015),
                    accel_bias: Sequence[float] = (0.1, -0.05, 0.08),
                    position_noise: float = 0.01, attitude_noise: float = 0.01,
                    gravity: float = 9.80665, seed: int = 0) -> SyntheticFlight:
    """A quadrotor-like flight: the true motion is analytic, the sensors are sampled from it.

    Position ``(2 sin 0.5t, 1.5 sin(0.7t+1), 1 + 0.5 sin 0.9t)`` m (up to 0.5 m/s^2),
    roll/pitch up to 0.3/0.25 rad, yaw turning at 0.4 rad/s plus a swing (rates up to about
    0.8 rad/s). The IMU has white noise of the given densities (sample std = density *
    sqrt(rate)) and biases that start at the given values and random-walk; poses are the
    truth with Gaussian position noise (m) and an attitude error ``Exp(n)`` with
    ``n ~ N(0, attitude_noise^2 I)`` (rad, body axes), at every ``imu_rate / pose_rate``-th
    IMU stamp.
    """
    rng = np.random.default_rng(seed)
    dt = 1.0 / imu_rate
    t = np.arange(int(round(duration * imu_rate)) + 1) * dt
    position, velocity, acceleration = _sinusoids(t, [2.0, 1.5, 0.5], [0.5, 0.7, 0.9], [0.0, 1.0, 0.0],
                                                  [0.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    rpy, rpy_rate, _ = _sinusoids(t, [0.3, 0.25, 0.5], [1.1, 0.8, 0.6], [0.0, 0.5, 0.0],
                                  [0.0, 0.0, 0.4], [0.0, 0.0, 0.0])
    roll, pitch = rpy[:, 0], rpy[:, 1]
    droll, dpitch, dyaw = rpy_rate.T
    # Body rates of ZYX Euler angles.
    angular_velocity = np.stack([
        droll - dyaw * np.sin(pitch),
        dpitch * np.cos(roll) + dyaw * np.sin(roll) * np.cos(pitch),
        -dpitch * np.sin(roll) + dyaw * np.cos(roll) * np.cos(pitch),
    ], axis=1)
    q = quat.normalize(quat.from_rpy(rpy))
    rot = quat.to_rotation_matrix(q)
    specific_force = np.einsum("nji,nj->ni", rot, acceleration - np.array([0.0, 0.0, -gravity]))
    return sample_imu_and_poses(t, position, velocity, q, angular_velocity, specific_force, rng,
                                imu_rate=imu_rate, pose_rate=pose_rate, gyro_noise_density=gyro_noise_density,
                                accel_noise_density=accel_noise_density,
                                gyro_bias_random_walk=gyro_bias_random_walk,
                                accel_bias_random_walk=accel_bias_random_walk, gyro_bias=gyro_bias,
                                accel_bias=accel_bias, position_noise=position_noise,
                                attitude_noise=attitude_noise)


def sample_imu_and_poses(t: np.ndarray, position: np.ndarray, velocity: np.ndarray, q: np.ndarray,
                         angular_velocity: np.ndarray, specific_force: np.ndarray, rng: np.random.Generator, *,
                         imu_rate: float, pose_rate: float, gyro_noise_density: float = 1e-3,
                         accel_noise_density: float = 2e-2, gyro_bias_random_walk: float = 1e-4,
                         accel_bias_random_walk: float = 1e-3,
                         gyro_bias: Sequence[float] = (0.02, -0.01, 0.015),
                         accel_bias: Sequence[float] = (0.1, -0.05, 0.08),
                         position_noise: float = 0.01, attitude_noise: float = 0.01) -> SyntheticFlight:
    """IMU samples and motion-capture poses of a true motion sampled at ``imu_rate`` (stamps ``t`` (N,)).

    Args:
        position, velocity: (N, 3) world; q: (N, 4) body -> world ``[w, x, y, z]``;
        angular_velocity: (N, 3) body; specific_force: (N, 3) body (what an ideal
        accelerometer reads: ``R^T (a - g)``).
        The noise settings are those of :func:`simulate_flight`.
    """
    n, dt = t.size, 1.0 / imu_rate

    def walk(start, density):
        steps = rng.normal(0.0, density * np.sqrt(dt), size=(n, 3))
        steps[0] = 0.0
        return np.asarray(start, dtype=np.float64) + np.cumsum(steps, axis=0)

    true_bg, true_ba = walk(gyro_bias, gyro_bias_random_walk), walk(accel_bias, accel_bias_random_walk)
    gyro = angular_velocity + true_bg + rng.normal(0.0, gyro_noise_density / np.sqrt(dt), size=(n, 3))
    accel = specific_force + true_ba + rng.normal(0.0, accel_noise_density / np.sqrt(dt), size=(n, 3))
    every = max(1, int(round(imu_rate / pose_rate)))
    pose_index = np.arange(0, n, every)
    pose_position = position[pose_index] + rng.normal(0.0, position_noise, size=(pose_index.size, 3))
    pose_quaternion = quat.normalize(quat.multiply(
        q[pose_index], quat.from_rotation_vector(rng.normal(0.0, attitude_noise, size=(pose_index.size, 3)))))
    return SyntheticFlight(t, gyro, accel, position, velocity, q, angular_velocity, true_bg, true_ba,
                           pose_index, pose_position, pose_quaternion)
