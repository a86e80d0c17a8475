"""state_estimator on the runtime: estimates, rejects bad input with counters, resets."""
import math

import pytest

from mbrl_ros.nodes.conversions import command_message, joint_state_message, stamp_to_ns
from mbrl_ros.nodes.state_estimator import StateEstimatorNode
from mbrl_ros.ros.compat import msg


def test_finite_difference_state_and_rejections(graph, wait_for):
    node = graph.start(StateEstimatorNode, estimator="finite_difference", joint_names=["a", "b"],
                       max_age=0.0)
    states = graph.collect("sensor_msgs/msg/JointState", "/mbrl/state")
    pub = graph.publisher("sensor_msgs/msg/JointState", "/joint_states")
    wait_for(lambda: pub.get_subscription_count() > 0, what="the estimator to subscribe")

    def send(t, positions, names=("b", "a"), velocities=()):
        pub.publish(joint_state_message(int(t * 1e9), names, positions, velocities))

    send(1.0, [0.0, 1.0])                     # b, a order on the wire
    send(1.1, [0.5, 1.2])
    wait_for(lambda: len(states) == 2, what="two states")
    second = states[1]
    assert list(second.name) == ["a", "b"] and stamp_to_ns(second.header.stamp) == 1_100_000_000
    assert second.position == pytest.approx([1.2, 0.5])
    assert second.velocity == pytest.approx([2.0, 5.0])

    send(1.2, [math.nan, 0.0])                # non-finite
    send(1.2, [0.0, 0.0], names=("a", "c"))   # unknown joint
    send(1.1, [0.0, 0.0])                     # duplicate stamp
    send(1.05, [0.0, 0.0])                    # out of order
    send(1.3, [0.0])                          # wrong length
    send(1.4, [0.7, 1.4])                     # fine again
    wait_for(lambda: len(states) == 3, what="the good state after the bad ones")
    assert states[2].velocity == pytest.approx([(1.4 - 1.2) / 0.3, (0.7 - 0.5) / 0.3])
    counts = node.health.snapshot()
    for reason in ("non_finite", "missing_joint", "duplicate_stamp", "out_of_order", "wrong_length"):
        assert counts[f"rejected.joint_states.{reason}"] == 1, reason

    reset = graph.publisher("std_msgs/msg/Empty", "/mbrl/reset")
    wait_for(lambda: reset.get_subscription_count() > 0, what="the reset subscription")
    reset.publish(msg("std_msgs/msg/Empty")())
    wait_for(lambda: node.health.get("resets") == 1, what="the reset")
    send(0.5, [3.0, 3.0])                     # an older stamp is fine after a reset
    wait_for(lambda: len(states) == 4, what="a state after the reset")
    assert states[3].velocity == pytest.approx([0.0, 0.0])


def test_stale_measurements_are_rejected(graph, wait_for):
    node = graph.start(StateEstimatorNode, estimator="passthrough", max_age=0.5)
    states = graph.collect("sensor_msgs/msg/JointState", "/mbrl/state")
    pub = graph.publisher("sensor_msgs/msg/JointState", "/joint_states")
    wait_for(lambda: pub.get_subscription_count() > 0, what="the estimator to subscribe")
    now_ns = graph.probe.get_clock().now().nanoseconds
    pub.publish(joint_state_message(now_ns - 2_000_000_000, ["j"], [0.0], [0.0]))   # 2 s old
    pub.publish(joint_state_message(now_ns, ["j"], [0.0], [1.0]))
    wait_for(lambda: len(states) == 1, what="the fresh state")
    assert node.health.get("rejected.joint_states.stale") == 1
    assert states[0].velocity == pytest.approx([1.0])
    pub.publish(joint_state_message(now_ns + 1000, ["j"], [0.0]))                     # no velocity
    wait_for(lambda: node.health.get("rejected.joint_states.missing_velocity") == 1, what="the rejection")


def test_commands_reach_the_joint_kf_as_inputs(graph, wait_for):
    """Commands on command_topic open the filter at their tag; a NaN command is rejected and counted."""
    node = graph.start(StateEstimatorNode, estimator="joint_kf", joint_names=["a"], max_age=0.0,
                       command_topic="/effort_controller/commands",
                       **{"joint_kf.model": "constant_acceleration", "joint_kf.input_gain": 2.0})
    states = graph.collect("sensor_msgs/msg/JointState", "/mbrl/state")
    pub = graph.publisher("sensor_msgs/msg/JointState", "/joint_states")
    commands = graph.publisher("std_msgs/msg/Float64MultiArray", "/effort_controller/commands")
    wait_for(lambda: pub.get_subscription_count() > 0 and commands.get_subscription_count() > 0,
             what="the estimator to subscribe")
    pub.publish(joint_state_message(1_000_000_000, ["a"], [0.0]))
    wait_for(lambda: len(states) == 1, what="the first state")
    commands.publish(command_message([1.0], 1_000_000_000))
    commands.publish(command_message([4.0], 1_000_000_000))
    bad = command_message([0.0], 1_000_000_000)
    bad.data = [math.nan]
    commands.publish(bad)
    wait_for(lambda: node.health.get("commands") == 2 and node.health.snapshot().get(
        "rejected.commands.non_finite") == 1, what="the commands")
    # The change 1 -> 4 acts from t = 0 s (relative to the first message): one pending step of 3.
    assert node.estimator._input_jumps == [(0.0, 3.0)]
    pub.publish(joint_state_message(1_050_000_000, ["a"], [0.01]))
    wait_for(lambda: len(states) == 2, what="the second state")
    assert node.estimator._input_jumps == []
