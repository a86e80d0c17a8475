"""The model of a YAML launch file: its entities, their values, and what planning one yields.

Holds the exception classes, the result data classes (:class:`LaunchArgument`,
:class:`ProcessSpec`, :class:`LaunchPlan`), the checks and coercions of node names,
namespaces and parameter values (``launch``'s ``coerce_to_type``), and ``_Entity``: one
``{type: body}`` item of a file with strict attribute access, with the loading of a
``*.launch.yaml`` into a list of them and the static reads of a file's ``arg`` entities.
It imports no other module of :mod:`mbrl_ros.launcher`.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PACKAGE = "mbrl_ros"


# --------------------------------------------------------------------------- errors


class LaunchError(Exception):
    """Base class: anything that stops a launch file from being planned or run."""


class LaunchFileError(LaunchError):
    """A launch file is malformed or uses a value that cannot work."""


class UnsupportedLaunchConstructError(LaunchFileError):
    """A valid ROS 2 launch construct that this launcher does not implement."""


class SubstitutionError(LaunchFileError):
    """A ``$(...)`` substitution cannot be parsed or evaluated."""


class LaunchArgumentError(LaunchError):
    """Launch arguments are unknown, missing, malformed or not among the choices."""


class ExecutableNotFoundError(LaunchError):
    """A node's ``pkg``/``exec`` pair cannot be turned into a command."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class LaunchArgument:
    """A declared launch argument (an ``arg`` entity).

    Attributes:
        name: Argument name, given as ``name:=value``.
        default: Default text before substitution, or None when the argument is required.
        description: Free text from the file.
        choices: Allowed values, or None for any value.
        file: Launch file that declares it.
    """

    name: str
    default: str | None
    description: str
    choices: tuple[str, ...] | None
    file: Path


@dataclass
class ProcessSpec:
    """One process to start, fully resolved.

    Attributes:
        name: Label for its output lines (``[name] ...``); unique within a plan.
        cmd: Command line, ``cmd[0]`` being the program.
        env: Environment variables to set on top of the launcher's environment.
        unset_env: Environment variables to remove from the launcher's environment.
        cwd: Working directory, or None for the launcher's.
        node_name: ROS node name given with ``name`` (``-r __node:=``), or None.
        namespace: Absolute ROS namespace (``-r __ns:=``), or None when none was set.
        required: ``on_exit: shutdown``: when it exits, every other process is stopped.
        respawn: Restart it when it exits (unless the launch is shutting down).
        respawn_delay: Seconds to wait before a respawn.
        sigterm_timeout: Seconds after SIGINT before SIGTERM is sent on shutdown.
        sigkill_timeout: Seconds after SIGTERM before SIGKILL is sent on shutdown.
        params_files: Parameter files passed with ``--params-file``, in order.
        source: Launch file and entity that produced it, for messages.
    """

    name: str
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    unset_env: tuple[str, ...] = ()
    cwd: str | None = None
    node_name: str | None = None
    namespace: str | None = None
    required: bool = False
    respawn: bool = False
    respawn_delay: float = 0.0
    sigterm_timeout: float = 5.0
    sigkill_timeout: float = 5.0
    params_files: tuple[str, ...] = ()
    source: str = ""

    def command_line(self) -> str:
        """The command as one shell-quoted line, environment changes first."""
        parts = [f"{key}={value}" for key, value in self.env.items()]
        unset = [flag for key in self.unset_env for flag in ("-u", key)]
        prefix = ["env", *unset, *parts] if (parts or unset) else []
        return shlex.join(prefix + list(self.cmd))


@dataclass
class LaunchPlan:
    """What a launch file starts, with the arguments it declares.

    Attributes:
        file: The top-level launch file.
        processes: Processes in launch order.
        arguments: Every ``arg`` seen, in order (included files too).
        configurations: Launch configurations at the end of the top-level file.
        messages: ``log`` entity output and warnings, in order.
        params_dir: Directory holding the generated parameter files, or None.
    """

    file: Path
    processes: list[ProcessSpec]
    arguments: list[LaunchArgument]
    configurations: dict[str, str]
    messages: list[str] = field(default_factory=list)
    params_dir: Path | None = None
    _owns_params_dir: bool = False

    def cleanup(self) -> None:
        """Delete the generated parameter files (only when this plan created their directory)."""
        if self._owns_params_dir and self.params_dir is not None and self.params_dir.is_dir():
            for child in self.params_dir.iterdir():
                child.unlink()
            self.params_dir.rmdir()


