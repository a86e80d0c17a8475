"""What a ROS 2 peer sees of our nodes, checked from a plain Cyclone participant in another process.

Python-to-Python matching can't prove names right (cyclonedds-python sends XTypes type
information, so mismatched names still match), so names, USER_DATA, QoS and the node graph
are asserted directly on the discovery data.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
from cyclonedds._clayer import ddspy_take
from cyclonedds.builtin import (
    BuiltinDataReader,
    BuiltinTopicDcpsParticipant,
    BuiltinTopicDcpsPublication,
    BuiltinTopicDcpsSubscription,
)
from cyclonedds.core import InstanceState, Policy, ReadCondition, SampleState, ViewState
from cyclonedds.domain import DomainParticipant
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from rosbags.typesys import Stores, get_typestore

from mbrl_ros.ros import messages
from mbrl_ros.ros.runtime.dds import DomainHandle, delete_entity
from mbrl_ros.ros.runtime.graph import DISCOVERY_TOPIC, DISCOVERY_TYPE
from mbrl_ros.ros.runtime.qos import qos_profile_latched, to_dds_qos
from mbrl_ros.ros.runtime.testing import isolated_domain

TIMEOUT = 10.0
_ALIVE = SampleState.Any | ViewState.Any | InstanceState.Alive

CHILD = textwrap.dedent(
    """
    import sys
    from mbrl_ros.ros import runtime as rclpy
    from mbrl_ros.ros.messages import message_class
    from mbrl_ros.ros.runtime.qos import qos_profile_latched, qos_profile_sensor_data

    String = message_class("std_msgs/msg/String")
    Array = message_class("std_msgs/msg/Float64MultiArray")
    rclpy.init(args=sys.argv)
    planner = rclpy.create_node("planner", namespace="robot")
    planner.create_publisher(Array, "cmd", 10)
    planner.create_subscription(Array, "state", lambda m: None, qos_profile_sensor_data)
    planner.create_publisher(String, "/model", qos_profile_latched)
    monitor = rclpy.create_node("monitor")
    monitor.create_subscription(String, "~/status", lambda m: None, qos_profile_latched)
    gone = monitor.create_publisher(String, "gone", 10)
    monitor.destroy_publisher(gone)
    print("ready", flush=True)
    sys.stdin.readline()
    rclpy.shutdown()
    """
)

# topic -> (DDS type name, reliability, durability, depth) as rmw_cyclonedds would announce them.
EXPECTED_WRITERS = {
    "rt/robot/cmd": ("std_msgs::msg::dds_::Float64MultiArray_", Policy.Reliability.Reliable, Policy.Durability.Volatile, 10),
    "rt/model": ("std_msgs::msg::dds_::String_", Policy.Reliability.Reliable, Policy.Durability.TransientLocal, 1),
    DISCOVERY_TOPIC: (
        "rmw_dds_common::msg::dds_::ParticipantEntitiesInfo_", Policy.Reliability.Reliable, Policy.Durability.TransientLocal, 1,
    ),
}
EXPECTED_READERS = {
    "rt/robot/state": ("std_msgs::msg::dds_::Float64MultiArray_", Policy.Reliability.BestEffort, Policy.Durability.Volatile, 5),
    "rt/monitor/status": ("std_msgs::msg::dds_::String_", Policy.Reliability.Reliable, Policy.Durability.TransientLocal, 1),
    # Parameter services (rclpy's qos_profile_parameters) in rmw_cyclonedds' naming.
    "rq/robot/planner/set_parametersRequest": (
        "rcl_interfaces::srv::dds_::SetParameters_Request_", Policy.Reliability.Reliable, Policy.Durability.Volatile, 1000,
    ),
}
EXPECTED_WRITERS.update({
    "rr/robot/planner/get_parametersReply": (
        "rcl_interfaces::srv::dds_::GetParameters_Response_", Policy.Reliability.Reliable, Policy.Durability.Volatile, 1000,
    ),
    # /rosout as rcl creates it: reliable, transient local, keep-last 1000.
    "rt/rosout": ("rcl_interfaces::msg::dds_::Log_", Policy.Reliability.Reliable, Policy.Durability.TransientLocal, 1000),
})
PARAMETER_SERVICES = ("get_parameters", "get_parameter_types", "set_parameters", "set_parameters_atomically",
                      "list_parameters", "describe_parameters")


def _ros_type(dds_type: str) -> str:
    return messages.ros_type_name(dds_type)


@pytest.fixture(scope="module")
def remote_graph():
    """Start the child nodes, observe them with builtin readers, and return what was seen."""
    with isolated_domain() as domain_id:
        env = dict(os.environ, ROS_DISTRO="jazzy")
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        domain = DomainHandle(domain_id)
        observer = DomainParticipant(domain_id)
        try:
            assert child.stdout.readline().strip() == "ready"
            readers = {
                "participants": BuiltinDataReader(observer, BuiltinTopicDcpsParticipant),
                "writers": BuiltinDataReader(observer, BuiltinTopicDcpsPublication),
                "readers": BuiltinDataReader(observer, BuiltinTopicDcpsSubscription),
            }
            conditions = {k: ReadCondition(r, _ALIVE) for k, r in readers.items()}

            def alive(kind):
                return readers[kind].read(1000, condition=conditions[kind])

            def seen():
                writers = {s.topic_name: s for s in alive("writers") if s.participant_key != observer.guid}
                subs = {s.topic_name: s for s in alive("readers") if s.participant_key != observer.guid}
                return writers, subs

            deadline = time.monotonic() + TIMEOUT
            writers, subs = seen()
            def settled(writers, subs):
                # Every expected endpoint seen, and the destroyed one's disposal has arrived too.
                return not (set(EXPECTED_WRITERS) - set(writers) or set(EXPECTED_READERS) - set(subs)
                            or "rt/gone" in writers or "rt/gone" in subs)

            while not settled(writers, subs) and time.monotonic() < deadline:
                time.sleep(0.05)
                writers, subs = seen()
            participants = {s.key: s for s in alive("participants")}
            topics_by_gid = {s.key.bytes: s.topic_name for kind in ("writers", "readers") for s in alive(kind)}

            # ros_discovery_info, read raw and decoded by rosbags (not by our own classes).
            info_type = messages.message_class(DISCOVERY_TYPE)
            info_reader = DataReader(
                observer, Topic(observer, DISCOVERY_TOPIC, info_type), to_dds_qos(qos_profile_latched, writer=False)
            )
            store = get_typestore(Stores.ROS2_JAZZY)
            graph = None
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                for data, info in ddspy_take(info_reader._ref, SampleState.Any | ViewState.Any | InstanceState.Any, 10):
                    if info.valid_data:
                        graph = store.deserialize_cdr(bytes(data), DISCOVERY_TYPE)
                if graph is not None and len(graph.node_entities_info_seq) == 2:
                    break
                time.sleep(0.05)
            yield {"writers": writers, "readers": subs, "participants": participants, "graph": graph,
                   "topics_by_gid": topics_by_gid}
            delete_entity(info_reader)
            for reader in readers.values():
                delete_entity(reader)
        finally:
            delete_entity(observer)
            domain.release()
            child.stdin.close()
            try:
                child.wait(timeout=TIMEOUT)
            finally:
                if child.poll() is None:
                    child.kill()


@pytest.mark.parametrize("kind, expected", [("writers", EXPECTED_WRITERS), ("readers", EXPECTED_READERS)])
def test_endpoint_names_types_and_user_data(remote_graph, kind, expected):
    endpoints = remote_graph[kind]
    assert set(expected) <= set(endpoints), f"missing {set(expected) - set(endpoints)}"
    for topic, (dds_type, *_qos) in expected.items():
        endpoint = endpoints[topic]
        assert endpoint.type_name == dds_type
        user_data = endpoint.qos[Policy.Userdata].data
        assert user_data == f"typehash={messages.type_hash(_ros_type(dds_type))};".encode()
    # Destroyed endpoints disappear from the graph.
    assert "rt/gone" not in endpoints


@pytest.mark.parametrize("kind, expected", [("writers", EXPECTED_WRITERS), ("readers", EXPECTED_READERS)])
def test_endpoint_qos_and_xcdr1(remote_graph, kind, expected):
    for topic, (_type, reliability, durability, depth) in expected.items():
        qos = remote_graph[kind][topic].qos
        if reliability is Policy.Reliability.Reliable:
            assert isinstance(qos[Policy.Reliability], Policy.Reliability.Reliable), topic
        else:
            assert qos[Policy.Reliability] == Policy.Reliability.BestEffort, topic
        assert qos[Policy.Durability] == durability, topic
        assert qos[Policy.History] == Policy.History.KeepLast(depth=depth), topic
        assert qos[Policy.DataRepresentation] == Policy.DataRepresentation(
            use_cdrv0_representation=True, use_xcdrv2_representation=False
        ), topic
        if kind == "writers":
            assert qos[Policy.WriterDataLifecycle] == Policy.WriterDataLifecycle(autodispose=False), topic


def test_participant_user_data(remote_graph):
    owners = {e.participant_key for e in remote_graph["writers"].values()}
    assert len(owners) == 1, "one participant per context, shared by its nodes"
    participant = remote_graph["participants"][owners.pop()]
    assert participant.qos[Policy.Userdata].data == b"enclave=/;"


def test_ros_discovery_info_lists_nodes_and_gids(remote_graph):
    graph = remote_graph["graph"]
    assert graph is not None, "no ros_discovery_info sample arrived"
    writers, readers = remote_graph["writers"], remote_graph["readers"]
    participant_key = writers["rt/robot/cmd"].participant_key
    assert bytes(graph.gid.data) == participant_key.bytes
    nodes = {(n.node_namespace, n.node_name): n for n in graph.node_entities_info_seq}
    assert set(nodes) == {("/robot", "planner"), ("/", "monitor")}

    def gids(seq):
        return {bytes(g.data) for g in seq}

    planner, monitor = nodes[("/robot", "planner")], nodes[("/", "monitor")]
    topics = remote_graph["topics_by_gid"]

    def topic_names(seq):
        return sorted(topics[bytes(g.data)] for g in seq)

    # Each node: its own endpoints, its /rosout writer and its six parameter services.
    def services(fqn, suffix):
        return [f"{'rr' if suffix == 'Reply' else 'rq'}{fqn}/{name}{suffix}" for name in PARAMETER_SERVICES]

    assert writers["rt/robot/cmd"].key.bytes in gids(planner.writer_gid_seq)
    assert topic_names(planner.writer_gid_seq) == sorted(
        ["rt/robot/cmd", "rt/model", "rt/rosout", *services("/robot/planner", "Reply")])
    assert readers["rt/robot/state"].key.bytes in gids(planner.reader_gid_seq)
    assert topic_names(planner.reader_gid_seq) == sorted(["rt/robot/state", *services("/robot/planner", "Request")])
    assert topic_names(monitor.reader_gid_seq) == sorted(["rt/monitor/status", *services("/monitor", "Request")])
    assert topic_names(monitor.writer_gid_seq) == sorted(["rt/rosout", *services("/monitor", "Reply")])
