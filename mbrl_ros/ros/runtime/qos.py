"""QoS profiles with rclpy's names, and their mapping onto Cyclone DDS policies.

The mapping follows rmw_cyclonedds (``create_readwrite_qos``): reliable writers block
without limit when a KEEP_ALL history is full, writers never autodispose, the data
representation is XCDR1 only, and durations left at 0 (unspecified) keep the DDS
default (infinite). ``SYSTEM_DEFAULT`` leaves a policy to Cyclone's default (writer
reliable, reader best effort, volatile, keep-last 1), as rmw_cyclonedds does.

Presets:
    qos_profile_default        reliable, volatile, keep-last 10 (what a plain depth gives)
    qos_profile_sensor_data    best effort, volatile, keep-last 5
    qos_profile_system_default every policy SYSTEM_DEFAULT (rclpy's meaning of the name)
    qos_profile_latched        reliable, transient-local, keep-last 1 (not in rclpy: a late
                               subscriber gets the newest sample; subscribe with the same profile)
"""
from __future__ import annotations

from enum import Enum, IntEnum
from typing import Any

from cyclonedds.core import Policy, Qos
from cyclonedds.util import duration as dds_duration

from mbrl_ros.ros.runtime.duration import Duration


class HistoryPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2
    UNKNOWN = 3


class ReliabilityPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2
    UNKNOWN = 3
    BEST_AVAILABLE = 4


class DurabilityPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    TRANSIENT_LOCAL = 1
    VOLATILE = 2
    UNKNOWN = 3
    BEST_AVAILABLE = 4


class LivelinessPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    AUTOMATIC = 1
    MANUAL_BY_TOPIC = 3
    UNKNOWN = 4
    BEST_AVAILABLE = 5


# rclpy's older names.
QoSHistoryPolicy = HistoryPolicy
QoSReliabilityPolicy = ReliabilityPolicy
QoSDurabilityPolicy = DurabilityPolicy
QoSLivelinessPolicy = LivelinessPolicy


class QoSProfile:
    """A ROS QoS profile; a history (or a depth, which implies KEEP_LAST) is required.

    Args:
        history: :class:`HistoryPolicy`.
        depth: Queue depth for KEEP_LAST.
        reliability: :class:`ReliabilityPolicy` (default RELIABLE).
        durability: :class:`DurabilityPolicy` (default VOLATILE).
        lifespan, deadline, liveliness_lease_duration: :class:`Duration`, 0 = unspecified.
        liveliness: :class:`LivelinessPolicy` (default SYSTEM_DEFAULT).
        avoid_ros_namespace_conventions: Use the topic name as the DDS name (no ``rt`` prefix).

    Raises:
        TypeError: neither ``history`` nor ``depth`` was given, or an unknown keyword.
    """

    __slots__ = (
        "history", "depth", "reliability", "durability", "lifespan", "deadline",
        "liveliness", "liveliness_lease_duration", "avoid_ros_namespace_conventions",
    )

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(self.__slots__)
        if unknown:
            raise TypeError(f"Invalid arguments passed to constructor: {', '.join(sorted(unknown))}")
        if "history" not in kwargs and "depth" not in kwargs:
            raise TypeError("A QoSProfile history or depth setting is required.")
        history = kwargs.get("history", HistoryPolicy.KEEP_LAST)
        self.history = HistoryPolicy(history)
        self.depth = int(kwargs.get("depth", 10))
        if self.depth < 0:
            raise ValueError("history depth must be >= 0")
        self.reliability = ReliabilityPolicy(kwargs.get("reliability", ReliabilityPolicy.RELIABLE))
        self.durability = DurabilityPolicy(kwargs.get("durability", DurabilityPolicy.VOLATILE))
        self.lifespan = _as_duration(kwargs.get("lifespan", Duration()))
        self.deadline = _as_duration(kwargs.get("deadline", Duration()))
        self.liveliness = LivelinessPolicy(kwargs.get("liveliness", LivelinessPolicy.SYSTEM_DEFAULT))
        self.liveliness_lease_duration = _as_duration(kwargs.get("liveliness_lease_duration", Duration()))
        self.avoid_ros_namespace_conventions = bool(kwargs.get("avoid_ros_namespace_conventions", False))

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QoSProfile):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"QoSProfile(history={self.history.name}, depth={self.depth}, reliability={self.reliability.name}, "
            f"durability={self.durability.name})"
        )


