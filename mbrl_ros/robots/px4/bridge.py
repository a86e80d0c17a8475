"""``px4_bridge``: PX4 over uXRCE-DDS <-> the planner's state and command topics (quadrotor tasks).

Subscribes:
    /fmu/out/vehicle_odometry (px4_msgs/VehicleOdometry; best effort, volatile, keep-last 5:
        PX4 publishes best effort, which a reliable reader never receives). Converted from
        NED/FRD to the task's observation (ENU world, FLU body; :mod:`mbrl_ros.robots.frames`),
        ``position_offset`` added.
    /<controller>/commands (std_msgs/Float64MultiArray): the planner's task actions.
Publishes:
    state_topic (sensor_msgs/JointState, default /mbrl/state): the observation as an
        observation JointState (names ``x, y, z, qw, ..., wz``, values in ``position``; see
        :mod:`mbrl_ros.nodes.joint_layout`), at most one per control period (PX4 streams
        odometry faster), stamped with this node's clock at arrival.
    /fmu/in/offboard_control_mode (px4_msgs/OffboardControlMode) at ``heartbeat_rate`` Hz
        (>= 2 Hz, PX4's minimum) while the vehicle is controlled: odometry and commands both
        fresher than ``command_timeout``. When either goes stale the stream stops, so PX4 leaves
        offboard and runs its offboard-loss failsafe (COM_OF_LOSS_T, COM_OBL_RC_ACT); nothing
        in this node pretends to know a safe setpoint for a flying vehicle. The heartbeat and
        this staleness check run on their own thread (``px4_heartbeat``) with an absolute-deadline
        timer, never queued behind the executor's odometry and command callbacks.
    setpoint ``thrust_torque``: /fmu/in/vehicle_thrust_setpoint and
        /fmu/in/vehicle_torque_setpoint, normalized FRD (thrust ``(0, 0, -T / max_thrust)`` in
        ``[-1, 0]``, torque ``tau / max_torque`` in ``[-1, 1]``, body FLU -> FRD).
    setpoint ``motors``: /fmu/in/actuator_motors, rotor thrust / max rotor thrust in ``[0, 1]``
        ordered by ``motor_order``, unused motors NaN.
    /fmu/in/vehicle_command (only with ``arm: true``): DO_SET_MODE offboard, then ARM, once,
        after ``arm_delay`` s of heartbeat.
    All /fmu/in topics are reliable, volatile, keep-last 1 (a reliable writer matches PX4's
    readers whatever their reliability).

Safety: commands are forwarded only while odometry is fresh, and (``require_tagged_commands``)
only tagged commands that answer a state at most ``command_timeout`` old: the planner's
watchdog and shutdown "safe" commands (zero thrust for a quadrotor: a fall) are dropped and
counted, and the heartbeat stops instead. ``arm`` is off by default: arm and switch to
offboard with the RC or QGroundControl, and keep a pilot with a kill switch.

Scheduling: ``main`` runs the whole process (heartbeat thread, executor, DDS threads) under
SCHED_FIFO priority 10 where permitted, else nice -10 (``scheduling.*``, see
:mod:`mbrl_ros.nodes.scheduling`), so planning and training on the same computer cannot
delay the heartbeat past PX4's offboard timeout.

The set-up checks, odometry -> state and command checks are shared with ``crazyflie_bridge``
(:class:`mbrl_ros.robots.quadrotor.bridge.QuadrotorBridge`); this module adds PX4's topics,
setpoints, heartbeat and arming.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import time
from typing import Any

import numpy as np

import mbrl_ros.robots.px4.msgs  # noqa: F401  (registers px4_msgs types with the runtime)
from mbrl_ros.config import ConfigError, param
from mbrl_ros.robots.quadrotor.bridge import QuadrotorBridge
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.nodes.scheduling import REALTIME_DEFAULTS
from mbrl_ros.robots.px4.msgs import px4_topic
from mbrl_ros.robots.quadrotor.interfaces import (
    QuadrotorParameters,
    observation_from_px4_odometry,
    px4_motor_setpoint,
    px4_thrust_torque_setpoint,
)
from mbrl_ros.ros.compat import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    msg,
    rclpy_api,
)

VEHICLE_CMD_DO_SET_MODE = 176
VEHICLE_CMD_COMPONENT_ARM_DISARM = 400
PX4_CUSTOM_MAIN_MODE_OFFBOARD = 6
SETPOINT_MODES = ("thrust_torque", "motors")


def px4_out_qos() -> Any:
    """QoS of PX4's /fmu/out writers and of readers that must hear them: best effort, volatile, keep-last 5."""
    return QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


