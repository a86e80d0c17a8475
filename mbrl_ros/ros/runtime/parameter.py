"""Parameters: ``Parameter`` (rclpy.parameter) and the rcl_interfaces message shapes nodes use.

``ParameterDescriptor``, ``IntegerRange``, ``FloatingPointRange``, ``SetParametersResult``
and ``ParameterType`` carry the field names of their ``rcl_interfaces/msg`` namesakes, so
``ParameterDescriptor(description=..., floating_point_range=[FloatingPointRange(...)])``
is written the same way on both runtimes.
"""
from __future__ import annotations

import array
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

PARAMETER_SEPARATOR_STRING = "."


class ParameterType:
    """Type constants of ``rcl_interfaces/msg/ParameterType``."""

    PARAMETER_NOT_SET = 0
    PARAMETER_BOOL = 1
    PARAMETER_INTEGER = 2
    PARAMETER_DOUBLE = 3
    PARAMETER_STRING = 4
    PARAMETER_BYTE_ARRAY = 5
    PARAMETER_BOOL_ARRAY = 6
    PARAMETER_INTEGER_ARRAY = 7
    PARAMETER_DOUBLE_ARRAY = 8
    PARAMETER_STRING_ARRAY = 9


@dataclass
class FloatingPointRange:
    """Inclusive range (``step`` 0 means continuous)."""

    from_value: float = 0.0
    to_value: float = 0.0
    step: float = 0.0


@dataclass
class IntegerRange:
    """Inclusive range (``step`` 0 means any integer)."""

    from_value: int = 0
    to_value: int = 0
    step: int = 0


@dataclass
class ParameterDescriptor:
    """What a parameter is and which values it accepts (``rcl_interfaces/msg/ParameterDescriptor``)."""

    name: str = ""
    type: int = ParameterType.PARAMETER_NOT_SET
    description: str = ""
    additional_constraints: str = ""
    read_only: bool = False
    dynamic_typing: bool = False
    floating_point_range: list[FloatingPointRange] = field(default_factory=list)
    integer_range: list[IntegerRange] = field(default_factory=list)


@dataclass
class SetParametersResult:
    successful: bool = False
    reason: str = ""


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple, array.array))


class Parameter:
    """A named, typed value.

    Args:
        name: Dotted parameter name.
        type_: A :class:`Parameter.Type`; inferred from ``value`` when ``None``.
        value: The value (``None`` for NOT_SET).

    Raises:
        ValueError: ``value`` does not have type ``type_``.
        TypeError: ``value`` has no ROS parameter type.
    """

    class Type(Enum):
        NOT_SET = ParameterType.PARAMETER_NOT_SET
        BOOL = ParameterType.PARAMETER_BOOL
        INTEGER = ParameterType.PARAMETER_INTEGER
        DOUBLE = ParameterType.PARAMETER_DOUBLE
        STRING = ParameterType.PARAMETER_STRING
        BYTE_ARRAY = ParameterType.PARAMETER_BYTE_ARRAY
        BOOL_ARRAY = ParameterType.PARAMETER_BOOL_ARRAY
        INTEGER_ARRAY = ParameterType.PARAMETER_INTEGER_ARRAY
        DOUBLE_ARRAY = ParameterType.PARAMETER_DOUBLE_ARRAY
        STRING_ARRAY = ParameterType.PARAMETER_STRING_ARRAY

        @classmethod
        def from_parameter_value(cls, parameter_value: Any) -> "Parameter.Type":
            """rclpy's inference: bool before int, and an empty list is a BYTE_ARRAY."""
            if parameter_value is None:
                return cls.NOT_SET
            if isinstance(parameter_value, bool):
                return cls.BOOL
            if isinstance(parameter_value, int):
                return cls.INTEGER
            if isinstance(parameter_value, float):
                return cls.DOUBLE
            if isinstance(parameter_value, str):
                return cls.STRING
            if _is_sequence(parameter_value):
                if all(isinstance(v, bytes) for v in parameter_value):
                    return cls.BYTE_ARRAY
                if all(isinstance(v, bool) for v in parameter_value):
                    return cls.BOOL_ARRAY
                if all(isinstance(v, int) and not isinstance(v, bool) for v in parameter_value):
                    return cls.INTEGER_ARRAY
                if all(isinstance(v, float) for v in parameter_value):
                    return cls.DOUBLE_ARRAY
                if all(isinstance(v, str) for v in parameter_value):
                    return cls.STRING_ARRAY
                raise TypeError(
                    f"The given value is not a list of one type (bool, int, float, str, bytes): {parameter_value!r}"
                )
            raise TypeError(f"The given value is not one of the allowed types '{type(parameter_value).__name__}'.")

        def check(self, parameter_value: Any) -> bool:
            Type = Parameter.Type
            if self == Type.NOT_SET:
                return parameter_value is None
            if self == Type.BOOL:
                return isinstance(parameter_value, bool)
            if self == Type.INTEGER:
                return isinstance(parameter_value, int) and not isinstance(parameter_value, bool)
            if self == Type.DOUBLE:
                return isinstance(parameter_value, float)
            if self == Type.STRING:
                return isinstance(parameter_value, str)
            if not _is_sequence(parameter_value):
                return False
            element = {
                Type.BYTE_ARRAY: bytes,
                Type.BOOL_ARRAY: bool,
                Type.INTEGER_ARRAY: int,
                Type.DOUBLE_ARRAY: float,
                Type.STRING_ARRAY: str,
            }[self]
            if element is int:
                return all(isinstance(v, int) and not isinstance(v, bool) for v in parameter_value)
            return all(isinstance(v, element) for v in parameter_value)

    def __init__(self, name: str, type_: "Parameter.Type | None" = None, value: Any = None) -> None:
        if type_ is None:
            type_ = Parameter.Type.from_parameter_value(value)
        if not isinstance(type_, Parameter.Type):
            raise TypeError("type_ must be an instance of Parameter.Type")
        if not type_.check(value):
            raise ValueError(f"Type {type_} and value {value!r} do not agree")
        self._name = name
        self._type_ = type_
        self._value = value

    @property
    def name(self) -> str:
        return self._name

    @property
    def type_(self) -> "Parameter.Type":
        return self._type_

    @property
    def value(self) -> Any:
        return self._value

    def __repr__(self) -> str:
        return f"Parameter(name={self._name!r}, type_={self._type_}, value={self._value!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Parameter):
            return NotImplemented
        return (self._name, self._type_, self._value) == (other._name, other._type_, other._value)

    __hash__ = None  # type: ignore[assignment]
