"""Parameters (declare, overrides, types, ranges, callbacks) and simulated time from /clock."""
from __future__ import annotations

import textwrap
import time

import pytest

from mbrl_ros.ros.messages import message_class
from mbrl_ros.ros.runtime import Context, Node, Parameter, SingleThreadedExecutor
from mbrl_ros.ros.runtime.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
    ParameterAlreadyDeclaredException,
    ParameterNotDeclaredException,
    ParameterUninitializedException,
)
from mbrl_ros.ros.runtime.parameter import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from mbrl_ros.ros.runtime.qos import HistoryPolicy, ReliabilityPolicy
from mbrl_ros.ros.runtime.testing import isolated_domain
from mbrl_ros.ros.runtime.time import ClockType, Time



@pytest.fixture
def make_context():
    """``make_context(*ros_args)`` -> an initialised context on a private domain."""
    contexts = []
    with isolated_domain():

        def make(*ros_args):
            ctx = Context()
            ctx.init(["prog", "--ros-args", *ros_args] if ros_args else ["prog"])
            contexts.append(ctx)
            return ctx

        yield make
        for ctx in contexts:
            ctx.try_shutdown()


def test_declare_with_descriptor_and_defaults(make_context):
    node = Node("p", context=make_context())
    descriptor = ParameterDescriptor(description="control rate in Hz", floating_point_range=[FloatingPointRange(1.0, 500.0, 0.0)])
    param = node.declare_parameter("rate_hz", 50.0, descriptor)
    assert (param.name, param.value, param.type_) == ("rate_hz", 50.0, Parameter.Type.DOUBLE)
    assert node.describe_parameter("rate_hz").description == "control rate in Hz"
    assert node.describe_parameter("rate_hz").type == ParameterType.PARAMETER_DOUBLE
    assert descriptor.type == ParameterType.PARAMETER_NOT_SET  # the caller's descriptor is not mutated
    assert node.get_parameter("rate_hz").value == 50.0
    assert node.has_parameter("use_sim_time") and node.get_parameter("use_sim_time").value is False
    declared = node.declare_parameters("planner", [("horizon", 20), ("name", "cem"), ("gains", [1.0, 2.0])])
    assert [p.name for p in declared] == ["planner.horizon", "planner.name", "planner.gains"]
    assert node.get_parameters_by_prefix("planner")["horizon"].value == 20
    assert [p.value for p in node.get_parameters(["planner.name", "planner.gains"])] == ["cem", [1.0, 2.0]]
    with pytest.raises(ParameterAlreadyDeclaredException):
        node.declare_parameter("rate_hz", 1.0)
    with pytest.raises(ParameterNotDeclaredException):
        node.get_parameter("missing")


def test_wrong_type_and_range_are_rejected(make_context):
    node = Node("p", context=make_context())
    node.declare_parameter("rate_hz", 50.0, ParameterDescriptor(floating_point_range=[FloatingPointRange(1.0, 500.0, 0.0)]))
    node.declare_parameter("horizon", 20, ParameterDescriptor(integer_range=[IntegerRange(1, 100, 1)]))
    node.declare_parameter("frozen", "x", ParameterDescriptor(read_only=True))
    results = node.set_parameters(
        [
            Parameter("rate_hz", value=100),  # int for a double: rejected, as rclpy does
            Parameter("rate_hz", value=1000.0),
            Parameter("horizon", value=50),
            Parameter("frozen", value="y"),
        ]
    )
    assert [r.successful for r in results] == [False, False, True, False]
    assert "Wrong parameter type" in results[0].reason
    assert "out of range" in results[1].reason
    assert "read-only" in results[3].reason
    assert node.get_parameter("rate_hz").value == 50.0 and node.get_parameter("horizon").value == 50
    with pytest.raises(ParameterNotDeclaredException):
        node.set_parameters([Parameter("nope", value=1)])


def test_on_set_parameters_callback_can_veto(make_context):
    node = Node("p", context=make_context())
    node.declare_parameter("mode", "idle")
    seen = []

    def check(params):
        seen.extend(p.name for p in params)
        ok = all(p.value in ("idle", "run") for p in params if p.name == "mode")
        return SetParametersResult(successful=ok, reason="" if ok else "mode must be idle or run")

    node.add_on_set_parameters_callback(check)
    assert node.set_parameters([Parameter("mode", value="run")])[0].successful
    result = node.set_parameters([Parameter("mode", value="fly")])[0]
    assert not result.successful and result.reason == "mode must be idle or run"
    assert node.get_parameter("mode").value == "run" and seen == ["mode", "mode"]


def test_overrides_from_command_line(make_context):
    ctx = make_context("-p", "rate_hz:=100.0", "-p", "horizon:=30", "-p", "name:=mppi")
    node = Node("p", context=ctx)
    assert node.declare_parameter("rate_hz", 50.0).value == 100.0
    assert node.declare_parameter("horizon", 20).value == 30
    assert node.declare_parameter("name", "cem").value == "mppi"
    # Constructor overrides beat the command line; ignore_override keeps the default.
    other = Node("q", context=ctx, parameter_overrides=[Parameter("horizon", value=40)])
    assert other.declare_parameter("horizon", 20).value == 40
    assert other.declare_parameter("name", "cem", ignore_override=True).value == "cem"


