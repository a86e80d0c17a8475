"""Timers on a fixed schedule (rcl ``rcl_timer_call`` semantics).

The next call is always the previous *scheduled* time plus the period, so callback
latency never accumulates into drift; if calls were missed (a slow callback, a busy
callback group) the schedule skips ahead to the next period in the future instead of
firing a burst. Timers on a ROS clock with ``use_sim_time`` active follow ``/clock`` (a timer
created before the first ``/clock`` message counts from time 0, so it is due as soon as
that message arrives, as in rcl); all others run on the monotonic clock.
"""
from __future__ import annotations

import threading
import time as _time
from typing import Any, Callable

from mbrl_ros.ros.runtime.clock import Clock, ROSClock


class Timer:
    """A periodic callback driven by an executor (create it with ``Node.create_timer``)."""

    def __init__(
        self,
        callback: Callable[[], Any] | None,
        callback_group: Any,
        timer_period_ns: int,
        clock: Clock,
        *,
        autostart: bool = True,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        if timer_period_ns < 0:
            raise ValueError("timer period must be >= 0")
        self.callback = callback
        self.callback_group = callback_group
        self._clock = clock
        self._period_ns = int(timer_period_ns)
        self._lock = threading.Lock()
        self._on_change = on_change or (lambda: None)
        self._canceled = not autostart
        self._destroyed = False
        self._base, now = self._now()
        self._last_seen_ns = now
        self._last_call_ns = now
        self._next_call_ns = now + self._period_ns
        if isinstance(clock, ROSClock):
            clock._add_change_listener(self._on_change)

    # -- time base -----------------------------------------------------------------------------

    def _now(self) -> tuple[str, int]:
        if isinstance(self._clock, ROSClock) and self._clock.ros_time_is_active:
            return "ros", self._clock.now().nanoseconds
        return "steady", _time.monotonic_ns()

    def _now_locked(self) -> int:
        """Current time in the timer's base.

        Like rcl's time-jump handler, a switch of time base (``use_sim_time`` toggled) or a
        backward jump of ROS time (simulation reset) keeps the time that was left until the
        next call; a forward jump makes the timer due at once.
        """
        base, now = self._now()
        if base != self._base or now < self._last_seen_ns:
            credit = max(0, self._next_call_ns - self._last_seen_ns)
            self._base = base
            self._last_call_ns = now
            self._next_call_ns = now + min(credit, self._period_ns)
        self._last_seen_ns = now
        return now

    # -- rclpy API ---------------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def timer_period_ns(self) -> int:
        return self._period_ns

    @timer_period_ns.setter
    def timer_period_ns(self, value: int) -> None:
        with self._lock:
            self._period_ns = int(value)
            self._next_call_ns = self._last_call_ns + self._period_ns
        self._on_change()

    def is_canceled(self) -> bool:
        return self._canceled

    def cancel(self) -> None:
        self._canceled = True
        self._on_change()

    def reset(self) -> None:
        """Restart the period from now (and un-cancel)."""
        with self._lock:
            self._base, now = self._now()
            self._last_seen_ns = now
            self._last_call_ns = now
            self._next_call_ns = now + self._period_ns
            self._canceled = False
        self._on_change()

    def is_ready(self) -> bool:
        with self._lock:
            if self._canceled or self._destroyed:
                return False
            return self._now_locked() >= self._next_call_ns

    def time_since_last_call(self) -> int:
        with self._lock:
            return self._now_locked() - self._last_call_ns

    def time_until_next_call(self) -> int | None:
        """Nanoseconds until the next call (negative if overdue); None if canceled."""
        with self._lock:
            if self._canceled or self._destroyed:
                return None
            return self._next_call_ns - self._now_locked()

    def destroy(self) -> None:
        self._destroyed = True
        if isinstance(self._clock, ROSClock):
            self._clock._remove_change_listener(self._on_change)

    # -- executor interface ------------------------------------------------------------------------

    def _wall_ns_until_ready(self) -> int | None:
        """Wall-clock nanoseconds until ready, 0 if ready; None if it can't be known by waiting
        (canceled, or on simulated time, where a ``/clock`` message wakes the executor)."""
        with self._lock:
            if self._canceled or self._destroyed:
                return None
            now = self._now_locked()
            if now >= self._next_call_ns:
                return 0
            return None if self._base == "ros" else self._next_call_ns - now

    def _call_begin(self) -> bool:
        """If ready, advance the schedule (rcl_timer_call) and return True."""
        with self._lock:
            if self._canceled or self._destroyed:
                return False
            now = self._now_locked()
            if now < self._next_call_ns:
                return False
            self._last_call_ns = now
            next_call = self._next_call_ns + self._period_ns
            if next_call < now:
                if self._period_ns == 0:
                    next_call = now
                else:
                    behind = now - next_call
                    next_call += (1 + (behind - 1) // self._period_ns) * self._period_ns
            self._next_call_ns = next_call
            return True

    def _execute(self) -> None:
        if self.callback is not None:
            self.callback()
