"""ROS time from ``/clock`` when the parameter ``use_sim_time`` is true (rclpy ``time_source.py``).

The node declares ``use_sim_time`` (default false); while it is true the node subscribes
``/clock`` (rosgraph_msgs/msg/Clock, best effort, depth 1) and its ROS clocks return the
last received time (0 until the first message). Setting the parameter at run time
switches on the fly.
"""
from __future__ import annotations

import weakref
from typing import Any

from mbrl_ros.ros.runtime.clock import ROSClock
from mbrl_ros.ros.runtime.parameter import Parameter, SetParametersResult
from mbrl_ros.ros.runtime.qos import QoSProfile, ReliabilityPolicy
from mbrl_ros.ros.runtime.time import ClockType, Time

CLOCK_TOPIC = "/clock"
USE_SIM_TIME_NAME = "use_sim_time"


class TimeSource:
    """Feeds ``/clock`` into the ROS clocks attached to it."""

    def __init__(self, *, node: Any = None) -> None:
        self._clock_sub: Any = None
        self._node_ref: Any = None
        self._clocks: "weakref.WeakSet[ROSClock]" = weakref.WeakSet()
        self._last_time_set = Time(clock_type=ClockType.ROS_TIME)
        self._ros_time_is_active = False
        if node is not None:
            self.attach_node(node)

    @property
    def ros_time_is_active(self) -> bool:
        return self._ros_time_is_active

    @ros_time_is_active.setter
    def ros_time_is_active(self, enabled: bool) -> None:
        if self._ros_time_is_active == enabled:
            return
        self._ros_time_is_active = enabled
        for clock in list(self._clocks):
            clock._set_ros_time_is_active(enabled)
        node = self._get_node()
        if enabled:
            self._subscribe_to_clock_topic()
        elif self._clock_sub is not None and node is not None:
            node.destroy_subscription(self._clock_sub)
            self._clock_sub = None

    def _subscribe_to_clock_topic(self) -> None:
        node = self._get_node()
        if self._clock_sub is None and node is not None:
            from mbrl_ros.ros.messages import message_class

            self._clock_sub = node.create_subscription(
                message_class("rosgraph_msgs/msg/Clock"),
                CLOCK_TOPIC,
                self.clock_callback,
                QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT),
            )

    def attach_node(self, node: Any) -> None:
        if self._node_ref is not None:
            self.detach_node()
        self._node_ref = weakref.ref(node)
        if not node.has_parameter(USE_SIM_TIME_NAME):
            node.declare_parameter(USE_SIM_TIME_NAME, False)
        param = node.get_parameter(USE_SIM_TIME_NAME)
        if param.type_ == Parameter.Type.BOOL:
            self.ros_time_is_active = param.value
        elif param.type_ != Parameter.Type.NOT_SET:
            node.get_logger().error(f"Invalid type for parameter '{USE_SIM_TIME_NAME}' {param.type_!r} should be bool")
        node.add_on_set_parameters_callback(self._on_parameter_event)

    def detach_node(self) -> None:
        node = self._get_node()
        if self._clock_sub is not None and node is not None:
            node.destroy_subscription(self._clock_sub)
        self._clock_sub = None
        self._node_ref = None

    def attach_clock(self, clock: ROSClock) -> None:
        if not isinstance(clock, ROSClock):
            raise ValueError("Only clocks with type ROS_TIME can be attached.")
        clock.set_ros_time_override(self._last_time_set)
        clock._set_ros_time_is_active(self._ros_time_is_active)
        self._clocks.add(clock)

    def clock_callback(self, msg: Any) -> None:
        time = Time.from_msg(msg.clock)
        self._last_time_set = time
        for clock in list(self._clocks):
            clock.set_ros_time_override(time)

    def _on_parameter_event(self, parameter_list: list[Parameter]) -> SetParametersResult:
        for parameter in parameter_list:
            if parameter.name == USE_SIM_TIME_NAME:
                if parameter.type_ == Parameter.Type.BOOL:
                    self.ros_time_is_active = parameter.value
                else:
                    reason = f"{USE_SIM_TIME_NAME} parameter set to something besides a bool"
                    node = self._get_node()
                    if node is not None:
                        node.get_logger().error(reason)
                    return SetParametersResult(successful=False, reason=reason)
                break
        return SetParametersResult(successful=True)

    def _get_node(self) -> Any:
        return self._node_ref() if self._node_ref is not None else None
