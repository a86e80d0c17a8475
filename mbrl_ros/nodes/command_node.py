"""What the nodes that command the actuators from states share (``mpc_planner``, ``policy_controller``).

:class:`CommandNodeMixin` holds the state input (subscription, validation: order, ``max_state_age``,
the per-episode observation extra), the command output (clamped to the task's limits, never NaN or
inf, optionally tagged with a state stamp, counted per kind), the state-timeout watchdog that sends
the safe command, the safe command at shutdown, and the common part of /diagnostics. The node
class lists it before ``Node``; it expects these attributes from the node:

    config: with ``state_topic``, ``observation_extra_topic``, ``controller``, ``max_state_age``,
        ``state_timeout`` and ``diagnostics_period``.
    layout: the task's joint layout (``joint_names``, ``extra_dim``).
    health: the node's :class:`~mbrl_ros.nodes.diagnostics.NodeHealth`.
    _lock: a lock guarding ``_extra`` and ``_last_state_wall``.
    _extra, _last_state_ns, _last_state_wall: ``None`` until set by the node's callbacks.
"""
from __future__ import annotations

import time
from typing import Any, Iterable

import numpy as np

from mbrl_ros.nodes.conversions import NS_PER_S, InvalidMessageError, command_message, joint_state_to_sample
from mbrl_ros.ros.compat import Clock, ClockType, msg, qos_profile_latched


def median_p99(samples: Iterable[float], name: str, scale: float = 1.0) -> dict[str, float]:
    """``{name_median, name_p99}`` of ``samples`` times ``scale``; empty when there are none.

    ``samples`` is copied with ``list()`` (a C-level copy under the GIL, so another thread's
    append cannot interleave)."""
    values = np.asarray(list(samples)) * scale
    if not values.size:
        return {}
    return {f"{name}_median": float(np.median(values)), f"{name}_p99": float(np.percentile(values, 99))}


