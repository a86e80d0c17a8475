"""Wire conformance of the generated message classes.

Three independent opinions on every required type: our cyclonedds classes,
rosbags' CDR serializer (byte-for-byte) and mcap_ros2's decoder (field
values). Random instances (test/message_samples.py) are built as plain trees
straight from the rosbags field definitions, so the rosbags objects never go
through the code under test.
"""
import random

import numpy as np
import pytest
from cyclonedds.core import Policy
from cyclonedds.domain import Domain, DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl._support import DataRepresentationFlags, DataTypeProperties
from cyclonedds.pub import DataWriter
from cyclonedds.topic import Topic
from mcap_ros2._dynamic import generate_dynamic
from message_samples import assert_mcap_matches, random_plain, rosbags_from_plain

from mbrl_ros.ros import messages
from mbrl_ros.ros.messages import (
    MessageDecodeError,
    MessageEncodeError,
    MessageRegistry,
    UnknownMessageTypeError,
    dds_topic_name,
    dds_type_name,
    deserialize,
    from_dict,
    from_rosbags,
    message_class,
    ros_topic_name,
    ros_type_name,
    serialize,
    to_dict,
    to_rosbags,
)

REQUIRED_TYPES = [
    "builtin_interfaces/msg/Time",
    "builtin_interfaces/msg/Duration",
    "std_msgs/msg/Header",
    "std_msgs/msg/Float64MultiArray",
    "std_msgs/msg/MultiArrayLayout",
    "std_msgs/msg/MultiArrayDimension",
    "std_msgs/msg/UInt8MultiArray",
    "std_msgs/msg/Float64",
    "std_msgs/msg/Empty",
    "std_msgs/msg/String",
    "sensor_msgs/msg/JointState",
    "sensor_msgs/msg/Imu",
    "geometry_msgs/msg/Pose",
    "geometry_msgs/msg/Twist",
    "geometry_msgs/msg/PoseStamped",
    "geometry_msgs/msg/Point",
    "geometry_msgs/msg/Quaternion",
    "geometry_msgs/msg/Vector3",
    "geometry_msgs/msg/PoseWithCovariance",
    "geometry_msgs/msg/TwistWithCovariance",
    "nav_msgs/msg/Odometry",
    "nav_msgs/msg/Path",
    "rosgraph_msgs/msg/Clock",
    "diagnostic_msgs/msg/DiagnosticArray",
    "diagnostic_msgs/msg/DiagnosticStatus",
    "diagnostic_msgs/msg/KeyValue",
    "rmw_dds_common/msg/ParticipantEntitiesInfo",
    "rmw_dds_common/msg/NodeEntitiesInfo",
    "rmw_dds_common/msg/Gid",
    # /rosout and the parameter services
    "rcl_interfaces/msg/Log",
    "rcl_interfaces/msg/Parameter",
    "rcl_interfaces/msg/ParameterValue",
    "rcl_interfaces/msg/ParameterDescriptor",
    "rcl_interfaces/msg/SetParametersResult",
    "rcl_interfaces/msg/ListParametersResult",
    "rcl_interfaces/msg/FloatingPointRange",
    "rcl_interfaces/msg/IntegerRange",
    # the viz node's RViz markers
    "visualization_msgs/msg/MarkerArray",
    "visualization_msgs/msg/Marker",
    "std_msgs/msg/ColorRGBA",
]
INSTANCES_PER_TYPE = 6
CDR_LE_HEADER = b"\x00\x01\x00\x00"

@pytest.fixture(scope="module")
def mcap_decoders(registry):
    decoders = {}
    for typename in REQUIRED_TYPES:
        text, _ = registry.typestore.generate_msgdef(typename, ros_version=2)
        decoders[typename] = generate_dynamic(typename, text)[typename]
    return decoders


# ----------------------------------------------------------------------------- golden bytes


@pytest.mark.parametrize("typename", REQUIRED_TYPES)
def test_golden_bytes_against_rosbags_and_mcap(typename, registry, mcap_decoders):
    store = registry.typestore
    cls = message_class(typename)
    rng = random.Random(f"golden:{typename}")
    cases = [to_dict(cls())] + [random_plain(store, typename, rng) for _ in range(INSTANCES_PER_TYPE)]
    for i, plain in enumerate(cases):
        msg = from_dict(cls, plain)
        ours = serialize(msg)
        theirs = bytes(store.serialize_cdr(rosbags_from_plain(store, typename, plain), typename))
        assert ours == theirs, f"{typename} case {i}:\nours   {ours.hex(' ')}\nrosbags {theirs.hex(' ')}"
        assert ours[:4] == CDR_LE_HEADER
        assert bytes(store.serialize_cdr(to_rosbags(msg), typename)) == ours

        assert_mcap_matches(store, typename, mcap_decoders[typename](ours), plain, typename)

        back = deserialize(typename, ours)
        assert back == msg
        assert to_dict(back) == plain
        assert from_rosbags(store.deserialize_cdr(ours, typename)) == msg


