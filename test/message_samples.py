"""Random instances of ROS message types, and independent checks of them, for wire tests.

Shared by the golden-byte tests of the core message layer (test/ros) and of
the vendored robot messages (test/robots); found through ``pythonpath = test``
in pytest.ini.

Random instances are plain value trees (dicts, lists, scalars, keyed like
``to_dict``) built straight from rosbags' own field definitions, and the rosbags
objects and mcap_ros2 comparisons here use only those definitions too, so
neither opinion goes through the code under test. The same ``rng`` seed gives
the same instances.
"""
import string
import struct

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys.base import normalize_fieldname

from mbrl_ros.ros.type_hash import EMPTY_STRUCT_MEMBER

_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "char": (0, 255),
    "byte": (0, 255),
}
_ASCII = string.ascii_letters + string.digits + string.punctuation + " "
_SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.5, 1e-300, -1e300, float("inf"), float("-inf")]


# ----------------------------------------------------------------------------- random plain trees


def _random_scalar(base, bound, rng):
    if base == "bool":
        return rng.random() < 0.5
    if base in _INT_RANGES:
        lo, hi = _INT_RANGES[base]
        return rng.choice([lo, hi, 0, rng.randint(lo, hi), rng.randint(lo, hi)])
    if base in ("float32", "float64"):
        value = rng.choice(_SPECIAL_FLOATS) if rng.random() < 0.3 else rng.uniform(-1e6, 1e6)
        if base == "float32":  # a value float32 holds exactly, so round trips compare equal
            clipped = value if abs(value) == float("inf") else max(-3e38, min(3e38, value))
            value = struct.unpack("<f", struct.pack("<f", clipped))[0]
        return value
    if base == "string":
        limit = bound or 24
        length = rng.choice([0, 1, rng.randint(0, limit), limit if bound else 3])
        return "".join(rng.choice(_ASCII) for _ in range(length))
    raise AssertionError(f"no generator for {base}")


def _random_value(store, desc, rng, depth):
    kind, arg = desc
    if kind == Nodetype.BASE:
        return _random_scalar(arg[0], arg[1], rng)
    if kind == Nodetype.NAME:
        return random_plain(store, arg, rng, depth + 1)
    sub, count = arg
    if kind == Nodetype.SEQUENCE:
        longest = min(2 if depth > 1 else 5, count or 5)  # count is the bound here, 0 = none
        count = rng.choice([0, 1, rng.randint(0, longest)])
    return [_random_value(store, sub, rng, depth) for _ in range(count)]


def random_plain(store, typename, rng, depth=0):
    """A random value tree for ``typename`` (dicts, lists, scalars), keyed like ``to_dict``."""
    return {
        normalize_fieldname(name): _random_value(store, desc, rng, depth)
        for name, desc in store.fielddefs[typename][1]
        if name != EMPTY_STRUCT_MEMBER
    }


def _rosbags_value(store, desc, value):
    kind, arg = desc
    if kind == Nodetype.BASE:
        if arg[0] == "byte":  # rosbags packs byte as a signed int8
            return value - 256 if value > 127 else value
        return value
    if kind == Nodetype.NAME:
        return rosbags_from_plain(store, arg, value)
    sub = arg[0]
    if sub[0] == Nodetype.NAME:
        return [rosbags_from_plain(store, sub[1], v) for v in value]
    base = sub[1][0]
    if base == "string":
        return list(value)
    if base == "byte":
        return np.array(value, dtype=np.uint8).view(np.int8)
    dtype = {"bool": np.bool_, "char": np.uint8}.get(base, base)
    return np.array(value, dtype=dtype)


def rosbags_from_plain(store, typename, plain):
    """The rosbags object for a plain tree, built only from rosbags' own field definitions."""
    kwargs = {}
    for name, desc in store.fielddefs[typename][1]:
        key = normalize_fieldname(name)
        kwargs[key] = 0 if name == EMPTY_STRUCT_MEMBER else _rosbags_value(store, desc, plain[key])
    return store.types[typename](**kwargs)


# ----------------------------------------------------------------------------- mcap comparison


def _assert_mcap_value(store, desc, got, want, path):
    kind, arg = desc
    if kind == Nodetype.BASE:
        if arg[0] == "char":  # mcap_ros2 reads char as a signed int8
            got &= 0xFF
        assert got == want, f"{path}: mcap {got!r} != {want!r}"
        return
    if kind == Nodetype.NAME:
        assert_mcap_matches(store, arg, got, want, path)
        return
    got = list(got)  # uint8 arrays come back as bytes
    assert len(got) == len(want), f"{path}: length {len(got)} != {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        _assert_mcap_value(store, arg[0], g, w, f"{path}[{i}]")


def assert_mcap_matches(store, typename, decoded, plain, path=""):
    """Every field of an mcap_ros2-decoded message equals the plain tree."""
    for name, desc in store.fielddefs[typename][1]:
        if name == EMPTY_STRUCT_MEMBER:
            continue
        want = plain[normalize_fieldname(name)]
        _assert_mcap_value(store, desc, getattr(decoded, name), want, f"{path}.{name}")
