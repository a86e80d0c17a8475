"""RIHS01 type hashes and the USER_DATA strings that carry them.

Reference values are hashes real ROS 2 processes announce:
* ``ros2 topic info -vv`` on Jazzy, collected in 2lian/ros2-pyterfaces
  ``tests/ros_type_hashes.json``;
* rmw_dds_common's rosidl-generated ``node_entities_info__description.c``
  (NodeEntitiesInfo and its Gid);
* ParticipantEntitiesInfo: the constant zenoh-plugin-ros2dds copied from a
  live Iron/Jazzy system (``ros2_utils.rs``; it is labelled there as
  GoalStatusArray, whose hash is different).
"""
import re

import pytest
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore

from mbrl_ros.ros import messages
from mbrl_ros.ros.messages import (
    MessageRegistry,
    endpoint_user_data,
    message_class,
    participant_user_data,
    type_hash,
)
from mbrl_ros.ros.type_hash import enclave_user_data, rihs01, typehash_user_data

ROS2_JAZZY_HASHES = {
    "std_msgs/msg/String": "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18",
    "std_msgs/msg/Header": "RIHS01_f49fb3ae2cf070f793645ff749683ac6b06203e41c891e17701b1cb597ce6a01",
    "std_msgs/msg/Empty": "RIHS01_20b625256f32d5dbc0d04fee44f43c41e51c70d3502f84b4a08e7a9c26a96312",
    "std_msgs/msg/Float64": "RIHS01_705ba9c3d1a09df43737eb67095534de36fd426c0587779bda2bc51fe790182a",
    "std_msgs/msg/Float64MultiArray": "RIHS01_1025ddc6b9552d191f89ef1a8d2f60f3d373e28b283d8891ddcc974e8c55397f",
    "std_msgs/msg/UInt8MultiArray": "RIHS01_5687e861b8d307a5e48b7515467ae7a5fc2daf805bd0ce6d8e9e604bade9f385",
    "std_msgs/msg/MultiArrayLayout": "RIHS01_4c66e6f78e740ac103a94cf63259f968e48c617e7699e829b63c21a5cb50dac6",
    "std_msgs/msg/MultiArrayDimension": "RIHS01_5e773a60a4c7fc8a54985f307c7837aa2994252a126c301957a24e31282c9cbe",
    "std_msgs/msg/Char": "RIHS01_3ad2d04dd29ba19d04b16659afa3ccaedd691914b02a64e82e252f2fa6a586a9",
    "std_msgs/msg/Byte": "RIHS01_41e1a3345f73fe93ede006da826a6ee274af23dd4653976ff249b0f44e3e798f",
    "builtin_interfaces/msg/Time": "RIHS01_b106235e25a4c5ed35098aa0a61a3ee9c9b18d197f398b0e4206cea9acf9c197",
    "builtin_interfaces/msg/Duration": "RIHS01_e8d009f659816f758b75334ee1a9ca5b5c0b859843261f14c7f937349599d93b",
    "sensor_msgs/msg/JointState": "RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e",
    "sensor_msgs/msg/Imu": "RIHS01_7d9a00ff131080897a5ec7e26e315954b8eae3353c3f995c55faf71574000b5b",
    "geometry_msgs/msg/Pose": "RIHS01_d501954e9476cea2996984e812054b68026ae0bfae789d9a10b23daf35cc90fa",
    "geometry_msgs/msg/Twist": "RIHS01_9c45bf16fe0983d80e3cfe750d6835843d265a9a6c46bd2e609fcddde6fb8d2a",
    "geometry_msgs/msg/PoseStamped": "RIHS01_10f3786d7d40fd2b54367835614bff85d4ad3b5dab62bf8bca0cc232d73b4cd8",
    "geometry_msgs/msg/Point": "RIHS01_6963084842a9b04494d6b2941d11444708d892da2f4b09843b9c43f42a7f6881",
    "geometry_msgs/msg/Quaternion": "RIHS01_8a765f66778c8ff7c8ab94afcc590a2ed5325a1d9a076ffff38fbce36f458684",
    "geometry_msgs/msg/Vector3": "RIHS01_cc12fe83e4c02719f1ce8070bfd14aecd40f75a96696a67a2a1f37f7dbb0765d",
    "geometry_msgs/msg/PoseWithCovariance": "RIHS01_9a7c0fd234b7f45c6098745ecccd773ca1085670e64107135397aee31c02e1bb",
    "geometry_msgs/msg/TwistWithCovariance": "RIHS01_49f574f033f095d8b6cd1beaca5ca7925e296e84af1716d16c89d38b059c8c18",
    "nav_msgs/msg/Odometry": "RIHS01_3cc97dc7fb7502f8714462c526d369e35b603cfc34d946e3f2eda2766dfec6e0",
    "nav_msgs/msg/Path": "RIHS01_1957a5bb3cee5da65c4e52e52b65a93df227efce4c20f8458b36e73066ca334b",
    "diagnostic_msgs/msg/DiagnosticArray": "RIHS01_5a8a36efb05fb25070fa0fb3810290c0e6cd4862b54a8fb975a1ee8dc55a333e",
    "diagnostic_msgs/msg/DiagnosticStatus": "RIHS01_b0e3e692ea2d54a8af2f4ef1930e81556a2db55216b771f8a7d2724ed47bf0e4",
    "diagnostic_msgs/msg/KeyValue": "RIHS01_d68081eaa540288c5440753baecef0c4e16e81a5f78ad68902ded5100413bb42",
    "rmw_dds_common/msg/Gid": "RIHS01_ab6f21cfbb0a6dbb837161e1110c2051a2850ed9f9c53944d7115d9bcebedf71",
    "rmw_dds_common/msg/NodeEntitiesInfo": "RIHS01_8ffef65ee2d088c63b1e8fcd31e800ba9fc8dbe0ee15ca60d1676de5218087a7",
    "rmw_dds_common/msg/ParticipantEntitiesInfo": "RIHS01_91a0593bacdcc50ea9bdcf849a938b128412cc1ea821245c663bcd26f83c295e",
}


