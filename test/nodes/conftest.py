"""A ROS graph per test: its own DDS domain (100..232, localhost only), context and executor."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest
import torch

from mbrl_ros.ros.compat import (
    MultiThreadedExecutor,
    MutuallyExclusiveCallbackGroup,
    Node,
    Parameter,
    SingleThreadedExecutor,
    msg,
    rclpy_api,
)
from mbrl_ros.ros.runtime.testing import isolated_domain

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


@pytest.fixture
def graph():
    torch.set_num_threads(1)
    with isolated_domain():
        ros = RosGraph()
        try:
            yield ros
        finally:
            ros.close()


@pytest.fixture(name="wait_for")
def wait_for_fixture():
    """:func:`wait_for`, for tests (they do not import this module)."""
    return wait_for


@pytest.fixture
def trained_model():
    """Factory of a tiny trained ensemble for a task spec: ``trained_model(spec, seed=0)``."""
    return train_small_model


SMALL_ENSEMBLE = dict(ensemble_size=2, num_elites=2, hidden_layers=1, hidden_units=8, num_particles=2,
                      max_epochs=2, batch_size=16)


def train_small_model(spec, seed=0):
    import numpy as np

    from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics

    model = EnsembleDynamics(spec.obs_dim, spec.act_dim, EnsembleConfig(**SMALL_ENSEMBLE),
                             angle_indices=spec.angle_indices, seed=seed)
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(32, spec.obs_dim))
    act = rng.uniform(-1, 1, size=(32, spec.act_dim))
    model.fit(obs, act, obs + 0.01 * rng.normal(size=obs.shape), max_epochs=2)
    return model


@pytest.fixture
def latched():
    from mbrl_ros.ros.compat import qos_profile_latched

    return qos_profile_latched




@pytest.fixture
def check_bad_states_get_no_command():
    """``check(node, commands, states)``: a command node (mpc_planner, policy_controller) on the
    pendulum rejects a NaN, an unknown joint, a missing velocity and an older stamp, each counted,
    and answers only the good state."""
    from mbrl_ros.nodes.conversions import joint_state_message

    def check(node, commands, states) -> None:
        states.publish(joint_state_message(1_000_000_000, ["hinge"], [float("nan")], [0.0]))
        states.publish(joint_state_message(1_000_000_000, ["elbow"], [0.0], [0.0]))
        states.publish(joint_state_message(1_000_000_000, ["hinge"], [0.0]))          # no velocity
        states.publish(joint_state_message(1_000_000_000, ["hinge"], [0.0], [0.0]))   # good
        states.publish(joint_state_message(900_000_000, ["hinge"], [0.0], [0.0]))     # older
        wait_for(lambda: node.health.rejected_total("state") == 4, what="four rejections")
        wait_for(lambda: len(commands) == 1, what="one command")
        assert {k.rsplit(".", 1)[1] for k in node.health.snapshot() if k.startswith("rejected.state.")} == {
            "non_finite", "missing_joint", "missing_velocity", "out_of_order"}

    return check
