"""ROS 2 message classes for Cyclone DDS, generated from rosbags' type store.

No field list is typed by hand: each class is built on first use from the
definition in ``rosbags.typesys.get_typestore(...)`` for the ROS distribution
named by ``ROS_DISTRO`` (humble, iron, jazzy, kilted, lyrical; default
jazzy). A class is a cyclonedds ``IdlStruct`` dataclass whose wire form is
what a ROS 2 node sends and expects:

* DDS type name ``pkg::msg::dds_::Name_`` (rmw_cyclonedds matches by name only);
* ``final`` extensibility and no optional members, so the payload is classic
  CDR (XCDR1) with header ``00 01 00 00`` and 8-byte alignment counted after
  the header; appendable or optional members would switch cyclonedds to XCDR2,
  which ROS readers never match;
* ``.msg`` ``char`` is ``uint8`` and ``byte`` is ``octet`` (both one unsigned
  byte); fixed arrays of either, and of ``uint8``, are Python ``bytes``;
* constants become class attributes and never reach the wire;
* rosbags' stores drop ``.msg`` default values, so the few non-zero ones
  (Quaternion ``w = 1``) come from ``_STORE_DEFAULTS``; registered ``.msg``
  text keeps its own defaults.

Example::

    Header = message_class("std_msgs/msg/Header")
    data = serialize(Header(frame_id="base_link"))
    assert deserialize("std_msgs/msg/Header", data).frame_id == "base_link"

Extra types (e.g. px4_msgs) are added from their ``.msg`` text with
:func:`register_msg_text`.
"""
from __future__ import annotations

import dataclasses
import keyword
import os
import re
import threading
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
from cyclonedds.idl import Endianness, IdlMeta, IdlStruct
from cyclonedds.idl import types as idl
from cyclonedds.idl._main import IDLNamespaceScope  # cyclonedds is pinned to 11.0.1
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.base import TypesysError, make_typesdict
from rosbags.typesys.msg import MSGParser

from mbrl_ros.ros.type_hash import EMPTY_STRUCT_MEMBER, enclave_user_data, rihs01, typehash_user_data

__all__ = [
    "DEFAULT_DISTRO",
    "FieldSpec",
    "MessageDecodeError",
    "MessageEncodeError",
    "MessageRegistry",
    "RosMessage",
    "SUPPORTED_DISTROS",
    "UnknownMessageTypeError",
    "dds_topic_name",
    "dds_type_name",
    "default_registry",
    "deserialize",
    "endpoint_user_data",
    "from_dict",
    "from_rosbags",
    "message_class",
    "participant_user_data",
    "register_msg_text",
    "ros_topic_name",
    "ros_type_name",
    "serialize",
    "to_dict",
    "to_rosbags",
    "type_hash",
]

#: ROS_DISTRO values and the rosbags store each one reads.
SUPPORTED_DISTROS: dict[str, Stores] = {
    "humble": Stores.ROS2_HUMBLE,
    "iron": Stores.ROS2_IRON,
    "jazzy": Stores.ROS2_JAZZY,
    "kilted": Stores.ROS2_KILTED,
    "lyrical": Stores.ROS2_LYRICAL,
    # Rolling moves ahead of every release; the newest store is the best guess.
    "rolling": Stores.ROS2_LYRICAL,
}
DEFAULT_DISTRO = "jazzy"
#: Distributions whose endpoints carry no ``typehash=`` user data.
_DISTROS_WITHOUT_TYPE_HASH = frozenset({"humble"})

# rosbags' stores keep field types but drop .msg default values. Among the
# stored types these are the defaults that differ from zero (common_interfaces
# geometry_msgs/msg/Quaternion.msg: "float64 w 1").
_STORE_DEFAULTS: dict[str, dict[str, Any]] = {
    "geometry_msgs/msg/Quaternion": {"w": 1.0},
}

