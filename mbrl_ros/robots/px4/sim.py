"""``px4_sim``: a PX4 stand-in: the quadrotor task behind PX4's uXRCE-DDS topics, in real time.

Publishes:
    /fmu/out/vehicle_odometry (px4_msgs/VehicleOdometry; best effort, volatile, keep-last 5 as
        PX4's client): position and velocity NED, attitude FRD -> NED, body rates FRD, each
        control period; ``timestamp`` and ``timestamp_sample`` in microseconds since the
        stand-in started (PX4's boot time); ``reset_counter`` counts episodes.
Subscribes (best effort, so reliable and best-effort writers both match):
    /fmu/in/offboard_control_mode, /fmu/in/vehicle_thrust_setpoint,
    /fmu/in/vehicle_torque_setpoint, /fmu/in/actuator_motors, /fmu/in/vehicle_command.

What it emulates of PX4's offboard mode: setpoints act only while offboard_control_mode
arrives at least every ``offboard_timeout`` (0.5 s, PX4's 2 Hz minimum) and, with
``require_arm``, after a VehicleCommand COMPONENT_ARM_DISARM (param1 1) and DO_SET_MODE
offboard (param1 1, param2 6); ``thrust_and_torque`` applies the newest thrust and torque
setpoints (scaled by ``max_thrust``/``max_torque``, as ``px4_bridge``), ``direct_actuator``
the newest ActuatorMotors (``motor_order``). Otherwise (PX4's failsafe) it holds the hover
thrust. Its summary counts what it received: heartbeats and their largest gap, setpoints,
invalid ones (NaN, thrust outside [-1, 0] on z or non-zero x/y, torques outside [-1, 1]),
vehicle commands; ``failsafe_steps`` counts every step without a valid command, of which
``unarmed_steps`` before the vehicle was armed and in offboard (with ``require_arm``: the
bridge's ``arm_delay``).
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import time
from typing import Any

import numpy as np

import mbrl_ros.robots.px4.msgs  # noqa: F401  (registers px4_msgs types with the runtime)
from mbrl_ros.config import param
from mbrl_ros.robots.px4.bridge import (
    PX4_CUSTOM_MAIN_MODE_OFFBOARD,
    PX4_SUBSCRIBER_QOS,
    VEHICLE_CMD_COMPONENT_ARM_DISARM,
    VEHICLE_CMD_DO_SET_MODE,
    px4_out_qos,
    px4_scales,
)
from mbrl_ros.robots.quadrotor.stand_in import QuadrotorStandIn, QuadrotorStandInConfig
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.nodes.scheduling import REALTIME_DEFAULTS
from mbrl_ros.robots.px4.msgs import px4_topic
from mbrl_ros.robots.quadrotor.interfaces import (
    px4_odometry_fields,
    rotor_thrusts_from_px4_motors,
    wrench_from_px4_setpoint,
)
from mbrl_ros.ros.compat import msg


@dataclasses.dataclass(frozen=True)
class PX4SimConfig(QuadrotorStandInConfig):
    """Parameters of ``px4_sim`` (the shared stand-in ones plus PX4's)."""

    px4_namespace: str = param("", "PX4's topic namespace (UXRCE_DDS_NS), e.g. px4_1; empty: none.")
    offboard_timeout: float = param(0.5, "Offboard is lost when offboard_control_mode is older than this "
                                    "(s; PX4 requires >= 2 Hz).", low=0.01, high=60.0)
    require_arm: bool = param(False, "Apply setpoints only after arm and offboard VehicleCommands (false: "
                              "as if a pilot had armed and switched to offboard).")
    max_thrust: float = param(0.0, "N that a normalized thrust of 1 produces; 0: all rotors at full thrust.",
                              low=0.0, high=1e5)
    max_torque: list[float] = param([], "N*m per body axis that a normalized torque of 1 produces; empty: "
                                    "the largest torques the rotors reach.")
    motor_order: list[int] = param([0, 2, 3, 1], "Task rotor driven by PX4 motor i (ActuatorMotors.control[i]).")


class PX4SimNode(QuadrotorStandIn):
    """Simulates a quadrotor and speaks PX4's uXRCE-DDS topics (see the module docstring)."""

    config_class = PX4SimConfig

    def __init__(self, **node_kwargs: Any):
        super().__init__("px4_sim", **node_kwargs)

    def setup(self) -> None:
        cfg = self.config
        self.max_thrust, self.max_torque = px4_scales(self.quad, cfg.max_thrust, cfg.max_torque)
        if self.max_torque.shape != (3,):
            raise ValueError(f"max_torque needs 3 values (x, y, z), got {cfg.max_torque}")
        self._lock = threading.Lock()
        self._heartbeat: tuple[float, Any] | None = None  # (wall time, OffboardControlMode)
        self._thrust: tuple[float, np.ndarray] | None = None
        self._torque: tuple[float, np.ndarray] | None = None
        self._motors: tuple[float, np.ndarray] | None = None
        self._armed = self._offboard_mode = not cfg.require_arm
        self._reset_counter = 0
        self.counters.update({"offboard_control_mode": 0, "heartbeat_max_gap_s": 0.0, "unarmed_steps": 0,
                              "thrust_setpoints": 0,
                              "torque_setpoints": 0, "actuator_motors": 0, "invalid_setpoints": 0,
                              "vehicle_commands": [], "thrust_z_min": None, "thrust_z_max": None})
        ns = cfg.px4_namespace
        self.state_topic = px4_topic("vehicle_odometry", ns)
        self._odom_pub = self.create_publisher(msg("px4_msgs/msg/VehicleOdometry"), self.state_topic, px4_out_qos())
        topics = {key: px4_topic(key, ns) for key in ("offboard_control_mode", "vehicle_thrust_setpoint",
                                                      "vehicle_torque_setpoint", "actuator_motors",
                                                      "vehicle_command")}
        self.command_topics = [topics["offboard_control_mode"]]
        for key, callback in (("offboard_control_mode", self._on_offboard), ("vehicle_thrust_setpoint", self._on_thrust),
                              ("vehicle_torque_setpoint", self._on_torque), ("actuator_motors", self._on_motors),
                              ("vehicle_command", self._on_vehicle_command)):
            typename = mbrl_ros.robots.px4.msgs.PX4_TOPICS[key][1]
            self.create_subscription(msg(typename), topics[key], callback, PX4_SUBSCRIBER_QOS)
        self._gap_reference: float | None = None  # the previous heartbeat within this episode

    def on_episode_start(self, episode: int) -> None:
        self._reset_counter = (self._reset_counter + 1) % 256  # PX4 reports estimator resets this way
        with self._lock:
            self._gap_reference = None

    def controller_ready(self) -> bool:
        with self._lock:
            return self._heartbeat is not None  # a bridge streams offboard_control_mode: it is controlling

    # -- inputs ---------------------------------------------------------------------------------
    def _on_offboard(self, message: Any) -> None:
        now = time.monotonic()
        with self._lock:
            # The stream's regularity counts while the vehicle flies; between episodes (no
            # odometry) the bridge stops it on purpose.
            if self._gap_reference is not None and self.in_episode:
                gap = now - self._gap_reference
                self.counters["heartbeat_max_gap_s"] = max(self.counters["heartbeat_max_gap_s"], round(gap, 4))
            self._gap_reference = now if self.in_episode else None
            self._heartbeat = (now, message)
        self.count("offboard_control_mode")

    def _on_thrust(self, message: Any) -> None:
        xyz = np.asarray(message.xyz, dtype=np.float64)
        valid = bool(np.all(np.isfinite(xyz)) and -1.0 <= xyz[2] <= 0.0 and np.all(xyz[:2] == 0.0))
        self.count("thrust_setpoints")
        if not valid:
            self.count("invalid_setpoints")
            return
        with self._lock:
            low, high = self.counters["thrust_z_min"], self.counters["thrust_z_max"]
            self.counters["thrust_z_min"] = float(xyz[2]) if low is None else min(low, float(xyz[2]))
            self.counters["thrust_z_max"] = float(xyz[2]) if high is None else max(high, float(xyz[2]))
            self._thrust = (time.monotonic(), xyz)

    def _on_torque(self, message: Any) -> None:
        xyz = np.asarray(message.xyz, dtype=np.float64)
        self.count("torque_setpoints")
        if not (np.all(np.isfinite(xyz)) and np.all(np.abs(xyz) <= 1.0)):
            self.count("invalid_setpoints")
            return
        with self._lock:
            self._torque = (time.monotonic(), xyz)

    def _on_motors(self, message: Any) -> None:
        control = np.asarray(message.control, dtype=np.float64)
        used = control[:len(self.config.motor_order)]
        self.count("actuator_motors")
        if not (np.all(np.isfinite(used)) and np.all((used >= 0.0) & (used <= 1.0))):
            self.count("invalid_setpoints")
            return
        with self._lock:
            self._motors = (time.monotonic(), control)

    def _on_vehicle_command(self, message: Any) -> None:
        command, p1, p2 = int(message.command), float(message.param1), float(message.param2)
        with self._lock:
            self.counters["vehicle_commands"].append([command, p1, p2])
            if command == VEHICLE_CMD_COMPONENT_ARM_DISARM:
                self._armed = p1 == 1.0
            elif command == VEHICLE_CMD_DO_SET_MODE:
                self._offboard_mode = p1 == 1.0 and p2 == PX4_CUSTOM_MAIN_MODE_OFFBOARD
        self.get_logger().info(f"vehicle command {command} (param1 {p1}, param2 {p2})")

    # -- simulation hooks ---------------------------------------------------------------------------
    def publish_state(self, obs: np.ndarray, now_ns: int) -> None:
        message = msg("px4_msgs/msg/VehicleOdometry")()
        stamp = self.boot_us()
        message.timestamp = stamp
        message.timestamp_sample = stamp
        for name, value in px4_odometry_fields(obs).items():
            setattr(message, name, value)
        message.position_variance = [1e-4] * 3
        message.orientation_variance = [1e-5] * 3
        message.velocity_variance = [1e-3] * 3
        message.reset_counter = self._reset_counter
        self._odom_pub.publish(message)

    def action_for(self, obs: np.ndarray) -> np.ndarray | None:
        with self._lock:
            heartbeat, thrust, torque, motors = self._heartbeat, self._thrust, self._torque, self._motors
            engaged = self._armed and self._offboard_mode
        if not engaged:
            self.count("unarmed_steps")  # failsafe before arm + offboard (arm_delay), not a lost heartbeat
            return None
        if heartbeat is None or time.monotonic() - heartbeat[0] > self.config.offboard_timeout:
            return None
        mode = heartbeat[1]
        if mode.thrust_and_torque and thrust is not None and torque is not None \
                and self.fresh(thrust[0]) and self.fresh(torque[0]):
            wrench = wrench_from_px4_setpoint(thrust[1], torque[1], self.max_thrust, self.max_torque)
            return self.quad.action_from_rotor_thrusts(self.quad.rotor_thrusts_from_wrench(wrench))
        if mode.direct_actuator and motors is not None and self.fresh(motors[0]):
            thrusts = rotor_thrusts_from_px4_motors(motors[1], self.quad.max_rotor_thrust, self.config.motor_order)
            return self.quad.action_from_rotor_thrusts(thrusts)
        return None


def main(args: list[str] | None = None) -> int:
    return run_node(PX4SimNode, args, name="px4_sim", num_threads=2,
                    scheduling=REALTIME_DEFAULTS)  # it stands in for PX4, which has its own CPU


if __name__ == "__main__":
    sys.exit(main())