def test_empty_is_five_bytes(registry):
    empty = message_class("std_msgs/msg/Empty")
    expected = bytes.fromhex("00 01 00 00 00")
    assert serialize(empty()) == expected
    assert bytes(registry.typestore.serialize_cdr(to_rosbags(empty()), "std_msgs/msg/Empty")) == expected
    assert to_dict(deserialize(empty, expected)) == {}


def test_utf8_strings_match_rosbags(registry):
    string_msg = message_class("std_msgs/msg/String")
    msg = string_msg(data="Grüße, 世界")
    ours = serialize(msg)
    assert ours == bytes(registry.typestore.serialize_cdr(to_rosbags(msg), "std_msgs/msg/String"))
    assert deserialize(string_msg, ours) == msg


def test_big_endian_payload_decodes(registry):
    header = message_class("std_msgs/msg/Header")
    msg = header(frame_id="odom")
    msg.stamp.sec, msg.stamp.nanosec = -3, 123
    big = bytes(registry.typestore.serialize_cdr(to_rosbags(msg), "std_msgs/msg/Header", little_endian=False))
    assert big[:2] == b"\x00\x00"
    assert deserialize(header, big) == msg


def test_humble_gid_is_24_bytes_and_matches_rosbags():
    humble = MessageRegistry("humble")
    info_cls = humble.message_class("rmw_dds_common/msg/ParticipantEntitiesInfo")
    assert info_cls.__type_hash__ is None
    rng = random.Random("humble")
    for _ in range(3):
        plain = random_plain(humble.typestore, "rmw_dds_common/msg/ParticipantEntitiesInfo", rng)
        assert len(plain["gid"]["data"]) == 24
        msg = from_dict(info_cls, plain)
        expected = humble.typestore.serialize_cdr(
            rosbags_from_plain(humble.typestore, "rmw_dds_common/msg/ParticipantEntitiesInfo", plain),
            "rmw_dds_common/msg/ParticipantEntitiesInfo",
        )
        assert serialize(msg) == bytes(expected)
        assert deserialize(info_cls, serialize(msg)) == msg


PX4_LIKE = """\
# A px4_msgs-style message: constants, fixed arrays, defaults, char, byte.
uint64 timestamp  # time since system start (microseconds)
uint8 MODE_MANUAL = 0
uint8 MODE_OFFBOARD = 14
float32[3] position
float32[4] q [1.0, 0.0, 0.0, 0.0]
bool armed
int8 gain 5
char[4] tag
byte flags
string<=8 label
test_px4/Sample[<=3] samples
================================================================================
MSG: test_px4/Sample
float64 value
uint16[] counts
"""


def test_register_msg_text_round_trips_like_rosbags():
    reg = MessageRegistry("jazzy")
    cls = reg.register_msg_text("test_px4/msg/Setpoint", PX4_LIKE)
    assert cls is reg.message_class("test_px4/msg/Setpoint")
    assert cls.__dds_type__ == "test_px4::msg::dds_::Setpoint_"
    assert cls.MODE_OFFBOARD == 14
    default = cls()
    assert default.q == [1.0, 0.0, 0.0, 0.0] and default.gain == 5 and default.tag == bytes(4)
    assert cls.get_fields_and_field_types()["samples"] == "sequence<test_px4/Sample, 3>"
    assert cls.get_fields_and_field_types()["label"] == "string<8>"

    store = reg.typestore
    text, _ = store.generate_msgdef("test_px4/msg/Setpoint", ros_version=2)
    decode = generate_dynamic("test_px4/msg/Setpoint", text)["test_px4/msg/Setpoint"]
    rng = random.Random("px4")
    for _ in range(INSTANCES_PER_TYPE):
        plain = random_plain(store, "test_px4/msg/Setpoint", rng)
        msg = from_dict(cls, plain)
        ours = serialize(msg)
        expected = store.serialize_cdr(rosbags_from_plain(store, "test_px4/msg/Setpoint", plain), "test_px4/msg/Setpoint")
        assert ours == bytes(expected)
        assert_mcap_matches(store, "test_px4/msg/Setpoint", decode(ours), plain)
        assert deserialize(cls, ours) == msg
        assert from_rosbags(store.deserialize_cdr(ours, "test_px4/msg/Setpoint"), reg) == msg

    # Same text again is a no-op; a different definition under the same name is refused.
    assert reg.register_msg_text("test_px4/msg/Setpoint", PX4_LIKE) is cls
    with pytest.raises(ValueError, match="different definition"):
        reg.register_msg_text("test_px4/msg/Sample", "float32 value\n")


