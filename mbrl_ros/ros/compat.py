"""The one place node code imports ROS from: real rclpy when installed, else our Cyclone DDS runtime.

Usage in a node module::

    from mbrl_ros.ros.compat import rclpy_api as rclpy
    from mbrl_ros.ros.compat import Node, QoSProfile, qos_profile_latched, msg

    Float64MultiArray = msg("std_msgs/msg/Float64MultiArray")

    class CommandNode(Node):
        def __init__(self):
            super().__init__("command_node")
            self.declare_parameter("rate_hz", 50.0)
            self.pub = self.create_publisher(Float64MultiArray, "commands", 10)

    def main(args=None):
        rclpy.init(args=args)
        node = CommandNode()
        try:
            rclpy.spin(node)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            node.destroy_node()
            rclpy.try_shutdown()

Surface (same objects as rclpy's when ``USING_REAL_ROS``):

* ``USING_REAL_ROS``: True when ``rclpy`` is importable (and not overridden).
* ``rclpy_api``: the ``rclpy`` module or :mod:`mbrl_ros.ros.runtime` (``init``, ``shutdown``,
  ``try_shutdown``, ``ok``, ``spin``, ``spin_once``, ``spin_until_future_complete``,
  ``create_node``, ``get_default_context``).
* ``msg(ros_type)``: message class for ``"pkg/msg/Type"`` (``rosidl_runtime_py`` on ROS,
  :func:`mbrl_ros.ros.messages.message_class` otherwise).
* ``srv(ros_type)``: service type for ``"pkg/srv/Type"`` with ``Request``/``Response``
  (:func:`mbrl_ros.ros.services.service_type` otherwise: std_srvs Trigger/Empty/SetBool and
  the rcl_interfaces parameter services).
* ``serialize_message(msg)`` / ``deserialize_message(data, msg_type)``: CDR bytes.
* Node and entities: ``Node``, ``Parameter``, ``ParameterDescriptor``, ``ParameterType``,
  ``IntegerRange``, ``FloatingPointRange``, ``SetParametersResult``.
* QoS: ``QoSProfile``, ``ReliabilityPolicy``, ``DurabilityPolicy``, ``HistoryPolicy``,
  ``LivelinessPolicy``, ``qos_profile_default`` (reliable, volatile, keep-last 10),
  ``qos_profile_sensor_data`` (best effort, keep-last 5), ``qos_profile_system_default``
  (all SYSTEM_DEFAULT, as in rclpy), ``qos_profile_latched`` (reliable, transient-local,
  keep-last 1; publisher and subscriber both use it so a late subscriber gets the last sample).
* Execution: ``Executor``, ``SingleThreadedExecutor``, ``MultiThreadedExecutor``,
  ``CallbackGroup``, ``MutuallyExclusiveCallbackGroup``, ``ReentrantCallbackGroup``, ``Future``.
* Time: ``Time``, ``Duration``, ``Clock``, ``ROSClock``, ``ClockType``.
* Errors: ``ExternalShutdownException``, ``ParameterNotDeclaredException``,
  ``ParameterAlreadyDeclaredException``, ``InvalidParameterTypeException``,
  ``InvalidParameterValueException``, ``ParameterUninitializedException``.
* ``remove_ros_args(argv)``: argv without ``--ros-args`` sections.

Set ``MBRL_ROS_RUNTIME=cyclone`` to use our runtime even where rclpy exists (e.g. to
test it), or ``MBRL_ROS_RUNTIME=rclpy`` to fail loudly when rclpy is missing.

Write portable node code: message fields take plain Python values (lists, not numpy
arrays); ``create_publisher``/``create_subscription`` take ``callback_group`` as a keyword;
a value for a ``double`` parameter must be written ``1.0``, not ``1`` (rclpy rejects an
int for a double, and so does the runtime). To send a last command at Ctrl-C, register it
with ``node.context.on_shutdown(...)``: contexts shut down on SIGINT/SIGTERM and publishing
after that fails on both runtimes.
"""
from __future__ import annotations

import os
from typing import Any

_choice = os.environ.get("MBRL_ROS_RUNTIME", "auto").strip().lower()
if _choice not in ("auto", "rclpy", "cyclone"):
    raise ImportError(f"MBRL_ROS_RUNTIME={_choice!r}: use 'auto', 'rclpy' or 'cyclone'")

USING_REAL_ROS = False
if _choice != "cyclone":
    try:
        import rclpy as _probe
    except ImportError:
        if _choice == "rclpy":
            raise ImportError("MBRL_ROS_RUNTIME=rclpy but rclpy is not importable; source your ROS 2 setup") from None
    else:
        USING_REAL_ROS = True
        del _probe

