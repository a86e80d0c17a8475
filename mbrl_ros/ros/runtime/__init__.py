"""An rclpy-compatible runtime on Cyclone DDS, for hosts without ROS 2.

Node code should import through :mod:`mbrl_ros.ros.compat`, which picks real rclpy when
it is installed. This package mirrors the subset of rclpy the project uses, with the
same names and signatures::

    from mbrl_ros.ros import runtime as rclpy
    rclpy.init(args=sys.argv)
    node = rclpy.create_node("talker")
    pub = node.create_publisher(msg_type, "chatter", 10)
    rclpy.spin(node)
    rclpy.try_shutdown()

On the wire it behaves like rmw_cyclonedds: topics ``rt/<name>``, type names
``pkg::msg::dds_::Type_``, XCDR1, ``typehash=``/``enclave=`` USER_DATA, and the node
graph on ``ros_discovery_info``; ``ROS_DOMAIN_ID`` and ``ROS_AUTOMATIC_DISCOVERY_RANGE``
are honoured.

Tests get a private DDS domain (localhost only, leased id) from
:func:`mbrl_ros.ros.runtime.testing.isolated_domain`.

Not provided: services, actions, parameter services, ``/rosout``, ``/parameter_events``,
lifecycle nodes, QoS event callbacks, and graph queries beyond ``count_publishers``/
``count_subscribers``.
"""
from __future__ import annotations

from typing import Any, Sequence

from mbrl_ros.ros.runtime.callback_groups import (
    CallbackGroup,
    MutuallyExclusiveCallbackGroup,
    ReentrantCallbackGroup,
)
from mbrl_ros.ros.runtime.clock import Clock, ROSClock
from mbrl_ros.ros.runtime.context import Context
from mbrl_ros.ros.runtime.duration import Duration
from mbrl_ros.ros.runtime.exceptions import ExternalShutdownException
from mbrl_ros.ros.runtime.executors import Executor, MultiThreadedExecutor, SingleThreadedExecutor
from mbrl_ros.ros.runtime.logging import get_logger
from mbrl_ros.ros.runtime.node import Node
from mbrl_ros.ros.runtime.parameter import Parameter
from mbrl_ros.ros.runtime.task import Future
from mbrl_ros.ros.runtime.time import ClockType, Time
from mbrl_ros.ros.runtime.utilities import (
    SignalHandlerOptions,
    get_default_context,
    get_global_executor,
    ok,
    remove_ros_args,
    shutdown,
    try_shutdown,
)
from mbrl_ros.ros.runtime import utilities as _utilities

__all__ = [
    "CallbackGroup", "Clock", "ClockType", "Context", "Duration", "Executor", "ExternalShutdownException",
    "Future", "MultiThreadedExecutor", "MutuallyExclusiveCallbackGroup", "Node", "Parameter",
    "ROSClock", "ReentrantCallbackGroup", "SignalHandlerOptions", "SingleThreadedExecutor", "Time",
    "create_node", "get_default_context", "get_global_executor", "get_logger", "init", "ok",
    "remove_ros_args", "shutdown", "spin", "spin_once", "spin_until_future_complete", "try_shutdown",
]


def init(
    *,
    args: Sequence[str] | None = None,
    context: Context | None = None,
    domain_id: int | None = None,
    signal_handler_options: SignalHandlerOptions | None = None,
) -> None:
    """Initialise ``context`` (default: the global one) from ``args`` (default ``sys.argv``).

    Args:
        args: Argument vector; ``--ros-args`` sections set remaps, parameters and log levels.
        context: Context to initialise.
        domain_id: DDS domain (default ``ROS_DOMAIN_ID``, else 0).
        signal_handler_options: Which of SIGINT/SIGTERM shut contexts down (default ALL;
            the previous handler still runs, so Ctrl-C also raises KeyboardInterrupt).

    Raises:
        RuntimeError: the context is already initialised.
        UnknownROSArgsError, InvalidROSArgsError: bad ``--ros-args``.
    """
    context = _utilities.get_default_context() if context is None else context
    context.init(args, domain_id=domain_id)
    _utilities._register_context(context)
    _utilities._install_signal_handlers(
        SignalHandlerOptions.ALL if signal_handler_options is None else signal_handler_options
    )


def create_node(node_name: str, **kwargs: Any) -> Node:
    """``Node(node_name, **kwargs)``."""
    return Node(node_name, **kwargs)


def spin(node: Node, executor: Executor | None = None) -> None:
    """Run ``node``'s callbacks until its context shuts down."""
    executor = get_global_executor() if executor is None else executor
    try:
        executor.add_node(node)
        while executor.context.ok():
            executor.spin_once()
    finally:
        executor.remove_node(node)


def spin_once(node: Node, *, executor: Executor | None = None, timeout_sec: float | None = None) -> None:
    """Run at most one callback of ``node``, waiting up to ``timeout_sec`` for one."""
    executor = get_global_executor() if executor is None else executor
    try:
        executor.add_node(node)
        executor.spin_once(timeout_sec=timeout_sec)
    finally:
        executor.remove_node(node)


def spin_until_future_complete(
    node: Node, future: Any, executor: Executor | None = None, timeout_sec: float | None = None
) -> None:
    """Spin ``node`` until ``future`` is done or ``timeout_sec`` passed."""
    executor = get_global_executor() if executor is None else executor
    try:
        executor.add_node(node)
        executor.spin_until_future_complete(future, timeout_sec)
    finally:
        executor.remove_node(node)