# --------------------------------------------------------------------------- names and values

_NODE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NAMESPACE = re.compile(r"/([A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*)?\Z")
_PARAM_TYPES = {
    "str": (str, False),
    "bool": (bool, False),
    "float": (float, False),
    "int": (int, False),
    "list_of_str": (str, True),
    "list_of_bool": (bool, True),
    "list_of_float": (float, True),
    "list_of_int": (int, True),
    "yaml": (None, False),
}
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def prefix_namespace(base: str | None, namespace: str | None) -> str | None:
    """``launch_ros.utilities.prefix_namespace`` followed by making the result absolute."""
    if base is None and namespace is None:
        return None
    if namespace is None:
        combined = base or ""
    elif not base or namespace.startswith("/"):
        combined = namespace
    else:
        combined = ("" if base == "/" else base) + "/" + namespace
    if combined != "/":
        combined = combined.rstrip("/")
    return combined if combined.startswith("/") else "/" + combined


def _value_kind(value: Any) -> type | None:
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind
    return None


def _check_parameter_value(value: Any, where: str) -> Any:
    """A ROS parameter value: bool, int, float, str, or a non-empty list of one of them."""
    if _value_kind(value) is not None:
        return value
    if isinstance(value, list):
        kinds = {_value_kind(v) for v in value}
        if not value:
            raise LaunchFileError(f"{where}: an empty list has no ROS parameter type; give at least one element")
        if len(kinds) != 1 or None in kinds:
            raise LaunchFileError(
                f"{where}: a parameter list must hold elements of one type (bool, int, float or str), "
                f"got {value!r} (write 1.0, not 1, in a list of floats)"
            )
        return value
    raise LaunchFileError(f"{where}: {type(value).__name__} is not a ROS parameter type (value {value!r})")


