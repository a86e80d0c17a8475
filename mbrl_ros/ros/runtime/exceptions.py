"""Exceptions of the runtime, named and shaped like rclpy's so ``except`` clauses port as is."""
from __future__ import annotations

from typing import Any, Sequence


class NotInitializedException(RuntimeError):
    """An operation needs ``init()`` to have been called on the context (rclpy.exceptions)."""

    def __init__(self, *args: Any) -> None:
        super().__init__("rclpy.init() has not been called", *args)


class ExternalShutdownException(Exception):
    """The context was shut down (e.g. SIGTERM, ``shutdown()`` from another thread) while spinning."""


class ShutdownException(Exception):
    """The executor itself was shut down while waiting (caught inside ``spin_once``)."""


class RCLError(RuntimeError):
    """An operation on an entity whose context or node is gone (rclpy's ``_rclpy.RCLError``)."""


class InvalidHandle(RCLError):
    """The entity was destroyed already."""


class UnknownROSArgsError(ValueError):
    """``--ros-args`` contained a flag that is not a ROS argument."""

    def __init__(self, unknown_args: Sequence[str]) -> None:
        self.unknown_args = list(unknown_args)
        super().__init__(f"Found unknown ROS arguments: {self.unknown_args}")


class InvalidROSArgsError(ValueError):
    """A ROS argument is malformed (bad remap rule, parameter value, params file, log level)."""


class NameValidationException(ValueError):
    """Base of the name validation errors; the message points at the offending character."""

    def __init__(self, name_type: str, name: str, error_msg: str, invalid_index: int) -> None:
        self.name = name
        self.invalid_index = invalid_index
        pointer = " " * invalid_index + "^"
        super().__init__(f"Invalid {name_type}: {error_msg}:\n  '{name}'\n   {pointer}")


class InvalidNodeNameException(NameValidationException):
    def __init__(self, name: str, error_msg: str, invalid_index: int) -> None:
        super().__init__("node name", name, error_msg, invalid_index)


class InvalidNamespaceException(NameValidationException):
    def __init__(self, name: str, error_msg: str, invalid_index: int) -> None:
        super().__init__("namespace", name, error_msg, invalid_index)


class InvalidTopicNameException(NameValidationException):
    def __init__(self, name: str, error_msg: str, invalid_index: int) -> None:
        super().__init__("topic name", name, error_msg, invalid_index)


class InvalidParameterException(ValueError):
    """The parameter name is invalid."""

    def __init__(self, parameter: str) -> None:
        super().__init__(f"Invalid parameter name: {parameter!r}")


class ParameterException(Exception):
    """Base of the parameter errors that name the offending parameter(s)."""

    def __init__(self, error_msg: str, parameters: Any) -> None:
        super().__init__(f"{error_msg}: {parameters}")


class ParameterNotDeclaredException(ParameterException):
    def __init__(self, parameters: Any) -> None:
        super().__init__("Invalid access to undeclared parameter(s)", parameters)


class ParameterAlreadyDeclaredException(ParameterException):
    def __init__(self, parameters: Any) -> None:
        super().__init__("Parameter(s) already declared", parameters)


class ParameterImmutableException(ParameterException):
    def __init__(self, parameters: Any) -> None:
        super().__init__("Attempted to modify read-only parameter", parameters)


class ParameterUninitializedException(ParameterException):
    """A statically typed parameter declared without a default was read before any value came."""

    def __init__(self, parameter_name: str) -> None:
        super().__init__(
            "The parameter was declared with a type but no value, and no override set it",
            parameter_name,
        )


class InvalidParameterValueException(ValueError):
    """A value was rejected by a range, a read-only flag or an on-set-parameters callback."""

    def __init__(self, parameter: str, value: Any, reason: str) -> None:
        super().__init__(f"Invalid parameter value ({value!r}) for parameter '{parameter}'. Reason: {reason}")


class InvalidParameterTypeException(ValueError):
    """A value's type differs from the statically declared type (rclpy semantics: no coercion)."""

    def __init__(self, desired_parameter: Any, expected_type: str) -> None:
        super().__init__(
            f"Trying to set parameter '{desired_parameter.name}' to '{desired_parameter.value!r}' of type "
            f"'{desired_parameter.type_.name}', expecting type '{expected_type}'"
        )
