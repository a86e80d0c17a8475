"""Velocity from positions by finite differences with irregular time steps, and pass-through.

``finite_difference``: backward differences of the (unwrapped) positions over
the measured stamps. Order 1 is exact for constant velocity; order 2 uses the
quadratic through the last three samples (non-uniform spacing) and is exact
for constant acceleration. A gap longer than ``max_dt`` (a dropped sensor, a
reset) restarts the history instead of averaging across it.

``passthrough``: the measured velocities as they are (e.g. a simulator or a
``joint_state_broadcaster`` with velocity interfaces).
"""
from __future__ import annotations

import collections
import dataclasses

import numpy as np

from mbrl_ros.config import param
from mbrl_ros.estimation.base import ESTIMATORS, EstimatorInputError, StateEstimator


@dataclasses.dataclass(frozen=True)
class FiniteDifferenceConfig:
    """Settings of the ``finite_difference`` estimator."""

    order: int = param(1, "1: backward difference (exact for constant velocity); 2: three-point "
                       "difference on non-uniform stamps (exact for constant acceleration).", low=1, high=2)
    max_dt: float = param(0.5, "A gap between two samples longer than this (s) restarts the history.",
                          low=1e-6, high=1e6)
    smoothing: float = param(0.0, "Exponential smoothing of the velocity, v = (1-s) v_fd + s v_prev "
                             "(0: none).", low=0.0, high=0.99)
    start_at_rest: bool = param(True, "After a (re)start, report zero velocity for the first sample "
                                "instead of no state (episodes start at rest).")


@ESTIMATORS.register("finite_difference")
class FiniteDifferenceEstimator(StateEstimator):
    """Velocities by backward finite differences over irregular stamps (see module docstring)."""

    Config = FiniteDifferenceConfig

    def __init__(self, config, num_joints, continuous_joints=()):
        super().__init__(config, num_joints, continuous_joints)
        self._history: collections.deque[tuple[float, np.ndarray]] = collections.deque(maxlen=3)
        self._velocity: np.ndarray | None = None

    def reset(self) -> None:
        super().reset()
        self._history.clear()
        self._velocity = None

    def _estimate(self, stamp, positions, velocities):
        if self._history and stamp - self._history[-1][0] > self.config.max_dt:
            self._history.clear()
            self._velocity = None
        self._history.append((stamp, positions))
        if len(self._history) == 1:
            if not self.config.start_at_rest:
                return None
            velocity = np.zeros(self.num_joints)
        elif len(self._history) == 2 or self.config.order == 1:
            (t0, p0), (t1, p1) = self._history[-2], self._history[-1]
            velocity = (p1 - p0) / (t1 - t0)
        else:
            (t0, p0), (t1, p1), (t2, p2) = self._history
            h1, h2 = t1 - t0, t2 - t1
            # Derivative at t2 of the quadratic through the three samples.
            velocity = (p2 * (2.0 * h2 + h1) / (h2 * (h1 + h2))
                        - p1 * (h1 + h2) / (h1 * h2)
                        + p0 * h2 / (h1 * (h1 + h2)))
        s = self.config.smoothing
        if s > 0.0 and self._velocity is not None:
            velocity = (1.0 - s) * velocity + s * self._velocity
        self._velocity = velocity
        return np.concatenate([positions, velocity])


@dataclasses.dataclass(frozen=True)
class PassthroughConfig:
    """The ``passthrough`` estimator has no settings."""


@ESTIMATORS.register("passthrough")
class PassthroughEstimator(StateEstimator):
    """Measured positions and velocities, validated and (for continuous joints) unwrapped."""

    Config = PassthroughConfig

    def _check(self, positions, velocities):
        if velocities is None:
            raise EstimatorInputError("missing_velocity", "passthrough needs measured velocities; "
                                      "use the finite_difference estimator for position-only sensors")

    def _estimate(self, stamp, positions, velocities):
        return np.concatenate([positions, velocities])
