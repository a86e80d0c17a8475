"""Golden-byte checks for vendored robot messages: ours vs rosbags vs mcap_ros2.

Random instances are plain value trees built from rosbags' own field
definitions (after the same ``.msg`` text is registered in its type store),
so the rosbags object never passes through the code under test.
"""
import random
import string
import struct

import numpy as np
import pytest
from mcap_ros2._dynamic import generate_dynamic
from rosbags.interfaces import Nodetype
from rosbags.typesys.base import normalize_fieldname

from mbrl_ros.robots import crazyflie_msgs, px4_msgs
from mbrl_ros.ros.messages import (
    MessageRegistry,
    deserialize,
    from_dict,
    from_rosbags,
    serialize,
    to_dict,
    to_rosbags,
)

_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}
_SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.5, float("inf"), float("-inf")]


def _random_scalar(base, bound, rng):
    if base == "bool":
        return rng.random() < 0.5
    if base in _INT_RANGES:
        lo, hi = _INT_RANGES[base]
        return rng.choice([lo, hi, 0, rng.randint(lo, hi)])
    if base in ("float32", "float64"):
        value = rng.choice(_SPECIAL_FLOATS) if rng.random() < 0.3 else rng.uniform(-1e4, 1e4)
        if base == "float32":  # a value float32 holds exactly, so decoded values compare equal
            value = struct.unpack("<f", struct.pack("<f", value))[0]
        return value
    if base == "string":
        return "".join(rng.choice(string.ascii_letters + "/_") for _ in range(rng.randint(0, 12)))
    raise AssertionError(f"no generator for {base}")


def _random_value(store, desc, rng):
    kind, arg = desc
    if kind == Nodetype.BASE:
        return _random_scalar(arg[0], arg[1], rng)
    if kind == Nodetype.NAME:
        return random_plain(store, arg, rng)
    sub, count = arg
    if kind == Nodetype.SEQUENCE:
        count = rng.randint(0, min(count or 4, 4))
    return [_random_value(store, sub, rng) for _ in range(count)]


def random_plain(store, typename, rng):
    """A random value tree for ``typename``, keyed like ``to_dict``."""
    return {normalize_fieldname(n): _random_value(store, d, rng) for n, d in store.fielddefs[typename][1]}


def _rosbags_value(store, desc, value):
    kind, arg = desc
    if kind == Nodetype.BASE:
        return value
    if kind == Nodetype.NAME:
        return rosbags_from_plain(store, arg, value)
    sub = arg[0]
    if sub[0] == Nodetype.NAME:
        return [rosbags_from_plain(store, sub[1], v) for v in value]
    base = sub[1][0]
    if base == "string":
        return list(value)
    return np.array(value, dtype={"bool": np.bool_}.get(base, base))


def rosbags_from_plain(store, typename, plain):
    """The rosbags object for a plain tree, from rosbags' own field definitions."""
    kwargs = {
        normalize_fieldname(n): _rosbags_value(store, d, plain[normalize_fieldname(n)])
        for n, d in store.fielddefs[typename][1]
    }
    return store.types[typename](**kwargs)


def _assert_mcap_value(store, desc, got, want, path):
    kind, arg = desc
    if kind == Nodetype.BASE:
        assert got == want, f"{path}: mcap {got!r} != {want!r}"
    elif kind == Nodetype.NAME:
        assert_mcap_matches(store, arg, got, want, path)
    else:
        got = list(got)
        assert len(got) == len(want), f"{path}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_mcap_value(store, arg[0], g, w, f"{path}[{i}]")


def assert_mcap_matches(store, typename, decoded, plain, path=""):
    """Every field of an mcap_ros2-decoded message equals the plain tree."""
    for name, desc in store.fielddefs[typename][1]:
        _assert_mcap_value(store, desc, getattr(decoded, name), plain[normalize_fieldname(name)], f"{path}.{name}")


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
