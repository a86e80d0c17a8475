"""Message <-> array adapters: round trips through CDR, reordering, and rejection reasons."""
import math

import numpy as np
import pytest

from mbrl_ros.nodes.conversions import (
    InvalidMessageError,
    bytes_message,
    clock_message,
    command_message,
    command_tag,
    command_to_action,
    joint_state_message,
    joint_state_to_sample,
    message_bytes,
    ns_to_stamp,
    path_message,
    stamp_to_ns,
)
from mbrl_ros.ros.compat import deserialize_message, msg, serialize_message


def wire(message):
    """The message after a trip through CDR bytes, as a subscriber gets it."""
    return deserialize_message(serialize_message(message), type(message))


def test_stamps_round_trip_in_integer_nanoseconds():
    ns = 1_700_000_123_456_789_012
    assert stamp_to_ns(wire(clock_message(ns)).clock) == ns
    assert stamp_to_ns(ns_to_stamp(0)) == 0
    with pytest.raises(ValueError):
        ns_to_stamp(-1)


def test_joint_state_round_trip_and_reorder():
    message = wire(joint_state_message(2_500_000_000, ["elbow", "shoulder"], [0.2, 0.1], [2.0, 1.0]))
    sample = joint_state_to_sample(message, ["shoulder", "elbow"])
    assert sample.stamp_ns == 2_500_000_000 and sample.stamp == 2.5
    assert sample.names == ("shoulder", "elbow")
    np.testing.assert_array_equal(sample.positions, [0.1, 0.2])
    np.testing.assert_array_equal(sample.velocities, [1.0, 2.0])
    assert joint_state_to_sample(message).names == ("elbow", "shoulder")  # no expectation: message order


def test_joint_state_without_velocities():
    sample = joint_state_to_sample(wire(joint_state_message(0, ["a"], [1.0])), ["a"])
    assert sample.velocities is None
    with pytest.raises(InvalidMessageError) as err:
        joint_state_to_sample(wire(joint_state_message(0, ["a"], [1.0])), ["a"], require_velocity=True)
    assert err.value.reason == "missing_velocity"


def test_extra_joints_are_rejected_unless_allowed():
    message = joint_state_message(0, ["a", "gripper"], [1.0, 0.0], [0.0, 0.0])
    with pytest.raises(InvalidMessageError) as err:
        joint_state_to_sample(message, ["a"])
    assert err.value.reason == "unknown_joint"
    sample = joint_state_to_sample(message, ["a"], allow_extra_joints=True)
    np.testing.assert_array_equal(sample.positions, [1.0])


@pytest.mark.parametrize("names, positions, velocities, expected, reason", [
    (["a", "b"], [1.0], [], ["a", "b"], "wrong_length"),
    (["a"], [1.0], [0.0, 1.0], ["a"], "wrong_length"),
    (["a"], [math.nan], [0.0], ["a"], "non_finite"),
    (["a"], [0.0], [math.inf], ["a"], "non_finite"),
    (["a", "a"], [0.0, 0.0], [], None, "duplicate_joint"),
    ([], [], [], ["a"], "missing_names"),
    (["b"], [0.0], [0.0], ["a"], "missing_joint"),
])
def test_bad_joint_states_are_rejected(names, positions, velocities, expected, reason):
    message = msg("sensor_msgs/msg/JointState")(name=names, position=positions, velocity=velocities)
    with pytest.raises(InvalidMessageError) as err:
        joint_state_to_sample(message, expected)
    assert err.value.reason == reason


def test_commands_carry_an_optional_tag():
    tagged = wire(command_message(np.array([1.5, -2.0]), tag_ns=123_456_789_000))
    action, tag = command_to_action(tagged, 2)
    np.testing.assert_array_equal(action, [1.5, -2.0])
    assert tag == 123_456_789_000
    assert tagged.layout.dim[0].size == 2  # a forward_command_controller reads a plain array
    untagged = wire(command_message([0.5]))
    assert command_to_action(untagged, 1)[1] is None
    assert command_tag(msg("std_msgs/msg/Float64MultiArray")(data=[1.0])) is None


def test_non_finite_commands_are_never_built():
    with pytest.raises(ValueError, match="NaN"):
        command_message([0.0, math.nan])


@pytest.mark.parametrize("data, reason", [([1.0, 2.0], "wrong_length"), ([math.nan], "non_finite")])
def test_bad_commands_are_rejected(data, reason):
    with pytest.raises(InvalidMessageError) as err:
        command_to_action(msg("std_msgs/msg/Float64MultiArray")(data=data), 1)
    assert err.value.reason == reason


def test_model_bytes_survive_the_wire():
    payload = bytes(range(256)) * 100
    assert message_bytes(wire(bytes_message(payload))) == payload


def test_path_poses_are_stamped_one_period_apart():
    points = np.arange(9.0).reshape(3, 3)
    path = wire(path_message(1_000_000_000, 50_000_000, points, "world"))
    assert path.header.frame_id == "world" and len(path.poses) == 3
    assert [stamp_to_ns(p.header.stamp) for p in path.poses] == [1_050_000_000, 1_100_000_000, 1_150_000_000]
    assert [path.poses[2].pose.position.x, path.poses[2].pose.position.y, path.poses[2].pose.position.z] == [6, 7, 8]
    assert path.poses[0].pose.orientation.w == 1.0
