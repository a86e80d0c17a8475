"""Golden-byte checks for vendored robot messages: ours vs rosbags vs mcap_ros2.

Random instances (test/message_samples.py) are plain value trees built from
rosbags' own field definitions (after the same ``.msg`` text is registered in
its type store), so the rosbags object never passes through the code under test.
"""
import random

import pytest
from mcap_ros2._dynamic import generate_dynamic
from message_samples import assert_mcap_matches, random_plain, rosbags_from_plain

from mbrl_ros.robots.crazyflie import msgs as crazyflie_msgs
from mbrl_ros.robots.px4 import msgs as px4_msgs
from mbrl_ros.ros.messages import (
    MessageRegistry,
    deserialize,
    from_dict,
    from_rosbags,
    serialize,
    to_dict,
    to_rosbags,
)


def check_golden(registry, typename, instances=6):
    """Default and random instances: our bytes == rosbags' bytes, mcap_ros2 decodes them, round trips hold."""
    store = registry.typestore
    cls = registry.message_class(typename)
    text, _ = store.generate_msgdef(typename, ros_version=2)
    decode = generate_dynamic(typename, text)[typename]
    rng = random.Random(f"golden:{typename}")
    cases = [to_dict(cls())] + [random_plain(store, typename, rng) for _ in range(instances)]
    for i, plain in enumerate(cases):
        msg = from_dict(cls, plain)
        ours = serialize(msg)
        theirs = bytes(store.serialize_cdr(rosbags_from_plain(store, typename, plain), typename))
        assert ours == theirs, f"{typename} case {i}:\nours    {ours.hex(' ')}\nrosbags {theirs.hex(' ')}"
        assert ours[:4] == b"\x00\x01\x00\x00"
        assert bytes(store.serialize_cdr(to_rosbags(msg, store), typename)) == ours
        assert_mcap_matches(store, typename, decode(ours), plain, typename)
        back = deserialize(cls, ours)
        assert back == msg and to_dict(back) == plain
        assert from_rosbags(store.deserialize_cdr(ours, typename), registry) == msg
    return len(cases)


@pytest.fixture(scope="session")
def golden():
    """:func:`check_golden`, as a fixture (conftest modules are not importable by name)."""
    return check_golden


@pytest.fixture(scope="session")
def robots_registry():
    """A Jazzy registry holding every vendored px4_msgs and crazyflie_interfaces type."""
    registry = MessageRegistry("jazzy")
    px4_msgs.register(registry)
    crazyflie_msgs.register(registry)
    return registry
