"""ROS 2 service types for the DDS runtime: ``Type.Request`` / ``Type.Response`` message classes.

rosbags' type stores hold messages only, so the service halves are registered here from
their ``.srv`` text (copied from ros2/rcl_interfaces and ros2/common_interfaces, Jazzy) as
the messages ``pkg/srv/Name_Request`` and ``pkg/srv/Name_Response``; their DDS type names
are ``pkg::srv::dds_::Name_Request_`` / ``..._Response_``, as rosidl generates them.

Example::

    Trigger = service_type("std_srvs/srv/Trigger")
    reply = Trigger.Response(success=True, message="done")
"""
from __future__ import annotations

import threading
from typing import Any

from mbrl_ros.ros import messages

__all__ = ["SRV_TEXTS", "ServiceType", "service_type", "srv_halves"]

#: ``.srv`` text of every service type the runtime serves or calls (request ``---`` response).
#: Relative type names are written out in full (``rcl_interfaces/ParameterValue``).
SRV_TEXTS: dict[str, str] = {
    "std_srvs/srv/Trigger": "---\nbool success\nstring message\n",
    "std_srvs/srv/Empty": "---\n",
    "std_srvs/srv/SetBool": "bool data\n---\nbool success\nstring message\n",
    "rcl_interfaces/srv/GetParameters": "string[] names\n---\nrcl_interfaces/ParameterValue[] values\n",
    "rcl_interfaces/srv/GetParameterTypes": "string[] names\n---\nuint8[] types\n",
    "rcl_interfaces/srv/SetParameters": (
        "rcl_interfaces/Parameter[] parameters\n---\nrcl_interfaces/SetParametersResult[] results\n"
    ),
    "rcl_interfaces/srv/SetParametersAtomically": (
        "rcl_interfaces/Parameter[] parameters\n---\nrcl_interfaces/SetParametersResult result\n"
    ),
    "rcl_interfaces/srv/ListParameters": (
        "uint64 DEPTH_RECURSIVE=0\nstring[] prefixes\nuint64 depth\n---\nrcl_interfaces/ListParametersResult result\n"
    ),
    "rcl_interfaces/srv/DescribeParameters": (
        "string[] names\n---\nrcl_interfaces/ParameterDescriptor[] descriptors\n"
    ),
}


def srv_halves(ros_type: str) -> tuple[str, str]:
    """The ``.msg`` texts of a service's request and response (split at the ``---`` line).

    Raises:
        KeyError: not one of :data:`SRV_TEXTS`.
    """
    text = SRV_TEXTS[ros_type]
    lines = text.splitlines()
    if "---" not in lines:
        raise ValueError(f"{ros_type}: .srv text without a '---' line")
    cut = lines.index("---")
    return "\n".join(lines[:cut]) + "\n", "\n".join(lines[cut + 1:]) + "\n"


class ServiceType:
    """A service type as rclpy's generated ones look: ``Request``, ``Response`` and names."""

    def __init__(self, ros_type: str, request: type, response: type) -> None:
        self.__ros_type__ = ros_type
        self.Request = request
        self.Response = response
        self.__name__ = ros_type.rsplit("/", 1)[1]

    def __repr__(self) -> str:
        return f"ServiceType({self.__ros_type__!r})"


_types: dict[tuple[int, str], ServiceType] = {}
_lock = threading.Lock()


def service_type(ros_type: str, registry: Any = None) -> ServiceType:
    """The service type ``pkg/srv/Name`` (its halves registered in ``registry`` on first use).

    Raises:
        UnknownMessageTypeError: not one of :data:`SRV_TEXTS`.
    """
    registry = registry or messages.default_registry()
    parts = ros_type.split("/")
    if len(parts) == 2:
        ros_type = f"{parts[0]}/srv/{parts[1]}"
    key = (id(registry), ros_type)
    with _lock:
        found = _types.get(key)
        if found is not None:
            return found
        if ros_type not in SRV_TEXTS:
            raise messages.UnknownMessageTypeError(
                f"service type {ros_type} is not known here; known: {', '.join(sorted(SRV_TEXTS))}"
            )
        request_text, response_text = srv_halves(ros_type)
        request = registry.register_msg_text(f"{ros_type}_Request", request_text)
        response = registry.register_msg_text(f"{ros_type}_Response", response_text)
        found = _types[key] = ServiceType(ros_type, request, response)
        return found
