"""``Duration`` with rclpy's constructor and arithmetic (integer nanoseconds)."""
from __future__ import annotations

from typing import Any

S_TO_NS = 1_000_000_000


class Duration:
    """A signed time span.

    Args:
        seconds: Whole or fractional seconds.
        nanoseconds: Added to ``seconds``.
    """

    __slots__ = ("_nanoseconds",)

    def __init__(self, *, seconds: float = 0, nanoseconds: int = 0) -> None:
        self._nanoseconds = int(round(seconds * S_TO_NS)) + int(nanoseconds)

    @property
    def nanoseconds(self) -> int:
        return self._nanoseconds

    def to_msg(self) -> Any:
        """A ``builtin_interfaces/msg/Duration`` (``sec`` floors toward minus infinity, like rclpy)."""
        from mbrl_ros.ros.messages import message_class

        sec, nanosec = divmod(self._nanoseconds, S_TO_NS)
        return message_class("builtin_interfaces/msg/Duration")(sec=sec, nanosec=nanosec)

    @classmethod
    def from_msg(cls, msg: Any) -> "Duration":
        return cls(seconds=msg.sec, nanoseconds=msg.nanosec)

    def __repr__(self) -> str:
        return f"Duration(nanoseconds={self._nanoseconds})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Duration):
            return self._nanoseconds == other._nanoseconds
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._nanoseconds)

    def __lt__(self, other: "Duration") -> bool:
        return self._nanoseconds < _ns(other)

    def __le__(self, other: "Duration") -> bool:
        return self._nanoseconds <= _ns(other)

    def __gt__(self, other: "Duration") -> bool:
        return self._nanoseconds > _ns(other)

    def __ge__(self, other: "Duration") -> bool:
        return self._nanoseconds >= _ns(other)

    def __add__(self, other: "Duration") -> "Duration":
        return Duration(nanoseconds=self._nanoseconds + _ns(other))

    def __sub__(self, other: "Duration") -> "Duration":
        return Duration(nanoseconds=self._nanoseconds - _ns(other))

    def __mul__(self, factor: float) -> "Duration":
        return Duration(nanoseconds=int(self._nanoseconds * factor))

    __rmul__ = __mul__


def _ns(other: object) -> int:
    if not isinstance(other, Duration):
        raise TypeError(f"expected a Duration, got {type(other).__name__}")
    return other._nanoseconds
