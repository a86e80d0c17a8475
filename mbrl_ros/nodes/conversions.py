"""ROS messages <-> numpy arrays, with the validation every node applies to its inputs.

Inputs that fail validation raise :class:`InvalidMessageError` whose ``reason``
is a short key (``non_finite``, ``wrong_length``, ``unknown_joint``, ...) that
nodes count in their diagnostics. Builders return messages whose fields are
plain Python lists, as rclpy requires.

Command tags: a ``std_msgs/Float64MultiArray`` command may name the state it
answers in its layout, ``layout.dim[0].label = "actions;stamp_ns=<int>"``
(``stamp_ns`` is the answered state's header stamp in ns). ros2_control's
``forward_command_controller`` ignores the layout, so tagged commands stay
valid for real controllers; the lockstep ``sim_bridge`` and the
``model_learner`` use the tag to pair a command with its state exactly.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import numpy as np

from mbrl_ros.ros.compat import msg

NS_PER_S = 1_000_000_000
COMMAND_LABEL = "actions"
_TAG_KEY = "stamp_ns="


class InvalidMessageError(ValueError):
    """An input message was rejected; ``reason`` is a short key for counters."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


# -- time -----------------------------------------------------------------
def stamp_to_ns(stamp: Any) -> int:
    """``builtin_interfaces/Time`` -> integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Any:
    """Integer nanoseconds (>= 0) -> ``builtin_interfaces/Time``."""
    ns = int(ns)
    if ns < 0:
        raise ValueError(f"a ROS stamp cannot be negative, got {ns} ns")
    sec, nanosec = divmod(ns, NS_PER_S)
    return msg("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec)


def seconds_to_ns(seconds: float) -> int:
    return int(round(float(seconds) * NS_PER_S))


def clock_message(ns: int) -> Any:
    """``rosgraph_msgs/Clock`` at ``ns``."""
    return msg("rosgraph_msgs/msg/Clock")(clock=ns_to_stamp(ns))


# -- joint states -----------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class JointSample:
    """One validated joint measurement in a known joint order.

    Attributes:
        stamp_ns: header stamp in ns.
        names: joint names, in the order of the arrays.
        positions: ``(J,)`` rad or m.
        velocities: ``(J,)`` rad/s or m/s, or None if the message had none.
    """

    stamp_ns: int
    names: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray | None

    @property
    def stamp(self) -> float:
        """Stamp in seconds."""
        return self.stamp_ns / NS_PER_S


def _float_array(values: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidMessageError("malformed", f"{what} is not a list of numbers: {exc}") from None
    return array


def joint_state_to_sample(message: Any, joint_names: Sequence[str] | None = None, *,
                          allow_extra_joints: bool = False, require_velocity: bool = False) -> JointSample:
    """Validate a ``sensor_msgs/JointState`` and reorder it to ``joint_names``.

    Args:
        message: the JointState.
        joint_names: expected joints, in the order wanted; None keeps the message's order.
        allow_extra_joints: ignore joints the message has beyond ``joint_names`` (else reject).
        require_velocity: reject messages without velocities.
    Raises:
        InvalidMessageError: reasons ``missing_names``, ``duplicate_joint``, ``wrong_length``,
            ``unknown_joint``, ``missing_joint``, ``missing_velocity``, ``non_finite``, ``malformed``.
    """
    names = tuple(str(n) for n in message.name)
    positions = _float_array(message.position, "position")
    velocities = _float_array(message.velocity, "velocity")
    if not names:
        raise InvalidMessageError("missing_names", "JointState has no joint names")
    if len(set(names)) != len(names):
        raise InvalidMessageError("duplicate_joint", f"joint names repeat: {list(names)}")
    if positions.size != len(names):
        raise InvalidMessageError("wrong_length", f"{len(names)} names but {positions.size} positions")
    if velocities.size not in (0, len(names)):
        raise InvalidMessageError("wrong_length", f"{len(names)} names but {velocities.size} velocities")
    if velocities.size == 0:
        if require_velocity:
            raise InvalidMessageError("missing_velocity", "JointState has no velocities")
        velocities = None
    if joint_names is not None:
        wanted = tuple(joint_names)
        index = {n: i for i, n in enumerate(names)}
        missing = [n for n in wanted if n not in index]
        if missing:
            raise InvalidMessageError("missing_joint", f"joint(s) {missing} missing; message has {list(names)}")
        extra = [n for n in names if n not in set(wanted)]
        if extra and not allow_extra_joints:
            raise InvalidMessageError("unknown_joint", f"unknown joint(s) {extra}; expected {list(wanted)}")
        order = [index[n] for n in wanted]
        positions = positions[order]
        velocities = velocities[order] if velocities is not None else None
        names = wanted
    if not np.all(np.isfinite(positions)) or (velocities is not None and not np.all(np.isfinite(velocities))):
        raise InvalidMessageError("non_finite", "positions or velocities contain NaN or inf")
    return JointSample(stamp_ns=stamp_to_ns(message.header.stamp), names=names, positions=positions.copy(),
                       velocities=None if velocities is None else velocities.copy())


def joint_state_message(stamp_ns: int, names: Sequence[str], positions: Sequence[float],
                        velocities: Sequence[float] | None = None, efforts: Sequence[float] | None = None,
                        frame_id: str = "") -> Any:
    """A ``sensor_msgs/JointState`` (lists of floats)."""
    message = msg("sensor_msgs/msg/JointState")()
    message.header.stamp = ns_to_stamp(stamp_ns)
    message.header.frame_id = frame_id
    message.name = [str(n) for n in names]
    message.position = [float(v) for v in positions]
    message.velocity = [] if velocities is None else [float(v) for v in velocities]
    message.effort = [] if efforts is None else [float(v) for v in efforts]
    return message


# -- commands --------------------------------------------------------------
def command_message(action: Sequence[float], tag_ns: int | None = None) -> Any:
    """A ``std_msgs/Float64MultiArray`` command, optionally tagged with the answered state's stamp.

    Raises:
        ValueError: ``action`` contains NaN or inf (a node must never send one).
    """
    values = [float(v) for v in np.asarray(action, dtype=np.float64).reshape(-1)]
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"refusing to build a command with NaN or inf: {values}")
    message = msg("std_msgs/msg/Float64MultiArray")()
    label = COMMAND_LABEL if tag_ns is None else f"{COMMAND_LABEL};{_TAG_KEY}{int(tag_ns)}"
    dim = msg("std_msgs/msg/MultiArrayDimension")(label=label, size=len(values), stride=len(values))
    message.layout.dim = [dim]
    message.layout.data_offset = 0
    message.data = values
    return message


def command_tag(message: Any) -> int | None:
    """The ``stamp_ns`` tag of a command, or None if it has none."""
    for dim in message.layout.dim[:1]:
        for part in str(dim.label).split(";"):
            if part.startswith(_TAG_KEY):
                try:
                    return int(part[len(_TAG_KEY):])
                except ValueError:
                    return None
    return None


def command_to_action(message: Any, act_dim: int) -> tuple[np.ndarray, int | None]:
    """Validate a Float64MultiArray command: ``(action (A,), tag_ns or None)``.

    Raises:
        InvalidMessageError: ``wrong_length``, ``non_finite``, ``malformed``.
    """
    if int(message.layout.data_offset) != 0:
        raise InvalidMessageError("malformed", f"layout.data_offset {message.layout.data_offset} is not supported")
    action = _float_array(message.data, "command")
    if action.size != act_dim:
        raise InvalidMessageError("wrong_length", f"expected {act_dim} command values, got {action.size}")
    if not np.all(np.isfinite(action)):
        raise InvalidMessageError("non_finite", f"command contains NaN or inf: {action.tolist()}")
    return action, command_tag(message)


def float64_message(value: float) -> Any:
    return msg("std_msgs/msg/Float64")(data=float(value))


def int32_message(value: int) -> Any:
    return msg("std_msgs/msg/Int32")(data=int(value))


def float64_array_message(values: Sequence[float]) -> Any:
    message = msg("std_msgs/msg/Float64MultiArray")()
    message.data = [float(v) for v in values]
    return message


def float64_matrix_message(values: np.ndarray, labels: tuple[str, str] = ("rows", "columns")) -> Any:
    """``std_msgs/Float64MultiArray`` of a 2-D array, row-major, with its two layout dims."""
    values = np.asarray(values, dtype=np.float64)
    message = float64_array_message(values.ravel())
    message.layout.dim = [_array_dim(labels[0], values.shape[0], values.size),
                          _array_dim(labels[1], values.shape[1], values.shape[1])]
    return message


def _array_dim(label: str, size: int, stride: int) -> Any:
    dim = msg("std_msgs/msg/MultiArrayDimension")()
    dim.label, dim.size, dim.stride = str(label), int(size), int(stride)
    return dim


def labelled_values_message(values: Mapping[str, float]) -> Any:
    """``std_msgs/Float64MultiArray`` of named scalars: ``data[i]`` is the value whose name is
    ``layout.dim[i].label`` (each dim has size 1 and stride 1), e.g. a planner's cost terms."""
    message = float64_array_message(list(values.values()))
    message.layout.dim = [_array_dim(label, 1, 1) for label in values]
    return message


