"""Services on the runtime: srv types byte-for-byte against rosbags, the rmw_cyclonedds request
header, request/reply with rclpy's client API, and /rosout.

rosbags' stores hold no service types, so the reference store here registers each half from
the same .srv text with rosbags' own parser (``get_types_from_msg``); the bytes are compared
with rosbags' serializer, never with our own classes.
"""
from __future__ import annotations

import random
import struct
import threading
import time

import pytest
from message_samples import random_plain, rosbags_from_plain
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.msg import get_types_from_msg

from mbrl_ros.ros import runtime as rclpy
from mbrl_ros.ros.messages import deserialize, from_dict, serialize
from mbrl_ros.ros.runtime.qos import DurabilityPolicy, QoSProfile
from mbrl_ros.ros.runtime.service import pack, request_topics, unpack, wire_class
from mbrl_ros.ros.runtime.testing import isolated_domain
from mbrl_ros.ros.services import SRV_TEXTS, service_type, srv_halves

CASES = 5


@pytest.fixture(scope="module")
def srv_store():
    """A fresh rosbags Jazzy store with every service half registered by rosbags itself."""
    store = get_typestore(Stores.ROS2_JAZZY)
    for ros_type in SRV_TEXTS:
        pkg, _, name = ros_type.split("/")
        for half, text in zip(("Request", "Response"), srv_halves(ros_type)):
            store.register(get_types_from_msg(text, f"{pkg}/srv/msg/{name}_{half}"))
    return store


@pytest.mark.parametrize("ros_type", sorted(SRV_TEXTS))
def test_service_halves_golden_bytes_and_wire_header(ros_type, srv_store):
    srv = service_type(ros_type)
    rng = random.Random(f"srv:{ros_type}")
    for half, cls in (("Request", srv.Request), ("Response", srv.Response)):
        store_name = ros_type.replace("/srv/", "/srv/msg/") + "_" + half
        assert cls.__dds_type__ == ros_type.replace("/", "::").replace("::srv::", "::srv::dds_::") + f"_{half}_"
        for case in range(CASES):
            plain = random_plain(srv_store, store_name, rng)
            message = from_dict(cls, plain)
            theirs = bytes(srv_store.serialize_cdr(rosbags_from_plain(srv_store, store_name, plain), store_name))
            ours = serialize(message)
            assert ours == theirs, f"{store_name} case {case}"
            assert deserialize(cls, theirs) == message
            # On the wire: the 16-byte request header right after the CDR header, then the fields.
            guid, seq = rng.getrandbits(64), rng.getrandbits(62)
            wire = serialize(pack(guid, seq, message))
            assert wire == theirs[:4] + struct.pack("<Qq", guid, seq) + theirs[4:]
            assert wire_class(cls).__dds_type__ == cls.__dds_type__
            assert unpack(cls, wire) == (guid, seq, message)


def test_topic_names_follow_rmw_cyclonedds():
    assert request_topics("/robot/planner/get_parameters") == (
        "rq/robot/planner/get_parametersRequest", "rr/robot/planner/get_parametersReply")


@pytest.fixture
def graph():
    with isolated_domain():
        context = rclpy.Context()
        rclpy.init(args=[], context=context)
        executor = rclpy.MultiThreadedExecutor(num_threads=3, context=context)
        nodes = []

        def add(name, **kwargs):
            node = rclpy.create_node(name, context=context, **kwargs)
            executor.add_node(node)
            nodes.append(node)
            return node

        def spin():
            try:
                executor.spin()
            except rclpy.ExternalShutdownException:
                pass

        thread = threading.Thread(target=spin, daemon=True)
        thread.start()
        try:
            yield add
        finally:
            executor.shutdown(timeout_sec=5.0)
            for node in nodes:
                node.destroy_node()
            context.try_shutdown()
            thread.join(timeout=5.0)


def test_request_reply_and_replies_go_to_their_client(graph):
    SetBool = service_type("std_srvs/srv/SetBool")
    server = graph("server", namespace="robot")
    seen = []

    def handle(request, response):
        seen.append(request.data)
        response.success = request.data
        response.message = f"got {request.data}"
        return response

    service = server.create_service(SetBool, "~/enable", handle)
    assert service.service_name == "/robot/server/enable"
    caller = graph("caller")
    first = caller.create_client(SetBool, "/robot/server/enable")
    second = caller.create_client(SetBool, "/robot/server/enable")
    assert first.wait_for_service(timeout_sec=10.0) and second.wait_for_service(timeout_sec=10.0)
    futures = [first.call_async(SetBool.Request(data=True)), second.call_async(SetBool.Request(data=False)),
               first.call_async(SetBool.Request(data=False))]
    deadline = time.monotonic() + 10.0
    while not all(f.done() for f in futures) and time.monotonic() < deadline:
        time.sleep(0.01)
    # Both clients hear every reply on rr/...Reply; each keeps only those with its own id.
    assert [(f.result().success, f.result().message) for f in futures] == [
        (True, "got True"), (False, "got False"), (False, "got False")]
    assert sorted(seen) == [False, False, True]
    assert not first._pending and not second._pending
    with pytest.raises(TypeError):
        first.call_async(SetBool.Response())
    assert [s.service_name for s in server.services] == [
        f"/robot/server/{name}" for name in ("get_parameters", "get_parameter_types", "set_parameters",
                                             "set_parameters_atomically", "list_parameters",
                                             "describe_parameters")] + ["/robot/server/enable"]
    assert list(server.publishers) == [] and list(server.subscriptions) == []  # as in rclpy


def test_wait_for_service_times_out_without_a_server(graph):
    client = graph("lonely").create_client(service_type("std_srvs/srv/Trigger"), "/nobody/here")
    started = time.monotonic()
    assert not client.wait_for_service(timeout_sec=0.3)
    assert time.monotonic() - started >= 0.3


def test_rosout_carries_the_node_log(graph):
    talker = graph("talker", namespace="robot")
    records = []
    listener = graph("listener", enable_rosout=False)
    listener.create_subscription(
        rclpy_msg("rcl_interfaces/msg/Log"), "/rosout", records.append,
        QoSProfile(depth=1000, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    before = time.time_ns()
    talker.get_logger().warning("rotor 3 is warm")  # before the subscription matched: transient local
    deadline = time.monotonic() + 10.0
    while not any(r.msg == "rotor 3 is warm" for r in records) and time.monotonic() < deadline:
        time.sleep(0.01)
    record = next(r for r in records if r.msg == "rotor 3 is warm")
    assert (record.level, record.name) == (record.WARN, "robot.talker")
    assert record.function == "test_rosout_carries_the_node_log" and record.file == __file__
    assert record.line > 0
    assert before <= record.stamp.sec * 1_000_000_000 + record.stamp.nanosec <= time.time_ns()
    assert not any(r.name == "listener" for r in records)


def rclpy_msg(ros_type):
    from mbrl_ros.ros.messages import message_class

    return message_class(ros_type)