# ----------------------------------------------------------------------------- type names, XCDR1


@pytest.mark.parametrize("typename", REQUIRED_TYPES)
def test_dds_type_name_and_xcdr1(typename):
    cls = message_class(typename)
    pkg, sub, name = typename.split("/")
    expected = f"{pkg}::{sub}::dds_::{name}_"
    assert cls.__ros_type__ == typename
    assert cls.__dds_type__ == expected
    # What the DDS layer sends: IDL.idl_transformed_typename, derived from __idl_typename__.
    assert cls.__idl_typename__ == expected
    assert cls.__idl__.idl_transformed_typename == expected
    # No struct inheritance in the XTypes info Python peers exchange.
    assert cls.__base__ is IdlStruct
    cls.__idl__.populate()
    assert cls.__idl_annotations__["extensibility"] == "final"
    assert cls.__idl__.default_version == 1
    assert cls.__idl__.supported_versions & DataRepresentationFlags.FLAG_XCDR1
    assert not cls.__idl__.data_type_props & DataTypeProperties.DEFAULTS_TO_XCDR2
    assert cls.__idl__.keyless


_LOCALHOST_CONFIG = (
    "<CycloneDDS><Domain Id='any'><General><Interfaces><NetworkInterface address='127.0.0.1'/>"
    "</Interfaces><AllowMulticast>false</AllowMulticast></General><Discovery>"
    "<ParticipantIndex>auto</ParticipantIndex><Peers><Peer Address='127.0.0.1'/></Peers>"
    "</Discovery></Domain></CycloneDDS>"
)


def test_cyclone_topic_reports_ros_names_and_writes_xcdr1():
    domain_id = 229  # nothing is written; the participant only registers entities
    domain = Domain(domain_id, _LOCALHOST_CONFIG)
    participant = DomainParticipant(domain_id)
    xcdr1_only = Policy.DataRepresentation(use_cdrv0_representation=True, use_xcdrv2_representation=False)
    try:
        for typename in ("std_msgs/msg/Header", "rmw_dds_common/msg/ParticipantEntitiesInfo"):
            ros_topic = "/mbrl/test_" + typename.rsplit("/", 1)[1].lower()
            topic = Topic(participant, dds_topic_name(ros_topic), message_class(typename))
            assert topic.typename == dds_type_name(typename)
            assert topic.name == "rt" + ros_topic
            assert xcdr1_only in DataWriter(participant, topic).get_qos()
    finally:
        del participant, domain


def test_name_conversions():
    assert dds_type_name("std_msgs/msg/Header") == "std_msgs::msg::dds_::Header_"
    assert dds_type_name("std_msgs/Header") == "std_msgs::msg::dds_::Header_"
    assert ros_type_name("rmw_dds_common::msg::dds_::Gid_") == "rmw_dds_common/msg/Gid"
    assert message_class("std_msgs/String") is message_class("std_msgs::msg::dds_::String_")
    for bad in ("std_msgs::msg::String", "std_msgs::msg::dds_::String", "String"):
        with pytest.raises(ValueError):
            message_class(bad)

    assert dds_topic_name("/joint_states") == "rt/joint_states"
    assert dds_topic_name("/fmu/out/vehicle_odometry") == "rt/fmu/out/vehicle_odometry"
    assert dds_topic_name("/_hidden/x1") == "rt/_hidden/x1"
    for bad in ("chatter", "~/chatter", "/{node}/x", "/a//b", "/a/", "/", "/1abc", "/a b", "/a-b", ""):
        with pytest.raises(ValueError):
            dds_topic_name(bad)
    assert ros_topic_name("rt/ns/foo") == "/ns/foo"
    assert ros_topic_name("ros_discovery_info") is None


# ----------------------------------------------------------------------------- construction


