"""mbrl_ros.ros.compat: the import surface node code uses, on the Cyclone runtime."""
from __future__ import annotations

import importlib
import time

import pytest

from mbrl_ros.ros import compat
from mbrl_ros.ros.runtime.testing import isolated_domain


def test_surface_is_complete_and_uses_the_runtime():
    assert compat.USING_REAL_ROS is False  # no rclpy on these machines
    assert compat.rclpy_api.__name__ == "mbrl_ros.ros.runtime"
    missing = [name for name in compat.__all__ if not hasattr(compat, name)]
    assert missing == []
    for name in ("init", "shutdown", "try_shutdown", "ok", "spin", "spin_once", "spin_until_future_complete", "create_node"):
        assert callable(getattr(compat.rclpy_api, name)), name
    latched = compat.qos_profile_latched
    assert (latched.depth, latched.reliability, latched.durability) == (
        1, compat.ReliabilityPolicy.RELIABLE, compat.DurabilityPolicy.TRANSIENT_LOCAL,
    )
    String = compat.msg("std_msgs/msg/String")
    assert compat.deserialize_message(compat.serialize_message(String(data="x")), String).data == "x"
    assert compat.remove_ros_args(["a", "--ros-args", "-p", "x:=1"]) == ["a"]


def test_runtime_choice_from_environment(monkeypatch):
    try:
        monkeypatch.setenv("MBRL_ROS_RUNTIME", "rclpy")
        with pytest.raises(ImportError, match="rclpy is not importable"):
            importlib.reload(compat)
        monkeypatch.setenv("MBRL_ROS_RUNTIME", "nonsense")
        with pytest.raises(ImportError, match="MBRL_ROS_RUNTIME"):
            importlib.reload(compat)
        monkeypatch.setenv("MBRL_ROS_RUNTIME", "cyclone")
        assert importlib.reload(compat).USING_REAL_ROS is False
    finally:
        monkeypatch.delenv("MBRL_ROS_RUNTIME", raising=False)
        importlib.reload(compat)


class Doubler(compat.Node):
    """A node written only against compat, as the project's nodes are."""

    def __init__(self):
        super().__init__("doubler")
        Array = compat.msg("std_msgs/msg/Float64MultiArray")
        gain = self.declare_parameter(
            "gain", 2.0, compat.ParameterDescriptor(description="output = gain * input")
        ).value
        self.out = self.create_publisher(Array, "out", compat.qos_profile_latched)
        self.create_subscription(
            Array, "in", lambda m: self.out.publish(Array(data=[gain * v for v in m.data])), compat.qos_profile_sensor_data
        )


def test_a_node_written_against_compat():
    rclpy = compat.rclpy_api
    Array = compat.msg("std_msgs/msg/Float64MultiArray")
    with isolated_domain():
        rclpy.init(args=["doubler", "--ros-args", "-p", "gain:=3.0", "-r", "in:=/sensor"])
        try:
            node = Doubler()
            probe = rclpy.create_node("probe")
            results = []
            probe.create_subscription(Array, "/out", lambda m: results.append(list(m.data)), compat.qos_profile_latched)
            sensor = probe.create_publisher(Array, "/sensor", compat.qos_profile_sensor_data)
            executor = compat.SingleThreadedExecutor()
            executor.add_node(node)
            executor.add_node(probe)
            deadline = time.monotonic() + 5.0
            while not results and time.monotonic() < deadline:
                sensor.publish(Array(data=[1.0, 2.0]))
                executor.spin_once(timeout_sec=0.05)
            assert results[0] == [3.0, 6.0]
            node.destroy_node()
        finally:
            rclpy.try_shutdown()
