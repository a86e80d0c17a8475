"""Publish/subscribe through the runtime: in one process, across processes, per QoS profile."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from mbrl_ros.ros.messages import message_class, serialize
from mbrl_ros.ros.runtime import Context, Node, SingleThreadedExecutor
from mbrl_ros.ros.runtime.exceptions import RCLError
from mbrl_ros.ros.runtime.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_latched,
    qos_profile_sensor_data,
)
from mbrl_ros.ros.runtime.testing import isolated_domain

TIMEOUT = 5.0


@pytest.fixture
def String():
    # Looked up per test: test/ros/conftest.py swaps the message registry for each test.
    return message_class("std_msgs/msg/String")


@pytest.fixture
def Float64MultiArray():
    return message_class("std_msgs/msg/Float64MultiArray")


@pytest.fixture
def context():
    with isolated_domain():
        ctx = Context()
        ctx.init(["test"])
        yield ctx
        ctx.try_shutdown()


def spin_until(executor, predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        executor.spin_once(timeout_sec=min(0.1, remaining))
    return True


def wait_for(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("qos", [10, qos_profile_sensor_data, qos_profile_latched], ids=["default", "sensor", "latched"])
def test_two_nodes_in_one_process(context, qos, Float64MultiArray):
    talker = Node("talker", context=context)
    listener = Node("listener", context=context)
    received = []
    callback_threads = set()

    def on_msg(msg):
        received.append(list(msg.data))
        callback_threads.add(threading.get_ident())

    listener.create_subscription(Float64MultiArray, "/cmd", on_msg, qos)
    publisher = talker.create_publisher(Float64MultiArray, "/cmd", qos)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(talker)
    executor.add_node(listener)
    assert wait_for(lambda: publisher.get_subscription_count() == 1)
    # One at a time: the latched profile keeps only the newest sample (depth 1).
    for i in range(3):
        publisher.publish(Float64MultiArray(data=[float(i), 0.5]))
        assert spin_until(executor, lambda: len(received) == i + 1)
    assert received == [[0.0, 0.5], [1.0, 0.5], [2.0, 0.5]]
    assert callback_threads == {threading.get_ident()}  # the spinning thread, not a DDS thread


def test_latched_message_reaches_late_subscriber(context, String):
    talker = Node("talker", context=context)
    publisher = talker.create_publisher(String, "model", qos_profile_latched)
    publisher.publish(String(data="old"))
    publisher.publish(String(data="newest"))
    listener = Node("late", context=context)
    received = []
    listener.create_subscription(String, "/model", lambda m: received.append(m.data), qos_profile_latched)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(listener)
    assert spin_until(executor, lambda: received)
    executor.spin_once(timeout_sec=0.2)
    assert received == ["newest"]


def test_volatile_subscriber_misses_earlier_messages(context, String):
    talker = Node("talker", context=context)
    publisher = talker.create_publisher(String, "chatter", qos_profile_latched)
    publisher.publish(String(data="before"))
    listener = Node("listener", context=context)
    received = []
    listener.create_subscription(String, "chatter", lambda m: received.append(m.data), 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(listener)
    assert wait_for(lambda: publisher.get_subscription_count() == 1)
    executor.spin_once(timeout_sec=0.2)
    publisher.publish(String(data="after"))
    assert spin_until(executor, lambda: received)
    assert received == ["after"]


@pytest.mark.parametrize(
    "writer_qos, reader_qos, matches",
    [
        (QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT), QoSProfile(depth=5), False),
        (QoSProfile(depth=5), QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT), True),
        (QoSProfile(depth=5), QoSProfile(depth=5, durability=DurabilityPolicy.TRANSIENT_LOCAL), False),
        (qos_profile_latched, QoSProfile(depth=5), True),
    ],
    ids=["best_effort_writer-reliable_reader", "reliable_writer-best_effort_reader", "volatile_writer-transient_reader", "transient_writer-volatile_reader"],
)
def test_qos_matching_rules(context, writer_qos, reader_qos, matches, String):
    node = Node("qos_check", context=context)
    received = []
    subscription = node.create_subscription(String, "q", lambda m: received.append(m.data), reader_qos)
    publisher = node.create_publisher(String, "q", writer_qos)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    if matches:
        assert wait_for(lambda: publisher.get_subscription_count() == 1)
        publisher.publish(String(data="x"))
        assert spin_until(executor, lambda: received == ["x"])
    else:
        # Local matching is synchronous in Cyclone; give it a moment anyway.
        time.sleep(0.2)
        assert publisher.get_subscription_count() == 0
        assert subscription.get_publisher_count() == 0
        publisher.publish(String(data="x"))
        executor.spin_once(timeout_sec=0.2)
        assert received == []


def test_publish_checks_type_and_accepts_serialized_bytes(context, String, Float64MultiArray):
    node = Node("typed", context=context)
    publisher = node.create_publisher(String, "t", 10)
    received = []
    node.create_subscription(String, "t", lambda m: received.append(m.data), 10)
    with pytest.raises(TypeError, match="std_msgs/msg/String"):
        publisher.publish(Float64MultiArray())
    with pytest.raises(TypeError, match="not a ROS message class"):
        node.create_publisher(str, "t2", 10)
    with pytest.raises(TypeError, match="std_msgs::msg::dds_::String_"):
        node.create_publisher(Float64MultiArray, "t", 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    assert wait_for(lambda: publisher.get_subscription_count() == 1)
    publisher.publish(serialize(String(data="raw")))
    assert spin_until(executor, lambda: received == ["raw"])


def test_raw_subscription_and_two_argument_callback(context, String):
    node = Node("raw", context=context)
    raw, infos = [], []
    node.create_subscription(String, "r", lambda data: raw.append(data), 10, raw=True)
    node.create_subscription(String, "r", lambda msg, info: infos.append(info), 10)
    publisher = node.create_publisher(String, "r", 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    assert wait_for(lambda: publisher.get_subscription_count() == 2)
    publisher.publish(String(data="hello"))
    assert spin_until(executor, lambda: raw and infos)
    # The writer pads the CDR payload to a multiple of 4 bytes, as Cyclone's C writers do.
    expected = serialize(String(data="hello"))
    assert raw[0][: len(expected)] == expected and set(raw[0][len(expected):]) <= {0}
    assert len(raw[0]) % 4 == 0
    assert infos[0]["source_timestamp"] > 0


def test_counts_destroy_and_shutdown(context, String):
    node = Node("counter", namespace="ns", context=context)
    publisher = node.create_publisher(String, "c", 10)
    subscription = node.create_subscription(String, "/ns/c", lambda m: None, 10)
    assert wait_for(lambda: node.count_publishers("c") == 1 and node.count_subscribers("/ns/c") == 1)
    assert node.destroy_subscription(subscription)
    assert not node.destroy_subscription(subscription)
    assert wait_for(lambda: node.count_subscribers("c") == 0)
    node.destroy_node()
    with pytest.raises(RCLError):
        publisher.publish(String(data="after destroy"))
    context.shutdown()
    with pytest.raises(RuntimeError):
        context.shutdown()


CHILD = textwrap.dedent(
    """
    import sys, threading
    from mbrl_ros.ros import runtime as rclpy
    from mbrl_ros.ros.messages import message_class
    from mbrl_ros.ros.runtime.qos import qos_profile_latched, qos_profile_sensor_data

    String = message_class("std_msgs/msg/String")
    rclpy.init(args=sys.argv)
    node = rclpy.create_node("echo")
    pong = node.create_publisher(String, "pong", qos_profile_sensor_data)
    latched = node.create_publisher(String, "latched", qos_profile_latched)
    latched.publish(String(data="model-v1"))
    node.create_subscription(String, "ping", lambda m: pong.publish(String(data="pong:" + m.data)), 10)
    threading.Thread(target=rclpy.spin, args=(node,), daemon=True).start()
    print("ready", flush=True)
    sys.stdin.readline()  # the parent closes stdin to stop us
    rclpy.try_shutdown()
    """
)


def start_child(*ros_args):
    """The echo node in its own process (same isolated domain, via the environment)."""
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, "--ros-args", *ros_args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def stop_child(child):
    child.stdin.close()
    try:
        child.wait(timeout=TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()


def test_two_processes(context, String):
    child = start_child("-r", "__ns:=/robot")
    try:
        assert child.stdout.readline().strip() == "ready"
        node = Node("driver", namespace="robot", context=context)
        pongs, models = [], []
        node.create_subscription(String, "pong", lambda m: pongs.append(m.data), qos_profile_sensor_data)
        ping = node.create_publisher(String, "ping", 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        assert spin_until(executor, lambda: ping.get_subscription_count() == 1, timeout=10.0)
        # The sensor-data reply is best effort: keep pinging until one comes back.
        deadline = time.monotonic() + TIMEOUT
        count = 0
        while not pongs and time.monotonic() < deadline:
            count += 1
            ping.publish(String(data=str(count)))
            executor.spin_once(timeout_sec=0.1)
        assert pongs and pongs[0].startswith("pong:")
        # Subscribing late still yields the latched model the child published at start.
        node.create_subscription(String, "latched", lambda m: models.append(m.data), qos_profile_latched)
        assert spin_until(executor, lambda: models)
        assert models == ["model-v1"]
    finally:
        stop_child(child)
    assert child.returncode == 0