def _yaml_value(text: str, where: str) -> Any:
    """``launch`` ``coerce_to_type(text, None)``: read substituted text with YAML rules."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LaunchFileError(f"{where}: {text!r} is not valid YAML ({exc}); add `type: str` to keep it text") from None
    if value is None:
        raise LaunchFileError(f"{where}: {text!r} is empty/null under YAML rules; add `type: str` to keep it text")
    return _check_parameter_value(value, where)


def _coerce_text(text: str, kind: type, where: str) -> Any:
    """``launch`` ``coerce_to_type`` for a scalar type."""
    if kind is str:
        return text
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise LaunchFileError(f"{where}: {text!r} is not a valid {kind.__name__}") from None
    value = _yaml_value(text, where)
    if not isinstance(value, bool):
        raise LaunchFileError(f"{where}: {text!r} is not a valid bool")
    return value


# --------------------------------------------------------------------------- entities


class _Entity:
    """One ``{type: body}`` item of a launch file, with strict attribute access."""

    def __init__(self, kind: str, body: Any, file: Path, label: str) -> None:
        self.kind = kind
        self.body = body
        self.file = file
        self.label = label
        self._read: set[str] = set()

    @property
    def where(self) -> str:
        name = self.body.get("name") if isinstance(self.body, dict) else None
        suffix = f" '{name}'" if isinstance(name, str) else ""
        return f"{self.file}: `{self.kind}`{suffix} ({self.label})"

    def error(self, message: str, kind: type[LaunchError] = LaunchFileError) -> LaunchError:
        return kind(f"{self.where}: {message}")

    def has(self, name: str) -> bool:
        return isinstance(self.body, dict) and name in self.body

    def raw(self, name: str, optional: bool = False) -> Any:
        if not isinstance(self.body, dict):
            raise self.error(f"expected a mapping of attributes, got {type(self.body).__name__}")
        if name not in self.body:
            if optional:
                return None
            raise self.error(f"attribute '{name}' is required")
        self._read.add(name)
        return self.body[name]

    def text(self, name: str, optional: bool = False) -> str | None:
        value = self.raw(name, optional)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            shown = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
            raise self.error(
                f"attribute '{name}' must be a string, got {type(value).__name__} {shown}; "
                f"ROS 2 launch rejects this too, quote it: {name}: '{shown}'"
            )
        return value

    def children(self, name: str, optional: bool = True) -> list["_Entity"] | None:
        value = self.raw(name, optional)
        if value is None:
            return None
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise self.error(f"attribute '{name}' must be a non-empty list of mappings")
        return [_Entity(name, item, self.file, f"{self.label}.{name}[{i}]") for i, item in enumerate(value)]

    def finish(self) -> None:
        if isinstance(self.body, dict):
            unread = [key for key in self.body if key not in self._read]
            if unread:
                raise self.error(
                    f"attribute(s) {', '.join(repr(k) for k in unread)} of `{self.kind}` "
                    "are unknown or not supported by the mbrl_ros launcher",
                    UnsupportedLaunchConstructError,
                )


def _entity_list(items: Any, file: Path, label: str) -> list[_Entity]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise LaunchFileError(f"{file}: {label} must be a list of entities, got {type(items).__name__}")
    entities = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or len(item) != 1:
            raise LaunchFileError(
                f"{file}: {label}[{index}] must be a mapping with exactly one key (the entity type), got {item!r}"
            )
        (kind, body), = item.items()
        entities.append(_Entity(str(kind), body, file, f"{label}[{index}]"))
    return entities


def _load_yaml_launch(path: Path) -> list[_Entity]:
    if not path.name.endswith((".yaml", ".yml")):
        raise UnsupportedLaunchConstructError(
            f"{path}: only YAML launch files (*.launch.yaml) can be run without ROS 2"
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LaunchFileError(f"cannot read launch file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise LaunchFileError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict) or list(document) != ["launch"]:
        raise LaunchFileError(f"{path}: a YAML launch file has exactly one top-level key, 'launch'")
    root = document["launch"]
    if isinstance(root, dict):
        extra = set(root) - {"children"}
        if extra:
            raise UnsupportedLaunchConstructError(
                f"{path}: attribute(s) {sorted(extra)} of `launch` are not supported by the mbrl_ros launcher"
            )
        root = root.get("children")
    return _entity_list(root, path, "launch")


# --------------------------------------------------------------------------- arguments of a file


def _parse_choices(entity: _Entity) -> tuple[str, ...] | None:
    """``choice: [{value: a}]`` (every ROS 2 release) or ``choices: [a, b]`` (newer ones)."""
    legacy = entity.children("choice")
    shorthand = entity.raw("choices", optional=True)
    if legacy is not None and shorthand is not None:
        raise entity.error("use either 'choice' or 'choices', not both")
    if legacy is not None:
        values = []
        for item in legacy:
            values.append(item.text("value"))
            item.finish()
        return tuple(values)
    if shorthand is not None:
        if not isinstance(shorthand, list) or not shorthand or not all(isinstance(v, str) for v in shorthand):
            raise entity.error("attribute 'choices' must be a non-empty list of strings")
        return tuple(shorthand)
    return None


def _top_level_required_arguments(path: Path) -> list[str]:
    """Unconditional ``arg`` entities without a default (``get_launch_arguments`` of ROS)."""
    required = []
    for entity in _load_yaml_launch(path):
        body = entity.body
        if entity.kind == "arg" and isinstance(body, dict) and "default" not in body:
            if "if" not in body and "unless" not in body and isinstance(body.get("name"), str):
                required.append(body["name"])
    return required


def _static_argument_names(path: Path) -> set[str]:
    """Names of the ``arg`` entities of a file and its groups, whatever their conditions."""
    names: set[str] = set()

    def walk(entities: list[_Entity]) -> None:
        for entity in entities:
            body = entity.body
            if entity.kind == "arg" and isinstance(body, dict) and isinstance(body.get("name"), str):
                names.add(body["name"])
            elif entity.kind == "group":
                items = body if isinstance(body, list) else body.get("children") if isinstance(body, dict) else None
                walk(_entity_list(items, entity.file, entity.label))

    try:
        walk(_load_yaml_launch(path))
    except LaunchError:
        pass  # only a hint for an error message; the real error is reported already
    return names
