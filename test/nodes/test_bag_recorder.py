"""bag_recorder: a rosbag2 MCAP bag whose bytes are ROS 2's (golden bytes via rosbags, decoded by mcap_ros2)."""
import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from mcap_ros2.reader import read_ros2_messages
from rosbags.typesys import Stores, get_typestore

from mbrl_ros.config import ConfigError
from mbrl_ros.nodes.bag_recorder import BagRecorderNode, parse_topic
from mbrl_ros.nodes.conversions import bytes_message, command_message, float64_message, joint_state_message
from mbrl_ros.recording import BagError, read_bag
from mbrl_ros.ros.compat import qos_profile_latched

TOPICS = ["/joint_states:sensor_msgs/msg/JointState", "/{controller}/commands:std_msgs/msg/Float64MultiArray",
          "/sim_bridge/reward:std_msgs/msg/Float64", "/mbrl/model:std_msgs/msg/UInt8MultiArray:latched"]


def test_topic_entries_are_parsed_and_checked():
    assert parse_topic("/{controller}/commands:std_msgs/msg/Float64MultiArray", "arm") == (
        "/arm/commands", "std_msgs/msg/Float64MultiArray", "reliable")
    assert parse_topic("/m:std_msgs/msg/String:latched", "c")[2] == "latched"
    with pytest.raises(ConfigError, match="must be /name:pkg/msg/Type"):
        parse_topic("joint_states", "c")
    with pytest.raises(ConfigError, match="unknown QoS 'sometimes'"):
        parse_topic("/a:std_msgs/msg/String:sometimes", "c")


def test_recorded_bag_round_trips_with_golden_bytes(graph, latched, wait_for, tmp_path):
    bag = tmp_path / "bag"
    models = graph.publisher("std_msgs/msg/UInt8MultiArray", "/mbrl/model", latched)
    models.publish(bytes_message(b"\x00\x01model-v1"))                      # before the recorder: latched
    node = graph.start(BagRecorderNode, topics=TOPICS, controller="effort_controller", path=str(bag))
    states = graph.publisher("sensor_msgs/msg/JointState", "/joint_states")
    commands = graph.publisher("std_msgs/msg/Float64MultiArray", "/effort_controller/commands")
    rewards = graph.publisher("std_msgs/msg/Float64", "/sim_bridge/reward")
    wait_for(lambda: states.get_subscription_count() and commands.get_subscription_count()
             and rewards.get_subscription_count(), what="the recorder's subscriptions")
    for k in range(3):
        states.publish(joint_state_message(1_000_000_000 + k * 50_000_000, ["slider", "hinge"], [0.1 * k, 3.0],
                                           [0.5, -0.25 * k]))
        commands.publish(command_message([1.5 * k], 1_000_000_000 + k * 50_000_000))
        rewards.publish(float64_message(-0.5 * k))
    wait_for(lambda: sum(node.bag.counts.values()) == 10, what="10 recorded messages")
    node.stop()

    metadata = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert metadata["version"] == 9 and metadata["storage_identifier"] == "mcap"
    assert metadata["relative_file_paths"] == ["bag.mcap"] and metadata["message_count"] == 10
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in metadata["topics_with_message_count"]}
    assert counts == {"/joint_states": 3, "/effort_controller/commands": 3, "/sim_bridge/reward": 3, "/mbrl/model": 1}
    types = {t["topic_metadata"]["name"]: t["topic_metadata"]["type"] for t in metadata["topics_with_message_count"]}
    assert types["/joint_states"] == "sensor_msgs/msg/JointState"

    # Golden bytes: what rosbags' Jazzy type store serializes for the same content.
    store = get_typestore(Stores.ROS2_JAZZY)
    JointState, Header = store.types["sensor_msgs/msg/JointState"], store.types["std_msgs/msg/Header"]
    Time, Float64 = store.types["builtin_interfaces/msg/Time"], store.types["std_msgs/msg/Float64"]
    expected_state = store.serialize_cdr(JointState(
        header=Header(stamp=Time(sec=1, nanosec=100_000_000), frame_id=""), name=["slider", "hinge"],
        position=np.array([0.2, 3.0]), velocity=np.array([0.5, -0.5]), effort=np.array([], dtype=np.float64)),
        "sensor_msgs/msg/JointState")
    with (bag / "bag.mcap").open("rb") as handle:
        raw = {}
        for schema, channel, message in make_reader(handle).iter_messages():
            raw.setdefault(channel.topic, []).append(bytes(message.data))
            assert schema.encoding == "ros2msg" and channel.message_encoding == "cdr"
    assert raw["/joint_states"][2] == bytes(expected_state)
    assert raw["/sim_bridge/reward"][1] == bytes(store.serialize_cdr(Float64(data=-0.5), "std_msgs/msg/Float64"))

    # A third opinion: mcap_ros2 decodes every message from the schemas in the file.
    decoded = {}
    for item in read_ros2_messages(str(bag / "bag.mcap")):
        decoded.setdefault(item.channel.topic, []).append(item.ros_msg)
    assert [list(m.position) for m in decoded["/joint_states"]] == [[0.0, 3.0], [0.1, 3.0], [0.2, 3.0]]
    assert [list(m.data) for m in decoded["/effort_controller/commands"]] == [[0.0], [1.5], [3.0]]
    assert bytes(decoded["/mbrl/model"][0].data) == b"\x00\x01model-v1"
    # And our own reader gives the same bytes, in timestamp order.
    ours = [m for m in read_bag(bag) if m.topic == "/joint_states"]
    assert [m.data for m in ours] == raw["/joint_states"] and ours[0].msgtype == "sensor_msgs/msg/JointState"


def test_an_existing_bag_is_never_overwritten(graph, tmp_path):
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "keep.txt").write_text("data")
    with pytest.raises(ConfigError, match="exists already; not overwriting"):
        graph.start(BagRecorderNode, topics=TOPICS[:1], path=str(bag))
    assert sorted(p.name for p in bag.iterdir()) == ["keep.txt"]


def test_reading_missing_unfinished_or_corrupt_bags_fails_clearly(graph, wait_for, tmp_path):
    with pytest.raises(BagError, match="does not exist"):
        list(read_bag(tmp_path / "nope"))
    (tmp_path / "half").mkdir()
    with pytest.raises(BagError, match="no metadata.yaml.*ros2 bag reindex"):
        list(read_bag(tmp_path / "half"))
    bag = tmp_path / "bag"
    node = graph.start(BagRecorderNode, topics=TOPICS[2:3], path=str(bag))
    rewards = graph.publisher("std_msgs/msg/Float64", "/sim_bridge/reward")
    wait_for(lambda: rewards.get_subscription_count(), what="the subscription")
    for k in range(50):
        rewards.publish(float64_message(float(k)))
    wait_for(lambda: node.bag.counts["/sim_bridge/reward"] == 50, what="50 messages")
    node.stop()
    assert len(list(read_bag(bag))) == 50
    data = (bag / "bag.mcap").read_bytes()
    (bag / "bag.mcap").write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError, match="(cannot open bag|is corrupt).*"):
        list(read_bag(bag))


def test_the_shipped_recorder_parameters_match_the_config_and_default_list():
    from mbrl_ros.config import from_dict, load_ros_params
    from mbrl_ros.nodes.bag_recorder import DEFAULT_TOPICS, BagRecorderConfig
    from mbrl_ros.package_data import share_path

    config = from_dict(BagRecorderConfig, load_ros_params(share_path("config", "nodes", "bag_recorder.yaml")))
    assert config.topics == DEFAULT_TOPICS
    assert all(parse_topic(entry, "effort_controller") for entry in config.topics)
