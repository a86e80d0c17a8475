"""Crazyswarm2 interfaces: ``crazyflie_interfaces/msg/FullState`` and the per-drone topics.

``crazyflie_interfaces`` (IMRCLab/crazyswarm2) is not in rosbags' stores, so
its FullState definition is vendored and registered at import
(:func:`register`). FullState nests only standard types (std_msgs/Header,
geometry_msgs/Pose, Twist, Vector3). ``cmd_vel_legacy`` is a plain
geometry_msgs/Twist and needs nothing extra.

Source: ``crazyflie_interfaces/msg/FullState.msg`` of crazyflie_interfaces
1.0.3 (2025-07-09), as published on docs.ros.org for Humble and Jazzy
(https://docs.ros.org/en/humble/p/crazyflie_interfaces/msg/FullState.html);
the text has no comments, and rosidl-generated code of other builds
(``full_state__struct.h``) lists the same four members. The search index holds
no copy of the file in IMRCLab/crazyswarm2 itself, so no commit is recorded.

Frames: Crazyswarm2 works in the ROS world frame (``/world``, z up) and body
FLU, so no NED/FRD conversion applies.
"""
from __future__ import annotations

from mbrl_ros.ros import messages

__all__ = ["CRAZYFLIE_TOPICS", "FULL_STATE", "MSG_TEXTS", "SOURCE_URL", "crazyflie_topic", "register"]

FULL_STATE = """\
std_msgs/Header header
geometry_msgs/Pose pose
geometry_msgs/Twist twist
geometry_msgs/Vector3 acc
"""

#: ``.msg`` text of every vendored type, by ROS type name.
MSG_TEXTS: dict[str, str] = {"crazyflie_interfaces/msg/FullState": FULL_STATE}

SOURCE_URL = "https://docs.ros.org/en/humble/p/crazyflie_interfaces/msg/FullState.html"

#: Topic suffix under ``/<cf>/`` and type, per Crazyswarm2 topic.
CRAZYFLIE_TOPICS: dict[str, tuple[str, str]] = {
    "cmd_full_state": ("cmd_full_state", "crazyflie_interfaces/msg/FullState"),
    "cmd_vel_legacy": ("cmd_vel_legacy", "geometry_msgs/msg/Twist"),
    "pose": ("pose", "geometry_msgs/msg/PoseStamped"),
    "odom": ("odom", "nav_msgs/msg/Odometry"),
}


def register(registry: messages.MessageRegistry | None = None) -> dict[str, type]:
    """Register the vendored crazyflie_interfaces types; return the classes by type name.

    Args:
        registry: Registry to add to; default: :func:`messages.default_registry`.

    Raises:
        ValueError: a different definition is already registered under the name.
    """
    registry = registry if registry is not None else messages.default_registry()
    return {name: registry.register_msg_text(name, text) for name, text in MSG_TEXTS.items()}


def crazyflie_topic(cf_name: str, key: str) -> str:
    """Full topic of one drone's Crazyswarm2 topic: ``("cf231", "cmd_full_state")`` -> ``/cf231/cmd_full_state``.

    Raises:
        KeyError: unknown ``key``.
        ValueError: empty drone name.
    """
    if key not in CRAZYFLIE_TOPICS:
        raise KeyError(f"unknown Crazyswarm2 topic {key!r}; known: {sorted(CRAZYFLIE_TOPICS)}")
    name = cf_name.strip("/")
    if not name:
        raise ValueError("cf_name is empty; pass the drone's name from crazyflies.yaml, e.g. 'cf231'")
    return f"/{name}/{CRAZYFLIE_TOPICS[key][0]}"


register()
