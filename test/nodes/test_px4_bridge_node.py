"""px4_bridge's heartbeat: its own thread, streaming only while odometry and commands are fresh."""
from __future__ import annotations

import threading
import time

import numpy as np

import mbrl_ros.robots.px4.msgs  # noqa: F401  (registers px4_msgs types)
from mbrl_ros.nodes.conversions import command_message
from mbrl_ros.robots.px4.bridge import PX4BridgeNode, px4_out_qos
from mbrl_ros.robots.quadrotor.interfaces import px4_odometry_fields
from mbrl_ros.ros.compat import msg
from mbrl_ros.tasks import make_task


class Vehicle:
    """Streams odometry (hover state) at 50 Hz and, while ``commanding``, a hover command each period."""

    def __init__(self, graph):
        self.task = make_task("quadrotor_hover")
        self.obs, _ = self.task.reset(seed=0)
        self.odometry = graph.publisher("px4_msgs/msg/VehicleOdometry", "/fmu/out/vehicle_odometry", px4_out_qos())
        self.commands = graph.publisher("std_msgs/msg/Float64MultiArray", "/quadrotor_controller/commands")
        self.streaming = threading.Event()
        self.commanding = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._done.wait(0.02):
            if not self.streaming.is_set():
                continue
            message = msg("px4_msgs/msg/VehicleOdometry")()
            for name, value in px4_odometry_fields(self.obs).items():
                setattr(message, name, value)
            self.odometry.publish(message)
            if self.commanding.is_set():
                self.commands.publish(command_message(np.asarray(self.task.hover_action)))

    def close(self):
        self._done.set()
        self._thread.join(timeout=5)


def test_heartbeat_thread_streams_while_controlled_and_stops_when_commands_stop(graph, wait_for):
    bridge = graph.start(PX4BridgeNode, single_threaded=True, require_tagged_commands=False)
    heartbeats = graph.collect("px4_msgs/msg/OffboardControlMode", "/fmu/in/offboard_control_mode", px4_out_qos())
    thrusts = graph.collect("px4_msgs/msg/VehicleThrustSetpoint", "/fmu/in/vehicle_thrust_setpoint", px4_out_qos())
    assert "px4_heartbeat" in [t.name for t in threading.enumerate()]
    vehicle = Vehicle(graph)
    try:
        vehicle.streaming.set()
        time.sleep(0.5)
        assert heartbeats == [], "heartbeat without commands: PX4 would hold a setpoint nobody sends"
        vehicle.commanding.set()
        wait_for(lambda: len(heartbeats) >= 5, what="5 heartbeats while controlled")
        assert thrusts, "commands were not forwarded as thrust setpoints"
        mode = heartbeats[-1]
        assert mode.thrust_and_torque and not mode.direct_actuator and mode.timestamp > 0
        assert bridge.health.get("heartbeat_max_gap_s") > 0.0  # the bridge records what it sent

        vehicle.commanding.clear()  # the planner stops: after command_timeout the heartbeat stops
        wait_for(lambda: bridge.health.get("heartbeat_stops") >= 1, what="the heartbeat to stop")
        assert bridge.health.get("heartbeat_stops.commands") == 1 and bridge.health.get("heartbeat_stops.odometry") == 0
        stopped_at = len(heartbeats)
        time.sleep(0.5)
        assert len(heartbeats) == stopped_at, "heartbeat kept streaming on stale commands"
        # Control resumes: the first forwarded command wakes the heartbeat thread (no wait for a tick).
        vehicle.commanding.set()
        wait_for(lambda: len(heartbeats) > stopped_at, what="the heartbeat to resume")
    finally:
        vehicle.close()
    bridge.stop()
    assert not bridge._heartbeat_thread.is_alive()

