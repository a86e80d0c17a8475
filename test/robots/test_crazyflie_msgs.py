"""crazyflie_interfaces/msg/FullState: wire bytes against rosbags and mcap_ros2, topics."""
import pytest

from mbrl_ros.robots.crazyflie import msgs as crazyflie_msgs
from mbrl_ros.ros import messages
from mbrl_ros.ros.messages import deserialize, message_class, serialize

FULL_STATE = "crazyflie_interfaces/msg/FullState"
# Computed here (no published value found); equal to rosbags' own RIHS01. Pinned so a
# change to the text or to a nested standard type's hash shows up.
COMPUTED_FULL_STATE_HASH = "RIHS01_bd2e17994c6bec891c6ea8232010a47ecd291bc282ef452814229fd9297ba56f"


def test_golden_bytes_against_rosbags_and_mcap(robots_registry, golden):
    assert golden(robots_registry, FULL_STATE, instances=8) == 9


def test_fields_are_standard_types(robots_registry):
    cls = robots_registry.message_class(FULL_STATE)
    assert cls.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "pose": "geometry_msgs/Pose",
        "twist": "geometry_msgs/Twist",
        "acc": "geometry_msgs/Vector3",
    }
    assert cls().pose.orientation.w == 1.0  # nested geometry_msgs/Quaternion default
    assert cls.__dds_type__ == "crazyflie_interfaces::msg::dds_::FullState_"


def test_type_hash(robots_registry):
    assert robots_registry.type_hash(FULL_STATE) == COMPUTED_FULL_STATE_HASH
    assert robots_registry.typestore.hash_rihs01(FULL_STATE) == COMPUTED_FULL_STATE_HASH


def test_round_trip_of_a_setpoint(robots_registry):
    cls = robots_registry.message_class(FULL_STATE)
    msg = cls()
    msg.header.frame_id = "/world"
    msg.pose.position.x, msg.pose.position.z = 0.5, 1.0
    msg.twist.linear.y = -0.25
    msg.acc.z = 9.81
    data = serialize(msg)
    # Header: stamp 8 + string (4 + 7 incl. NUL) -> pad to 8; Pose 56; Twist 48; Vector3 24.
    assert len(data) == 4 + 24 + 56 + 48 + 24
    assert deserialize(cls, data) == msg


def test_registered_in_default_registry_at_import():
    assert FULL_STATE in messages.default_registry().typestore.fielddefs
    assert crazyflie_msgs.register() == {FULL_STATE: message_class(FULL_STATE)}


def test_topics():
    assert crazyflie_msgs.crazyflie_topic("cf231", "cmd_full_state") == "/cf231/cmd_full_state"
    assert crazyflie_msgs.crazyflie_topic("/cf1/", "cmd_vel_legacy") == "/cf1/cmd_vel_legacy"
    assert crazyflie_msgs.CRAZYFLIE_TOPICS["cmd_vel_legacy"][1] == "geometry_msgs/msg/Twist"
    for _suffix, typename in crazyflie_msgs.CRAZYFLIE_TOPICS.values():
        assert message_class(typename).__ros_type__ == typename
    with pytest.raises(KeyError, match="unknown Crazyswarm2 topic"):
        crazyflie_msgs.crazyflie_topic("cf1", "cmd_position")
    with pytest.raises(ValueError, match="cf_name is empty"):
        crazyflie_msgs.crazyflie_topic("/", "pose")