def test_override_of_the_wrong_type_fails_declaration(make_context):
    node = Node("p", context=make_context("-p", "rate_hz:=100"))
    with pytest.raises(InvalidParameterTypeException, match="rate_hz"):
        node.declare_parameter("rate_hz", 50.0)
    with pytest.raises(InvalidParameterValueException):
        Node("r", context=make_context("-p", "horizon:=500")).declare_parameter(
            "horizon", 20, ParameterDescriptor(integer_range=[IntegerRange(1, 100, 1)])
        )


def test_params_file_node_section_beats_wildcard(make_context, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(
        textwrap.dedent(
            """
            /**:
              ros__parameters:
                rate_hz: 10.0
                shared: common
            controller:
              ros__parameters:
                rate_hz: 250.0
                planner:
                  name: icem
                  horizon: 25
            other:
              ros__parameters:
                rate_hz: 1.0
            """
        )
    )
    ctx = make_context("--params-file", str(path))
    node = Node("controller", context=ctx)
    assert node.declare_parameter("rate_hz", 50.0).value == 250.0
    assert node.declare_parameter("shared", "").value == "common"
    assert node.declare_parameter("planner.name", "cem").value == "icem"
    assert node.declare_parameter("planner.horizon", 10).value == 25
    assert Node("elsewhere", context=ctx).declare_parameter("rate_hz", 50.0).value == 10.0
    # -p after the file overrides the wildcard section's value for every node.
    ctx2 = make_context("--params-file", str(path), "-p", "shared:=cli")
    assert Node("controller", context=ctx2).declare_parameter("shared", "").value == "cli"


def test_typed_declaration_and_auto_declare(make_context):
    ctx = make_context("-p", "required:=3", "-p", "extra:=[1, 2]")
    node = Node("p", context=ctx)
    assert node.declare_parameter("required", Parameter.Type.INTEGER).value == 3
    node.declare_parameter("missing", Parameter.Type.DOUBLE)
    with pytest.raises(ParameterUninitializedException):
        node.get_parameter("missing")
    auto = Node("auto", context=ctx, automatically_declare_parameters_from_overrides=True)
    assert auto.get_parameter("extra").value == [1, 2]
    assert auto.get_parameter("extra").type_ == Parameter.Type.INTEGER_ARRAY


def spin_until(executor, predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return predicate()


def test_use_sim_time_follows_clock_topic(make_context):
    ctx = make_context("-p", "use_sim_time:=true")
    node = Node("sim", context=ctx)
    assert node.get_parameter("use_sim_time").value is True
    clock_sub = node._time_source._clock_sub
    assert clock_sub.topic_name == "/clock"
    assert clock_sub.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
    assert (clock_sub.qos_profile.history, clock_sub.qos_profile.depth) == (HistoryPolicy.KEEP_LAST, 1)
    assert node.get_clock().now().nanoseconds == 0  # no /clock received yet

    Clock = message_class("rosgraph_msgs/msg/Clock")
    sim = Node("simulator", context=ctx, parameter_overrides=[Parameter("use_sim_time", value=False)])
    clock_pub = sim.create_publisher(Clock, "/clock", 10)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    assert spin_until(executor, lambda: clock_pub.get_subscription_count() == 1)
    clock_pub.publish(Clock(clock=Time(seconds=123.5).to_msg()))
    assert spin_until(executor, lambda: node.get_clock().now().nanoseconds == 123_500_000_000)
    assert node.get_clock().now().clock_type == ClockType.ROS_TIME

    # A 1 s timer runs on simulated time: it waits for /clock, not for the wall clock.
    ticks = []
    node.create_timer(1.0, lambda: ticks.append(node.get_clock().now().nanoseconds))
    executor.spin_once(timeout_sec=0.2)
    assert ticks == []
    for k in range(1, 6):  # 0.5 s steps of simulated time, as fast as we can publish them
        clock_pub.publish(Clock(clock=Time(seconds=123.5 + 0.5 * k).to_msg()))
        expected = [int((123.5 + 1.0 * j) * 1e9) for j in range(1, k // 2 + 1)]
        assert spin_until(executor, lambda: ticks == expected and node.get_clock().now().nanoseconds == int((123.5 + 0.5 * k) * 1e9))
    assert ticks == [124_500_000_000, 125_500_000_000]

    # Switching sim time off goes back to system time and drops the /clock subscription.
    assert node.set_parameters([Parameter("use_sim_time", value=False)])[0].successful
    assert node._time_source._clock_sub is None
    assert abs(node.get_clock().now().nanoseconds - time.time_ns()) < 1e9


def test_no_clock_subscription_without_sim_time(make_context):
    node = Node("wall", context=make_context())
    assert node._time_source._clock_sub is None
    assert [s.topic_name for s in node.subscriptions] == []
    assert abs(node.get_clock().now().nanoseconds - time.time_ns()) < 1e9
