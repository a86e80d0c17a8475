"""``crazyflie_bridge``: Crazyswarm2 <-> the planner's state and command topics (quadrotor tasks).

Subscribes:
    /<cf>/odom (nav_msgs/Odometry; best effort, keep-last 5, which also matches Crazyswarm2's
        reliable writers): pose in the world frame (z up), twist linear in the body frame
        (``odom_twist_frame: body``, REP 105's child frame) or the world frame (``world``),
        twist angular = body rates. ``position_offset`` is added to the position.
    /<controller>/commands (std_msgs/Float64MultiArray): the planner's task actions.
Publishes:
    state_topic (sensor_msgs/JointState, default /mbrl/state): the observation as an
        observation JointState (see :mod:`mbrl_ros.nodes.joint_layout`), at most one per
        control period, stamped with this node's clock at arrival.
    /<cf>/cmd_full_state (crazyflie_interfaces/FullState; reliable, keep-last 1, as
        Crazyswarm2 subscribes with the system-default QoS): for each command, the state one
        control period ahead of the newest odometry under the command's wrench
        (:func:`mbrl_ros.robots.quadrotor_interfaces.full_state_setpoint`): position, velocity,
        feedforward acceleration, attitude and body rates. The Crazyflie's full-state
        controller (Mellinger) tracks it, so the drone goes where the planner's thrust and
        torques would take it, with the onboard loop closing what the model gets wrong.

Safety: like ``px4_bridge``, commands are forwarded only while odometry is fresh and (with
``require_tagged_commands``) only when they answer a state at most ``command_timeout`` old; the
planner's watchdog and shutdown commands are dropped. When setpoints stop, the Crazyflie's
commander watchdog levels the drone and then stops the motors (firmware behaviour).
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import time
from typing import Any

import numpy as np

import mbrl_ros.robots.crazyflie_msgs  # noqa: F401  (registers crazyflie_interfaces/FullState)
from mbrl_ros.config import ConfigError, param
from mbrl_ros.nodes.conversions import (
    InvalidMessageError,
    command_to_action,
    joint_state_message,
    ns_to_stamp,
    seconds_to_ns,
)
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.nodes.joint_layout import observation_layout
from mbrl_ros.nodes.parameters import declare_config, warn_unused_parameters
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.nodes.shared_parameters import declare_task
from mbrl_ros.robots.crazyflie_msgs import crazyflie_topic
from mbrl_ros.robots.frames import wxyz_to_xyzw
from mbrl_ros.robots.quadrotor_interfaces import (
    QuadrotorParameters,
    QuadrotorStateError,
    full_state_setpoint,
    observation_from_odometry,
)
from mbrl_ros.ros.compat import (
    Clock,
    ClockType,
    HistoryPolicy,
    MutuallyExclusiveCallbackGroup,
    Node,
    QoSProfile,
    ReliabilityPolicy,
    msg,
)


def odometry_fields(message: Any) -> tuple[list[float], list[float], list[float], list[float]]:
    """``(position, orientation_xyzw, twist linear, twist angular)`` of a nav_msgs/Odometry."""
    pose, twist = message.pose.pose, message.twist.twist
    return ([pose.position.x, pose.position.y, pose.position.z],
            [pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w],
            [twist.linear.x, twist.linear.y, twist.linear.z], [twist.angular.x, twist.angular.y, twist.angular.z])


def full_state_message(setpoint: Any, stamp_ns: int, frame_id: str) -> Any:
    """A crazyflie_interfaces/FullState from a :class:`FullStateSetpoint` (ROS frames)."""
    message = msg("crazyflie_interfaces/msg/FullState")()
    message.header.stamp = ns_to_stamp(stamp_ns)
    message.header.frame_id = frame_id
    p, q = message.pose.position, message.pose.orientation
    p.x, p.y, p.z = (float(v) for v in setpoint.position)
    q.x, q.y, q.z, q.w = (float(v) for v in wxyz_to_xyzw(setpoint.orientation_wxyz))
    v, w, a = message.twist.linear, message.twist.angular, message.acc
    v.x, v.y, v.z = (float(x) for x in setpoint.velocity)
    w.x, w.y, w.z = (float(x) for x in setpoint.angular_velocity)
    a.x, a.y, a.z = (float(x) for x in setpoint.acceleration)
    return message


@dataclasses.dataclass(frozen=True)
class CrazyflieBridgeConfig:
    """Parameters of ``crazyflie_bridge``."""

    task: str = param("quadrotor_hover", "Quadrotor task the planner runs; its own parameters are <task>.*.")
    controller: str = param("quadrotor_controller", "Planner commands are read from /<controller>/commands.")
    state_topic: str = param("/mbrl/state", "Where the observation JointState goes.")
    cf_name: str = param("cf231", "The Crazyflie's name in Crazyswarm2's crazyflies.yaml (topic prefix).")
    odom_twist_frame: str = param("body", "Frame of the odometry's twist.linear: body (REP 105) or world.",
                                  choices=("body", "world"))
    position_offset: list[float] = param([0.0, 0.0, 0.0], "Added to the odometry position (m) to give the "
                                         "task's position.")
    world_frame: str = param("world", "frame_id of cmd_full_state (Crazyswarm2's world frame).")
    command_timeout: float = param(0.2, "Wall s after which odometry counts as stale and a command's "
                                   "answered state as too old.", low=0.01, high=10.0)
    require_tagged_commands: bool = param(True, "Forward only commands tagged with a state at most "
                                          "command_timeout old; false for trigger:=timer.")
    diagnostics_period: float = param(1.0, "Seconds between two /diagnostics messages.", low=0.01, high=3600.0)


class CrazyflieBridgeNode(Node):
    """Adapts Crazyswarm2's odometry and full-state setpoints to the planner's topics."""

    def __init__(self, **node_kwargs: Any):
        super().__init__("crazyflie_bridge", **node_kwargs)
        cfg = self.config = declare_config(self, CrazyflieBridgeConfig)
        self.task = declare_task(self, cfg.task)
        warn_unused_parameters(self, ["", cfg.task])
        try:
            self.quad = QuadrotorParameters.from_task(self.task)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None
        self.layout = observation_layout(self.task)
        if self.layout.extra_dim:
            raise ConfigError(f"crazyflie_bridge: {cfg.task} has per-episode observation entries (waypoints) "
                              f"that Crazyswarm2 does not provide; use quadrotor_hover")
        if len(cfg.position_offset) != 3:
            raise ConfigError(f"position_offset needs 3 values (x, y, z), got {cfg.position_offset}")
        try:
            odom_topic = crazyflie_topic(cfg.cf_name, "odom")
            self.setpoint_topic = crazyflie_topic(cfg.cf_name, "cmd_full_state")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.health = NodeHealth(self, hardware_id=f"crazyflie:{cfg.cf_name}")
        self._period_ns = seconds_to_ns(self.task.spec.control_period)
        self._timeout_ns = seconds_to_ns(cfg.command_timeout)
        self._offset = np.asarray(cfg.position_offset, dtype=np.float64)
        self._low, self._high = np.asarray(self.task.spec.action_low), np.asarray(self.task.spec.action_high)
        self._lock = threading.Lock()
        self._obs: np.ndarray | None = None  # newest observation (from the newest odometry)
        self._obs_wall: float | None = None
        self._last_state_ns: int | None = None

        self._state_pub = self.create_publisher(msg("sensor_msgs/msg/JointState"), cfg.state_topic, 10)
        self._setpoint_pub = self.create_publisher(
            msg("crazyflie_interfaces/msg/FullState"), self.setpoint_topic,
            QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE))
        inputs = MutuallyExclusiveCallbackGroup()
        odom_qos = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.create_subscription(msg("nav_msgs/msg/Odometry"), odom_topic, self._on_odometry, odom_qos,
                                 callback_group=inputs)
        self.create_subscription(msg("std_msgs/msg/Float64MultiArray"), f"/{cfg.controller}/commands",
                                 self._on_command, 10, callback_group=inputs)
        self.create_timer(cfg.diagnostics_period, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"{cfg.task} on Crazyflie {cfg.cf_name}: {odom_topic} -> {cfg.state_topic}, "
                               f"/{cfg.controller}/commands -> {self.setpoint_topic}")

    def _on_odometry(self, message: Any) -> None:
        position, orientation, linear, angular = odometry_fields(message)
        try:
            obs = observation_from_odometry(np.asarray(position) + self._offset, orientation, linear, angular,
                                            self.config.odom_twist_frame)
        except QuadrotorStateError as exc:
            self.health.reject("odom", "invalid", str(exc))
            return
        now_ns = self.get_clock().now().nanoseconds
        with self._lock:
            self._obs, self._obs_wall = obs, time.monotonic()
            last = self._last_state_ns
        self.health.count("odometry")
        if last is not None and now_ns - last < 0.75 * self._period_ns:
            return  # one state per control period: the learner pairs consecutive states
        with self._lock:
            self._last_state_ns = now_ns
        self._state_pub.publish(joint_state_message(now_ns, self.layout.joint_names, obs))
        self.health.count("states")

    def _on_command(self, message: Any) -> None:
        try:
            action, tag = command_to_action(message, self.task.spec.act_dim)
        except InvalidMessageError as exc:
            self.health.reject("command", exc.reason, str(exc))
            return
        with self._lock:
            obs, obs_wall, newest_state = self._obs, self._obs_wall, self._last_state_ns
        if obs is None or time.monotonic() - obs_wall > self.config.command_timeout:
            self.health.reject("command", "no_odometry", "no fresh odometry; not forwarding commands")
            return
        if self.config.require_tagged_commands and (
                tag is None or newest_state is None or newest_state - tag > self._timeout_ns):
            self.health.reject("command", "stale", "command does not answer a recent state (the planner's "
                                                   "watchdog or shutdown command); dropped")
            return
        setpoint = full_state_setpoint(obs, self.quad.wrench(np.clip(action, self._low, self._high)), self.quad)
        self._setpoint_pub.publish(full_state_message(setpoint, self.get_clock().now().nanoseconds,
                                                      self.config.world_frame))
        self.health.count("setpoints")

    def _publish_diagnostics(self) -> None:
        rejected = self.health.rejected_total()
        self.health.publish("warn" if rejected else "ok",
                            f"{self.health.get('setpoints')} setpoint(s) sent, {rejected} input(s) rejected")


def main(args: list[str] | None = None) -> int:
    return run_node(CrazyflieBridgeNode, args, name="crazyflie_bridge")


if __name__ == "__main__":
    sys.exit(main())
