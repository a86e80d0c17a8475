"""``rigid_body_estimator``: IMU + pose -> nav_msgs/Odometry with covariance (the rigid-body EKF).

A thin adapter around :class:`~mbrl_ros.estimation.RigidBodyEKF` (parameters
``rigid_body_ekf.*``): the filter does the math, this node converts messages, checks them and
publishes. Subscribes:

    imu_topic (sensor_msgs/Imu): gyro (rad/s) and specific force (m/s^2) in the body frame (FLU;
        the IMU is taken to sit at the body origin, axes aligned, lever arm ignored). Each
        sample propagates the filter; its orientation field is not used.
    pose_topic (geometry_msgs/PoseStamped): a motion-capture or other pose of the body in
        ``world_frame`` (ENU), stamped when it was captured; late poses (up to
        ``rigid_body_ekf.max_delay``) are fused at their stamp and the newer IMU samples
        re-applied.

Both with best-effort QoS, keep-last ``input_depth``: a best-effort reader matches reliable and
best-effort writers alike (IMU and mocap drivers use either).

Publishes ``odom_topic`` (nav_msgs/Odometry, reliable, keep-last 10) after every
``publish_every``-th accepted IMU sample once a pose has started the filter, stamped with that
sample: ``header.frame_id`` = ``world_frame``, ``child_frame_id`` = ``body_frame``; the pose in
the world frame with its covariance over ``[x, y, z, rot_x, rot_y, rot_z]`` (rotations about the
world axes); the twist in the child (body) frame as REP 105 asks, linear velocity and
bias-corrected body rates, with its covariance over the body axes.

Rejected with a throttled log and a counter ``rejected.<imu|pose>.<reason>`` in ``/diagnostics``:
NaN/inf (``non_finite``), an IMU message that says it has no gyro or accelerometer data
(covariance[0] = -1, ``not_measured``), a quaternion far from unit norm, a pose in another frame
(``wrong_frame``), stamps older than ``max_age`` on the node's clock (``stale``), IMU stamps out of
order or repeated, poses older than the filter's history (``too_late``). An IMU gap longer than
``restart_gap`` (a sensor restart, a new episode of a stand-in) restarts the filter from the next
pose (counted as ``restarts``). A message on ``/mbrl/reset`` resets it.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any

import numpy as np

from mbrl_ros.config import param
from mbrl_ros.estimation import EstimatorInputError, RigidBodyEKF, RigidBodyEKFConfig, RigidBodyEstimate
from mbrl_ros.nodes.conversions import NS_PER_S, ns_to_stamp, stamp_to_ns
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.nodes.parameters import declare_config, warn_unused_parameters
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.robots.frames import wxyz_to_xyzw, xyzw_to_wxyz
from mbrl_ros.ros.compat import Clock, ClockType, HistoryPolicy, Node, QoSProfile, ReliabilityPolicy, msg

RESET_TOPIC = "/mbrl/reset"
EKF_PREFIX = "rigid_body_ekf"


@dataclasses.dataclass(frozen=True)
class RigidBodyEstimatorNodeConfig:
    """Parameters of the ``rigid_body_estimator`` node (the filter's own are ``rigid_body_ekf.*``)."""

    imu_topic: str = param("/imu", "sensor_msgs/Imu input (body frame, FLU).")
    pose_topic: str = param("/mocap/pose", "geometry_msgs/PoseStamped input (world frame, ENU).")
    odom_topic: str = param("/mbrl/odom", "nav_msgs/Odometry output with pose and twist covariance.")
    world_frame: str = param("world", "Odometry header.frame_id; poses in another (non-empty) frame are "
                             "rejected.")
    body_frame: str = param("base_link", "Odometry child_frame_id (the twist is expressed in it).")
    publish_every: int = param(1, "Publish after every n-th accepted IMU sample (1: at the IMU rate).",
                               low=1, high=100000)
    max_age: float = param(0.5, "Reject inputs older than this on the node's clock (s; 0: off). Use "
                           "use_sim_time next to a simulator that publishes /clock.", low=0.0, high=3600.0)
    restart_gap: float = param(0.25, "An IMU gap longer than this (s) restarts the filter from the next pose "
                               "(0: never).", low=0.0, high=3600.0)
    input_depth: int = param(100, "Keep-last depth of the (best-effort) input subscriptions.", low=1, high=10000)
    diagnostics_period: float = param(1.0, "Seconds between two /diagnostics messages.", low=0.01, high=3600.0)


def imu_from_message(message: Any) -> tuple[int, np.ndarray, np.ndarray]:
    """``(stamp_ns, gyro (3,), accel (3,))`` of a sensor_msgs/Imu.

    Raises:
        EstimatorInputError: ``not_measured`` when a covariance says the field has no data (REP 145).
    """
    if message.angular_velocity_covariance[0] == -1.0 or message.linear_acceleration_covariance[0] == -1.0:
        raise EstimatorInputError("not_measured", "the IMU message has no angular velocity or linear "
                                  "acceleration (covariance[0] = -1); this node needs both")
    w, a = message.angular_velocity, message.linear_acceleration
    return stamp_to_ns(message.header.stamp), np.array([w.x, w.y, w.z]), np.array([a.x, a.y, a.z])


def pose_from_message(message: Any) -> tuple[int, np.ndarray, np.ndarray]:
    """``(stamp_ns, position (3,), quaternion (4,) [w, x, y, z])`` of a geometry_msgs/PoseStamped."""
    p, o = message.pose.position, message.pose.orientation
    return (stamp_to_ns(message.header.stamp), np.array([p.x, p.y, p.z]),
            xyzw_to_wxyz(np.array([o.x, o.y, o.z, o.w])))


def odometry_message(estimate: RigidBodyEstimate, stamp_ns: int, frame_id: str, child_frame_id: str) -> Any:
    """nav_msgs/Odometry of an estimate: world pose, body-frame twist, both with 6x6 covariances."""
    message = msg("nav_msgs/msg/Odometry")()
    message.header.stamp = ns_to_stamp(stamp_ns)
    message.header.frame_id = frame_id
    message.child_frame_id = child_frame_id
    p, o = message.pose.pose.position, message.pose.pose.orientation
    p.x, p.y, p.z = (float(v) for v in estimate.position)
    o.x, o.y, o.z, o.w = (float(v) for v in wxyz_to_xyzw(estimate.quaternion))
    message.pose.covariance = [float(v) for v in estimate.pose_covariance.reshape(-1)]
    v, w = message.twist.twist.linear, message.twist.twist.angular
    v.x, v.y, v.z = (float(x) for x in estimate.body_velocity)
    w.x, w.y, w.z = (float(x) for x in estimate.angular_velocity)
    message.twist.covariance = [float(x) for x in estimate.twist_covariance.reshape(-1)]
    return message


class RigidBodyEstimatorNode(Node):
    """Runs :class:`~mbrl_ros.estimation.RigidBodyEKF` on IMU and pose topics (see the module docstring)."""

    def __init__(self, **node_kwargs: Any):
        super().__init__("rigid_body_estimator", **node_kwargs)
        self.config = declare_config(self, RigidBodyEstimatorNodeConfig)
        self.ekf_config = declare_config(self, RigidBodyEKFConfig, prefix=EKF_PREFIX)
        warn_unused_parameters(self, ["", EKF_PREFIX])
        self.health = NodeHealth(self)
        self.ekf = RigidBodyEKF(self.ekf_config)
        self._origin_ns: int | None = None        # stamps become seconds since the first input
        self._last_imu_ns: int | None = None
        self._imu_count = 0
        cfg = self.config
        inputs = QoSProfile(depth=cfg.input_depth, reliability=ReliabilityPolicy.BEST_EFFORT,
                            history=HistoryPolicy.KEEP_LAST)
        self._publisher = self.create_publisher(msg("nav_msgs/msg/Odometry"), cfg.odom_topic, 10)
        self.create_subscription(msg("sensor_msgs/msg/Imu"), cfg.imu_topic, self._on_imu, inputs)
        self.create_subscription(msg("geometry_msgs/msg/PoseStamped"), cfg.pose_topic, self._on_pose, inputs)
        self.create_subscription(msg("std_msgs/msg/Empty"), RESET_TOPIC, self._on_reset, 10)
        self.create_timer(cfg.diagnostics_period, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"rigid_body_ekf: {cfg.imu_topic} + {cfg.pose_topic} -> {cfg.odom_topic}")

    # -- inputs ---------------------------------------------------------------------------------
    def _seconds(self, source: str, stamp_ns: int) -> float | None:
        """Seconds since the first input, or None (counted) if the stamp is stale."""
        if self.config.max_age > 0:
            age = (self.get_clock().now().nanoseconds - stamp_ns) / NS_PER_S
            if age > self.config.max_age:
                self.health.reject(source, "stale", f"stamp is {age:.3f} s old (max_age {self.config.max_age} s); "
                                   f"if the gap is huge, set use_sim_time the same on every node")
                return None
        if self._origin_ns is None:
            self._origin_ns = stamp_ns
        # Wall-clock stamps (~1.7e9 s) as floats would lose sub-microsecond resolution.
        return (stamp_ns - self._origin_ns) / NS_PER_S

    def _on_imu(self, message: Any) -> None:
        try:
            stamp_ns, gyro, accel = imu_from_message(message)
        except EstimatorInputError as exc:
            self.health.reject("imu", exc.reason, str(exc))
            return
        stamp = self._seconds("imu", stamp_ns)
        if stamp is None:
            return
        gap = self.config.restart_gap
        if gap > 0 and self._last_imu_ns is not None and (stamp_ns - self._last_imu_ns) / NS_PER_S > gap:
            self.get_logger().info(f"no IMU sample for {(stamp_ns - self._last_imu_ns) / NS_PER_S:.3f} s "
                                   f"(restart_gap {gap} s): restarting the filter from the next pose")
            self.ekf.reset()
            self._imu_count = 0
            self.health.count("restarts")
        try:
            self.ekf.predict_imu(stamp, gyro, accel)
        except EstimatorInputError as exc:
            self.health.reject("imu", exc.reason, str(exc))
            return
        self._last_imu_ns = stamp_ns
        self.health.count("received.imu")
        self._imu_count += 1
        if self.ekf.initialized and self._imu_count % self.config.publish_every == 0:
            self._publish()

    def _on_pose(self, message: Any) -> None:
        frame = message.header.frame_id
        if frame and frame != self.config.world_frame:
            self.health.reject("pose", "wrong_frame", f"pose in frame {frame!r}, expected {self.config.world_frame!r} "
                               f"(set world_frame)")
            return
        stamp_ns, position, quaternion = pose_from_message(message)
        stamp = self._seconds("pose", stamp_ns)
        if stamp is None:
            return
        try:
            self.ekf.update_pose(stamp, position, quaternion)
        except EstimatorInputError as exc:
            self.health.reject("pose", exc.reason, str(exc))
            return
        self.health.count("received.pose")

    def _publish(self) -> None:
        estimate = self.ekf.estimate()
        stamp_ns = self._origin_ns + round(estimate.stamp * NS_PER_S)
        self._publisher.publish(odometry_message(estimate, stamp_ns, self.config.world_frame, self.config.body_frame))
        self.health.count("published")

    def _on_reset(self, _message: Any) -> None:
        self.ekf.reset()
        self._last_imu_ns = None
        self._imu_count = 0
        self.health.count("resets")

    def _publish_diagnostics(self) -> None:
        self.health.set("initialized", self.ekf.initialized)
        self.health.set("replays", self.ekf.replays)
        rejected = self.health.rejected_total()
        self.health.publish("warn" if rejected else "ok",
                            f"{self.health.get('published')} odometry message(s) published, "
                            f"{rejected} input(s) rejected")


def main(args: list[str] | None = None) -> int:
    return run_node(RigidBodyEstimatorNode, args, name="rigid_body_estimator")


if __name__ == "__main__":
    sys.exit(main())