@pytest.mark.parametrize("typename", sorted(ROS2_JAZZY_HASHES))
def test_hash_equals_ros2_jazzy(typename):
    assert type_hash(typename) == ROS2_JAZZY_HASHES[typename]
    assert message_class(typename).__type_hash__ == ROS2_JAZZY_HASHES[typename]


def test_string_hash_from_the_brief():
    assert type_hash("std_msgs/msg/String") == (
        "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18"
    )


def _uses_char(store, typename, seen=None):
    seen = set() if seen is None else seen
    if typename in seen:
        return False
    seen.add(typename)
    for _, desc in store.fielddefs[typename][1]:
        if desc[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            desc = desc[1][0]
        if desc[0] == Nodetype.NAME:
            if _uses_char(store, desc[1], seen):
                return True
        elif desc[1][0] == "char":
            return True
    return False


@pytest.mark.parametrize("store_name", [Stores.ROS2_IRON, Stores.ROS2_JAZZY, Stores.ROS2_KILTED])
def test_hash_equals_rosbags_except_for_char(store_name):
    """rosbags hashes a .msg char as IDL char (13); ROS 2 hashes it as uint8 (3)."""
    store = get_typestore(store_name)
    differing = {t for t in store.fielddefs if rihs01(store, t) != store.hash_rihs01(t)}
    with_char = {t for t in store.fielddefs if _uses_char(store, t)}
    assert differing == with_char
    assert {"std_msgs/msg/Char", "rmw_dds_common/msg/Gid"} <= with_char


def test_humble_has_no_hash_but_an_enclave(monkeypatch):
    humble = MessageRegistry("humble")
    monkeypatch.setattr(messages, "_default_registry", humble)
    assert message_class("std_msgs/msg/String").__type_hash__ is None
    assert endpoint_user_data("std_msgs/msg/String") == b""
    assert participant_user_data() == b"enclave=/;"


def test_user_data_format():
    data = endpoint_user_data("sensor_msgs/msg/JointState")
    assert re.fullmatch(rb"typehash=RIHS01_[0-9a-f]{64};", data)
    assert data == f"typehash={ROS2_JAZZY_HASHES['sensor_msgs/msg/JointState']};".encode()
    assert participant_user_data() == b"enclave=/;"
    assert participant_user_data("/robot1") == b"enclave=/robot1;"
    assert typehash_user_data(None) == b""
    for bad in ("RIHS01_abc", "RIHS02_" + "0" * 64):
        with pytest.raises(ValueError):
            typehash_user_data(bad)
    for bad in ("robot", "/a;b"):
        with pytest.raises(ValueError):
            enclave_user_data(bad)


def test_registered_type_gets_a_hash():
    reg = MessageRegistry("jazzy")
    cls = reg.register_msg_text("test_hash/msg/Thrust", "uint64 timestamp\nfloat32[3] xyz\n")
    assert re.fullmatch(r"RIHS01_[0-9a-f]{64}", cls.__type_hash__)
    assert cls.__type_hash__ == reg.type_hash("test_hash/msg/Thrust")
