"""Sensor and actuator models for simulated robots (no ROS imports).

A :class:`JointSensor` turns the true joint positions and velocities of a
simulation into what a robot's drivers would report: Gaussian noise, encoder
quantization, optionally no velocities at all (position-only encoders), lost
messages, and latency. :class:`ActuationDelay` holds commands back for a number
of control periods (bus, driver and motor current loop). The ``sim_bridge``
node uses both; their settings come from a sensor profile, a ROS params file
in ``config/sensors/`` (``ideal``, ``encoders``) picked by the launch argument
``sensors``.

Per-joint settings take one number (every joint) or one per joint, because one
robot mixes rotary (rad) and linear (m) joints.

For a flying or mobile robot, :class:`ImuSensor` samples a strapdown IMU (gyro and
accelerometer white noise given as densities, biases that random-walk) and
:class:`PoseSensor` a motion-capture or other pose source (position and attitude
noise, a lower rate, latency, lost samples). The quadrotor stand-ins use both; a
profile sets them under ``imu.*`` and ``pose.*``.

Example:
    sensor = JointSensor(JointSensorConfig(position_quantization=[1.5e-5, 1.5e-3]), num_joints=2,
                         rng=np.random.default_rng(0))
    reading = sensor.measure(stamp_ns, positions, velocities)   # None while delayed or lost
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Sequence

import numpy as np

from mbrl_ros.config import ConfigError, param, per_joint
from mbrl_ros.estimation import quaternion as quat


@dataclasses.dataclass(frozen=True)
class JointSensorConfig:
    """A joint sensor profile (the ``sim_bridge`` parameters of the same names)."""

    position_noise_std: float | list[float] = param(
        0.0, "Std of Gaussian noise on measured positions (rad or m), one value or one per joint.",
        low=0.0, high=100.0)
    position_quantization: float | list[float] = param(
        0.0, "Measured positions are rounded to multiples of this (encoder resolution, e.g. 2 pi / 4096 "
        "rad; 0: off), one value or one per joint.", low=0.0, high=100.0)
    publish_velocity: bool = param(True, "false: position-only encoders; messages carry no velocities and "
                                   "the state estimator must estimate them.")
    velocity_noise_std: float | list[float] = param(
        0.0, "Std of Gaussian noise on measured velocities (rad/s or m/s).", low=0.0, high=100.0)
    velocity_quantization: float | list[float] = param(
        0.0, "Measured velocities are rounded to multiples of this (0: off).", low=0.0, high=100.0)
    dropout_probability: float = param(0.0, "Probability that a measurement is lost.", low=0.0, high=0.99)
    latency_steps: int = param(0, "Measurements are delivered this many samples late (with their original "
                               "stamp).", low=0, high=1000)

    def validated(self, num_joints: int) -> dict[str, np.ndarray]:
        """The per-joint settings as ``(J,)`` arrays.

        Raises:
            ConfigError: a per-joint list of the wrong length.
        """
        names = ("position_noise_std", "position_quantization", "velocity_noise_std", "velocity_quantization")
        return {name: per_joint(getattr(self, name), num_joints, name) for name in names}


@dataclasses.dataclass(frozen=True)
class JointReading:
    """One delivered measurement: stamp (ns), positions (J,), velocities (J,) or None."""

    stamp_ns: int
    positions: np.ndarray
    velocities: np.ndarray | None


class JointSensor:
    """Noisy, quantized, lossy, late joint measurements of a simulation.

    Args:
        config: the sensor profile.
        num_joints: J.
        rng: the noise and dropout stream (seed it for reproducible runs).

    Attributes:
        dropped: measurements lost so far.
    """

    def __init__(self, config: JointSensorConfig, num_joints: int, rng: np.random.Generator):
        self.config = config
        self.num_joints = int(num_joints)
        self._settings = config.validated(self.num_joints)
        self._rng = rng
        self._queue: collections.deque[JointReading | None] = collections.deque()
        self.dropped = 0

    def reset(self) -> None:
        """Forget measurements still in flight (a new episode)."""
        self._queue.clear()

    @staticmethod
    def _degrade(values: np.ndarray, noise: np.ndarray, step: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = values + rng.standard_normal(values.shape) * noise
        quantized = step > 0
        out[quantized] = np.round(out[quantized] / step[quantized]) * step[quantized]
        return out

    def measure(self, stamp_ns: int, positions: Sequence[float], velocities: Sequence[float]) -> JointReading | None:
        """Sample the true state at ``stamp_ns``; returns the reading due now, or None.

        With ``latency_steps`` = L the reading returned is the one sampled L calls ago (None
        during the first L calls of an episode); a lost reading is None when it falls due.
        """
        s = self._settings
        positions = np.asarray(positions, dtype=np.float64)
        velocities = np.asarray(velocities, dtype=np.float64)
        if positions.shape != (self.num_joints,) or velocities.shape != (self.num_joints,):
            raise ValueError(f"JointSensor: expected {self.num_joints} positions and velocities, "
                             f"got {positions.shape} and {velocities.shape}")
        reading = None
        if self._rng.random() >= self.config.dropout_probability:
            measured_v = None
            if self.config.publish_velocity:
                measured_v = self._degrade(velocities, s["velocity_noise_std"], s["velocity_quantization"], self._rng)
            reading = JointReading(int(stamp_ns),
                                   self._degrade(positions, s["position_noise_std"], s["position_quantization"],
                                                 self._rng), measured_v)
        else:
            self.dropped += 1
        self._queue.append(reading)
        if len(self._queue) <= self.config.latency_steps:
            return None
        return self._queue.popleft()


class ActuationDelay:
    """Commands take effect ``steps`` control periods after they were given.

    Args:
        steps: the delay in control periods (0: none).
        initial: the command in effect before the first delayed one arrives (the safe command).
    """

    def __init__(self, steps: int, initial: Sequence[float]):
        if steps < 0:
            raise ValueError(f"ActuationDelay: steps must be >= 0, got {steps}")
        self.steps = int(steps)
        self._initial = np.array(initial, dtype=np.float64)
        self._queue: collections.deque[np.ndarray] = collections.deque()

    def reset(self) -> None:
        self._queue.clear()

    def __call__(self, command: Sequence[float]) -> np.ndarray:
        """The command that acts now, given the one just issued."""
        self._queue.append(np.array(command, dtype=np.float64))
        if len(self._queue) <= self.steps:
            return self._initial.copy()
        return self._queue.popleft()


# -- rigid-body sensors (IMU, motion capture) ---------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ImuSensorConfig:
    """A strapdown IMU profile (body frame; the quadrotor stand-ins' ``imu.*`` parameters).

    The sample rate is the caller's (one sample per :meth:`ImuSensor.measure`); white noise is
    given as a continuous-time density, so a sample's standard deviation is
    ``density * sqrt(rate)``, and a bias random walk grows by ``walk * sqrt(t)`` after ``t`` s.
    """

    gyro_noise_density: float = param(0.0, "Gyro white noise (rad/s/sqrt(Hz)).", low=0.0, high=10.0)
    accel_noise_density: float = param(0.0, "Accelerometer white noise (m/s^2/sqrt(Hz)).", low=0.0, high=100.0)
    gyro_bias_random_walk: float = param(0.0, "Gyro bias random walk (rad/s^2/sqrt(Hz)).", low=0.0, high=10.0)
    accel_bias_random_walk: float = param(0.0, "Accelerometer bias random walk (m/s^3/sqrt(Hz)).",
                                          low=0.0, high=100.0)
    gyro_bias: list[float] = param([0.0, 0.0, 0.0], "Gyro bias at start (rad/s, body x, y, z).",
                                   low=-10.0, high=10.0)
    accel_bias: list[float] = param([0.0, 0.0, 0.0], "Accelerometer bias at start (m/s^2, body x, y, z).",
                                    low=-100.0, high=100.0)

    def __post_init__(self):
        if len(self.gyro_bias) != 3 or len(self.accel_bias) != 3:
            raise ConfigError(f"imu gyro_bias and accel_bias need 3 values (x, y, z), got {list(self.gyro_bias)} "
                              f"and {list(self.accel_bias)}")


@dataclasses.dataclass(frozen=True)
class ImuReading:
    """One IMU sample: stamp (ns), gyro ``(3,)`` rad/s and specific force ``(3,)`` m/s^2, body frame."""

    stamp_ns: int
    gyro: np.ndarray
    accel: np.ndarray


class ImuSensor:
    """Noisy, biased IMU samples of a rigid body's true motion, one per :meth:`measure` call.

    The accelerometer measures the specific force ``R^T (a - g)`` (body frame; ``+|g|`` along
    body z when level and still), the gyro the body rate; each adds its bias and white noise.
    Both biases random-walk by ``walk * sqrt(dt)`` per sample.

    Args:
        config: the IMU profile.
        rate: samples per second (Hz) at which the caller calls :meth:`measure`.
        rng: the noise stream.
        gravity: ``(3,)`` world gravity vector (m/s^2), e.g. the simulator's ``[0, 0, -9.81]``.

    Attributes:
        gyro_bias, accel_bias: ``(3,)`` the true biases now (for tests and ground truth).
    """

    def __init__(self, config: ImuSensorConfig, rate: float, rng: np.random.Generator,
                 gravity: Sequence[float] = (0.0, 0.0, -9.80665)):
        if not rate > 0.0:
            raise ConfigError(f"ImuSensor: rate must be > 0 Hz, got {rate}")
        self.config = config
        self.rate = float(rate)
        self._rng = rng
        self._gravity = np.asarray(gravity, dtype=np.float64).reshape(3)
        self._gyro_std = config.gyro_noise_density * np.sqrt(self.rate)
        self._accel_std = config.accel_noise_density * np.sqrt(self.rate)
        self.reset()

    def reset(self) -> None:
        """Biases back to their start values (a sensor powered up again)."""
        self.gyro_bias = np.array(self.config.gyro_bias, dtype=np.float64)
        self.accel_bias = np.array(self.config.accel_bias, dtype=np.float64)

    def measure(self, stamp_ns: int, angular_velocity: Sequence[float], acceleration: Sequence[float],
                quaternion: Sequence[float]) -> ImuReading:
        """Sample the IMU; the biases then walk on by one sample interval.

        Args:
            angular_velocity: ``(3,)`` rad/s, body.
            acceleration: ``(3,)`` m/s^2, world (the body's true acceleration, gravity excluded).
            quaternion: ``(4,)`` ``[w, x, y, z]`` body -> world.
        """
        omega = np.asarray(angular_velocity, dtype=np.float64).reshape(3)
        accel = np.asarray(acceleration, dtype=np.float64).reshape(3)
        rot = quat.to_rotation_matrix(quat.normalize(np.asarray(quaternion, dtype=np.float64)))
        specific_force = rot.T @ (accel - self._gravity)
        reading = ImuReading(int(stamp_ns), omega + self.gyro_bias + self._rng.standard_normal(3) * self._gyro_std,
                             specific_force + self.accel_bias + self._rng.standard_normal(3) * self._accel_std)
        step = 1.0 / np.sqrt(self.rate)
        self.gyro_bias = self.gyro_bias + self._rng.standard_normal(3) * self.config.gyro_bias_random_walk * step
        self.accel_bias = self.accel_bias + self._rng.standard_normal(3) * self.config.accel_bias_random_walk * step
        return reading


@dataclasses.dataclass(frozen=True)
class PoseSensorConfig:
    """A pose source profile (motion capture, a visual odometry): the stand-ins' ``pose.*`` parameters."""

    position_noise_std: float = param(0.0, "Std of Gaussian noise on each position axis (m).", low=0.0, high=100.0)
    attitude_noise_std: float = param(0.0, "Std of the attitude error per body axis (rad): the measured "
                                      "attitude is q * Exp(n), n ~ N(0, std^2 I).", low=0.0, high=3.0)
    rate_divider: int = param(1, "A pose is sampled on every rate_divider-th call (e.g. 4: 50 Hz poses from a "
                              "200 Hz simulation).", low=1, high=100000)
    latency: float = param(0.0, "A pose is delivered once the caller's clock is this many seconds past its "
                           "stamp (it keeps its sample stamp).", low=0.0, high=10.0)
    latency_steps: int = param(0, "... and at least this many calls after it was sampled.", low=0, high=100000)
    dropout_probability: float = param(0.0, "Probability that a sampled pose is lost.", low=0.0, high=0.99)


@dataclasses.dataclass(frozen=True)
class PoseReading:
    """One delivered pose: sample stamp (ns), position ``(3,)`` m and quaternion ``(4,)`` ``[w, x, y, z]``."""

    stamp_ns: int
    position: np.ndarray
    quaternion: np.ndarray


class PoseSensor:
    """Noisy, slower, late and lossy pose measurements of a rigid body.

    Args:
        config: the pose profile.
        rng: the noise and dropout stream.

    Attributes:
        dropped: poses lost so far.
    """

    def __init__(self, config: PoseSensorConfig, rng: np.random.Generator):
        self.config = config
        self._rng = rng
        self._latency_ns = int(round(config.latency * 1e9))
        self._pending: collections.deque[tuple[int, PoseReading]] = collections.deque()  # (due call, reading)
        self._calls = 0
        self.dropped = 0

    def reset(self) -> None:
        """Forget poses in flight and restart the rate divider (a new episode)."""
        self._pending.clear()
        self._calls = 0

    def measure(self, stamp_ns: int, position: Sequence[float], quaternion: Sequence[float]) -> list[PoseReading]:
        """Offer the true pose at ``stamp_ns``; returns the poses due now, oldest first (often none)."""
        cfg = self.config
        call = self._calls
        self._calls += 1
        if call % cfg.rate_divider == 0:
            if self._rng.random() >= cfg.dropout_probability:
                p = np.asarray(position, dtype=np.float64).reshape(3) + self._rng.standard_normal(3) * cfg.position_noise_std
                q = quat.normalize(quat.multiply(
                    quat.normalize(np.asarray(quaternion, dtype=np.float64)),
                    quat.from_rotation_vector(self._rng.standard_normal(3) * cfg.attitude_noise_std)))
                self._pending.append((call + cfg.latency_steps, PoseReading(int(stamp_ns), p, q)))
            else:
                self.dropped += 1
        due = []
        while self._pending and self._pending[0][0] <= call \
                and self._pending[0][1].stamp_ns + self._latency_ns <= int(stamp_ns):
            due.append(self._pending.popleft()[1])
        return due