_INT_TYPES = {
    "int8": idl.int8,
    "int16": idl.int16,
    "int32": idl.int32,
    "int64": idl.int64,
    "uint8": idl.uint8,
    "uint16": idl.uint16,
    "uint32": idl.uint32,
    "uint64": idl.uint64,
    # rosidl_adapter maps .msg char to IDL uint8; byte is IDL octet. Both are one
    # unsigned byte on the wire. cyclonedds' own `char` is a 1-character str
    # packed signed, so it is not used.
    "char": idl.uint8,
    "byte": idl.byte,
}
_FLOAT_TYPES = {"float32": idl.float32, "float64": idl.float64}
# The names rclpy's get_fields_and_field_types() reports (IDL names).
_IDL_NAMES = {"bool": "boolean", "byte": "octet", "char": "uint8", "float32": "float", "float64": "double"}
# numpy dtypes rosbags uses for arrays of primitives (rosbags.serde.utils.ndtype).
_ROSBAGS_DTYPES = {"bool": np.bool_, "byte": np.int8, "char": np.uint8}
_BYTES_BASES = frozenset({"uint8", "char", "byte"})
# cyclonedds rejects sequence bounds above this; the bound never reaches the wire.
_CYCLONE_MAX_SEQUENCE_BOUND = 65535

_TOPIC_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class UnknownMessageTypeError(LookupError):
    """The ROS type is not in the selected rosbags store and was not registered."""


class MessageEncodeError(ValueError):
    """A message could not be serialized (wrong field type, value out of range, bad length)."""


class MessageDecodeError(ValueError):
    """Bytes could not be decoded as the requested message type."""


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One message field as the wire sees it.

    Attributes:
        name: Python attribute name (a Python keyword gets a trailing ``_``).
        ros_name: Field name in the ``.msg`` definition.
        base: Primitive type (``"float64"``, ``"string"``, ``"char"``, ...) or
            ``None`` for a nested message.
        msg_type: Nested message type (``"std_msgs/msg/Header"``) or ``None``.
        cardinality: ``"scalar"``, ``"array"`` (fixed length) or ``"sequence"``.
        length: Array length, or sequence upper bound (0 = unbounded).
        string_bound: Upper bound of a bounded string, 0 if unbounded.
    """

    name: str
    ros_name: str
    base: str | None
    msg_type: str | None
    cardinality: str
    length: int = 0
    string_bound: int = 0

    @property
    def is_bytes(self) -> bool:
        """True for an array or a sequence of 8-bit values (uint8, char, byte), held as ``bytes``.

        The wire form of a sequence (a uint32 count, then the raw bytes) is the same whether
        cyclonedds reads it as ``bytes`` or as a list of ints, but a list costs a Python int per
        byte: a 1.6 MB model message took 105 ms to write and ~90 ms to read and convert,
        holding the interpreter lock; as ``bytes`` both take well under a millisecond.
        """
        return self.cardinality in ("array", "sequence") and self.base in _BYTES_BASES and self.msg_type is None


class RosMessage:
    """Mixin of every generated message class (the other base is ``IdlStruct``).

    Class attributes set by the generator:
        __ros_type__: ``"std_msgs/msg/String"``.
        __dds_type__: ``"std_msgs::msg::dds_::String_"``.
        __type_hash__: RIHS01 string, or ``None`` on Humble.
        __ros_fields__: ``FieldSpec`` per field, in wire order.
        __ros_nested__: Field name -> class of each nested-message field.
        __ros_distro__: Distribution the definition was taken from.
    """

    __slots__ = ()
    __ros_type__: ClassVar[str]
    __dds_type__: ClassVar[str]
    __type_hash__: ClassVar[str | None]
    __ros_fields__: ClassVar[tuple[FieldSpec, ...]]
    __ros_nested__: ClassVar[dict[str, type]]
    __ros_distro__: ClassVar[str]

    @classmethod
    def get_fields_and_field_types(cls) -> dict[str, str]:
        """Field names and IDL type strings, as rclpy message classes report them."""
        return {f.name: _idl_type_string(f) for f in cls.__ros_fields__ if f.name != EMPTY_STRUCT_MEMBER}


def _idl_type_string(spec: FieldSpec) -> str:
    if spec.msg_type is not None:
        pkg, _, name = spec.msg_type.split("/")
        element = f"{pkg}/{name}"
    elif spec.base == "string" and spec.string_bound:
        element = f"string<{spec.string_bound}>"
    else:
        element = _IDL_NAMES.get(spec.base, spec.base)
    if spec.cardinality == "array":
        return f"{element}[{spec.length}]"
    if spec.cardinality == "sequence":
        return f"sequence<{element}, {spec.length}>" if spec.length else f"sequence<{element}>"
    return element


def _byte_value(value: Any, where: str) -> Any:
    """rclpy holds a ``byte`` as ``bytes`` of length 1; the wire needs the integer."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 1:
            raise ValueError(f"{where}: a byte field takes one byte, got {len(value)}")
        return value[0]
    return value