def test_rclpy_like_construction():
    header = message_class("std_msgs/msg/Header")()
    assert header.stamp.sec == 0 and header.stamp.nanosec == 0 and header.frame_id == ""
    array = message_class("std_msgs/msg/Float64MultiArray")(data=[1.0, 2.0])
    assert array.data == [1.0, 2.0] and array.layout.dim == []
    assert message_class("geometry_msgs/msg/Quaternion")().w == 1.0  # .msg default "float64 w 1"
    imu = message_class("sensor_msgs/msg/Imu")()
    assert imu.orientation_covariance == [0.0] * 9 and imu.orientation.w == 1.0

    path_cls = message_class("nav_msgs/msg/Path")
    first, second = path_cls(), path_cls()
    first.poses.append(message_class("geometry_msgs/msg/PoseStamped")())
    first.header.frame_id = "map"
    assert second.poses == [] and second.header.frame_id == ""  # no shared mutable defaults

    joint_state = message_class("sensor_msgs/msg/JointState")
    assert joint_state.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "name": "sequence<string>",
        "position": "sequence<double>",
        "velocity": "sequence<double>",
        "effort": "sequence<double>",
    }
    msg = joint_state(name=["a"], position=np.array([0.5]), velocity=[0.0], effort=[])
    assert deserialize(joint_state, serialize(msg)).position == [0.5]


def test_byte_and_char_fields():
    status_cls = message_class("diagnostic_msgs/msg/DiagnosticStatus")
    assert (status_cls.OK, status_cls.WARN, status_cls.ERROR, status_cls.STALE) == (0, 1, 2, 3)
    status = status_cls(level=b"\x02", name="motor")  # rclpy holds a byte as bytes of length 1
    assert status.level == status_cls.ERROR
    status.level = b"\x01"
    assert status.level == 1
    with pytest.raises(ValueError):
        status.level = b"\x01\x02"

    gid_cls = message_class("rmw_dds_common/msg/Gid")
    assert gid_cls().data == bytes(16)
    assert gid_cls(data=list(range(16))).data == bytes(range(16))
    assert gid_cls(data=np.arange(16, dtype=np.uint8)).data == bytes(range(16))
    with pytest.raises(ValueError):
        gid_cls(data=bytes(24))


def test_byte_sequences_are_bytes_and_match_rosbags_byte_for_byte(registry):
    """uint8[] (models, images) is held and read as ``bytes``, written in one block, on the same wire."""
    cls = registry.message_class("std_msgs/msg/UInt8MultiArray")
    assert cls().data == b""
    payload = bytes(range(256)) * 4000 + b"\x07"  # an odd length: no padding after the block
    message = cls(data=payload)
    wire = serialize(message)
    store = registry.typestore
    expected = store.serialize_cdr(to_rosbags(message, store), "std_msgs/msg/UInt8MultiArray")
    assert bytes(wire) == bytes(expected)
    decoded = deserialize(cls, wire)
    assert isinstance(decoded.data, bytes) and decoded.data == payload
    assert cls(data=[1, 2, 255]).data == b"\x01\x02\xff"
    assert cls(data=np.array([3, 4], dtype=np.int64)).data == b"\x03\x04"
    for bad in ([256], np.array([-1]), ["x"]):
        with pytest.raises(ValueError):
            cls(data=bad)
    image_cls = registry.message_class("sensor_msgs/msg/Image")
    image = deserialize(image_cls, serialize(image_cls(height=1, width=2, step=6, encoding="rgb8", data=bytes(6))))
    assert isinstance(image.data, bytes) and len(image.data) == 6


def test_errors_are_specific():
    with pytest.raises(UnknownMessageTypeError):
        message_class("no_such_pkg/msg/Nothing")
    with pytest.raises(MessageEncodeError, match="std_msgs/msg/Float64"):
        serialize(message_class("std_msgs/msg/Float64")(data="x"))
    with pytest.raises(MessageEncodeError):
        serialize(message_class("builtin_interfaces/msg/Time")(sec=2**40))
    with pytest.raises(TypeError):
        serialize(object())
    string_cls = message_class("std_msgs/msg/String")
    with pytest.raises(MessageDecodeError):
        deserialize(string_cls, b"\x00\x01")
    with pytest.raises(MessageDecodeError):
        deserialize(string_cls, b"\x00\x02\x00\x00\x05\x00\x00\x00abcd\x00")  # PL_CDR
    with pytest.raises(MessageDecodeError):
        deserialize("geometry_msgs/msg/Pose", CDR_LE_HEADER + bytes(8))  # too short
    with pytest.raises(ValueError, match="no field"):
        from_dict(string_cls, {"text": "x"})
    with pytest.raises(ValueError, match="not supported"):
        MessageRegistry("melodic")


def test_ros_distro_env_selects_store(monkeypatch):
    monkeypatch.setenv("ROS_DISTRO", "humble")
    humble = MessageRegistry()
    assert humble.distro == "humble" and not humble.has_type_hashes
    assert len(humble.message_class("rmw_dds_common/msg/Gid")().data) == 24
    monkeypatch.delenv("ROS_DISTRO")
    assert MessageRegistry().distro == messages.DEFAULT_DISTRO == "jazzy"
