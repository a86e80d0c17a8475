"""A plan pinned to time, and which of its actions applies now (mujoco_mpc's ActionFromPolicy).

The optimizer (OptimizePolicy) produces ``actions (H, A)`` from the state stamped ``stamp_ns``;
whoever sends commands asks :meth:`TimedPlan.action_at` for the action of a later state's stamp,
without waiting for the optimizer. Pure logic (no ROS, no threads), so the node's control callback
and its tests share it.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class TimedPlan:
    """``actions (H, A)`` planned from the state stamped ``stamp_ns``, one per ``period_ns``.

    Attributes:
        next_index: the next action a fixed-rate sender (``timer`` trigger) applies; it steps
            through the plan regardless of stamps.
    """

    actions: np.ndarray
    stamp_ns: int
    period_ns: int
    next_index: int = 0

    def __post_init__(self):
        if self.period_ns <= 0:
            raise ValueError(f"TimedPlan: period_ns must be positive, got {self.period_ns}")
        if self.actions.ndim != 2 or self.actions.shape[0] < 1:
            raise ValueError(f"TimedPlan: actions must be (H, A) with H >= 1, got shape {self.actions.shape}")

    @property
    def horizon(self) -> int:
        return int(self.actions.shape[0])

    def index_at(self, stamp_ns: int) -> int:
        """Control periods from the plan's start state to ``stamp_ns``, rounded (negative: before it)."""
        return round((int(stamp_ns) - self.stamp_ns) / self.period_ns)

    def action_at(self, stamp_ns: int) -> tuple[int, np.ndarray | None]:
        """``(index, action)`` for the state stamped ``stamp_ns``: the plan's action for that time,
        or ``None`` when the index is outside the plan (before its start, or past its horizon:
        the caller sends its safe command)."""
        index = self.index_at(stamp_ns)
        if 0 <= index < self.horizon:
            return index, self.actions[index]
        return index, None

    def take_next(self) -> np.ndarray | None:
        """The next action of a fixed-rate sender and advance; ``None`` past the horizon.
        Not thread-safe: call it under the lock that guards the plan."""
        index = self.next_index
        self.next_index += 1
        return self.actions[index] if index < self.horizon else None
