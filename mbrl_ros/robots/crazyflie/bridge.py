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
        (:func:`mbrl_ros.robots.quadrotor.interfaces.full_state_setpoint`): position, velocity,
        feedforward acceleration, attitude and body rates. The Crazyflie's full-state
        controller (Mellinger) tracks it, so the drone goes where the planner's thrust and
        torques would take it, with the onboard loop closing what the model gets wrong.

Safety: like ``px4_bridge``, commands are forwarded only while odometry is fresh and (with
``require_tagged_commands``) only when they answer a state at most ``command_timeout`` old; the
planner's watchdog and shutdown commands are dropped. When setpoints stop, the Crazyflie's
commander watchdog levels the drone and then stops the motors (firmware behaviour). The
shared part lives in :class:`mbrl_ros.robots.quadrotor.bridge.QuadrotorBridge`.

Scheduling: ``main`` runs the process under SCHED_FIFO priority 10 where permitted, else nice
-10 (``scheduling.*``, :mod:`mbrl_ros.nodes.scheduling`), so the odometry -> state and command ->
setpoint path (and its freshness checks) is served before planning and training.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any

import numpy as np

import mbrl_ros.robots.crazyflie.msgs  # noqa: F401  (registers crazyflie_interfaces/FullState)
from mbrl_ros.config import ConfigError, param
from mbrl_ros.nodes.conversions import ns_to_stamp
from mbrl_ros.robots.quadrotor.bridge import QuadrotorBridge
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.nodes.scheduling import REALTIME_DEFAULTS
from mbrl_ros.robots.crazyflie.msgs import crazyflie_topic
from mbrl_ros.robots.frames import wxyz_to_xyzw
from mbrl_ros.robots.quadrotor.interfaces import full_state_setpoint, observation_from_odometry
from mbrl_ros.ros.compat import HistoryPolicy, QoSProfile, ReliabilityPolicy, msg


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


class CrazyflieBridgeNode(QuadrotorBridge):
    """Adapts Crazyswarm2's odometry and full-state setpoints to the planner's topics."""

    config_class = CrazyflieBridgeConfig
    robot = "Crazyswarm2"
    odometry_input = "odom"
    odometry_name = "odometry"

    def __init__(self, **node_kwargs: Any):
        super().__init__("crazyflie_bridge", **node_kwargs)
        cfg = self.config
        self.get_logger().info(f"{cfg.task} on Crazyflie {cfg.cf_name}: {self.odom_topic} -> {cfg.state_topic}, "
                               f"/{cfg.controller}/commands -> {self.setpoint_topic}")

    def check_parameters(self) -> None:
        cfg = self.config
        try:
            self.odom_topic = crazyflie_topic(cfg.cf_name, "odom")
            self.setpoint_topic = crazyflie_topic(cfg.cf_name, "cmd_full_state")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self._offset = np.asarray(cfg.position_offset, dtype=np.float64)
        self.hardware_id = f"crazyflie:{cfg.cf_name}"

    def setup(self) -> None:
        self._setpoint_pub = self.create_publisher(
            msg("crazyflie_interfaces/msg/FullState"), self.setpoint_topic,
            QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE))
        odom_qos = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.create_subscription(msg("nav_msgs/msg/Odometry"), self.odom_topic, self._on_odometry, odom_qos,
                                 callback_group=self.inputs)

    def observation(self, message: Any) -> np.ndarray:
        position, orientation, linear, angular = odometry_fields(message)
        return observation_from_odometry(np.asarray(position) + self._offset, orientation, linear, angular,
                                         self.config.odom_twist_frame)

    def send_setpoint(self, action: np.ndarray, obs: np.ndarray) -> None:
        setpoint = full_state_setpoint(obs, self.quad.wrench(action), self.quad)
        self._setpoint_pub.publish(full_state_message(setpoint, self.get_clock().now().nanoseconds,
                                                      self.config.world_frame))

    def diagnostics_status(self, rejected: int) -> tuple[str, str]:
        return ("warn" if rejected else "ok"), f"{self.health.get('setpoints')} setpoint(s) sent"


def main(args: list[str] | None = None) -> int:
    return run_node(CrazyflieBridgeNode, args, name="crazyflie_bridge", scheduling=REALTIME_DEFAULTS)


if __name__ == "__main__":
    sys.exit(main())