if USING_REAL_ROS:
    import rclpy as rclpy_api
    from rcl_interfaces.msg import (
        FloatingPointRange,
        IntegerRange,
        ParameterDescriptor,
        ParameterType,
        SetParametersResult,
    )
    from rclpy.callback_groups import CallbackGroup, MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
    from rclpy.clock import Clock, ClockType, ROSClock
    from rclpy.duration import Duration
    from rclpy.exceptions import (
        InvalidParameterTypeException,
        InvalidParameterValueException,
        ParameterAlreadyDeclaredException,
        ParameterNotDeclaredException,
        ParameterUninitializedException,
    )
    from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import (
        DurabilityPolicy,
        HistoryPolicy,
        LivelinessPolicy,
        QoSProfile,
        ReliabilityPolicy,
        qos_profile_default,
        qos_profile_sensor_data,
        qos_profile_system_default,
    )
    from rclpy.serialization import deserialize_message, serialize_message
    from rclpy.task import Future
    from rclpy.time import Time
    from rclpy.utilities import remove_ros_args

    qos_profile_latched = QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )

    def msg(ros_type: str) -> Any:
        """The rosidl message class of ``ros_type`` (``"std_msgs/msg/String"``)."""
        from rosidl_runtime_py.utilities import get_message

        return get_message(ros_type)

    def srv(ros_type: str) -> Any:
        """The rosidl service type of ``ros_type`` (``"std_srvs/srv/Trigger"``)."""
        from rosidl_runtime_py.utilities import get_service

        return get_service(ros_type)

else:
    from mbrl_ros.ros import runtime as rclpy_api
    from mbrl_ros.ros.messages import deserialize as _deserialize
    from mbrl_ros.ros.messages import message_class as _message_class
    from mbrl_ros.ros.messages import serialize as serialize_message
    from mbrl_ros.ros.runtime.callback_groups import (
        CallbackGroup,
        MutuallyExclusiveCallbackGroup,
        ReentrantCallbackGroup,
    )
    from mbrl_ros.ros.runtime.clock import Clock, ROSClock
    from mbrl_ros.ros.runtime.duration import Duration
    from mbrl_ros.ros.runtime.exceptions import (
        ExternalShutdownException,
        InvalidParameterTypeException,
        InvalidParameterValueException,
        ParameterAlreadyDeclaredException,
        ParameterNotDeclaredException,
        ParameterUninitializedException,
    )
    from mbrl_ros.ros.runtime.executors import Executor, MultiThreadedExecutor, SingleThreadedExecutor
    from mbrl_ros.ros.runtime.node import Node
    from mbrl_ros.ros.runtime.parameter import (
        FloatingPointRange,
        IntegerRange,
        Parameter,
        ParameterDescriptor,
        ParameterType,
        SetParametersResult,
    )
    from mbrl_ros.ros.runtime.qos import (
        DurabilityPolicy,
        HistoryPolicy,
        LivelinessPolicy,
        QoSProfile,
        ReliabilityPolicy,
        qos_profile_default,
        qos_profile_latched,
        qos_profile_sensor_data,
        qos_profile_system_default,
    )
    from mbrl_ros.ros.runtime.task import Future
    from mbrl_ros.ros.runtime.time import ClockType, Time
    from mbrl_ros.ros.runtime.utilities import remove_ros_args

    def msg(ros_type: str) -> Any:
        """The generated message class of ``ros_type`` (``"std_msgs/msg/String"``)."""
        return _message_class(ros_type)

    def deserialize_message(serialized_message: bytes, message_type: Any) -> Any:
        """Decode CDR bytes (with encapsulation header) into ``message_type``."""
        return _deserialize(message_type, serialized_message)

    def srv(ros_type: str) -> Any:
        """The service type of ``ros_type`` (``"std_srvs/srv/Trigger"``): ``.Request``, ``.Response``."""
        from mbrl_ros.ros.services import service_type

        return service_type(ros_type)


__all__ = [
    "USING_REAL_ROS", "rclpy_api", "msg", "srv", "serialize_message", "deserialize_message",
    "Node", "Parameter", "ParameterDescriptor", "ParameterType", "IntegerRange", "FloatingPointRange",
    "SetParametersResult", "QoSProfile", "ReliabilityPolicy", "DurabilityPolicy", "HistoryPolicy",
    "LivelinessPolicy", "qos_profile_default", "qos_profile_sensor_data", "qos_profile_system_default",
    "qos_profile_latched", "Executor", "SingleThreadedExecutor", "MultiThreadedExecutor", "CallbackGroup",
    "MutuallyExclusiveCallbackGroup", "ReentrantCallbackGroup", "Future", "Time", "Duration", "Clock",
    "ROSClock", "ClockType", "ExternalShutdownException", "ParameterNotDeclaredException",
    "ParameterAlreadyDeclaredException", "InvalidParameterTypeException", "InvalidParameterValueException",
    "ParameterUninitializedException", "remove_ros_args",
]