#: Readers of /fmu/in topics (the stand-in): best effort matches reliable and best-effort writers.
PX4_SUBSCRIBER_QOS = px4_out_qos()


def px4_in_qos() -> Any:
    """QoS of our /fmu/in writers: reliable (matches any reader), volatile, keep-last 1 (newest only)."""
    return QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def px4_scales(quad: QuadrotorParameters, max_thrust: float, max_torque: list[float]) -> tuple[float, np.ndarray]:
    """``(max_thrust N, max_torque (3,) N*m)`` that PX4's normalized thrust and torques of 1 produce:
    the given ones, or (0, empty) the task's: all rotors at full thrust, the largest torques they reach."""
    return max_thrust or quad.max_collective_thrust, np.asarray(max_torque or quad.max_body_torque, dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class PX4BridgeConfig:
    """Parameters of ``px4_bridge``."""

    task: str = param("quadrotor_hover", "Quadrotor task the planner runs (observation, actions, mixer, "
                      "control period); its own parameters are <task>.*.")
    controller: str = param("quadrotor_controller", "Planner commands are read from /<controller>/commands.")
    state_topic: str = param("/mbrl/state", "Where the observation JointState goes.")
    px4_namespace: str = param("", "PX4's topic namespace (UXRCE_DDS_NS, e.g. px4_1 for multi-vehicle); "
                               "empty: none.")
    setpoint: str = param("thrust_torque", "thrust_torque: VehicleThrustSetpoint + VehicleTorqueSetpoint "
                          "(PX4's rate controller off, allocation on); motors: ActuatorMotors (allocation off).",
                          choices=SETPOINT_MODES)
    max_thrust: float = param(0.0, "Collective thrust (N) that PX4's normalized thrust 1 produces (all motors "
                              "full); 0: the task's four rotor limits.", low=0.0, high=1e5)
    max_torque: list[float] = param([], "Body torque (N*m) per axis x, y, z that a normalized torque 1 "
                                    "produces; empty: the largest the task's rotors reach.")
    motor_order: list[int] = param([0, 2, 3, 1], "Task rotor driven by PX4 motor i (ActuatorMotors.control[i]); "
                                   "the default maps the task's FR, BR, BL, FL to PX4 quad X's FR, BL, FL, BR.")
    position_offset: list[float] = param([0.0, 0.0, 0.0], "Added to PX4's local ENU position (m) to give the "
                                         "task's position (PX4's origin is where its estimator started).")
    heartbeat_rate: float = param(10.0, "Hz of offboard_control_mode while controlling (PX4 needs >= 2).",
                                  low=2.5, high=1000.0)
    command_timeout: float = param(0.2, "Wall s after which odometry or commands count as stale (the "
                                   "heartbeat stops; PX4's failsafe takes over).", low=0.01, high=10.0)
    require_tagged_commands: bool = param(True, "Forward only commands tagged with a state at most "
                                          "command_timeout old (drops the planner's watchdog and shutdown "
                                          "commands); false for trigger:=timer.")
    arm: bool = param(False, "Send DO_SET_MODE offboard and ARM once after arm_delay s of heartbeat. Off by "
                      "default: arm from the RC or QGroundControl with a pilot ready to take over.")
    arm_delay: float = param(1.0, "Seconds of heartbeat before the arm commands (PX4 wants the stream "
                             "before it switches to offboard).", low=0.0, high=60.0)
    target_system: int = param(1, "MAV_SYS_ID of the vehicle (VehicleCommand target_system).", low=0, high=255)
    diagnostics_period: float = param(1.0, "Seconds between two /diagnostics messages.", low=0.01, high=3600.0)


class PX4BridgeNode(QuadrotorBridge):
    """Adapts PX4's odometry and setpoints to the planner's topics (see the module docstring)."""

    config_class = PX4BridgeConfig
    robot = "PX4"
    odometry_input = "vehicle_odometry"
    odometry_name = "vehicle_odometry"

    def __init__(self, **node_kwargs: Any):
        super().__init__("px4_bridge", **node_kwargs)
        cfg = self.config
        if cfg.arm:
            self.get_logger().warning("arm: true: this node will switch PX4 to offboard and ARM it; keep a pilot "
                                      "with a kill switch ready")
        self.get_logger().info(f"{cfg.task} on PX4 ({cfg.setpoint} setpoints, max thrust {self.max_thrust:.4g} N, "
                               f"max torque {self.max_torque.round(6).tolist()} N*m); commands from "
                               f"/{cfg.controller}/commands, states to {cfg.state_topic}")
        self.exit_code = 0
        self._stopping = threading.Event()
        self._wake = threading.Event()  # a fresh command while not controlling: beat now, not at the next tick
        self.context.on_shutdown(self._on_shutdown)
        # Its own thread: an executor timer would wait behind every odometry and command callback.
        self._heartbeat_thread = threading.Thread(target=self._heartbeat_loop, name="px4_heartbeat", daemon=True)
        self._heartbeat_thread.start()

    def check_parameters(self) -> None:
        cfg = self.config
        self.max_thrust, self.max_torque = px4_scales(self.quad, cfg.max_thrust, cfg.max_torque)
        if self.max_torque.shape != (3,) or not np.all(self.max_torque > 0):
            raise ConfigError(f"max_torque needs 3 positive values (x, y, z), got {cfg.max_torque}")
        if sorted(cfg.motor_order) != [0, 1, 2, 3]:
            raise ConfigError(f"motor_order {cfg.motor_order} must list the rotors 0, 1, 2, 3 once each")
        self.hardware_id = f"px4:{cfg.px4_namespace or 'default'}"

    def setup(self) -> None:
        cfg = self.config
        self._heartbeat_since: float | None = None
        self._armed_sent = False
        ns = cfg.px4_namespace
        types = mbrl_ros.robots.px4.msgs.PX4_TOPICS
        self._offboard_pub = self.create_publisher(msg(types["offboard_control_mode"][1]),
                                                   px4_topic("offboard_control_mode", ns), px4_in_qos())
        if cfg.setpoint == "thrust_torque":
            self._thrust_pub = self.create_publisher(msg(types["vehicle_thrust_setpoint"][1]),
                                                     px4_topic("vehicle_thrust_setpoint", ns), px4_in_qos())
            self._torque_pub = self.create_publisher(msg(types["vehicle_torque_setpoint"][1]),
                                                     px4_topic("vehicle_torque_setpoint", ns), px4_in_qos())
        else:
            self._motors_pub = self.create_publisher(msg(types["actuator_motors"][1]),
                                                     px4_topic("actuator_motors", ns), px4_in_qos())
        self._command_pub = None
        if cfg.arm:
            self._command_pub = self.create_publisher(msg(types["vehicle_command"][1]),
                                                      px4_topic("vehicle_command", ns), px4_in_qos())
        self.create_subscription(msg(types["vehicle_odometry"][1]), px4_topic("vehicle_odometry", ns),
                                 self._on_odometry, px4_out_qos(), callback_group=self.inputs)
        self._last_beat: float | None = None  # monotonic time of the previous heartbeat while controlling

    # -- PX4 -> planner -----------------------------------------------------------------------
    def observation(self, message: Any) -> np.ndarray:
        return observation_from_px4_odometry(message, self.config.position_offset)

    # -- planner -> PX4 -----------------------------------------------------------------------
    def send_setpoint(self, action: np.ndarray, obs: np.ndarray) -> None:
        stamp_us = self.get_clock().now().nanoseconds // 1000
        if self.config.setpoint == "thrust_torque":
            thrust, torque = px4_thrust_torque_setpoint(self.quad.wrench(action), self.max_thrust, self.max_torque)
            for publisher, typename, values in (
                    (self._thrust_pub, "px4_msgs/msg/VehicleThrustSetpoint", thrust),
                    (self._torque_pub, "px4_msgs/msg/VehicleTorqueSetpoint", torque)):
                setpoint = msg(typename)()
                setpoint.timestamp = stamp_us
                setpoint.timestamp_sample = stamp_us
                setpoint.xyz = [float(v) for v in values]
                publisher.publish(setpoint)
        else:
            setpoint = msg("px4_msgs/msg/ActuatorMotors")()
            setpoint.timestamp = stamp_us
            setpoint.timestamp_sample = stamp_us
            setpoint.reversible_flags = 0
            setpoint.control = [float(v) for v in px4_motor_setpoint(self.quad.rotor_thrusts(action),
                                                                     self.quad.max_rotor_thrust,
                                                                     self.config.motor_order)]
            self._motors_pub.publish(setpoint)

    def _heartbeat_loop(self) -> None:
        """Heartbeat thread: :meth:`_on_heartbeat` every ``1 / heartbeat_rate`` s on absolute deadlines."""
        period = 1.0 / self.config.heartbeat_rate
        next_tick = time.monotonic() + period
        try:
            while not self._stopping.is_set():
                woken = self._wake.wait(max(0.0, next_tick - time.monotonic()))
                if self._stopping.is_set():
                    break
                self._wake.clear()
                self._on_heartbeat()
                if woken:  # control resumed: the stream restarts from this beat
                    next_tick = time.monotonic() + period
                    continue
                next_tick += period
                if time.monotonic() - next_tick > period:  # fell behind: beat now, then on time; no burst
                    self.health.count("heartbeat_overruns")
                    next_tick = time.monotonic()
        except Exception as exc:  # the heartbeat thread must never die silently
            if self._stopping.is_set() or not self.context.ok():
                return  # shut down while publishing: not a failure
            self.exit_code = 1
            self.get_logger().fatal(f"heartbeat failed: {type(exc).__name__}: {exc}; offboard_control_mode "
                                    f"stopped (PX4's failsafe takes over), shutting down")
            rclpy_api.try_shutdown(context=self.context)

    def _on_heartbeat(self) -> None:
        with self._lock:
            odometry_fresh, commands_fresh = self.fresh(self._obs_wall), self.fresh(self._last_command_wall)
        if not (odometry_fresh and commands_fresh):
            if self._heartbeat_since is not None:
                stale = "odometry" if not odometry_fresh else "commands"
                self.get_logger().warning(f"{stale} stale: offboard_control_mode stopped (PX4's offboard-loss "
                                          f"failsafe takes over)")
                self.health.count("heartbeat_stops")
                self.health.count(f"heartbeat_stops.{stale}")
            self._heartbeat_since = None
            self._last_beat = None
            return
        now_us = self.get_clock().now().nanoseconds // 1000
        mode = msg("px4_msgs/msg/OffboardControlMode")()
        mode.timestamp = now_us
        mode.thrust_and_torque = self.config.setpoint == "thrust_torque"
        mode.direct_actuator = self.config.setpoint == "motors"
        self._offboard_pub.publish(mode)
        self.health.count("heartbeats")
        now = time.monotonic()
        if self._last_beat is not None:  # the largest gap this node sent while controlling (PX4 allows 0.5 s)
            self.health.set("heartbeat_max_gap_s", max(self.health.get("heartbeat_max_gap_s"),
                                                       round(now - self._last_beat, 4)))
        self._last_beat = now
        if self._heartbeat_since is None:
            self._heartbeat_since = time.monotonic()
        if self._command_pub is not None and not self._armed_sent \
                and time.monotonic() - self._heartbeat_since >= self.config.arm_delay:
            self._send_vehicle_command(VEHICLE_CMD_DO_SET_MODE, 1.0, float(PX4_CUSTOM_MAIN_MODE_OFFBOARD))
            self._send_vehicle_command(VEHICLE_CMD_COMPONENT_ARM_DISARM, 1.0)
            self._armed_sent = True
            self.get_logger().warning("sent offboard mode and ARM to PX4")

    def _send_vehicle_command(self, command: int, param1: float = 0.0, param2: float = 0.0) -> None:
        message = msg("px4_msgs/msg/VehicleCommand")()
        message.timestamp = self.get_clock().now().nanoseconds // 1000
        message.command = command
        message.param1 = param1
        message.param2 = param2
        message.target_system = self.config.target_system
        message.target_component = 1
        message.source_system = 1
        message.source_component = 1
        message.from_external = True
        self._command_pub.publish(message)

    def diagnostics_status(self, rejected: int) -> tuple[str, str]:
        controlling = self._heartbeat_since is not None
        return ("ok" if controlling else "warn"), ("controlling" if controlling else "not controlling")

    def on_command_forwarded(self) -> None:
        if self._heartbeat_since is None:
            self._wake.set()

    def _on_shutdown(self) -> None:
        self._stopping.set()
        self._wake.set()

    def stop(self) -> None:
        """Stop the heartbeat thread (called before the node is destroyed; PX4's failsafe follows) and log
        what it sent."""
        self._on_shutdown()
        if self._heartbeat_thread.is_alive() and self._heartbeat_thread is not threading.current_thread():
            self._heartbeat_thread.join(timeout=5.0)
        h = self.health
        self.get_logger().info(
            f"heartbeat: {h.get('heartbeats')} sent, largest gap while controlling {h.get('heartbeat_max_gap_s')} s, "
            f"{h.get('heartbeat_overruns')} overrun(s); stopped {h.get('heartbeat_stops')} time(s): odometry stale "
            f"{h.get('heartbeat_stops.odometry')}, commands stale {h.get('heartbeat_stops.commands')}")


def main(args: list[str] | None = None) -> int:
    return run_node(PX4BridgeNode, args, name="px4_bridge", scheduling=REALTIME_DEFAULTS)


if __name__ == "__main__":
    sys.exit(main())
