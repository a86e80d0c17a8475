"""State estimator interface and registry (no ROS imports).

A state estimator turns a stream of joint measurements (stamped positions,
optionally velocities) into the full state a planner needs:
``[positions (J,), velocities (J,)]``. Estimators are registered by name in
:data:`ESTIMATORS` and built with :func:`make_estimator`, so the
``state_estimator`` node picks one with a parameter (``estimator:
finite_difference``). Kalman filters will implement the same interface.

Stamps are seconds on one clock (ROS time, simulated or not). Every estimator
rejects duplicate and out-of-order stamps, non-finite values and wrong lengths
with :class:`EstimatorInputError`, whose ``reason`` names the problem in a word
that a node can count.
"""
from __future__ import annotations

import abc
import collections
import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

from mbrl_ros.config import from_dict
from mbrl_ros.registry import Registry

#: Estimator name -> estimator class (constructor ``(config, num_joints, continuous_joints=())``).
ESTIMATORS: Registry = Registry("estimator")


class EstimatorInputError(ValueError):
    """A measurement was rejected; ``reason`` is a short key such as ``"out_of_order"``.

    Reasons: ``wrong_length``, ``non_finite``, ``duplicate_stamp``, ``out_of_order``,
    ``missing_velocity``.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def wrap_to_pi(angle: np.ndarray) -> np.ndarray:
    """Angles mapped into ``[-pi, pi)`` (rad)."""
    return (np.asarray(angle) + np.pi) % (2.0 * np.pi) - np.pi


class AngleUnwrapper:
    """Makes the positions of continuous joints continuous across the +-pi seam.

    A real continuous joint often reports its angle wrapped into ``[-pi, pi)``;
    differencing or learning on it would see a jump of ``2 pi`` at the seam.
    Each new angle is placed within ``pi`` of the previous unwrapped one.

    Args:
        num_joints: J.
        continuous_joints: indices of the joints whose angle may wrap.
    """

    def __init__(self, num_joints: int, continuous_joints: Sequence[int] = ()):
        self.indices = np.array(sorted({int(i) for i in continuous_joints}), dtype=int)
        if self.indices.size and (self.indices[0] < 0 or self.indices[-1] >= num_joints):
            raise ValueError(f"continuous_joints {list(self.indices)} out of range for {num_joints} joints")
        self._previous: np.ndarray | None = None

    def reset(self) -> None:
        self._previous = None

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """Unwrapped copy of ``positions`` (J,)."""
        out = np.array(positions, dtype=np.float64)
        if self.indices.size and self._previous is not None:
            last = self._previous[self.indices]
            out[self.indices] = last + wrap_to_pi(out[self.indices] - last)
        self._previous = out.copy()
        return out


class StateEstimator(abc.ABC):
    """Joint measurements in, full state ``[positions (J,), velocities (J,)]`` out.

    Args:
        config: the estimator's typed config (a mapping is validated into it).
        num_joints: J, joints per measurement.
        continuous_joints: joints whose reported angle may wrap at +-pi; their
            output position is unwrapped (continuous).

    Subclasses implement :meth:`_estimate` and may extend :meth:`reset`.
    """

    Config: type = None  # set by subclasses

    def __init__(self, config: Any, num_joints: int, continuous_joints: Sequence[int] = ()):
        if self.Config is None:
            raise TypeError(f"{type(self).__name__} must define a Config dataclass")
        if isinstance(config, self.Config):
            self.config = config
        else:
            self.config = from_dict(self.Config, config or {})
        if int(num_joints) < 1:
            raise ValueError(f"num_joints must be at least 1, got {num_joints}")
        self.num_joints = int(num_joints)
        self._unwrap = AngleUnwrapper(self.num_joints, continuous_joints)
        self._last_stamp: float | None = None
        #: Rejected measurements per reason (``out_of_order``, ``non_finite``, ...).
        self.rejected: collections.Counter[str] = collections.Counter()

    @property
    def state_dim(self) -> int:
        """Length of the state vector, ``2 J``."""
        return 2 * self.num_joints

    @property
    def last_stamp(self) -> float | None:
        """Stamp (s) of the last accepted measurement, or None."""
        return self._last_stamp

    def reset(self) -> None:
        """Forget the history (new episode, or after a long gap)."""
        self._last_stamp = None
        self._unwrap.reset()

    def update(self, stamp: float, positions: Sequence[float],
               velocities: Sequence[float] | None = None) -> np.ndarray | None:
        """Take one measurement and return the state estimate at ``stamp``.

        Args:
            stamp: measurement time in seconds; must increase strictly.
            positions: ``(J,)`` joint positions (rad or m).
            velocities: ``(J,)`` measured joint velocities (rad/s or m/s), or None.
        Returns:
            ``(2 J,)`` float64 state, or None while the estimator has too little
            history to give one.
        Raises:
            EstimatorInputError: wrong length, NaN/inf, duplicate or older stamp;
                the estimator's state is unchanged and :attr:`rejected` counts the reason.
        """
        try:
            return self._update(stamp, positions, velocities)
        except EstimatorInputError as err:
            self.rejected[err.reason] += 1
            raise

    def _update(self, stamp: float, positions: Sequence[float], velocities: Sequence[float] | None):
        stamp = float(stamp)
        if not np.isfinite(stamp):
            raise EstimatorInputError("non_finite", f"stamp is not finite: {stamp}")
        pos = np.asarray(positions, dtype=np.float64).reshape(-1)
        if pos.shape != (self.num_joints,):
            raise EstimatorInputError("wrong_length", f"expected {self.num_joints} positions, got {pos.size}")
        if not np.all(np.isfinite(pos)):
            raise EstimatorInputError("non_finite", f"positions contain NaN or inf: {pos.tolist()}")
        vel = None
        if velocities is not None:
            vel = np.asarray(velocities, dtype=np.float64).reshape(-1)
            if vel.size == 0:
                vel = None
            elif vel.shape != (self.num_joints,):
                raise EstimatorInputError("wrong_length", f"expected {self.num_joints} velocities, got {vel.size}")
            elif not np.all(np.isfinite(vel)):
                raise EstimatorInputError("non_finite", f"velocities contain NaN or inf: {vel.tolist()}")
        if self._last_stamp is not None:
            if stamp == self._last_stamp:
                raise EstimatorInputError("duplicate_stamp", f"stamp {stamp:.9f} s was already used")
            if stamp < self._last_stamp:
                raise EstimatorInputError(
                    "out_of_order", f"stamp {stamp:.9f} s is older than the last one ({self._last_stamp:.9f} s)")
        self._check(pos, vel)
        state = self._estimate(stamp, self._unwrap(pos), vel)
        self._last_stamp = stamp
        return state

    def note_input(self, stamp: float, command: Sequence[float]) -> None:
        """Tell the estimator that ``command`` (the actuator command vector) acts from ``stamp`` on.

        Estimators that model the effect of commands use it (``joint_kf`` with ``input_gain``);
        the others ignore it. Call it in time order, before the measurements that follow.

        Raises:
            EstimatorInputError: a non-finite stamp or command (``non_finite``).
        """
        stamp = float(stamp)
        command = np.asarray(command, dtype=np.float64).reshape(-1)
        if not np.isfinite(stamp) or not np.all(np.isfinite(command)):
            self.rejected["non_finite"] += 1
            raise EstimatorInputError("non_finite", f"command {command.tolist()} at {stamp} s is not finite")
        self._note_input(stamp, command)

    def _note_input(self, stamp: float, command: np.ndarray) -> None:
        """Use a validated command; ignored by default."""

    def _check(self, positions: np.ndarray, velocities: np.ndarray | None) -> None:
        """Estimator-specific input checks (raise :class:`EstimatorInputError`); none by default."""

    @abc.abstractmethod
    def _estimate(self, stamp: float, positions: np.ndarray, velocities: np.ndarray | None) -> np.ndarray | None:
        """State ``(2 J,)`` from a validated measurement (positions already unwrapped)."""


def make_estimator(name: str, config: Mapping[str, Any] | Any | None, num_joints: int,
                   continuous_joints: Sequence[int] = ()) -> StateEstimator:
    """Build the estimator registered as ``name``.

    Raises:
        UnknownComponentError: ``name`` is not registered (the message lists what is).
        ConfigError: an unknown, mistyped or out-of-bounds parameter.
    """
    cls = ESTIMATORS.get(name)
    if dataclasses.is_dataclass(config) and not isinstance(config, type) and not isinstance(config, cls.Config):
        raise TypeError(f"estimator {name!r} expects a {cls.Config.__name__}, got {type(config).__name__}")
    return cls(config or {}, num_joints, continuous_joints)
