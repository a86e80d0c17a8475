"""RIHS01 type hashes and the USER_DATA strings that carry them.

Iron and later put ``typehash=RIHS01_<64 hex>;`` into the USER_DATA QoS of
every reader and writer (rmw_dds_common ``qos.cpp``) and ``enclave=/;`` into
the participant's USER_DATA (rmw_cyclonedds ``rmw_node.cpp``). Humble sends
the enclave but no hash.

The hash is SHA-256 over the JSON of the type description (REP 2011,
rosidl_generator_type_description). It follows rosbags'
``Typestore.hash_rihs01`` with one correction: a ``.msg`` ``char`` is hashed
as ``uint8``, because rosidl_adapter turns ``char`` into IDL ``uint8`` before
anything is generated (ros2/rosidl ``rosidl_adapter/msg/__init__.py``), while
rosbags hashes it as IDL ``char``. Example: ROS 2 reports
``RIHS01_3ad2d04d...`` for std_msgs/msg/Char, rosbags 0.11 computes
``RIHS01_8914cecc...``. The same field sits in rmw_dds_common/msg/Gid, so
the node graph's ParticipantEntitiesInfo hash depends on it.
"""
from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from rosbags.interfaces import Nodetype

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

# type_description_interfaces/msg/FieldType.msg
_FIELD_TYPE_IDS = {
    "int8": 2,
    "uint8": 3,
    "int16": 4,
    "uint16": 5,
    "int32": 6,
    "uint32": 7,
    "int64": 8,
    "uint64": 9,
    "float32": 10,
    "float64": 11,
    "float128": 12,
    # A .msg char is IDL uint8 (see module docstring), not FIELD_TYPE_CHAR (13).
    "char": 3,
    "bool": 15,
    "byte": 16,
    "string": 17,
}
_NESTED_TYPE = 1
_BOUNDED_STRING = 21
_ARRAY_OFFSET = 48
_BOUNDED_SEQUENCE_OFFSET = 96
_UNBOUNDED_SEQUENCE_OFFSET = 144

#: ROS 2 gives a struct without members a placeholder member of this name.
EMPTY_STRUCT_MEMBER = "structure_needs_at_least_one_member"


def rihs01(typestore: Typestore, typename: str) -> str:
    """RIHS01 hash of ``typename`` as a ROS 2 (Iron+) node would announce it.

    Args:
        typestore: rosbags type store holding ``typename`` and all its nested types.
        typename: ROS type name, e.g. ``"std_msgs/msg/String"``.

    Returns:
        ``"RIHS01_"`` followed by 64 lowercase hex digits.

    Raises:
        KeyError: ``typename`` or a nested type is not in ``typestore``.
        TypeError: a field type has no RIHS01 type id (wstring, wchar).
    """
    structs: dict[str, dict[str, Any]] = {}

    def describe(name: str) -> dict[str, Any]:
        if name not in structs:
            # rosbags stores service halves as pkg/srv/msg/X; ROS hashes them as pkg/srv/X.
            structs[name] = {"type_name": name.replace("/srv/msg/", "/srv/"), "fields": []}  # placeholder breaks cycles
            fields = typestore.fielddefs[name][1] or [
                (EMPTY_STRUCT_MEMBER, (Nodetype.BASE, ("uint8", 0)))
            ]
            structs[name]["fields"] = [field(fname, desc) for fname, desc in fields]
        return structs[name]

    def field(fname: str, desc: Any) -> dict[str, Any]:
        offset = capacity = string_capacity = 0
        nested = ""
        if desc[0] == Nodetype.ARRAY:
            offset, capacity = _ARRAY_OFFSET, desc[1][1]
            desc = desc[1][0]
        elif desc[0] == Nodetype.SEQUENCE:
            capacity = desc[1][1]
            offset = _BOUNDED_SEQUENCE_OFFSET if capacity else _UNBOUNDED_SEQUENCE_OFFSET
            desc = desc[1][0]
        if desc[0] == Nodetype.NAME:
            type_id = _NESTED_TYPE
            nested = desc[1]
            describe(nested)
        else:
            base, bound = desc[1]
            if base == "string" and bound:
                type_id, string_capacity = _BOUNDED_STRING, bound
            elif base in _FIELD_TYPE_IDS:
                type_id = _FIELD_TYPE_IDS[base]
            else:
                raise TypeError(f"field {fname!r}: type {base!r} has no RIHS01 type id")
        return {
            "name": fname,
            "type": {
                "type_id": type_id + offset,
                "capacity": capacity,
                "string_capacity": string_capacity,
                "nested_type_name": nested,
            },
        }

    top = describe(typename)
    description = {
        "type_description": top,
        "referenced_type_descriptions": [
            structs[name] for name in sorted(structs) if name != typename
        ],
    }
    # json.dumps defaults (", " and ": " separators) are what rosidl hashes.
    digest = hashlib.sha256(json.dumps(description).encode()).hexdigest()
    return f"RIHS01_{digest}"


def typehash_user_data(type_hash: str | None) -> bytes:
    """USER_DATA of a reader or writer: ``b"typehash=RIHS01_...;"``, or ``b""`` without a hash."""
    if not type_hash:
        return b""
    if not type_hash.startswith("RIHS01_") or len(type_hash) != 7 + 64:
        raise ValueError(f"not a RIHS01 hash: {type_hash!r}")
    return f"typehash={type_hash};".encode("ascii")


def enclave_user_data(enclave: str = "/") -> bytes:
    """USER_DATA of a participant: ``b"enclave=/;"``.

    Raises:
        ValueError: ``enclave`` is not an absolute name or contains ``;``.
    """
    if not enclave.startswith("/") or ";" in enclave:
        raise ValueError(f"enclave must be an absolute name such as '/', got {enclave!r}")
    return f"enclave={enclave};".encode("utf-8")
