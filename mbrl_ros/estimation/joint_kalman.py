"""Per-joint linear Kalman filter over encoder positions: ``joint_kf``.

Each joint is an independent kinematic chain in its own coordinate (no
dynamics model, so it works for any robot): position and velocity under a
constant-velocity model driven by white acceleration, or position, velocity and
acceleration under a constant-acceleration model driven by white jerk. The
continuous model is discretized exactly for each measurement's own time step
(Bar-Shalom, Li, Kirubarajan, "Estimation with Applications to Tracking and
Navigation", 2001, sec. 6.2), so irregular stamps and dropped messages are
simply longer steps with more process noise. For white acceleration of spectral
density ``q`` and step ``dt``::

    F = [[1, dt], [0, 1]]      Q = q [[dt^3/3, dt^2/2], [dt^2/2, dt]]

An encoder reports a quantized position: the rounding error is uniform over
one count, so its variance ``step^2 / 12`` is added to the noise variance
(Widrow & Kollar, "Quantization Noise", 2008). Measured velocities, when a
driver gives them, are fused as a second measurement.

All joints are filtered at once with batched ``(J, n, n)`` matrices; the
process noise, measurement noise and quantization step may differ per joint
(a rotary and a linear encoder on one robot). Duplicate or older stamps, NaN
and wrong lengths raise :class:`EstimatorInputError` like every estimator, are
counted in :attr:`JointKalmanFilter.rejected`, and leave the filter unchanged.

Tuning ``process_noise``: it sets the bandwidth. The gain over finite
differences is large when the motion is smooth relative to the sample rate
and the encoder noise (a 0.5 Hz swing at 500 Hz: about 9x lower velocity RMSE)
and small when the acceleration jumps between samples (the cart-pole under
random 20 Hz force steps at 100 Hz: 1.1-1.6x); ``bench/estimator_accuracy.py``
picks it on simulated data.

Example:
    kf = make_estimator("joint_kf", {"position_noise": 1e-4,
                                     "quantization_step": [1e-4, 2 * np.pi / 4096]}, num_joints=2)
    state = kf.update(0.01, [0.0, 0.1])       # (4,) [positions, velocities]
    cov = kf.covariance                        # (4, 4) in the same order
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from mbrl_ros.config import ConfigError, param, per_joint
from mbrl_ros.estimation.base import ESTIMATORS, EstimatorInputError, StateEstimator

MODELS = ("constant_velocity", "constant_acceleration")


@dataclasses.dataclass(frozen=True)
class JointKalmanConfig:
    """Settings of the ``joint_kf`` estimator. Per-joint values take one number or one per joint."""

    model: str = param("constant_velocity", "constant_velocity: state [q, q_dot] driven by white "
                       "acceleration; constant_acceleration: state [q, q_dot, q_ddot] driven by white jerk "
                       "(less lag under sustained acceleration, noisier when still).", choices=MODELS)
    process_noise: float | list[float] = param(
        100.0, "Spectral density of the white acceleration (constant_velocity; rad^2/s^3 or m^2/s^3) or "
        "jerk (constant_acceleration; rad^2/s^5). Larger tracks faster, smooths less; roughly "
        "(typical change of acceleration)^2 * (its time scale).", low=1e-12, high=1e12)
    position_noise: float | list[float] = param(
        1e-3, "Standard deviation of the encoder noise (rad or m), quantization not included.",
        low=0.0, high=1e3)
    quantization_step: float | list[float] = param(
        0.0, "Encoder resolution (rad or m per count, e.g. 2 pi / 4096); adds step^2/12 to the "
        "measurement variance. 0: not quantized.", low=0.0, high=1e3)
    velocity_noise: float | list[float] = param(
        0.05, "Standard deviation of measured velocities (rad/s or m/s) when a message has them.",
        low=1e-9, high=1e6)
    use_measured_velocity: bool = param(True, "Fuse measured velocities when a message has them.")
    initial_velocity_std: float = param(1.0, "Prior standard deviation of the velocity at a (re)start, "
                                        "whose mean is zero (rad/s or m/s).", low=1e-9, high=1e6)
    initial_acceleration_std: float = param(10.0, "Prior standard deviation of the acceleration at a "
                                            "(re)start (constant_acceleration only).", low=1e-9, high=1e9)
    input_gain: float | list[float] = param(
        0.0, "Expected jump of the acceleration (rad/s^2 or m/s^2) per unit change of the command (the "
        "norm of the change of the command vector), fused when commands are given to note_input(): a "
        "force or torque step makes the acceleration jump at a known time, so the filter opens up then "
        "and can smooth hard (low process_noise) in between. 0: commands are ignored.", low=0.0, high=1e9)
    max_dt: float = param(1.0, "A gap between two measurements longer than this (s) restarts the filter "
                          "from the new position (a simulator reset teleports the robot); shorter gaps, "
                          "such as dropped messages, are predicted across.", low=1e-6, high=1e6)

    def per_joint(self, name: str, num_joints: int) -> np.ndarray:
        """Field ``name`` as a ``(J,)`` array (a single number applies to every joint).

        Raises:
            ConfigError: a list whose length is neither 1 nor ``num_joints``.
        """
        return per_joint(getattr(self, name), num_joints, f"joint_kf.{name}")


def transition_matrix(dt: float, order: int) -> np.ndarray:
    """``F`` (n, n) of an n-th order integrator chain over ``dt`` s (n = 2: [q, q_dot])."""
    if order == 2:
        return np.array([[1.0, dt], [0.0, 1.0]])
    return np.array([[1.0, dt, 0.5 * dt * dt], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])


def process_noise_matrix(dt: float, order: int) -> np.ndarray:
    """``Q`` (n, n) per unit spectral density of white noise on the n-th derivative, over ``dt`` s.

    Entry ``(i, j)`` is ``dt^(a+b+1) / (a! b! (a+b+1))`` with ``a = n-1-i``, ``b = n-1-j``: the
    covariance that the integrated white noise adds to derivatives ``i`` and ``j``.
    """
    if order == 2:
        return np.array([[dt ** 3 / 3.0, dt ** 2 / 2.0], [dt ** 2 / 2.0, dt]])
    return np.array([[dt ** 5 / 20.0, dt ** 4 / 8.0, dt ** 3 / 6.0],
                     [dt ** 4 / 8.0, dt ** 3 / 3.0, dt ** 2 / 2.0],
                     [dt ** 3 / 6.0, dt ** 2 / 2.0, dt]])


@ESTIMATORS.register("joint_kf")
class JointKalmanFilter(StateEstimator):
    """Kalman filter per joint on positions (and optional velocities); see the module docstring.

    Args:
        config: :class:`JointKalmanConfig` or a mapping validated into it.
        num_joints: J.
        continuous_joints: joints whose reported angle may wrap at +-pi (unwrapped first).

    Attributes:
        rejected: count of rejected measurements per reason (``out_of_order``,
            ``duplicate_stamp``, ``non_finite``, ``wrong_length``); kept across resets.
        restarts: how many gaps longer than ``max_dt`` restarted the filter.
    """

    Config = JointKalmanConfig

    def __init__(self, config, num_joints: int, continuous_joints: Sequence[int] = ()):
        super().__init__(config, num_joints, continuous_joints)
        cfg = self.config
        self.order = 3 if cfg.model == "constant_acceleration" else 2
        self._q = cfg.per_joint("process_noise", self.num_joints)
        noise = cfg.per_joint("position_noise", self.num_joints)
        step = cfg.per_joint("quantization_step", self.num_joints)
        #: Variance of one position measurement per joint (noise + quantization), (J,).
        self.position_variance = noise ** 2 + step ** 2 / 12.0
        if np.any(self.position_variance <= 0.0):
            raise ConfigError("joint_kf: position_noise and quantization_step are both 0 for some joint; "
                              "a noise-free measurement cannot be filtered (set either above 0)")
        self.velocity_variance = cfg.per_joint("velocity_noise", self.num_joints) ** 2
        self._input_gain = cfg.per_joint("input_gain", self.num_joints)
        self._last_command: np.ndarray | None = None
        self._input_jumps: list[tuple[float, float]] = []   # (time the command acts, norm of its change)
        self.restarts = 0
        self._x: np.ndarray | None = None   # (J, n) [q, q_dot(, q_ddot)]
        self._p: np.ndarray | None = None   # (J, n, n)

    # -- results ------------------------------------------------------------
    @property
    def covariance(self) -> np.ndarray | None:
        """``(2 J, 2 J)`` covariance of the last state ``[positions, velocities]``, or None."""
        if self._p is None:
            return None
        j = self.num_joints
        cov = np.zeros((2 * j, 2 * j))
        idx = np.arange(j)
        for a in range(2):
            for b in range(2):
                cov[a * j + idx, b * j + idx] = self._p[:, a, b]
        return cov

    @property
    def joint_covariance(self) -> np.ndarray | None:
        """Per-joint ``(J, n, n)`` covariance of ``[q, q_dot(, q_ddot)]``, or None."""
        return None if self._p is None else self._p.copy()

    @property
    def acceleration(self) -> np.ndarray | None:
        """Estimated accelerations ``(J,)`` (constant_acceleration model only), or None."""
        if self._x is None or self.order < 3:
            return None
        return self._x[:, 2].copy()

    # -- interface ------------------------------------------------------------
    def reset(self) -> None:
        super().reset()
        self._x = None
        self._p = None
        self._last_command = None
        self._input_jumps.clear()

    def _note_input(self, stamp: float, command: np.ndarray) -> None:
        if not np.any(self._input_gain):
            return
        if self._last_command is not None and command.shape == self._last_command.shape:
            change = float(np.linalg.norm(command - self._last_command))
            if change > 0.0:
                self._input_jumps.append((stamp, change))
        self._last_command = command.copy()

    def _estimate(self, stamp, positions, velocities):
        if not self.config.use_measured_velocity:
            velocities = None
        if self._x is None or stamp - self._last_stamp > self.config.max_dt:
            if self._x is not None:
                self.restarts += 1
            self._start(positions, velocities)
            self._input_jumps = [(t, change) for t, change in self._input_jumps if t >= stamp]
        else:
            self._predict(stamp - self._last_stamp)
            self._open_for_input_jumps(stamp)
            self._correct(positions, velocities)
        return np.concatenate([self._x[:, 0], self._x[:, 1]])

    # -- filter -----------------------------------------------------------------
    def _start(self, positions: np.ndarray, velocities: np.ndarray | None) -> None:
        j, n = self.num_joints, self.order
        self._x = np.zeros((j, n))
        self._x[:, 0] = positions
        variances = [self.position_variance, np.full(j, self.config.initial_velocity_std ** 2)]
        if n == 3:
            variances.append(np.full(j, self.config.initial_acceleration_std ** 2))
        self._p = np.zeros((j, n, n))
        for k, var in enumerate(variances):
            self._p[:, k, k] = var
        if velocities is not None:
            # The prior velocity (0 +- initial_velocity_std) is fused with the measured one.
            self._correct(positions, velocities)

    def _predict(self, dt: float) -> None:
        f = transition_matrix(dt, self.order)
        self._x = self._x @ f.T
        self._p = f @ self._p @ f.T + self._q[:, None, None] * process_noise_matrix(dt, self.order)

    def _open_for_input_jumps(self, stamp: float) -> None:
        """Add the covariance of the acceleration steps that commands caused before ``stamp``.

        A step ``da`` at time ``t_c``, ``tau = stamp - t_c`` ago, moved the state by
        ``da * g`` with ``g = [tau^2 / 2, tau(, 1)]``: its variance ``(gain * |du|)^2 g g^T`` is
        added (a step before the last measurement counts from that measurement).
        """
        if not self._input_jumps:
            return
        # A command acting from exactly this stamp changes nothing measured yet: it waits.
        due = [(t, change) for t, change in self._input_jumps if t < stamp]
        if not due:
            return
        self._input_jumps = [(t, change) for t, change in self._input_jumps if t >= stamp]
        for t, change in due:
            tau = stamp - max(t, self._last_stamp)
            g = np.array([0.5 * tau * tau, tau, 1.0][:self.order])
            variance = (self._input_gain * change) ** 2                 # (J,)
            self._p = self._p + variance[:, None, None] * np.outer(g, g)

    def _correct(self, positions: np.ndarray, velocities: np.ndarray | None) -> None:
        if velocities is None:
            # Scalar measurement per joint: P H^T is the first column, S a number, and the
            # Joseph-form update reduces to P - P_0 P_0^T / S, symmetric by construction.
            column = self._p[:, :, 0]                                       # (J, n)
            s = column[:, 0] + self.position_variance                       # (J,)
            innovation = positions - self._x[:, 0]
            self._x = self._x + column * (innovation / s)[:, None]
            self._p = self._p - column[:, :, None] * column[:, None, :] / s[:, None, None]
            return
        j, n = self.num_joints, self.order
        z = np.stack([positions, velocities], axis=1)
        r = np.zeros((j, 2, 2))
        r[:, 0, 0], r[:, 1, 1] = self.position_variance, self.velocity_variance
        h = np.eye(2, n)                                   # measures [q, q_dot]
        innovation = z - self._x @ h.T                     # (J, 2)
        ph = self._p @ h.T                                 # (J, n, 2)
        s = h @ ph + r                                     # (J, 2, 2)
        gain = np.linalg.solve(s, ph.transpose(0, 2, 1)).transpose(0, 2, 1)   # P H^T S^-1, (J, n, 2)
        self._x = self._x + np.einsum("jnm,jm->jn", gain, innovation)
        # Joseph form: stays symmetric positive definite with a gain computed in floating point.
        a = np.eye(n) - gain @ h
        p = a @ self._p @ a.transpose(0, 2, 1) + gain @ r @ gain.transpose(0, 2, 1)
        self._p = 0.5 * (p + p.transpose(0, 2, 1))