class CommandNodeMixin:
    """State input, command output, state-timeout watchdog and shutdown command of a node
    that answers states with actuator commands; see the module docstring."""

    #: Counter of commands that were not finite (or of the wrong size) and replaced by the safe one.
    non_finite_counter = "non_finite_commands"

    # -- setup ----------------------------------------------------------------------------
    def _init_command_output(self, spec: Any) -> None:
        """The task's actuator limits and safe command (its nominal action, else zeros; clamped)."""
        self._low = np.asarray(spec.action_low, dtype=np.float64)
        self._high = np.asarray(spec.action_high, dtype=np.float64)
        self.safe_action = np.asarray(spec.safe_action(), dtype=np.float64)

    def _create_command_publisher(self) -> None:
        """``/<controller>/commands`` (std_msgs/Float64MultiArray)."""
        self._command_pub = self.create_publisher(msg("std_msgs/msg/Float64MultiArray"),
                                                  f"/{self.config.controller}/commands", 10)

    def _subscribe_state(self, callback_group: Any) -> None:
        """The observation extra (tasks that have some) and the state subscriptions."""
        cfg = self.config
        if self.layout.extra_dim:
            # Created before the state subscription: when both have data, the executor serves
            # the one created first, so a new episode's extra is in place before its first state.
            self.create_subscription(msg("std_msgs/msg/Float64MultiArray"), cfg.observation_extra_topic,
                                     self._on_extra, qos_profile_latched, callback_group=callback_group)
        self.create_subscription(msg("sensor_msgs/msg/JointState"), cfg.state_topic, self._on_state, 10,
                                 callback_group=callback_group)

    def _create_watchdog(self, callback_group: Any) -> None:
        """The state-timeout and diagnostics timers (steady clock) and the shutdown command."""
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(self.config.state_timeout, self._on_watchdog, callback_group=callback_group, clock=steady)
        self.create_timer(self.config.diagnostics_period, self._publish_diagnostics, callback_group=callback_group,
                          clock=steady)
        self.context.on_shutdown(self._on_shutdown)

    # -- inputs ---------------------------------------------------------------------------
    def _accept_state(self, message: Any, *, require_velocity: bool) -> Any | None:
        """The state's sample, or ``None`` after rejecting it (invalid, not newer than the last
        state, older than ``max_state_age``)."""
        try:
            sample = joint_state_to_sample(message, self.layout.joint_names, require_velocity=require_velocity)
        except InvalidMessageError as exc:
            self.health.reject("state", exc.reason, str(exc))
            return None
        if self._last_state_ns is not None and sample.stamp_ns <= self._last_state_ns:
            reason = "duplicate_stamp" if sample.stamp_ns == self._last_state_ns else "out_of_order"
            self.health.reject("state", reason, f"stamp {sample.stamp:.9f} s is not newer than the last state")
            return None
        if self.config.max_state_age > 0:
            age = (self.get_clock().now().nanoseconds - sample.stamp_ns) / NS_PER_S
            if age > self.config.max_state_age:
                self.health.reject("state", "stale", f"state is {age:.3f} s old (max_state_age "
                                                     f"{self.config.max_state_age} s)")
                return None
        return sample

    def _observation(self, sample: Any, extra: np.ndarray | None) -> np.ndarray | None:
        """The observation of an accepted state, which becomes the last state; ``None`` after
        rejecting it when the task needs an observation extra and none came yet."""
        if self.layout.extra_dim and extra is None:
            self.health.reject("state", "missing_extra", f"no observation extra on "
                                                         f"{self.config.observation_extra_topic} yet")
            return None
        obs = self.layout.observation(sample.positions, sample.velocities, extra)
        self._last_state_ns = sample.stamp_ns
        return obs

    def _on_extra(self, message: Any) -> None:
        extra = np.asarray(message.data, dtype=np.float64).reshape(-1)
        if extra.size != self.layout.extra_dim or not np.all(np.isfinite(extra)):
            self.health.reject("observation_extra", "invalid", f"expected {self.layout.extra_dim} finite "
                                                               f"values, got {extra.tolist()}")
            return
        with self._lock:
            self._extra = extra

    # -- outputs --------------------------------------------------------------------------
    def _publish_command(self, action: np.ndarray, *, tag_ns: int | None = None, kind: str | None = None) -> None:
        """Publish ``action`` clamped to the limits; a non-finite one is replaced by the safe command."""
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != self.safe_action.shape or not np.all(np.isfinite(action)):
            self.health.count(self.non_finite_counter)
            action, kind = self.safe_action, self._on_non_finite_command(action, kind)
        self._command_pub.publish(command_message(np.clip(action, self._low, self._high), tag_ns))
        self.health.count("commands")
        if kind is not None:
            self.health.count(f"commands.{kind}")

    def _on_non_finite_command(self, action: np.ndarray, kind: str | None) -> str | None:
        """A non-finite ``action`` is replaced by the safe command: the kind it is counted as."""
        return kind

    def _state_is_stale(self) -> bool:
        with self._lock:
            last = self._last_state_wall
        return last is not None and time.monotonic() - last > self.config.state_timeout

    def _on_watchdog(self) -> None:
        if not self._state_is_stale():
            return
        tag = self._on_state_timeout()
        self._publish_command(self.safe_action, tag_ns=tag, kind="safe")
        text = f"no state for more than {self.config.state_timeout} s; sending the safe command " \
               f"{self.safe_action.tolist()}"
        if not getattr(self.config, "lockstep_pauses", False):
            self.health.log_throttled("state_timeout", text)
        elif self.health.count("state_timeouts") == 1:
            # Expected between lockstep episodes: said once; /diagnostics still counts commands.safe.
            self.get_logger().info(f"{text} (the lockstep simulator pauses between episodes; said once)")

    def _on_state_timeout(self) -> int | None:
        """The state timed out: the stamp to tag the safe command with. Tagged with the last
        state, so a lockstep simulator that is between episodes drops it as stale instead of
        applying it to its next state."""
        return self._last_state_ns

    def _publish_health(self, what: str, warn: Any, extra: dict[str, Any]) -> None:
        """/diagnostics: error when the state timed out, warn on rejected inputs or ``warn``."""
        rejected = self.health.rejected_total()
        stale = self._state_is_stale()
        level = "error" if stale else ("warn" if rejected or warn else "ok")
        self.health.publish(level, f"{what}, {'no state' if stale else 'running'}, {rejected} input(s) rejected",
                            extra)

    def _on_shutdown(self) -> None:
        """Ctrl-C or SIGTERM: leave the actuators with the safe command (entities still exist here)."""
        try:
            self._publish_command(self.safe_action, kind="safe")
        except RuntimeError as exc:  # rclpy and the runtime raise RCLError (a RuntimeError) if it is too late
            self.get_logger().warning(f"could not send the safe command at shutdown: {exc}")