def _bytes_value(value: Any, length: int, where: str, *, bound_only: bool = False) -> bytes:
    """``value`` (bytes-like, numpy array or iterable of ints / 1-byte bytes) as ``bytes``.

    ``length``: the array's length, or with ``bound_only`` a sequence's upper bound (0: none).
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        out = bytes(value)
    elif isinstance(value, np.ndarray) and value.dtype.kind in "iub":
        if value.size and (int(value.min()) < 0 or int(value.max()) > 255):
            raise ValueError(f"{where}: expected values in 0..255, got {int(value.min())}..{int(value.max())}")
        out = value.astype(np.uint8).tobytes()
    else:
        try:
            out = bytes(v[0] if isinstance(v, (bytes, bytearray)) else int(v) for v in value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: expected {length} values in 0..255 ({exc})") from exc
    if bound_only:
        if length and len(out) > length:
            raise ValueError(f"{where}: at most {length} bytes, got {len(out)}")
    elif len(out) != length:
        raise ValueError(f"{where}: expected {length} bytes, got {len(out)}")
    return out


def _make_coercing_setattr(byte_scalars: frozenset[str], bytes_arrays: Mapping[str, int],
                           bytes_sequences: Mapping[str, int]) -> Callable:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if name in byte_scalars:
            value = _byte_value(value, f"{type(self).__ros_type__}.{name}")
        elif name in bytes_arrays:
            value = _bytes_value(value, bytes_arrays[name], f"{type(self).__ros_type__}.{name}")
        elif name in bytes_sequences:
            value = _bytes_value(value, bytes_sequences[name], f"{type(self).__ros_type__}.{name}", bound_only=True)
        object.__setattr__(self, name, value)

    return __setattr__


# ---------------------------------------------------------------------------------------------
# Names


def _normalize_ros_type(name: str) -> str:
    """``pkg/msg/Name`` from ``pkg/msg/Name``, ``pkg/Name`` or ``pkg::msg::dds_::Name_``."""
    if "::" in name:
        return ros_type_name(name)
    parts = name.split("/")
    if len(parts) == 2 and all(parts):
        return f"{parts[0]}/msg/{parts[1]}"
    if len(parts) == 3 and all(parts):
        return name
    raise ValueError(f"not a ROS message type name: {name!r} (expected 'pkg/msg/Name')")


#: Members of :meth:`MessageRegistry.service_wire_class` in front of a service half's fields.
SERVICE_GUID_FIELD = "client_guid"
SERVICE_SEQUENCE_FIELD = "sequence_number"


def _store_name(ros_type: str) -> str:
    """The name rosbags keeps a type under: service halves ``pkg/srv/X`` live as ``pkg/srv/msg/X``.

    rosbags only accepts ``msg`` (and ``action``) as the middle part of a name and puts a
    ``msg`` after any other one, so ``rcl_interfaces/srv/GetParameters_Request`` is stored as
    ``rcl_interfaces/srv/msg/GetParameters_Request``; everywhere else the ROS name is used.
    """
    pkg, sub, name = ros_type.split("/")
    return f"{pkg}/srv/msg/{name}" if sub == "srv" else ros_type


def dds_type_name(ros_type: str) -> str:
    """DDS type name of a ROS type: ``std_msgs/msg/Header`` -> ``std_msgs::msg::dds_::Header_``."""
    pkg, sub, name = _normalize_ros_type(ros_type).split("/")
    return f"{pkg}::{sub}::dds_::{name}_"


def ros_type_name(dds_type: str) -> str:
    """ROS type of a DDS type name: ``std_msgs::msg::dds_::Header_`` -> ``std_msgs/msg/Header``.

    Raises:
        ValueError: the name does not have the ``pkg::sub::dds_::Name_`` shape.
    """
    parts = dds_type.split("::")
    if len(parts) != 4 or parts[2] != "dds_" or not parts[3].endswith("_") or len(parts[3]) < 2:
        raise ValueError(f"not a ROS 2 DDS type name: {dds_type!r} (expected 'pkg::msg::dds_::Name_')")
    return f"{parts[0]}/{parts[1]}/{parts[3][:-1]}"


def dds_topic_name(ros_topic: str) -> str:
    """DDS topic of a fully qualified ROS topic: ``/ns/foo`` -> ``rt/ns/foo``.

    The checks are rmw's ``rmw_validate_full_topic_name``.

    Raises:
        ValueError: the name is relative (``foo``, ``~/foo``), contains substitutions
            (``{node}``) or is not a valid ROS name. Expand it with the node's
            namespace and apply remappings first.
    """
    if not isinstance(ros_topic, str) or not ros_topic.startswith("/"):
        raise ValueError(
            f"topic {ros_topic!r} is not absolute; expand it with the node namespace "
            "and apply remappings before creating the DDS topic"
        )
    tokens = ros_topic[1:].split("/")
    for token in tokens:
        if not _TOPIC_TOKEN.match(token):
            raise ValueError(
                f"invalid topic name {ros_topic!r}: each '/'-separated part must be non-empty, "
                "contain only letters, digits and '_', and not start with a digit"
            )
    return "rt" + ros_topic


def ros_topic_name(dds_topic: str) -> str | None:
    """ROS topic of a DDS topic (``rt/ns/foo`` -> ``/ns/foo``), ``None`` if it is not a ROS topic."""
    if dds_topic.startswith("rt/") and len(dds_topic) > 3:
        return dds_topic[2:]
    return None


# ---------------------------------------------------------------------------------------------
# Registry


class MessageRegistry:
    """Message classes of one ROS distribution, built on demand from a rosbags type store.

    Most code uses the process-wide :func:`default_registry` through the module
    functions; a separate registry is useful to handle another distribution
    (e.g. decode Humble's 24-byte gids) in the same process.

    Args:
        distro: ``humble``, ``iron``, ``jazzy``, ``kilted``, ``lyrical`` or
            ``rolling``; ``None`` reads ``ROS_DISTRO`` (default ``jazzy``).

    Raises:
        ValueError: unknown distribution.
    """

    def __init__(self, distro: str | None = None) -> None:
        if distro is None:
            distro = os.environ.get("ROS_DISTRO", "").strip() or DEFAULT_DISTRO
        distro = distro.lower()
        if distro not in SUPPORTED_DISTROS:
            raise ValueError(
                f"ROS_DISTRO={distro!r} is not supported; use one of {sorted(SUPPORTED_DISTROS)}"
            )
        self.distro = distro
        self.typestore = get_typestore(SUPPORTED_DISTROS[distro])
        self._classes: dict[str, type] = {}
        self._defaults: dict[str, dict[str, Any]] = {k: dict(v) for k, v in _STORE_DEFAULTS.items()}
        self._lock = threading.RLock()

    @property
    def has_type_hashes(self) -> bool:
        """Whether endpoints of this distribution announce ``typehash=`` user data."""
        return self.distro not in _DISTROS_WITHOUT_TYPE_HASH

    def message_class(self, ros_type: str) -> type:
        """The generated class for ``ros_type`` (cached).

        Raises:
            UnknownMessageTypeError: the type (or a nested one) is unknown.
            TypeError: the type uses a field type with no ROS 2 CDR mapping here (wstring).
        """
        ros_type = _normalize_ros_type(ros_type)
        cls = self._classes.get(ros_type)
        if cls is None:
            with self._lock:
                cls = self._classes.get(ros_type)
                if cls is None:
                    cls = self._build(ros_type)
                    self._classes[ros_type] = cls
        return cls

    def type_hash(self, ros_type: str) -> str:
        """RIHS01 hash of the type's definition in this distribution (computed on Humble too)."""
        ros_type = _normalize_ros_type(ros_type)
        self._require(ros_type)
        return rihs01(self.typestore, _store_name(ros_type))

    def register_msg_text(self, typename: str, msg_text: str) -> type:
        """Add a type from its ``.msg`` text and return its class.

        ``msg_text`` may append its dependencies in the concatenated ``ros2msg``
        form (``====...`` lines and ``MSG: pkg/Type`` headers); otherwise they must
        be known already. Re-registering an identical definition is a no-op.

        Raises:
            ValueError: the text does not parse, or it differs from a definition
                already known under the same name.
        """
        typename = _normalize_ros_type(typename)
        try:
            parsed = MSGParser(f"MSG: {_store_name(typename)}\n{msg_text}").specification()
        except TypesysError as exc:
            raise ValueError(f"cannot parse the .msg text of {typename}: {exc}") from exc
        with self._lock:
            new = {m.name for m in parsed} - set(self.typestore.fielddefs)
            try:
                self.typestore.register(make_typesdict(parsed))
            except TypesysError as exc:
                raise ValueError(str(exc)) from exc
            for message in parsed:
                if message.name in new:
                    defaults = {f.name: f.value for f in message.fields if f.value is not None}
                    if defaults:
                        self._defaults[message.name] = defaults
        return self.message_class(typename)

    def _require(self, ros_type: str) -> None:
        if _store_name(ros_type) not in self.typestore.fielddefs and ros_type.split("/")[1] == "srv":
            self._register_service_half(ros_type)
        if _store_name(ros_type) not in self.typestore.fielddefs:
            raise UnknownMessageTypeError(
                f"{ros_type} is not in the rosbags store for ROS_DISTRO={self.distro}; "
                "register its .msg text with register_msg_text()"
            )

    def _field_spec(self, ros_name: str, desc: Any) -> FieldSpec:
        name = f"{ros_name}_" if keyword.iskeyword(ros_name) else ros_name
        cardinality, length = "scalar", 0
        if desc[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            cardinality = "array" if desc[0] == Nodetype.ARRAY else "sequence"
            desc, length = desc[1]
        if desc[0] == Nodetype.NAME:
            return FieldSpec(name, ros_name, None, desc[1], cardinality, length)
        base, bound = desc[1]
        return FieldSpec(name, ros_name, base, None, cardinality, length, bound if base == "string" else 0)

    def _element_type(self, spec: FieldSpec, owner: str) -> Any:
        if spec.msg_type is not None:
            return self.message_class(spec.msg_type)
        if spec.base in _INT_TYPES:
            return _INT_TYPES[spec.base]
        if spec.base in _FLOAT_TYPES:
            return _FLOAT_TYPES[spec.base]
        if spec.base == "bool":
            return bool
        if spec.base == "string":
            return idl.bounded_str[spec.string_bound] if spec.string_bound else str
        raise TypeError(f"{owner}.{spec.ros_name}: field type {spec.base!r} is not supported")

    def _register_service_half(self, ros_type: str) -> None:
        """Register ``pkg/srv/X_Request`` / ``_Response`` from :data:`mbrl_ros.ros.services.SRV_TEXTS`."""
        from mbrl_ros.ros.services import SRV_TEXTS, srv_halves

        base, _, half = ros_type.rpartition("_")
        if base in SRV_TEXTS and half in ("Request", "Response"):
            request, response = srv_halves(base)
            with self._lock:
                parsed = MSGParser(f"MSG: {_store_name(ros_type)}\n{request if half == 'Request' else response}")
                self.typestore.register(make_typesdict(parsed.specification()))

    def service_wire_class(self, ros_type: str) -> type:
        """The DDS sample type of a service half as rmw_cyclonedds sends it (cached).

        Same DDS type name as ``ros_type`` (``pkg::srv::dds_::X_Request_``) with two leading
        members, ``client_guid`` (uint64) and ``sequence_number`` (int64): the request header
        rmw_cyclonedds writes in front of the fields (``cdds_request_header_t``). Only the
        runtime's service code uses it; the wire class is what cyclonedds validates samples
        against, so the 16 bytes must be part of the type.

        Raises:
            UnknownMessageTypeError: the type is unknown.
        """
        ros_type = _normalize_ros_type(ros_type)
        key = ros_type + "#wire"
        cls = self._classes.get(key)
        if cls is None:
            with self._lock:
                cls = self._classes.get(key)
                if cls is None:
                    header = (
                        FieldSpec(SERVICE_GUID_FIELD, SERVICE_GUID_FIELD, "uint64", None, "scalar"),
                        FieldSpec(SERVICE_SEQUENCE_FIELD, SERVICE_SEQUENCE_FIELD, "int64", None, "scalar"),
                    )
                    cls = self._build(ros_type, header)
                    self._classes[key] = cls
        return cls

    def _build(self, ros_type: str, header: tuple[FieldSpec, ...] = ()) -> type:
        self._require(ros_type)
        constants, fields = self.typestore.fielddefs[_store_name(ros_type)]
        specs = [self._field_spec(n, d) for n, d in fields] or [
            FieldSpec(EMPTY_STRUCT_MEMBER, EMPTY_STRUCT_MEMBER, "uint8", None, "scalar")
        ]
        specs = [*header, *specs]
        overrides = self._defaults.get(ros_type, {})

        annotations: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        renamed: dict[str, dict[str, Any]] = {}
        for spec in specs:
            element = self._element_type(spec, ros_type)
            if spec.cardinality == "array":
                annotations[spec.name] = idl.array[element, spec.length]
            elif spec.cardinality == "sequence":
                bounded = 0 < spec.length <= _CYCLONE_MAX_SEQUENCE_BOUND
                annotations[spec.name] = idl.sequence[element, spec.length] if bounded else idl.sequence[element]
            else:
                annotations[spec.name] = element
            defaults[spec.name] = _default(spec, element, overrides.get(spec.ros_name))
            if spec.name != spec.ros_name:
                renamed[spec.name] = {"name": spec.ros_name}

        byte_scalars = frozenset(s.name for s in specs if s.base == "byte" and s.cardinality == "scalar")
        bytes_arrays = {s.name: s.length for s in specs if s.is_bytes and s.cardinality == "array"}
        bytes_sequences = {s.name: s.length for s in specs if s.is_bytes and s.cardinality == "sequence"}
        distro_hash = rihs01(self.typestore, _store_name(ros_type)) if self.has_type_hashes else None
        short = ros_type.rsplit("/", 1)[1]

        nested = {s.name: self.message_class(s.msg_type) for s in specs if s.msg_type is not None}
        body: dict[str, Any] = {
            "__module__": __name__,
            "__qualname__": short,
            "__doc__": f"ROS 2 message {ros_type} (generated from rosbags, ROS_DISTRO={self.distro}).",
            **defaults,
            **{cname: cvalue for cname, _ctype, cvalue in constants},
            "__ros_type__": ros_type,
            "__dds_type__": dds_type_name(ros_type),
            "__type_hash__": distro_hash,
            "__ros_fields__": tuple(specs),
            "__ros_nested__": nested,
            "__ros_distro__": self.distro,
        }
        if byte_scalars or bytes_arrays or bytes_sequences:
            body["__setattr__"] = _make_coercing_setattr(byte_scalars, bytes_arrays, bytes_sequences)

        # IdlMeta.__prepare__ pushes a namespace scope that IdlMeta.__new__ pops.
        namespace = IdlMeta.__prepare__(short, (IdlStruct, RosMessage), typename=dds_type_name(ros_type))
        try:
            namespace.update(body)
            namespace["__annotations__"].update(annotations)
            namespace["__idl_annotations__"]["extensibility"] = "final"
            namespace["__idl_field_annotations__"].update(renamed)
            cls = IdlMeta(short, (IdlStruct, RosMessage), namespace)
        except BaseException:
            if IDLNamespaceScope.current is namespace:
                IDLNamespaceScope.exit()
            raise
        cls = dataclasses.dataclass(cls)
        if bytes_sequences:
            _byte_sequences_as_blocks(cls, bytes_sequences)
        return cls


def _byte_sequences_as_blocks(cls: type, bounds: Mapping[str, int]) -> None:
    """Serialize ``cls``'s byte-sequence fields as one block of ``bytes`` (see ``FieldSpec.is_bytes``).

    cyclonedds reads a ``sequence<uint8>`` as a list of ints and writes one from ``*value``; its
    machine for a bytes field writes the same wire form (uint32 count + raw bytes) in one copy.
    The type's annotations stay ``sequence<uint8>``, so its XTypes type object is unchanged;
    only the field's (de)serializer is swapped. This uses cyclonedds internals (pinned to
    11.0.1): where they are not as expected, the field keeps cyclonedds' own machine, which is
    correct, only slower (it then reads a list; :func:`mbrl_ros.nodes.conversions.message_bytes`
    takes both).
    """
    from cyclonedds.idl._machinery import BytesMachine, PlainCdrV2SequenceOfPrimitiveMachine

    idl_info = cls.__idl__
    idl_info.populate()
    for machine in (idl_info.v1_machine, idl_info.v2_machine):
        members = getattr(machine, "members_machines", None)
        if not isinstance(members, dict):
            continue
        for name, bound in bounds.items():
            if isinstance(members.get(name), PlainCdrV2SequenceOfPrimitiveMachine) and members[name].size == 1:
                members[name] = BytesMachine(bound or None)


def _zero(spec: FieldSpec) -> Any:
    if spec.base == "bool":
        return False
    if spec.base in _FLOAT_TYPES:
        return 0.0
    if spec.base == "string":
        return ""
    return 0


def _scalar(spec: FieldSpec, value: Any) -> Any:
    if spec.base in _FLOAT_TYPES:
        return float(value)
    if spec.base == "bool":
        return bool(value)
    if spec.base == "string":
        return str(value)
    return int(value)


def _default(spec: FieldSpec, element: Any, override: Any) -> Any:
    """A dataclass default: a plain value for immutable scalars, else a ``field(default_factory=...)``."""
    if spec.cardinality == "scalar":
        if spec.msg_type is not None:
            return dataclasses.field(default_factory=element)
        return _scalar(spec, override) if override is not None else _zero(spec)
    if spec.is_bytes:
        initial = bytes(override) if override is not None else bytes(spec.length if spec.cardinality == "array" else 0)
        return dataclasses.field(default_factory=lambda: initial)
    if spec.msg_type is not None:
        count = spec.length if spec.cardinality == "array" else 0
        return dataclasses.field(default_factory=lambda: [element() for _ in range(count)])
    if override is not None:
        initial = [_scalar(spec, v) for v in override]
    else:
        initial = [_zero(spec)] * (spec.length if spec.cardinality == "array" else 0)
    return dataclasses.field(default_factory=lambda: list(initial))


_default_registry: MessageRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> MessageRegistry:
    """The process-wide registry for ``ROS_DISTRO`` (created on first use)."""
    global _default_registry
    if _default_registry is None:
        with _default_lock:
            if _default_registry is None:
                _default_registry = MessageRegistry()
    return _default_registry


# ---------------------------------------------------------------------------------------------
# Public API on the default registry


def message_class(ros_type: str) -> type:
    """The generated class for e.g. ``"std_msgs/msg/String"`` (cached).

    Instances take rclpy-style keyword arguments and default every field to its
    zero value (nested messages default-constructed, sequences empty).
    """
    return default_registry().message_class(ros_type)


def register_msg_text(typename: str, msg_text: str) -> type:
    """Register a type from its ``.msg`` text (e.g. a px4_msgs type) and return its class."""
    return default_registry().register_msg_text(typename, msg_text)


def type_hash(ros_type: str) -> str:
    """RIHS01 hash of ``ros_type`` for the selected distribution (``RIHS01_<64 hex>``)."""
    return default_registry().type_hash(ros_type)


def endpoint_user_data(ros_type: str) -> bytes:
    """USER_DATA of a reader or writer of ``ros_type``: ``b"typehash=RIHS01_...;"`` (``b""`` on Humble)."""
    registry = default_registry()
    if not registry.has_type_hashes:
        return b""
    return typehash_user_data(registry.type_hash(ros_type))


def participant_user_data(enclave: str = "/") -> bytes:
    """USER_DATA of a participant: ``b"enclave=/;"`` (all distributions)."""
    return enclave_user_data(enclave)


def _class_of(ros_type_or_class: str | type) -> type:
    if isinstance(ros_type_or_class, str):
        return message_class(ros_type_or_class)
    if isinstance(ros_type_or_class, type) and issubclass(ros_type_or_class, RosMessage):
        return ros_type_or_class
    raise TypeError(f"expected a ROS type name or a generated message class, got {ros_type_or_class!r}")


def serialize(msg: RosMessage) -> bytes:
    """CDR bytes of ``msg`` as a ROS 2 node sends them: ``00 01 00 00`` then little-endian XCDR1.

    Raises:
        TypeError: ``msg`` is not a generated message.
        MessageEncodeError: a field holds a value that does not fit its type.
    """
    if not isinstance(msg, RosMessage):
        raise TypeError(f"expected a generated ROS message, got {type(msg).__name__}")
    try:
        return msg.__idl__.serialize(msg, use_version_2=False, endianness=Endianness.Little)
    except Exception as exc:  # cyclonedds raises bare Exception, struct.error, AssertionError
        raise MessageEncodeError(f"cannot serialize {msg.__ros_type__}: {_chain(exc)}") from exc


def deserialize(ros_type_or_class: str | type, data: bytes | bytearray | memoryview) -> Any:
    """Decode CDR bytes (with the 4-byte encapsulation header) into a message.

    Accepts classic CDR in either byte order (what ROS 2 sends) and plain XCDR2.

    Raises:
        MessageDecodeError: unknown encapsulation, or the payload is short or malformed.
    """
    cls = _class_of(ros_type_or_class)
    data = bytes(data)
    if len(data) < 4 or data[0] != 0 or data[1] not in (0, 1, 6, 7):
        raise MessageDecodeError(
            f"{cls.__ros_type__}: payload does not start with a CDR encapsulation header "
            f"(got {data[:4].hex(' ') or 'nothing'})"
        )
    try:
        return cls.__idl__.deserialize(data, has_header=True)
    except Exception as exc:  # struct.error, IndexError, UnicodeDecodeError, ... from cyclonedds
        raise MessageDecodeError(f"cannot decode {cls.__ros_type__} from {len(data)} bytes: {exc!r}") from exc


def _chain(exc: BaseException, limit: int = 200) -> str:
    """Messages of an exception and its causes; cyclonedds puts whole field values in them."""
    parts = []
    while exc is not None:
        text = str(exc) or type(exc).__name__
        parts.append(text if len(text) <= limit else text[:limit] + "...")
        exc = exc.__cause__
    return ": ".join(parts)


# ---------------------------------------------------------------------------------------------
# Conversions


def to_dict(msg: RosMessage) -> dict[str, Any]:
    """Plain ``dict``/``list``/scalar tree of ``msg`` (fixed byte arrays as lists of ints)."""
    out: dict[str, Any] = {}
    for spec in msg.__ros_fields__:
        if spec.name == EMPTY_STRUCT_MEMBER:
            continue
        value = getattr(msg, spec.name)
        if spec.msg_type is not None:
            value = to_dict(value) if spec.cardinality == "scalar" else [to_dict(v) for v in value]
        elif spec.cardinality != "scalar":
            value = [v.item() if isinstance(v, np.generic) else v for v in value]
        elif isinstance(value, np.generic):
            value = value.item()
        out[spec.name] = value
    return out


def from_dict(ros_type_or_class: str | type, values: Mapping[str, Any]) -> Any:
    """Build a message from a (possibly partial) :func:`to_dict`-style mapping.

    Raises:
        ValueError: a key is not a field of the type.
    """
    cls = _class_of(ros_type_or_class)
    specs = {s.name: s for s in cls.__ros_fields__}
    kwargs = {}
    for key, value in values.items():
        spec = specs.get(key)
        if spec is None:
            raise ValueError(f"{cls.__ros_type__} has no field {key!r}; fields: {sorted(specs)}")
        if spec.msg_type is not None:
            sub = cls.__ros_nested__[key]
            value = from_dict(sub, value) if spec.cardinality == "scalar" else [from_dict(sub, v) for v in value]
        kwargs[key] = value
    return cls(**kwargs)


def to_rosbags(msg: RosMessage, typestore: Any | None = None) -> Any:
    """The equivalent rosbags message object (for ``typestore.serialize_cdr`` or bag writing).

    Args:
        msg: A generated message.
        typestore: rosbags store to build from; default: the default registry's.
    """
    store = typestore if typestore is not None else default_registry().typestore
    kwargs = {}
    for spec in msg.__ros_fields__:
        value = getattr(msg, spec.name)
        if spec.msg_type is not None:
            value = (
                to_rosbags(value, store)
                if spec.cardinality == "scalar"
                else [to_rosbags(v, store) for v in value]
            )
        elif spec.cardinality == "scalar":
            if spec.base == "byte":
                value = value - 256 if value > 127 else value  # rosbags packs byte signed
        elif spec.base != "string":
            if spec.base == "byte":
                value = np.frombuffer(bytes(value), dtype=np.uint8).view(np.int8).copy()
            elif spec.is_bytes:
                value = np.frombuffer(bytes(value), dtype=np.uint8).copy()
            else:
                value = np.asarray(value, dtype=_ROSBAGS_DTYPES.get(spec.base, spec.base))
        else:
            value = list(value)
        kwargs[spec.name] = value
    return store.types[msg.__ros_type__](**kwargs)


def from_rosbags(obj: Any, registry: MessageRegistry | None = None) -> Any:
    """A generated message from a rosbags message object of the same type.

    Args:
        obj: rosbags message (has ``__msgtype__``).
        registry: Registry whose classes to build; default: :func:`default_registry`.
    """
    registry = registry if registry is not None else default_registry()
    cls = registry.message_class(obj.__msgtype__)
    kwargs = {}
    for spec in cls.__ros_fields__:
        value = getattr(obj, spec.name)
        if spec.msg_type is not None:
            value = (
                from_rosbags(value, registry)
                if spec.cardinality == "scalar"
                else [from_rosbags(v, registry) for v in value]
            )
        elif spec.cardinality == "scalar":
            value = value & 0xFF if spec.base == "byte" else value
        elif spec.is_bytes:
            value = np.asarray(value).astype(np.uint8).tobytes()
        elif spec.base == "byte":
            value = [int(v) & 0xFF for v in value]
        elif spec.base != "string":
            value = np.asarray(value).tolist()
        else:
            value = list(value)
        kwargs[spec.name] = value
    return cls(**kwargs)
