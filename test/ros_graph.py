"""A ROS graph in the test process: nodes spun by one executor in a background thread, a probe
node that collects and publishes (shared by test/nodes and test/faults)."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

from mbrl_ros.ros.compat import (
    MultiThreadedExecutor,
    MutuallyExclusiveCallbackGroup,
    Node,
    Parameter,
    SingleThreadedExecutor,
    msg,
    rclpy_api,
)

WAIT_S = 10.0


class RosGraph:
    """Nodes of one test, spun by one executor in a background thread, plus a probe node."""

    def __init__(self):
        self.context = rclpy_api.context.Context()
        rclpy_api.init(args=[], context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self.nodes: list[Any] = []
        self._own_executors: list[Any] = []
        self.probe = self.add(Node("probe", context=self.context))
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self, executor=None):
        try:
            (executor or self.executor).spin()
        except Exception:  # the context was shut down under the executor
            pass

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def start(self, node_class, *, single_threaded=False, **parameters):
        """Build ``node_class`` on this graph with ``parameters`` as overrides.

        ``single_threaded``: spin it in its own single-threaded executor, as its ``main`` does.
        """
        overrides = [Parameter(name, value=value) for name, value in parameters.items()]
        node = node_class(context=self.context, parameter_overrides=overrides)
        if not single_threaded:
            return self.add(node)
        self.nodes.append(node)
        executor = SingleThreadedExecutor(context=self.context)
        executor.add_node(node)
        self._own_executors.append(executor)
        threading.Thread(target=self._spin, args=(executor,), daemon=True).start()
        return node

    def collect(self, ros_type: str, topic: str, qos: Any = 1000) -> list:
        """Messages on ``topic``, appended as they arrive.

        Each collector has its own callback group and a deep queue, so a busy topic never
        starves or overflows another.
        """
        received: list = []
        self.probe.create_subscription(msg(ros_type), topic, received.append, qos,
                                       callback_group=MutuallyExclusiveCallbackGroup())
        return received

    def publisher(self, ros_type: str, topic: str, qos: Any = 10):
        return self.probe.create_publisher(msg(ros_type), topic, qos)

    def close(self):
        for node in reversed(self.nodes):
            stop = getattr(node, "stop", None)
            if stop is not None:
                stop()
        for executor in [self.executor, *self._own_executors]:
            executor.shutdown(timeout_sec=5.0)
        for node in self.nodes:
            node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=5.0)


def wait_for(predicate: Callable[[], bool], timeout: float = WAIT_S, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def learner_inputs(graph: RosGraph) -> tuple[Any, Any, Any]:
    """Publishers of model_learner's default inputs, returned once it subscribes to all three:
    (``/mbrl/state`` states, ``/effort_controller/commands`` commands, ``/sim_bridge/episode_return`` ends)."""
    states = graph.publisher("sensor_msgs/msg/JointState", "/mbrl/state", 100)
    commands = graph.publisher("std_msgs/msg/Float64MultiArray", "/effort_controller/commands", 100)
    ends = graph.publisher("std_msgs/msg/Float64", "/sim_bridge/episode_return")
    wait_for(lambda: states.get_subscription_count() and commands.get_subscription_count()
             and ends.get_subscription_count(), what="the learner's subscriptions")
    return states, commands, ends
