"""Property: whatever arrives, no command-producing node ever publishes a non-finite or
out-of-bounds command (hypothesis draws the messages).

Every node that drives an actuator is built once (on the runtime, its own DDS domain) and fed
random messages straight into its callbacks: states into ``mpc_planner`` (with a learned model)
and ``policy_controller``; commands into ``sim_bridge`` (what its actuator applies), and
odometry plus commands into ``px4_bridge`` (both setpoint kinds) and ``crazyflie_bridge``.
Every message each node publishes meanwhile is captured at its publisher and checked.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ros_graph import RosGraph

from mbrl_ros.nodes.conversions import COMMAND_LABEL, bytes_message, joint_state_message
from mbrl_ros.ros.compat import msg
from mbrl_ros.ros.runtime.testing import isolated_domain

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Any double: NaN, +-inf, subnormals, +-1.8e308; and ordinary magnitudes, so that some inputs pass.
ANY_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-10.0, 10.0))
STAMPS = st.integers(0, 2 ** 62)


class StampClock:
    """Stamps that mostly move forward (as a real stream's), with the given jumps (ns; may be <= 0)."""

    def __init__(self):
        self.now = 10 ** 9

    def __call__(self, jump: int) -> int:
        self.now = max(0, self.now + jump)
        return self.now


def joint_states(names, clock: StampClock):
    """States well formed but for their values (any double), and malformed ones (names, lengths)."""
    joints = len(names)
    values = st.lists(ANY_FLOAT, min_size=joints, max_size=joints)
    jumps = st.one_of(st.integers(1, 10 ** 9), st.integers(-10 ** 9, 0))
    shaped = st.builds(lambda jump, p, v: joint_state_message(clock(jump), names, p, v), jumps, values, values)
    garbage = st.builds(lambda jump, n, p, v: joint_state_message(clock(jump), n, p, v), jumps,
                        st.lists(st.sampled_from([*names, "elbow", ""]), max_size=3),
                        st.lists(ANY_FLOAT, max_size=3), st.lists(ANY_FLOAT, max_size=3))
    return st.one_of(shaped, shaped, shaped, garbage)


def _command(data, label):
    message = msg("std_msgs/msg/Float64MultiArray")()
    message.data = [float(v) for v in data]
    if label is not None:
        message.layout.dim = [msg("std_msgs/msg/MultiArrayDimension")(label=label, size=len(data), stride=len(data))]
    return message


def commands(act_dim):
    labels = st.one_of(st.none(), st.just(COMMAND_LABEL), STAMPS.map(lambda s: f"{COMMAND_LABEL};stamp_ns={s}"),
                       st.text(max_size=20))
    return st.builds(_command, st.lists(ANY_FLOAT, min_size=max(0, act_dim - 1), max_size=act_dim + 1), labels)


def capture(publisher, seen: list | None = None) -> list:
    """Every message ``publisher`` sends from now on (then sent as usual), appended to ``seen``."""
    seen = [] if seen is None else seen
    send = publisher.publish

    def publish(message):
        seen.append(message)
        send(message)

    publisher.publish = publish
    return seen


def assert_commands_ok(messages, low, high) -> None:
    for message in messages:
        values = np.asarray(message.data, dtype=np.float64)
        assert values.shape == np.shape(low), values
        assert np.all(np.isfinite(values)) and np.all(values >= low) and np.all(values <= high), values


@pytest.fixture(scope="module")
def ros():
    with isolated_domain():
        graph = RosGraph()
        try:
            yield graph
        finally:
            graph.close()


def _start(ros, node_class, **parameters):
    from mbrl_ros.ros.compat import Parameter

    overrides = [Parameter(name, value=value) for name, value in parameters.items()]
    node = node_class(context=ros.context, parameter_overrides=overrides)
    ros.nodes.append(node)  # stopped and destroyed by RosGraph.close; never spun: callbacks are called here
    return node


def test_mpc_planner_never_commands_nan_or_out_of_bounds(ros, trained_model):
    from mbrl_ros.learning.model_payload import encode_model
    from mbrl_ros.nodes.planner import PlannerNode

    node = _start(ros, PlannerNode, task="pendulum_swingup", planner="icem", trigger="state_async",
                  **{"learning.horizon": 5, "icem.population": 16, "icem.min_population": 8, "icem.num_elites": 4,
                     "icem.iterations": 1, "max_state_age": 0.0, "state_timeout": 60.0})
    spec = node.task.spec
    node._on_model(bytes_message(encode_model(trained_model(spec), version=1, task=spec.name, episodes=1,
                                              transitions=32, metrics={})))
    _drive_command_node(node, settle_s=0.002)  # the planning thread plans on some of the states
    assert node.model is not None  # planned on the learned model, not only explored


def _drive_command_node(node, settle_s: float = 0.0) -> None:
    """Random states into a node that answers states with commands; every command it sends is checked."""
    sent = capture(node._command_pub)
    low, high = np.asarray(node.task.spec.action_low), np.asarray(node.task.spec.action_high)

    @SETTINGS
    @given(st.lists(joint_states(list(node.layout.joint_names), StampClock()), min_size=1, max_size=8))
    def check(states):
        for state in states:
            node._on_state(state)
        time.sleep(settle_s)
        assert_commands_ok(sent, low, high)

    check()
    assert node.health.get("commands") > 0 and node.health.rejected_total("state") > 0
    assert_commands_ok(sent, low, high)


def test_policy_controller_never_commands_nan_or_out_of_bounds(ros, tmp_path_factory):
    from mbrl_ros.export.onnx_policy import PolicyNetwork, export_policy_onnx
    from mbrl_ros.nodes.policy_controller import PolicyControllerNode
    from mbrl_ros.tasks import make_task

    spec = make_task("pendulum_swingup").spec
    policy = PolicyNetwork.from_spec(spec, {"hidden_units": 8}, seed=0)
    path = export_policy_onnx(policy, tmp_path_factory.mktemp("policy") / "policy.onnx", task_spec=spec,
                              metadata={"version": 1})
    node = _start(ros, PolicyControllerNode, task="pendulum_swingup", policy_file=str(path), max_state_age=0.0,
                  state_timeout=60.0)
    _drive_command_node(node)


def test_sim_bridge_actuator_never_applies_nan_or_out_of_bounds(ros):
    from mbrl_ros.nodes.sim_bridge import SimBridgeNode

    node = _start(ros, SimBridgeNode, task="cartpole_swingup", realtime=False, step_timeout=0.001,
                  start_timeout=0.0, start_delay=0.0, linger=0.0, **{"learning.episodes": 100000})
    applied = capture(node._applied_pub)
    spec = node.task.spec
    low, high = np.asarray(spec.action_low), np.asarray(spec.action_high)

    @SETTINGS
    @given(st.lists(commands(spec.act_dim), min_size=1, max_size=8))
    def check(batch):
        for command in batch:
            node._on_command(command)
        time.sleep(0.002)  # a few lockstep steps take them
        assert_commands_ok(applied, low, high)

    check()
    assert node.health.get("steps") > 0 and node.health.rejected_total("command") > 0
    assert_commands_ok(applied, low, high)


def _quadrotor_odometry_px4(obs):
    """A VehicleOdometry (NED frames) whose position, q, velocity and rates are the 13 given doubles."""
    from mbrl_ros.robots import frames

    message = msg("px4_msgs/msg/VehicleOdometry")()
    message.pose_frame, message.velocity_frame = frames.POSE_FRAME_NED, frames.VELOCITY_FRAME_NED
    message.position, message.q = list(obs[0:3]), list(obs[3:7])
    message.velocity, message.angular_velocity = list(obs[7:10]), list(obs[10:13])
    return message


def _quadrotor_odometry_ros(obs):
    message = msg("nav_msgs/msg/Odometry")()
    p, q = message.pose.pose.position, message.pose.pose.orientation
    p.x, p.y, p.z = obs[0:3]
    q.w, q.x, q.y, q.z = obs[3:7]
    v, w = message.twist.twist.linear, message.twist.twist.angular
    v.x, v.y, v.z = obs[7:10]
    w.x, w.y, w.z = obs[10:13]
    return message


def _float_fields(message, prefix=""):
    """Every float in a message (nested), as (name, value)."""
    for field in dataclasses.fields(message):
        value = getattr(message, field.name)
        if isinstance(value, float):
            yield prefix + field.name, value
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], float):
            yield from ((f"{prefix}{field.name}[{i}]", v) for i, v in enumerate(value))
        elif dataclasses.is_dataclass(value):
            yield from _float_fields(value, f"{prefix}{field.name}.")


