"""The standard ``main()`` of every node: init, build, spin, clean shutdown, exit code."""
from __future__ import annotations

import gc
import sys
from typing import Any, Callable, Mapping, Sequence

from mbrl_ros.config import ConfigError
from mbrl_ros.nodes.joint_layout import JointLayoutError
from mbrl_ros.nodes.scheduling import apply_node_scheduling
from mbrl_ros.registry import UnknownComponentError
from mbrl_ros.ros.compat import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
    rclpy_api,
)

#: Exit code when the node's parameters are invalid (nothing was started).
EXIT_BAD_PARAMETERS = 2

# Errors a user fixes by changing parameters: reported in one line, without a traceback.
_PARAMETER_ERRORS = (ConfigError, UnknownComponentError, JointLayoutError)


def run_node(factory: Callable[[], Any], args: Sequence[str] | None = None, *, name: str,
             num_threads: int = 1, scheduling: Mapping[str, Any] | None = None) -> int:
    """Initialise ROS, build the node with ``factory()``, spin it until shutdown.

    The node may define ``exit_code`` (returned; default 0) and ``stop()`` (called
    before it is destroyed, to join worker threads and send a last safe command).

    Args:
        factory: builds the node (after ``rclpy.init``).
        args: command line (default ``sys.argv``).
        name: logger name for start-up errors.
        num_threads: executor threads (1: single-threaded).
        scheduling: the node's defaults of ``scheduling.*`` (:mod:`mbrl_ros.nodes.scheduling`, e.g.
            ``REALTIME_DEFAULTS`` for a bridge, ``{"nice": 10}`` for training); the parameters are
            declared on every node and applied to the process once it is built, before it spins.
    Returns:
        The process exit code.
    """
    rclpy_api.init(args=list(sys.argv if args is None else args))
    node = None
    executor = None
    try:
        try:
            node = factory()
            # A node may refine its defaults once it knows its parameters (``scheduling_defaults``).
            apply_node_scheduling(node, **{**dict(scheduling or {}), **getattr(node, "scheduling_defaults", {})})
        except _PARAMETER_ERRORS as exc:
            rclpy_api.logging.get_logger(name).fatal(f"invalid parameters: {exc}")
            return EXIT_BAD_PARAMETERS
        # What start-up built (torch, the task, the node) lives until exit: the garbage collector
        # need not walk it again, neither in the hot loop nor in the full collection at exit.
        gc.freeze()
        executor = MultiThreadedExecutor(num_threads=num_threads) if num_threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        try:
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        return int(getattr(node, "exit_code", 0))
    finally:
        if node is not None:
            stop = getattr(node, "stop", None)
            if stop is not None:
                stop()
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy_api.try_shutdown()
        # The interpreter's last full collection walks every object left: 2.2-3 s for model_learner
        # (torch, an ensemble, its data) on a loaded 2-core machine, which used to outlast the
        # launcher's 5 s between SIGINT and SIGTERM. Frozen objects are skipped (0.8 s in total).
        gc.freeze()
