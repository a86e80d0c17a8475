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

from mbrl_ros.config import ConfigError, param


def per_joint(value: float | Sequence[float], num_joints: int, name: str) -> np.ndarray:
    """A per-joint setting as a ``(J,)`` array (one number applies to every joint).

    Raises:
        ConfigError: a list whose length is neither 1 nor ``num_joints``.
    """
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if values.size == 1:
        return np.full(num_joints, float(values[0]))
    if values.size != num_joints:
        raise ConfigError(f"{name}: give one value or one per joint ({num_joints}), got {values.size}")
    return values.copy()


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
