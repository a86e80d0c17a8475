"""px4_msgs: wire bytes against rosbags and mcap_ros2, RIHS01 against rosidl's published hashes."""
import math
import struct

import pytest

from mbrl_ros.robots import frames
from mbrl_ros.robots.px4 import msgs as px4_msgs
from mbrl_ros.ros import messages
from mbrl_ros.ros.messages import MessageRegistry, deserialize, message_class, serialize, to_rosbags

# rosidl_generator_c's px4_msgs ``*__description.c`` (get_type_hash) of px4_msgs
# builds found by code search; each file's field list equals the vendored one.
PUBLISHED_HASHES = {
    "px4_msgs/msg/VehicleOdometry": "RIHS01_4295b96ad312084aa35c84bdcec65ba2f57eb4f6a293d57d52d95acbe99ff817",
    "px4_msgs/msg/OffboardControlMode": "RIHS01_e87463f252f320d2f197d1feadd643b8645e5ef53a2b158dccfdf11372e00f9f",
    "px4_msgs/msg/VehicleThrustSetpoint": "RIHS01_5b8b4a61e95ed82423c5fc0f84ecf29f9826a133865b9ffffa1be73977bff738",
    "px4_msgs/msg/VehicleTorqueSetpoint": "RIHS01_d7b656099f58e33581992e4935818baf4ae9d7b0b2d28e03e9a67a21c8e1cb0e",
    "px4_msgs/msg/ActuatorMotors": "RIHS01_78573ab1d26b08f3f494a16476cc896af5f8dceb64f6f723b4a2533ff2fbd321",
    "px4_msgs/msg/TrajectorySetpoint": "RIHS01_9a7deb0cb7db5e52b441169a284b90188c4efdf06b302d55cb1db33ca0358c1a",
    "px4_msgs/msg/VehicleCommand": "RIHS01_1f0ab537807e2e20e04826633ea2c52e5431bea8eb0187152ff23bd07f1dd30b",
}
# No published hash of VehicleStatus version 3 was found; this is the value computed
# here (pinned so a change to the text or the hasher shows up).
COMPUTED_VEHICLE_STATUS_V3 = "RIHS01_c43a0008ce4677645933a621a26d7c52169cb8415161c423902b873fce745081"

# VehicleStatus version 1 (PX4 v1.16), fields only, in the order of the published
# px4_msgs vehicle_status__description.c; its hash checks the hasher on a 39-field type.
VEHICLE_STATUS_V1_FIELDS = """\
uint64 timestamp
uint64 armed_time
uint64 takeoff_time
uint8 arming_state
uint8 latest_arming_reason
uint8 latest_disarming_reason
uint64 nav_state_timestamp
uint8 nav_state_user_intention
uint8 nav_state
uint8 executor_in_charge
uint32 valid_nav_states_mask
uint32 can_set_nav_states_mask
uint16 failure_detector_status
uint8 hil_state
uint8 vehicle_type
bool failsafe
bool failsafe_and_user_took_over
uint8 failsafe_defer_state
bool gcs_connection_lost
uint8 gcs_connection_lost_counter
bool high_latency_data_link_lost
bool is_vtol
bool is_vtol_tailsitter
bool in_transition_mode
bool in_transition_to_fw
uint8 system_type
uint8 system_id
uint8 component_id
bool safety_button_available
bool safety_off
bool power_input_valid
bool usb_connected
bool open_drone_id_system_present
bool open_drone_id_system_healthy
bool parachute_system_present
bool parachute_system_healthy
bool rc_calibration_in_progress
bool calibration_enabled
bool pre_flight_checks_pass
"""
PUBLISHED_VEHICLE_STATUS_V1 = "RIHS01_828bddbb7d4c2aa6ad93757955f6893be1ec5d8f11885ec7715bcdd76b5226c9"


@pytest.mark.parametrize("typename", sorted(px4_msgs.MSG_TEXTS))
def test_golden_bytes_against_rosbags_and_mcap(typename, robots_registry, golden):
    assert golden(robots_registry, typename) == 7


@pytest.mark.parametrize("typename", sorted(PUBLISHED_HASHES))
def test_type_hash_equals_rosidl_published(typename, robots_registry):
    assert robots_registry.type_hash(typename) == PUBLISHED_HASHES[typename]


def test_every_type_hash_agrees_with_rosbags(robots_registry):
    hashes = {name: robots_registry.type_hash(name) for name in px4_msgs.MSG_TEXTS}
    for name, value in hashes.items():
        assert value == robots_registry.typestore.hash_rihs01(name), name
    assert hashes["px4_msgs/msg/VehicleStatus"] == COMPUTED_VEHICLE_STATUS_V3
    assert len(set(hashes.values())) == len(hashes)


def test_vehicle_status_v1_hash_equals_rosidl_published():
    registry = MessageRegistry("jazzy")
    registry.register_msg_text("px4_msgs/msg/VehicleStatus", VEHICLE_STATUS_V1_FIELDS)
    assert registry.type_hash("px4_msgs/msg/VehicleStatus") == PUBLISHED_VEHICLE_STATUS_V1
    # Version 3 (vendored) dropped failure_detector_status and added two fields: another hash.
    assert PUBLISHED_VEHICLE_STATUS_V1 != COMPUTED_VEHICLE_STATUS_V3


