"""A node's parameter services, as rclpy's ``ParameterService`` serves them (what ``ros2 param`` calls).

``~/get_parameters``, ``~/get_parameter_types``, ``~/set_parameters``,
``~/set_parameters_atomically``, ``~/list_parameters`` and ``~/describe_parameters``, with
rcl_interfaces types and rclpy's answers: an undeclared name makes get/describe return an
empty list, a set that a node refuses (type, range, read-only, a node's own check) comes back
with ``successful=false`` and the reason.
"""
from __future__ import annotations

from typing import Any

from mbrl_ros.ros.runtime.exceptions import ParameterNotDeclaredException, ParameterUninitializedException
from mbrl_ros.ros.runtime.parameter import (
    PARAMETER_SEPARATOR_STRING,
    FloatingPointRange,
    IntegerRange,
    Parameter,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from mbrl_ros.ros.runtime.qos import QoSProfile

#: rclpy's ``qos_profile_parameters``: reliable, volatile, keep-last 1000.
qos_profile_parameters = QoSProfile(depth=1000)

SERVICES = {
    "get_parameters": "rcl_interfaces/srv/GetParameters",
    "get_parameter_types": "rcl_interfaces/srv/GetParameterTypes",
    "set_parameters": "rcl_interfaces/srv/SetParameters",
    "set_parameters_atomically": "rcl_interfaces/srv/SetParametersAtomically",
    "list_parameters": "rcl_interfaces/srv/ListParameters",
    "describe_parameters": "rcl_interfaces/srv/DescribeParameters",
}

_VALUE_FIELDS = {
    ParameterType.PARAMETER_BOOL: "bool_value",
    ParameterType.PARAMETER_INTEGER: "integer_value",
    ParameterType.PARAMETER_DOUBLE: "double_value",
    ParameterType.PARAMETER_STRING: "string_value",
    ParameterType.PARAMETER_BYTE_ARRAY: "byte_array_value",
    ParameterType.PARAMETER_BOOL_ARRAY: "bool_array_value",
    ParameterType.PARAMETER_INTEGER_ARRAY: "integer_array_value",
    ParameterType.PARAMETER_DOUBLE_ARRAY: "double_array_value",
    ParameterType.PARAMETER_STRING_ARRAY: "string_array_value",
}


def _msg(ros_type: str) -> type:
    from mbrl_ros.ros.messages import message_class

    return message_class(ros_type)


def to_parameter_value_msg(parameter: Parameter) -> Any:
    """``rcl_interfaces/msg/ParameterValue`` of ``parameter``."""
    value_msg = _msg("rcl_interfaces/msg/ParameterValue")(type=parameter.type_.value)
    field = _VALUE_FIELDS.get(parameter.type_.value)
    if field is None:
        return value_msg
    value = parameter.value
    if parameter.type_ == Parameter.Type.BYTE_ARRAY:
        value = b"".join(value)
    elif parameter.type_.value >= ParameterType.PARAMETER_BOOL_ARRAY:
        value = list(value)
    setattr(value_msg, field, value)
    return value_msg


def from_parameter_value_msg(value_msg: Any) -> Any:
    """The Python value in a ``ParameterValue`` (None for NOT_SET).

    Raises:
        ValueError: an unknown type number.
    """
    if value_msg.type == ParameterType.PARAMETER_NOT_SET:
        return None
    field = _VALUE_FIELDS.get(value_msg.type)
    if field is None:
        raise ValueError(f"unknown parameter type {value_msg.type}")
    value = getattr(value_msg, field)
    if value_msg.type == ParameterType.PARAMETER_BYTE_ARRAY:
        return [bytes([b]) for b in value]
    if value_msg.type >= ParameterType.PARAMETER_BOOL_ARRAY:
        return list(value)
    return value


def to_parameter_msg(parameter: Parameter) -> Any:
    return _msg("rcl_interfaces/msg/Parameter")(name=parameter.name, value=to_parameter_value_msg(parameter))


def from_parameter_msg(parameter_msg: Any) -> Parameter:
    """A :class:`Parameter` from ``rcl_interfaces/msg/Parameter``.

    Raises:
        ValueError: an unknown type number.
    """
    value = from_parameter_value_msg(parameter_msg.value)
    return Parameter(parameter_msg.name, Parameter.Type(parameter_msg.value.type), value)


def to_descriptor_msg(descriptor: ParameterDescriptor) -> Any:
    msg = _msg("rcl_interfaces/msg/ParameterDescriptor")(
        name=descriptor.name, type=int(descriptor.type), description=descriptor.description,
        additional_constraints=descriptor.additional_constraints, read_only=descriptor.read_only,
        dynamic_typing=descriptor.dynamic_typing,
    )
    msg.floating_point_range = [
        _msg("rcl_interfaces/msg/FloatingPointRange")(from_value=r.from_value, to_value=r.to_value, step=r.step)
        for r in descriptor.floating_point_range
    ]
    msg.integer_range = [
        _msg("rcl_interfaces/msg/IntegerRange")(from_value=r.from_value, to_value=r.to_value, step=r.step)
        for r in descriptor.integer_range
    ]
    return msg


def from_descriptor_msg(msg: Any) -> ParameterDescriptor:
    return ParameterDescriptor(
        name=msg.name, type=msg.type, description=msg.description,
        additional_constraints=msg.additional_constraints, read_only=msg.read_only,
        dynamic_typing=msg.dynamic_typing,
        floating_point_range=[FloatingPointRange(r.from_value, r.to_value, r.step) for r in msg.floating_point_range],
        integer_range=[IntegerRange(r.from_value, r.to_value, r.step) for r in msg.integer_range],
    )


def _result_msg(result: SetParametersResult) -> Any:
    return _msg("rcl_interfaces/msg/SetParametersResult")(successful=bool(result.successful), reason=result.reason)


class ParameterService:
    """The six parameter services of ``node`` (created by ``Node`` unless ``start_parameter_services=False``)."""

    def __init__(self, node: Any) -> None:
        from mbrl_ros.ros.services import service_type

        self._node = node
        handlers = {
            "get_parameters": self._get_parameters,
            "get_parameter_types": self._get_parameter_types,
            "set_parameters": self._set_parameters,
            "set_parameters_atomically": self._set_parameters_atomically,
            "list_parameters": self._list_parameters,
            "describe_parameters": self._describe_parameters,
        }
        self.services = [
            node.create_service(service_type(ros_type), f"~/{name}", handlers[name], qos_profile=qos_profile_parameters)
            for name, ros_type in SERVICES.items()
        ]

    def _get_parameters(self, request: Any, response: Any) -> Any:
        try:
            parameters = self._node.get_parameters(list(request.names))
        except (ParameterNotDeclaredException, ParameterUninitializedException):
            return response  # rclpy: an unknown name empties the answer
        response.values = [to_parameter_value_msg(p) for p in parameters]
        return response

    def _get_parameter_types(self, request: Any, response: Any) -> Any:
        try:
            parameters = self._node.get_parameters(list(request.names))
        except (ParameterNotDeclaredException, ParameterUninitializedException):
            return response
        response.types = [p.type_.value for p in parameters]
        return response

    def _decode(self, parameter_msg: Any) -> Parameter | SetParametersResult:
        try:
            return from_parameter_msg(parameter_msg)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=f"{parameter_msg.name}: {exc}")

    def _set_parameters(self, request: Any, response: Any) -> Any:
        results = []
        for parameter_msg in request.parameters:
            parameter = self._decode(parameter_msg)
            if isinstance(parameter, Parameter):
                try:
                    parameter = self._node.set_parameters_atomically([parameter])
                except ParameterNotDeclaredException as exc:
                    parameter = SetParametersResult(successful=False, reason=str(exc))
            results.append(_result_msg(parameter))
        response.results = results
        return response

    def _set_parameters_atomically(self, request: Any, response: Any) -> Any:
        parameters = [self._decode(p) for p in request.parameters]
        bad = [p for p in parameters if isinstance(p, SetParametersResult)]
        if bad:
            response.result = _result_msg(bad[0])
            return response
        try:
            result = self._node.set_parameters_atomically(parameters)
        except ParameterNotDeclaredException as exc:
            result = SetParametersResult(successful=False, reason=str(exc))
        response.result = _result_msg(result)
        return response

    def _list_parameters(self, request: Any, response: Any) -> Any:
        # rclpy parameter_service._list_parameters_callback, same rules and order.
        sep = PARAMETER_SEPARATOR_STRING
        names: list[str] = []
        prefixes: list[str] = []
        nested = []
        for name in list(self._node._parameters):
            if sep in name:
                nested.append(name)
            elif request.prefixes:
                names.extend(name for prefix in request.prefixes if name.startswith(prefix))
            else:
                names.append(name)
        if request.depth != 1:
            if request.depth != request.DEPTH_RECURSIVE:
                nested = [n for n in nested if n.count(sep) < request.depth]
            for name in nested:
                parent = sep.join(name.split(sep)[:-1])
                if request.prefixes:
                    for prefix in request.prefixes:
                        if name.startswith(prefix + sep):
                            names.append(name)
                            for p in (parent, prefix):
                                if p not in prefixes:
                                    prefixes.append(p)
                else:
                    if parent not in prefixes:
                        prefixes.append(parent)
                    names.append(name)
        response.result.names = names
        response.result.prefixes = prefixes
        return response

    def _describe_parameters(self, request: Any, response: Any) -> Any:
        try:
            descriptors = self._node.describe_parameters(list(request.names))
        except ParameterNotDeclaredException:
            return response
        response.descriptors = [to_descriptor_msg(d) for d in descriptors]
        return response
