"""``--ros-args`` parsing, as rcl does it (``rcl/arguments.c``, ``rcl_yaml_param_parser``).

Recognised inside ``--ros-args ... [--]`` (several sections may appear):

* ``-r/--remap [node:]from:=to``, with ``__node``/``__name`` and ``__ns`` for the node
  name and namespace;
* ``-p/--param name:=value``: the value is YAML (``1`` int, ``1.0`` double, ``true`` bool,
  ``[1.0, 2.0]`` double array, anything else a string);
* ``--params-file FILE``: ``<node>: {ros__parameters: {...}}`` sections, ``/**`` for every
  node, ``/*`` for one level; nested dicts become dotted names;
* ``--log-level [name:=]LEVEL``, ``-e/--enclave``, ``--log-config-file``,
  ``--log-file-name`` and the ``--enable-/--disable-{stdout,rosout,external-lib}-logs`` flags
  (accepted; only the level changes what this runtime does).

Parameter overrides keep rcl's order semantics: one ordered table of node-name
patterns, each updated in command-line order; a node receives every matching
pattern's values, later patterns overriding earlier ones. In the usual file layout
(``/**`` first, then the node's section) the node's own section wins.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml

from mbrl_ros.ros.runtime.exceptions import InvalidROSArgsError, UnknownROSArgsError
from mbrl_ros.ros.runtime.names import RemapRule, validate_namespace, validate_node_name, validate_topic_name

ROS_ARGS_FLAG = "--ros-args"
ROS_ARGS_END = "--"
PARAMETERS_KEY = "ros__parameters"
WILDCARD_ALL = "/**"
LOG_LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40, "fatal": 50, "unset": 0}

_FLAGS_WITH_VALUE = {"--log-config-file", "--log-file-name", "-e", "--enclave"}
_BOOLEAN_FLAGS = {
    f"--{state}-{what}-logs" for state in ("enable", "disable") for what in ("stdout", "rosout", "external-lib")
}
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
# rcl reads values with strtod after YAML: 1e3 or .5e1 are doubles even though YAML 1.1 says string.
_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\Z")


@dataclass
class RosArguments:
    """What a ``--ros-args`` parse produced.

    Attributes:
        remap_rules: In command-line order.
        parameter_overrides: Node-name pattern (``/**``, ``/ns/node``) -> parameter -> value,
            patterns in first-appearance order.
        params_files: Files given with ``--params-file``.
        log_levels: Logger name -> level (``""`` for the default level).
        enclave: ``-e`` value, if any.
        non_ros_args: Arguments outside ``--ros-args`` sections (program name included).
    """

    remap_rules: list[RemapRule] = field(default_factory=list)
    parameter_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    params_files: list[str] = field(default_factory=list)
    log_levels: dict[str, int] = field(default_factory=dict)
    enclave: str | None = None
    non_ros_args: list[str] = field(default_factory=list)

    def overrides_for(self, node_fqn: str) -> dict[str, Any]:
        """Parameter values for the node ``node_fqn`` (later matching patterns override earlier ones)."""
        values: dict[str, Any] = {}
        for pattern, params in self.parameter_overrides.items():
            if node_pattern_matches(pattern, node_fqn):
                values.update(params)
        return values


def node_pattern_matches(pattern: str, node_fqn: str) -> bool:
    """rclpy's match of a parameter-file node key against a node FQN (``/*`` one token, ``/**`` any)."""
    if not pattern.startswith("/"):
        pattern = "/" + pattern
    regex = re.escape(pattern).replace(re.escape("/*"), r"(/\w+)")
    # re.escape turns '/**' into '/\*\*'; after the replacement above the second star is '\*'.
    regex = regex.replace(r"(/\w+)\*", r"(/\w+)*")
    return re.fullmatch(regex, node_fqn) is not None


def parse_ros_args(args: Sequence[str] | None) -> RosArguments:
    """Parse a full argument vector (``sys.argv`` style).

    Raises:
        UnknownROSArgsError: a ``--ros-args`` section contains an unknown flag.
        InvalidROSArgsError: a known flag has a missing or malformed value.
    """
    out = RosArguments()
    unknown: list[str] = []
    in_ros_args = False
    items = list(args or [])
    index = 0
    while index < len(items):
        arg = items[index]
        if not isinstance(arg, str):
            raise TypeError(f"arguments must be strings, got {arg!r}")
        if not in_ros_args:
            if arg == ROS_ARGS_FLAG:
                in_ros_args = True
            else:
                out.non_ros_args.append(arg)
            index += 1
            continue
        if arg == ROS_ARGS_FLAG:
            index += 1
            continue
        if arg == ROS_ARGS_END:
            in_ros_args = False
            index += 1
            continue
        if arg in _BOOLEAN_FLAGS:
            index += 1
            continue
        takes_value = arg in ("-r", "--remap", "-p", "--param", "--params-file", "--log-level") or arg in _FLAGS_WITH_VALUE
        if not takes_value:
            unknown.append(arg)
            index += 1
            continue
        if index + 1 >= len(items) or items[index + 1] in (ROS_ARGS_END, ROS_ARGS_FLAG):
            raise InvalidROSArgsError(f"Couldn't parse trailing {arg} flag: it needs a value")
        value = items[index + 1]
        if arg in ("-r", "--remap"):
            out.remap_rules.append(parse_remap_rule(value))
        elif arg in ("-p", "--param"):
            name, param_value = parse_param_rule(value)
            _merge(out.parameter_overrides, WILDCARD_ALL, {name: param_value})
        elif arg == "--params-file":
            for pattern, params in load_params_file(value).items():
                _merge(out.parameter_overrides, pattern, params)
            out.params_files.append(value)
        elif arg == "--log-level":
            logger, level = parse_log_level(value)
            out.log_levels[logger] = level
        elif arg in ("-e", "--enclave"):
            out.enclave = value
        index += 2
    if unknown:
        raise UnknownROSArgsError(unknown)
    return out


def remove_ros_args(args: Sequence[str] | None) -> list[str]:
    """``args`` without the ``--ros-args ... [--]`` sections (``rclpy.utilities.remove_ros_args``)."""
    kept: list[str] = []
    in_ros_args = False
    for arg in args or []:
        if arg == ROS_ARGS_FLAG:
            in_ros_args = True
        elif in_ros_args and arg == ROS_ARGS_END:
            in_ros_args = False
        elif not in_ros_args:
            kept.append(arg)
    return kept


def _merge(table: dict[str, dict[str, Any]], pattern: str, params: dict[str, Any]) -> None:
    key = pattern if pattern.startswith("/") else "/" + pattern
    table.setdefault(key, {}).update(params)


def parse_remap_rule(text: str) -> RemapRule:
    """``[node:]from:=to`` into a :class:`RemapRule`.

    Raises:
        InvalidROSArgsError: no ``:=``, or a side is not a valid name.
    """
    if ":=" not in text:
        raise InvalidROSArgsError(f"Couldn't parse remap rule '{text}': expected 'from:=to'")
    lhs, replacement = text.split(":=", 1)
    node_name = None
    # 'rostopic://' and 'rosservice://' prefixes are optional rcl type hints.
    for prefix in ("rostopic://", "rosservice://"):
        if prefix in lhs:
            before, lhs = lhs.split(prefix, 1)
            lhs = before + lhs
    if ":" in lhs:
        node_name, lhs = lhs.split(":", 1)
        try:
            validate_node_name(node_name)
        except ValueError as exc:
            raise InvalidROSArgsError(f"Couldn't parse remap rule '{text}': {exc}") from None
    if not lhs or not replacement:
        raise InvalidROSArgsError(f"Couldn't parse remap rule '{text}': both sides of ':=' must be non-empty")
    try:
        if lhs in ("__node", "__name"):
            validate_node_name(replacement)
            return RemapRule("node", lhs, replacement, node_name)
        if lhs == "__ns":
            validate_namespace(replacement)
            return RemapRule("namespace", lhs, replacement, node_name)
        if lhs.startswith("__"):
            raise InvalidROSArgsError(f"Couldn't parse remap rule '{text}': unknown special name '{lhs}'")
        validate_topic_name(lhs)
        validate_topic_name(replacement)
    except InvalidROSArgsError:
        raise
    except ValueError as exc:
        raise InvalidROSArgsError(f"Couldn't parse remap rule '{text}': {exc}") from None
    return RemapRule("topic", lhs, replacement, node_name)


def parse_param_rule(text: str) -> tuple[str, Any]:
    """``name:=value`` with a YAML-typed value.

    Raises:
        InvalidROSArgsError: no ``:=``, a bad name, or a value ROS cannot type.
    """
    if ":=" not in text:
        raise InvalidROSArgsError(f"Couldn't parse parameter override rule '{text}': expected 'name:=value'")
    name, raw = text.split(":=", 1)
    if not _PARAM_NAME.match(name):
        raise InvalidROSArgsError(f"Couldn't parse parameter override rule '{text}': invalid parameter name '{name}'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise InvalidROSArgsError(f"Couldn't parse parameter override rule '{text}': {exc}") from None
    return name, _checked_value(_coerce_scalar(value, raw), f"-p {text}")


def _coerce_scalar(value: Any, raw: str) -> Any:
    if isinstance(value, str) and _FLOAT_TEXT.match(raw.strip()):
        return float(raw)
    if value is None:
        # YAML null ('~', 'null', empty): rcl keeps the text as a string.
        return raw
    return value


def _checked_value(value: Any, where: str) -> Any:
    """A value in one of ROS's parameter types (bool, int, float, str, or a homogeneous list)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        if not value:
            raise InvalidROSArgsError(
                f"{where}: an empty list has no ROS parameter type; give at least one element "
                "(or declare the parameter with a default and leave it out)"
            )
        kinds = {_kind(v) for v in value}
        if len(kinds) != 1 or None in kinds:
            raise InvalidROSArgsError(
                f"{where}: a parameter array must hold elements of one type (bool, int, float or str); "
                f"got {value!r} (write 1.0, not 1, in a list of doubles)"
            )
        return value
    raise InvalidROSArgsError(f"{where}: {type(value).__name__} is not a ROS parameter type (value {value!r})")


def _kind(value: Any) -> type | None:
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind
    return None


def flatten_parameters(tree: dict[str, Any], prefix: str = "", where: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``, with every leaf checked to be a ROS parameter value."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten_parameters(value, name, where))
        else:
            flat[name] = _checked_value(value, f"{where} parameter '{name}'")
    return flat


def load_params_file(path: str) -> dict[str, dict[str, Any]]:
    """Read a ROS 2 parameters YAML file into ``{node pattern: {dotted name: value}}``.

    Keys above ``ros__parameters`` are joined with ``/`` (``ns: {node: {ros__parameters:
    ...}}`` is the node ``/ns/node``).

    Raises:
        InvalidROSArgsError: unreadable file, not a mapping, or no ``ros__parameters``.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        raise InvalidROSArgsError(f"Couldn't read params file '{path}': {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidROSArgsError(f"Couldn't parse params file '{path}': {exc}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise InvalidROSArgsError(f"params file '{path}' must be a mapping of node names to sections")
    table: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any], path_parts: list[str]) -> None:
        for key, value in node.items():
            key = str(key)
            if key == PARAMETERS_KEY:
                if not path_parts:
                    raise InvalidROSArgsError(f"params file '{path}': '{PARAMETERS_KEY}' needs a node name above it")
                if value is None:
                    continue
                if not isinstance(value, dict):
                    raise InvalidROSArgsError(f"params file '{path}': '{PARAMETERS_KEY}' must be a mapping")
                pattern = "/" + "/".join(part.strip("/") for part in path_parts)
                _merge(table, pattern, flatten_parameters(value, where=f"params file '{path}'"))
            elif isinstance(value, dict):
                walk(value, path_parts + [key])
            else:
                raise InvalidROSArgsError(
                    f"params file '{path}': '{'/'.join(path_parts + [key])}' is not under '{PARAMETERS_KEY}'"
                )

    walk(document, [])
    return table


def parse_log_level(text: str) -> tuple[str, int]:
    """``debug`` or ``logger_name:=debug`` into (logger name or ``""``, severity number)."""
    logger, _, level = text.rpartition(":=")
    number = LOG_LEVELS.get(level.strip().lower())
    if number is None:
        raise InvalidROSArgsError(
            f"Couldn't parse log level '{text}': use one of {', '.join(k for k in LOG_LEVELS if k != 'warning')}"
        )
    return logger, number