# A quadrotor state: a position, a unit-ish quaternion (random ones are refused or normalized), velocities.
QUAD_STATES = st.lists(ANY_FLOAT, min_size=13, max_size=13)


def _drive_quadrotor_bridge(node, odometry, sent: list, check_message) -> None:
    """Random (odometry, command) pairs into a quadrotor bridge; ``check_message`` on all it sent."""

    @SETTINGS
    @given(st.lists(st.tuples(QUAD_STATES, commands(node.task.spec.act_dim)), min_size=1, max_size=6))
    def check(inputs):
        node._obs = None  # each example from no odometry, so that hypothesis can replay it
        for obs, command in inputs:
            node._on_odometry(odometry(obs))
            node._on_command(command)
        for message in sent:
            check_message(message)

    check()
    assert node.health.get("setpoints") > 0


@pytest.mark.parametrize("setpoint", ["thrust_torque", "motors"])
def test_px4_bridge_setpoints_are_finite_and_normalized(ros, setpoint):
    from mbrl_ros.robots.px4.bridge import PX4BridgeNode

    node = _start(ros, PX4BridgeNode, setpoint=setpoint, require_tagged_commands=False, command_timeout=10.0)
    publishers = [node._thrust_pub, node._torque_pub] if setpoint == "thrust_torque" else [node._motors_pub]
    sent: list = []
    for publisher in publishers:
        capture(publisher, sent)

    def normalized(message):
        # PX4 marks motors past the vehicle's rotors NaN (unused); the four rotors must be in [0, 1].
        values = np.asarray(message.xyz if setpoint == "thrust_torque" else message.control[:4])
        assert np.all(np.isfinite(values)) and np.all(np.abs(values) <= 1.0), values
        assert setpoint == "thrust_torque" or np.all(values >= 0.0), values

    _drive_quadrotor_bridge(node, _quadrotor_odometry_px4, sent, normalized)


def test_crazyflie_bridge_full_state_setpoints_are_finite(ros):
    from mbrl_ros.robots.crazyflie.bridge import CrazyflieBridgeNode

    node = _start(ros, CrazyflieBridgeNode, require_tagged_commands=False, command_timeout=10.0)

    def finite(message):
        bad = [(name, v) for name, v in _float_fields(message) if not math.isfinite(v)]
        assert not bad, bad

    _drive_quadrotor_bridge(node, _quadrotor_odometry_ros, capture(node._setpoint_pub), finite)