def labelled_values(message: Any) -> dict[str, float]:
    """The named scalars of :func:`labelled_values_message`."""
    labels = [dim.label for dim in message.layout.dim]
    if len(labels) != len(message.data):
        raise ValueError(f"expected one layout dim per value, got {len(labels)} for {len(message.data)} values")
    return {label: float(v) for label, v in zip(labels, message.data)}


def float64_matrix(message: Any) -> np.ndarray:
    """The 2-D array of :func:`float64_matrix_message` (its first two layout dims)."""
    dims = message.layout.dim
    if len(dims) < 2:
        raise ValueError(f"expected a 2-D layout, got {len(dims)} dim(s)")
    return np.asarray(message.data, dtype=np.float64).reshape(int(dims[0].size), int(dims[1].size))


# -- models ----------------------------------------------------------------
def bytes_message(data: bytes) -> Any:
    """A ``std_msgs/UInt8MultiArray`` carrying ``data``."""
    message = msg("std_msgs/msg/UInt8MultiArray")()
    message.data = bytes(data)
    return message


def message_bytes(message: Any) -> bytes:
    """The payload of a UInt8MultiArray as ``bytes`` (rclpy may give a list or an array)."""
    data = message.data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    return np.asarray(data, dtype=np.uint8).tobytes()


# -- planned trajectories --------------------------------------------------------
def path_message(stamp_ns: int, step_ns: int, points: np.ndarray, frame_id: str) -> Any:
    """``nav_msgs/Path`` through ``points`` (H, 3), pose ``h`` stamped ``stamp_ns + (h + 1) step_ns``."""
    pose_cls = msg("geometry_msgs/msg/PoseStamped")
    path = msg("nav_msgs/msg/Path")()
    path.header.stamp = ns_to_stamp(stamp_ns)
    path.header.frame_id = frame_id
    poses = []
    for h, point in enumerate(np.asarray(points, dtype=np.float64).reshape(-1, 3)):
        pose = pose_cls()
        pose.header.stamp = ns_to_stamp(stamp_ns + (h + 1) * step_ns)
        pose.header.frame_id = frame_id
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in point)
        pose.pose.orientation.w = 1.0
        poses.append(pose)
    path.poses = poses
    return path
