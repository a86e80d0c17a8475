"""Shared base of the quadrotor robot bridges (``px4_bridge``, ``crazyflie_bridge``).

A bridge adapts one quadrotor robot's odometry and setpoint topics to the planner's
state and command topics for a quadrotor task (``quadrotor_hover``). What they share:

* Set-up and checks: the task and its parameters (``<task>.*``), the quadrotor's
  parameters from the task (:class:`~mbrl_ros.robots.quadrotor.interfaces.QuadrotorParameters`;
  a task without a rotor mixer is a :class:`~mbrl_ros.config.ConfigError`), the
  observation layout (a task with per-episode observation entries, waypoints, is refused:
  no robot provides them) and ``position_offset`` (3 values).
* Odometry -> ``state_topic`` (sensor_msgs/JointState, an observation JointState, see
  :mod:`mbrl_ros.nodes.joint_layout`): each valid odometry message becomes the newest
  observation; at most one state is published per control period (robots stream odometry
  faster, and the learner pairs consecutive states as transitions), stamped with the
  node's clock at arrival. An invalid one is rejected (``rejected.<odometry>.invalid``).
* ``/<controller>/commands`` (std_msgs/Float64MultiArray) -> the robot's setpoint: a
  command is forwarded, clipped to the task's action bounds, only while odometry is fresher
  than ``command_timeout`` (else ``rejected.command.no_odometry``) and, with
  ``require_tagged_commands``, only when it is tagged with a state at most ``command_timeout``
  older than the newest published one (else ``rejected.command.stale``: the planner's
  watchdog and shutdown commands). Malformed commands are rejected with their reason.
* Counters ``odometry``, ``states``, ``setpoints`` and the rejections, published on
  ``/diagnostics`` every ``diagnostics_period`` s (steady clock) with the robot's own level
  and summary, followed by ``, <n> input(s) rejected``.

Odometry and commands are served by one mutually exclusive callback group.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from mbrl_ros.config import ConfigError
from mbrl_ros.nodes.conversions import InvalidMessageError, command_to_action, joint_state_message, seconds_to_ns
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.nodes.joint_layout import observation_layout
from mbrl_ros.nodes.parameters import declare_config, warn_unused_parameters
from mbrl_ros.nodes.shared_parameters import declare_task
from mbrl_ros.robots.quadrotor.interfaces import QuadrotorParameters, QuadrotorStateError
from mbrl_ros.ros.compat import Clock, ClockType, MutuallyExclusiveCallbackGroup, Node, msg


class QuadrotorBridge(Node):
    """A quadrotor robot's odometry and setpoints <-> the planner's topics (see the module docstring).

    Subclasses set the class attributes and implement :meth:`setup`, :meth:`observation`,
    :meth:`send_setpoint` and :meth:`diagnostics_status`. Their config dataclass
    (:attr:`config_class`) has at least ``task``, ``controller``, ``state_topic``,
    ``position_offset``, ``command_timeout``, ``require_tagged_commands`` and
    ``diagnostics_period``.
    """

    #: The node's parameters (a dataclass, see :func:`mbrl_ros.nodes.parameters.declare_config`).
    config_class: type
    #: Who provides the odometry, in the error for a task with waypoints ("PX4").
    robot: str = ""
    #: Input name that rejected odometry is counted and logged under (``rejected.<name>.invalid``).
    odometry_input: str = "odometry"
    #: What the "no fresh ...; not forwarding commands" rejection calls the odometry.
    odometry_name: str = "odometry"

    def __init__(self, name: str, **node_kwargs: Any):
        super().__init__(name, **node_kwargs)
        cfg = self.config = declare_config(self, self.config_class)
        self.task = declare_task(self, cfg.task)
        warn_unused_parameters(self, ["", cfg.task])
        try:
            self.quad = QuadrotorParameters.from_task(self.task)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None
        self.layout = observation_layout(self.task)
        if self.layout.extra_dim:
            raise ConfigError(f"{name}: {cfg.task} has per-episode observation entries (waypoints) that "
                              f"{self.robot} does not provide; use quadrotor_hover")
        if len(cfg.position_offset) != 3:
            raise ConfigError(f"position_offset needs 3 values (x, y, z), got {cfg.position_offset}")
        self.hardware_id = ""
        self.check_parameters()
        self.health = NodeHealth(self, hardware_id=self.hardware_id)
        self._period_ns = seconds_to_ns(self.task.spec.control_period)
        self._timeout_ns = seconds_to_ns(cfg.command_timeout)
        self._low, self._high = np.asarray(self.task.spec.action_low), np.asarray(self.task.spec.action_high)

        self._lock = threading.Lock()
        self._obs: np.ndarray | None = None  # newest observation (from the newest odometry)
        self._obs_wall: float | None = None  # monotonic time it arrived
        self._last_state_ns: int | None = None  # stamp of the newest published state
        self._last_command_wall: float | None = None  # monotonic time of the newest forwarded command

        self._state_pub = self.create_publisher(msg("sensor_msgs/msg/JointState"), cfg.state_topic, 10)
        self.inputs = MutuallyExclusiveCallbackGroup()
        self.setup()
        self.create_subscription(msg("std_msgs/msg/Float64MultiArray"), f"/{cfg.controller}/commands",
                                 self._on_command, 10, callback_group=self.inputs)
        self.create_timer(cfg.diagnostics_period, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))

    # -- subclass hooks -------------------------------------------------------------------------
    def check_parameters(self) -> None:
        """Check the robot's own parameters (raise ConfigError) and set :attr:`hardware_id`."""
        raise NotImplementedError

    def setup(self) -> None:
        """Create the robot's publishers, its timers and the odometry subscription
        (callback :meth:`_on_odometry`, group :attr:`inputs`)."""
        raise NotImplementedError

    def observation(self, message: Any) -> np.ndarray:
        """The task observation of an odometry message; raises QuadrotorStateError when invalid."""
        raise NotImplementedError

    def send_setpoint(self, action: np.ndarray, obs: np.ndarray) -> None:
        """Publish the robot's setpoint for ``action`` (within the task's bounds); ``obs``: the newest observation."""
        raise NotImplementedError

    def diagnostics_status(self, rejected: int) -> tuple[str, str]:
        """``(level, summary)`` of the /diagnostics status; ``rejected``: inputs rejected so far."""
        raise NotImplementedError

    def on_command_forwarded(self) -> None:
        """Called after each forwarded command (executor thread); default: nothing."""

    # -- helpers --------------------------------------------------------------------------------
    def fresh(self, wall_time: float | None) -> bool:
        """Whether something received at monotonic ``wall_time`` is at most ``command_timeout`` old."""
        return wall_time is not None and time.monotonic() - wall_time <= self.config.command_timeout

    # -- robot -> planner -----------------------------------------------------------------------
    def _on_odometry(self, message: Any) -> None:
        try:
            obs = self.observation(message)
        except QuadrotorStateError as exc:
            self.health.reject(self.odometry_input, "invalid", str(exc))
            return
        now_ns = self.get_clock().now().nanoseconds
        with self._lock:
            self._obs, self._obs_wall = obs, time.monotonic()
            last = self._last_state_ns
        self.health.count("odometry")
        # One state per control period: the learner pairs consecutive states as transitions.
        if last is not None and now_ns - last < 0.75 * self._period_ns:
            return
        with self._lock:
            self._last_state_ns = now_ns
        self._state_pub.publish(joint_state_message(now_ns, self.layout.joint_names, obs))
        self.health.count("states")

    # -- planner -> robot -----------------------------------------------------------------------
    def _on_command(self, message: Any) -> None:
        try:
            action, tag = command_to_action(message, self.task.spec.act_dim)
        except InvalidMessageError as exc:
            self.health.reject("command", exc.reason, str(exc))
            return
        with self._lock:
            obs, obs_wall, newest_state = self._obs, self._obs_wall, self._last_state_ns
        if obs is None or not self.fresh(obs_wall):
            self.health.reject("command", "no_odometry", f"no fresh {self.odometry_name}; not forwarding commands")
            return
        if self.config.require_tagged_commands and (
                tag is None or newest_state is None or newest_state - tag > self._timeout_ns):
            self.health.reject("command", "stale", "command does not answer a recent state (the planner's "
                                                   "watchdog or shutdown command); dropped")
            return
        try:
            self.send_setpoint(np.clip(action, self._low, self._high), obs)
        except QuadrotorStateError as exc:  # a setpoint the robot must not get; its own watchdog takes over
            self.health.reject("command", "no_setpoint", str(exc))
            return
        self.health.count("setpoints")
        with self._lock:
            self._last_command_wall = time.monotonic()
        self.on_command_forwarded()

    def _publish_diagnostics(self) -> None:
        rejected = self.health.rejected_total()
        level, summary = self.diagnostics_status(rejected)
        self.health.publish(level, f"{summary}, {rejected} input(s) rejected")
