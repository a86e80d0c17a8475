"""Clocks: system, steady, and ROS time that follows ``/clock`` when ``use_sim_time`` is true."""
from __future__ import annotations

import threading
import time as _time
from typing import Callable

from mbrl_ros.ros.runtime.duration import Duration
from mbrl_ros.ros.runtime.time import ClockType, Time


class Clock:
    """A clock of one :class:`ClockType` (``Clock()`` is system time, as in rclpy)."""

    def __new__(cls, *, clock_type: ClockType = ClockType.SYSTEM_TIME) -> "Clock":
        # rclpy hands out a ROSClock for Clock(clock_type=ROS_TIME); so do we.
        if cls is Clock and clock_type == ClockType.ROS_TIME:
            return super().__new__(ROSClock)
        return super().__new__(cls)

    def __init__(self, *, clock_type: ClockType = ClockType.SYSTEM_TIME) -> None:
        if clock_type == ClockType.UNINITIALIZED:
            raise ValueError("a clock needs a clock type")
        self._clock_type = ClockType(clock_type)
        self._time_changed = threading.Condition()

    @property
    def clock_type(self) -> ClockType:
        return self._clock_type

    def now(self) -> Time:
        if self._clock_type == ClockType.STEADY_TIME:
            return Time(nanoseconds=_time.monotonic_ns(), clock_type=ClockType.STEADY_TIME)
        return Time(nanoseconds=_time.time_ns(), clock_type=self._clock_type)

    def sleep_until(self, until: Time, *, timeout_sec: float | None = None) -> bool:
        """Block until ``now() >= until``; False if ``timeout_sec`` (wall seconds) passed first."""
        if until.clock_type != self._clock_type:
            raise ValueError(f"until has clock type {until.clock_type.name}, clock is {self._clock_type.name}")
        deadline = None if timeout_sec is None else _time.monotonic() + timeout_sec
        with self._time_changed:
            while True:
                now = self.now()
                if now >= until:
                    return True
                wall_wait = self._wall_wait_ns(until.nanoseconds - now.nanoseconds)
                if deadline is not None:
                    remaining = deadline - _time.monotonic()
                    if remaining <= 0:
                        return False
                    wall_wait = remaining * 1e9 if wall_wait is None else min(wall_wait, remaining * 1e9)
                self._time_changed.wait(None if wall_wait is None else wall_wait / 1e9)

    def sleep_for(self, rel_time: Duration, *, timeout_sec: float | None = None) -> bool:
        return self.sleep_until(self.now() + rel_time, timeout_sec=timeout_sec)

    def _wall_wait_ns(self, clock_ns: int) -> float | None:
        """Wall time to wait for the clock to advance ``clock_ns``; None when unknowable (sim time)."""
        return float(clock_ns)

    def __repr__(self) -> str:
        return f"Clock(clock_type={self._clock_type.name})"


class ROSClock(Clock):
    """ROS time: system time, or the last ``/clock`` value while ROS time is active."""

    def __init__(self, *, clock_type: ClockType = ClockType.ROS_TIME) -> None:
        if clock_type != ClockType.ROS_TIME:
            raise ValueError("a ROSClock has clock type ROS_TIME")
        self._clock_type = ClockType.ROS_TIME
        self._time_changed = threading.Condition()
        self._ros_time_is_active = False
        self._override = Time(clock_type=ClockType.ROS_TIME)
        self._listeners: list[Callable[[], None]] = []

    @property
    def ros_time_is_active(self) -> bool:
        return self._ros_time_is_active

    def _set_ros_time_is_active(self, enabled: bool) -> None:
        with self._time_changed:
            self._ros_time_is_active = bool(enabled)
            self._time_changed.notify_all()
        self._notify_listeners()

    def set_ros_time_override(self, time: Time) -> None:
        if not isinstance(time, Time):
            raise TypeError("time must be a Time")
        with self._time_changed:
            self._override = Time(nanoseconds=time.nanoseconds, clock_type=ClockType.ROS_TIME)
            self._time_changed.notify_all()
        self._notify_listeners()

    def now(self) -> Time:
        if self._ros_time_is_active:
            return self._override
        return Time(nanoseconds=_time.time_ns(), clock_type=ClockType.ROS_TIME)

    def _wall_wait_ns(self, clock_ns: int) -> float | None:
        return None if self._ros_time_is_active else float(clock_ns)

    def _add_change_listener(self, listener: Callable[[], None]) -> None:
        """Called after every time override or activation change (executors wake their timers)."""
        self._listeners.append(listener)

    def _remove_change_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify_listeners(self) -> None:
        for listener in list(self._listeners):
            listener()
