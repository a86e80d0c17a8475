"""``crazyflie_sim``: a Crazyswarm2 stand-in: the quadrotor task behind one Crazyflie's topics.

Publishes /<cf>/odom (nav_msgs/Odometry, reliable, keep-last 10 as Crazyswarm2's server): pose
in ``world`` (z up), twist linear in the body frame (REP 105; ``child_frame_id`` = the drone's
name), twist angular = body rates, each control period.
Subscribes /<cf>/cmd_full_state (crazyflie_interfaces/FullState, reliable) and tracks the newest
setpoint with :func:`~mbrl_ros.robots.quadrotor.interfaces.wrench_tracking_full_state` (the
feedforward of the firmware's Mellinger controller plus a one-period rate loop), saturated at the
rotor limits. Without a setpoint newer than ``command_timeout`` (the firmware's commander
watchdog) it holds the hover thrust. Its summary counts the setpoints and the invalid ones
(NaN, a non-unit quaternion, a frame other than ``world``).
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import time
from typing import Any

import numpy as np

import mbrl_ros.robots.crazyflie.msgs  # noqa: F401  (registers crazyflie_interfaces/FullState)
from mbrl_ros.config import param
from mbrl_ros.nodes.conversions import ns_to_stamp
from mbrl_ros.robots.quadrotor.stand_in import QuadrotorStandIn, QuadrotorStandInConfig
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.nodes.scheduling import REALTIME_DEFAULTS
from mbrl_ros.robots.crazyflie.msgs import crazyflie_topic
from mbrl_ros.robots.frames import wxyz_to_xyzw, xyzw_to_wxyz
from mbrl_ros.robots.quadrotor.interfaces import FullStateSetpoint, wrench_tracking_full_state
from mbrl_ros.estimation import quaternion
from mbrl_ros.ros.compat import msg


@dataclasses.dataclass(frozen=True)
class CrazyflieSimConfig(QuadrotorStandInConfig):
    """Parameters of ``crazyflie_sim`` (the shared stand-in ones plus the drone's name)."""

    cf_name: str = param("cf231", "The simulated Crazyflie's name (topic prefix).")
    world_frame: str = param("world", "frame_id of the odometry (and of the setpoints it accepts).")


def setpoint_from_message(message: Any) -> FullStateSetpoint:
    """A FullState message as a :class:`FullStateSetpoint` (ROS frames)."""
    p, q = message.pose.position, message.pose.orientation
    v, w, a = message.twist.linear, message.twist.angular, message.acc
    return FullStateSetpoint(position=np.array([p.x, p.y, p.z]), velocity=np.array([v.x, v.y, v.z]),
                             acceleration=np.array([a.x, a.y, a.z]),
                             orientation_wxyz=xyzw_to_wxyz(np.array([q.x, q.y, q.z, q.w])),
                             angular_velocity=np.array([w.x, w.y, w.z]))


class CrazyflieSimNode(QuadrotorStandIn):
    """Simulates a Crazyflie behind Crazyswarm2's topics (see the module docstring)."""

    config_class = CrazyflieSimConfig

    def __init__(self, **node_kwargs: Any):
        super().__init__("crazyflie_sim", **node_kwargs)

    def setup(self) -> None:
        cfg = self.config
        self._lock = threading.Lock()
        self._setpoint: tuple[float, FullStateSetpoint] | None = None
        self.counters.update({"full_state_setpoints": 0, "invalid_setpoints": 0, "setpoint_z_min": None,
                              "setpoint_z_max": None})
        self.state_topic = crazyflie_topic(cfg.cf_name, "odom")
        command_topic = crazyflie_topic(cfg.cf_name, "cmd_full_state")
        self.command_topics = [command_topic]
        self._odom_pub = self.create_publisher(msg("nav_msgs/msg/Odometry"), self.state_topic, 10)
        self.create_subscription(msg("crazyflie_interfaces/msg/FullState"), command_topic, self._on_setpoint, 10)

    def controller_ready(self) -> bool:
        with self._lock:
            return self._setpoint is not None  # a bridge sends setpoints: it is controlling

    def _on_setpoint(self, message: Any) -> None:
        setpoint = setpoint_from_message(message)
        values = np.concatenate([setpoint.position, setpoint.velocity, setpoint.acceleration,
                                 setpoint.orientation_wxyz, setpoint.angular_velocity])
        self.count("full_state_setpoints")
        norm = float(np.linalg.norm(setpoint.orientation_wxyz))
        if not np.all(np.isfinite(values)) or abs(norm - 1.0) > 1e-6 or message.header.frame_id != self.config.world_frame:
            self.count("invalid_setpoints")
            return
        with self._lock:
            z = float(setpoint.position[2])
            low, high = self.counters["setpoint_z_min"], self.counters["setpoint_z_max"]
            self.counters["setpoint_z_min"] = z if low is None else min(low, z)
            self.counters["setpoint_z_max"] = z if high is None else max(high, z)
            self._setpoint = (time.monotonic(), setpoint)

    def publish_state(self, obs: np.ndarray, now_ns: int) -> None:
        message = msg("nav_msgs/msg/Odometry")()
        message.header.stamp = ns_to_stamp(now_ns)
        message.header.frame_id = self.config.world_frame
        message.child_frame_id = self.config.cf_name
        p, q = message.pose.pose.position, message.pose.pose.orientation
        p.x, p.y, p.z = (float(v) for v in obs[0:3])
        q.x, q.y, q.z, q.w = (float(v) for v in wxyz_to_xyzw(obs[3:7]))
        body_velocity = quaternion.to_rotation_matrix(obs[3:7]).T @ obs[7:10]
        v, w = message.twist.twist.linear, message.twist.twist.angular
        v.x, v.y, v.z = (float(x) for x in body_velocity)
        w.x, w.y, w.z = (float(x) for x in obs[10:13])
        self._odom_pub.publish(message)

    def action_for(self, obs: np.ndarray) -> np.ndarray | None:
        with self._lock:
            setpoint = self._setpoint
        if setpoint is None or not self.fresh(setpoint[0]):
            return None
        wrench = wrench_tracking_full_state(obs, setpoint[1], self.quad)
        return self.quad.action_from_rotor_thrusts(self.quad.rotor_thrusts_from_wrench(wrench))


def main(args: list[str] | None = None) -> int:
    return run_node(CrazyflieSimNode, args, name="crazyflie_sim", num_threads=2,
                    scheduling=REALTIME_DEFAULTS)  # it stands in for hardware with its own CPU


if __name__ == "__main__":
    sys.exit(main())