def test_registered_in_default_registry_at_import():
    registry = messages.default_registry()
    for name in px4_msgs.MSG_TEXTS:
        assert name in registry.typestore.fielddefs
    odometry = message_class("px4_msgs/msg/VehicleOdometry")
    assert odometry.__dds_type__ == "px4_msgs::msg::dds_::VehicleOdometry_"
    assert odometry.POSE_FRAME_NED == frames.POSE_FRAME_NED
    assert odometry.POSE_FRAME_FRD == frames.POSE_FRAME_FRD
    assert odometry.VELOCITY_FRAME_NED == frames.VELOCITY_FRAME_NED
    assert odometry.VELOCITY_FRAME_FRD == frames.VELOCITY_FRAME_FRD
    assert odometry.VELOCITY_FRAME_BODY_FRD == frames.VELOCITY_FRAME_BODY_FRD
    assert px4_msgs.register() == {n: message_class(n) for n in px4_msgs.MSG_TEXTS}  # idempotent


def test_field_layout_and_constants(robots_registry):
    status = robots_registry.message_class("px4_msgs/msg/VehicleStatus")
    assert status.NAVIGATION_STATE_OFFBOARD == 14 and status.ARMING_STATE_ARMED == 2
    command = robots_registry.message_class("px4_msgs/msg/VehicleCommand")
    assert command.VEHICLE_CMD_COMPONENT_ARM_DISARM == 400 and command.VEHICLE_CMD_DO_SET_MODE == 176
    assert command.get_fields_and_field_types()["source_component"] == "uint16"
    assert command.get_fields_and_field_types()["param5"] == "double"
    motors = robots_registry.message_class("px4_msgs/msg/ActuatorMotors")
    assert motors.get_fields_and_field_types()["control"] == "float[12]"
    assert motors.NUM_CONTROLS == 12 and len(motors().control) == 12
    offboard = robots_registry.message_class("px4_msgs/msg/OffboardControlMode")
    assert list(offboard.get_fields_and_field_types()) == [
        "timestamp", "position", "velocity", "acceleration", "attitude", "body_rate",
        "thrust_and_torque", "direct_actuator",
    ]


def test_known_cdr_sizes(robots_registry):
    # Header 4 + uint64 8 + 7 bools.
    assert len(serialize(robots_registry.message_class("px4_msgs/msg/OffboardControlMode")())) == 19
    # Header 4 + 2 uint64 + uint8 (pad to 4) + float32[3] + float32[4] + uint8 (pad) + 5 x float32[3] + 2 bytes.
    assert len(serialize(robots_registry.message_class("px4_msgs/msg/VehicleOdometry")())) == 4 + 114
    # Header 4 + 2 uint64 + float32[3].
    assert len(serialize(robots_registry.message_class("px4_msgs/msg/VehicleThrustSetpoint")())) == 4 + 28


def test_nan_fields_match_rosbags(robots_registry):
    """PX4 marks invalid entries with NaN; they must cross the wire bit for bit."""
    cls = robots_registry.message_class("px4_msgs/msg/VehicleOdometry")
    msg = cls(timestamp=7, pose_frame=1, position=[math.nan, 1.0, -2.0], q=[math.nan, 0.0, 0.0, 0.0])
    ours = serialize(msg)
    assert ours == bytes(robots_registry.typestore.serialize_cdr(to_rosbags(msg, robots_registry.typestore),
                                                                  "px4_msgs/msg/VehicleOdometry"))
    nan32 = struct.pack("<f", math.nan)
    assert ours[4 + 20:4 + 24] == nan32  # position[0] after 2 x uint64, pose_frame, 3 bytes padding
    back = deserialize(cls, ours)
    assert math.isnan(back.position[0]) and back.position[1:] == [1.0, -2.0] and math.isnan(back.q[0])


def test_message_versions_and_topics(robots_registry):
    versions = {name: px4_msgs.message_version(name, robots_registry) for name in px4_msgs.MSG_TEXTS}
    assert versions["px4_msgs/msg/VehicleStatus"] == 3
    assert versions["px4_msgs/msg/VehicleOdometry"] == 0
    assert versions["px4_msgs/msg/OffboardControlMode"] == 0  # unversioned
    assert px4_msgs.px4_topic("vehicle_status", registry=robots_registry) == "/fmu/out/vehicle_status_v3"
    assert px4_msgs.px4_topic("vehicle_odometry") == "/fmu/out/vehicle_odometry"
    assert px4_msgs.px4_topic("offboard_control_mode", "/px4_1/") == "/px4_1/fmu/in/offboard_control_mode"
    assert (
        px4_msgs.px4_topic("vehicle_status", "px4_2", versions={"px4_msgs/msg/VehicleStatus": 1})
        == "/px4_2/fmu/out/vehicle_status_v1"
    )
    for key, (topic, typename) in px4_msgs.PX4_TOPICS.items():
        assert typename in px4_msgs.MSG_TEXTS
        assert messages.dds_topic_name(px4_msgs.px4_topic(key)).startswith("rt/fmu/")
    with pytest.raises(KeyError, match="unknown PX4 topic"):
        px4_msgs.px4_topic("vehicle_attitude")


def test_sources_cover_every_text():
    assert set(px4_msgs.SOURCES) == set(px4_msgs.MSG_TEXTS)
    for source in px4_msgs.SOURCES.values():
        assert source.repo == "PX4/PX4-Autopilot" and len(source.commit) == 40
        assert source.path.startswith("msg/") and source.path.endswith(".msg")


def test_conflicting_definition_is_refused():
    registry = MessageRegistry("jazzy")
    px4_msgs.register(registry)
    with pytest.raises(ValueError, match="different definition"):
        registry.register_msg_text("px4_msgs/msg/VehicleStatus", VEHICLE_STATUS_V1_FIELDS)
