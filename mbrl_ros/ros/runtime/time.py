"""``Time`` with rclpy's constructor, clock types and message conversion."""
from __future__ import annotations

from enum import IntEnum
from typing import Any

from mbrl_ros.ros.runtime.duration import S_TO_NS, Duration


class ClockType(IntEnum):
    """rcl clock types (same numbers as ``rcl_clock_type_t``)."""

    UNINITIALIZED = 0
    ROS_TIME = 1
    SYSTEM_TIME = 2
    STEADY_TIME = 3


class Time:
    """A point in time on one clock; times of different clock types do not compare.

    Args:
        seconds: Whole or fractional seconds since the clock's epoch.
        nanoseconds: Added to ``seconds``.
        clock_type: The clock the time belongs to.

    Raises:
        ValueError: the total is negative.
    """

    __slots__ = ("_nanoseconds", "_clock_type")

    def __init__(self, *, seconds: float = 0, nanoseconds: int = 0, clock_type: ClockType = ClockType.SYSTEM_TIME) -> None:
        total = int(round(seconds * S_TO_NS)) + int(nanoseconds)
        if total < 0:
            raise ValueError("Time must be non-negative")
        self._nanoseconds = total
        self._clock_type = ClockType(clock_type)

    @property
    def nanoseconds(self) -> int:
        return self._nanoseconds

    @property
    def clock_type(self) -> ClockType:
        return self._clock_type

    def seconds_nanoseconds(self) -> tuple[int, int]:
        return divmod(self._nanoseconds, S_TO_NS)

    def to_msg(self) -> Any:
        """A ``builtin_interfaces/msg/Time``."""
        from mbrl_ros.ros.messages import message_class

        sec, nanosec = self.seconds_nanoseconds()
        return message_class("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec)

    @classmethod
    def from_msg(cls, msg: Any, clock_type: ClockType = ClockType.ROS_TIME) -> "Time":
        return cls(seconds=msg.sec, nanoseconds=msg.nanosec, clock_type=clock_type)

    def __repr__(self) -> str:
        return f"Time(nanoseconds={self._nanoseconds}, clock_type={self._clock_type.name})"

    def _check(self, other: object) -> "Time":
        if not isinstance(other, Time):
            raise TypeError(f"expected a Time, got {type(other).__name__}")
        if other._clock_type != self._clock_type:
            raise TypeError(f"can't compare times with different clock types ({self._clock_type.name}, {other._clock_type.name})")
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Time):
            return NotImplemented
        return self._nanoseconds == self._check(other)._nanoseconds

    def __hash__(self) -> int:
        return hash((self._nanoseconds, self._clock_type))

    def __lt__(self, other: "Time") -> bool:
        return self._nanoseconds < self._check(other)._nanoseconds

    def __le__(self, other: "Time") -> bool:
        return self._nanoseconds <= self._check(other)._nanoseconds

    def __gt__(self, other: "Time") -> bool:
        return self._nanoseconds > self._check(other)._nanoseconds

    def __ge__(self, other: "Time") -> bool:
        return self._nanoseconds >= self._check(other)._nanoseconds

    def __add__(self, other: Duration) -> "Time":
        if not isinstance(other, Duration):
            return NotImplemented
        return Time(nanoseconds=self._nanoseconds + other.nanoseconds, clock_type=self._clock_type)

    __radd__ = __add__

    def __sub__(self, other: "Time | Duration") -> "Time | Duration":
        if isinstance(other, Time):
            return Duration(nanoseconds=self._nanoseconds - self._check(other)._nanoseconds)
        if isinstance(other, Duration):
            return Time(nanoseconds=self._nanoseconds - other.nanoseconds, clock_type=self._clock_type)
        return NotImplemented