def _as_duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if hasattr(value, "nanoseconds"):
        return Duration(nanoseconds=value.nanoseconds)
    raise TypeError(f"expected a Duration, got {value!r}")


qos_profile_default = QoSProfile(depth=10)
qos_profile_sensor_data = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
qos_profile_system_default = QoSProfile(
    history=HistoryPolicy.SYSTEM_DEFAULT,
    depth=0,
    reliability=ReliabilityPolicy.SYSTEM_DEFAULT,
    durability=DurabilityPolicy.SYSTEM_DEFAULT,
)
qos_profile_services_default = QoSProfile(depth=10)
qos_profile_parameters = QoSProfile(depth=1000)
qos_profile_parameter_events = QoSProfile(depth=1000)
qos_profile_best_available = QoSProfile(
    depth=10, reliability=ReliabilityPolicy.BEST_AVAILABLE, durability=DurabilityPolicy.BEST_AVAILABLE
)
qos_profile_latched = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class QoSPresetProfiles(Enum):
    SYSTEM_DEFAULT = qos_profile_system_default
    DEFAULT = qos_profile_default
    SENSOR_DATA = qos_profile_sensor_data
    SERVICES_DEFAULT = qos_profile_services_default
    PARAMETERS = qos_profile_parameters
    PARAMETER_EVENTS = qos_profile_parameter_events
    BEST_AVAILABLE = qos_profile_best_available


def to_dds_qos(profile: QoSProfile, *, writer: bool, user_data: bytes = b"") -> Qos:
    """Cyclone DDS QoS for a writer (``writer=True``) or a reader with ``profile``.

    ``BEST_AVAILABLE`` becomes what matches any peer: readers best effort + volatile,
    writers reliable + transient-local (rmw instead inspects the peers present at
    creation time).
    """
    policies: list[Any] = []
    reliability = profile.reliability
    if reliability == ReliabilityPolicy.BEST_AVAILABLE:
        reliability = ReliabilityPolicy.RELIABLE if writer else ReliabilityPolicy.BEST_EFFORT
    if reliability == ReliabilityPolicy.RELIABLE:
        policies.append(Policy.Reliability.Reliable(max_blocking_time=dds_duration(infinite=True)))
    elif reliability == ReliabilityPolicy.BEST_EFFORT:
        policies.append(Policy.Reliability.BestEffort)

    durability = profile.durability
    if durability == DurabilityPolicy.BEST_AVAILABLE:
        durability = DurabilityPolicy.TRANSIENT_LOCAL if writer else DurabilityPolicy.VOLATILE
    if durability == DurabilityPolicy.TRANSIENT_LOCAL:
        policies.append(Policy.Durability.TransientLocal)
    elif durability == DurabilityPolicy.VOLATILE:
        policies.append(Policy.Durability.Volatile)

    if profile.history == HistoryPolicy.KEEP_LAST:
        # rmw maps depth 0 to 1: a KEEP_LAST queue can't be empty.
        policies.append(Policy.History.KeepLast(depth=max(1, profile.depth)))
    elif profile.history == HistoryPolicy.KEEP_ALL:
        policies.append(Policy.History.KeepAll)

    if profile.deadline.nanoseconds > 0:
        policies.append(Policy.Deadline(deadline=profile.deadline.nanoseconds))
    if profile.lifespan.nanoseconds > 0 and writer:
        policies.append(Policy.Lifespan(lifespan=profile.lifespan.nanoseconds))
    lease = profile.liveliness_lease_duration.nanoseconds or dds_duration(infinite=True)
    if profile.liveliness == LivelinessPolicy.MANUAL_BY_TOPIC:
        policies.append(Policy.Liveliness.ManualByTopic(lease_duration=lease))
    elif profile.liveliness in (LivelinessPolicy.AUTOMATIC, LivelinessPolicy.BEST_AVAILABLE) or profile.liveliness_lease_duration.nanoseconds:
        policies.append(Policy.Liveliness.Automatic(lease_duration=lease))

    if writer:
        # ROS writers keep instances alive when deleted; cyclonedds-python's default disposes them.
        policies.append(Policy.WriterDataLifecycle(autodispose=False))
    # ROS readers accept XCDR1 only; pin it so no writer ever picks XCDR2.
    policies.append(Policy.DataRepresentation(use_cdrv0_representation=True))
    if user_data:
        policies.append(Policy.Userdata(data=user_data))
    return Qos(*policies)
