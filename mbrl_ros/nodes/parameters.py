"""Typed config dataclasses as ROS parameters: declare them with descriptions, read them back validated.

A node declares each field of a component's config dataclass (see
:func:`mbrl_ros.config.param`) as a ROS parameter under a prefix, e.g. the
planner's ``icem.population``; nested dataclasses and dict fields become dotted
names (``pendulum_swingup.cost_weights.action``). The values are read back,
unflattened and validated by :func:`mbrl_ros.config.from_dict`, so bounds,
choices and types are checked in one place, with the same messages as
``mbrl-ros train``.

Parameters are declared with ``dynamic_typing`` so a YAML ``0`` is accepted
for a float field (rclpy would reject an int for a double); the dataclass does
the type check instead.

After start-up the same dataclass guards changes (``ros2 param set``, the
``~/set_parameters`` service): a value it rejects is refused with its message; a
valid one is applied through the node's ``on_change(new_config)`` when the node
gave one (the planner rebuilds its optimizer), and refused otherwise, because
such a node reads its config once at start-up.
"""
from __future__ import annotations

import array
import ast
import dataclasses
import functools
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

from mbrl_ros.config import ConfigError, flatten, from_dict, merge, to_dict, unflatten
from mbrl_ros.ros.compat import ParameterDescriptor, SetParametersResult

C = TypeVar("C")

#: Top-level names the shared run-parameter files (config/tasks, config/planners) set for every
#: node; a node that does not declare one of them is not warned about it.
SHARED_TOP_LEVEL = frozenset({"task", "planner", "model", "learning"})


def _field_docs(cls: type, prefix: str) -> dict[str, str]:
    """Dotted field name -> description, nested dataclasses included."""
    docs: dict[str, str] = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        full = f"{prefix}.{field.name}" if prefix else field.name
        docs[full] = field.metadata.get("doc", "")
        field_type = hints.get(field.name)
        if isinstance(field_type, type) and dataclasses.is_dataclass(field_type):
            docs.update(_field_docs(field_type, full))
    return docs


def _describe(name: str, docs: Mapping[str, str]) -> str:
    """The description of ``name`` or of its closest documented parent (dict entries)."""
    parts = name.split(".")
    while parts:
        doc = docs.get(".".join(parts))
        if doc:
            return doc
        parts.pop()
    return ""


def _plain(value: Any) -> Any:
    """A parameter value as plain Python (rclpy returns ``array.array`` for numeric arrays)."""
    if isinstance(value, array.array):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def _ros_value(value: Any) -> Any:
    """A default value in a form both rclpy and the runtime accept for a parameter."""
    if isinstance(value, tuple):
        return list(value)
    return value


def declare_config(node: Any, cls: type[C], prefix: str = "", defaults: Mapping[str, Any] | None = None,
                   on_change: Callable[[C], None] | None = None) -> C:
    """Declare every field of config dataclass ``cls`` on ``node`` and return the validated config.

    Args:
        node: an rclpy (or runtime) ``Node``.
        cls: a config dataclass whose fields all have defaults.
        prefix: parameter namespace (``"icem"`` -> ``icem.population``); ``""`` for top level.
        defaults: nested values that replace the dataclass defaults (overrides still win).
        on_change: called with the new validated config when these parameters are set while
            the node runs; it may raise ``ValueError``/``ConfigError`` to refuse the change.
            None: changes are refused (the node reads the config once).
    Returns:
        An instance of ``cls`` built from the parameters.
    Raises:
        ConfigError: a value has the wrong type or is out of bounds; the message names
            the ROS parameter.
    """
    base = merge(to_dict(cls()), unflatten(dict(defaults or {})))
    flat = flatten(base)
    docs = _field_docs(cls, "")
    values: dict[str, Any] = {}
    constraint = "applied while running" if on_change is not None else "read at start-up only"
    for name, default in flat.items():
        full = f"{prefix}.{name}" if prefix else name
        if not node.has_parameter(full):
            descriptor = ParameterDescriptor(description=_describe(name, docs), dynamic_typing=True,
                                             additional_constraints=constraint)
            node.declare_parameter(full, _ros_value(default), descriptor)
        values[name] = _plain(node.get_parameter(full).value)
    try:
        config = from_dict(cls, unflatten(values), prefix=f"{prefix}." if prefix else "")
    except ConfigError as exc:
        raise ConfigError(f"node {node.get_name()!r}: {exc}") from None
    _guard_changes(node, cls, prefix, list(flat), on_change)
    return config


def _guard_changes(node: Any, cls: type, prefix: str, names: list[str], on_change: Callable[[Any], None] | None) -> None:
    """Check (and apply, or refuse) later sets of the parameters of ``cls`` through its dataclass."""
    full_names = {(f"{prefix}.{name}" if prefix else name): name for name in names}
    dotted = f"{prefix}." if prefix else ""

    def check(parameters: list[Any]) -> Any:
        mine = [p for p in parameters if p.name in full_names]
        if not mine:
            return SetParametersResult(successful=True)
        values = {name: _plain(node.get_parameter(full).value) for full, name in full_names.items()}
        for parameter in mine:
            values[full_names[parameter.name]] = _plain(parameter.value)
        try:
            config = from_dict(cls, unflatten(values), prefix=dotted)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        changed = ", ".join(p.name for p in mine)
        if on_change is None:
            return SetParametersResult(
                successful=False,
                reason=f"{changed}: node {node.get_name()!r} reads these once at start-up; restart it to change them",
            )
        try:
            on_change(config)
        except (ConfigError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=f"{changed}: {exc}")
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(check)


def parameter_overrides(node: Any) -> dict[str, Any]:
    """Names and values given to ``node`` by ``-p``, ``--params-file`` and ``parameter_overrides``.

    Reads the node's private override table (present in rclpy and the runtime alike); empty if
    it cannot be read.
    """
    table = getattr(node, "_parameter_overrides", None)
    if not isinstance(table, Mapping):
        return {}
    return {name: getattr(p, "value", p) for name, p in table.items()}


def unused_parameters(node: Any, owned_prefixes: Iterable[str]) -> list[str]:
    """Overrides the node ignores that look like typos: under a prefix it owns, or top-level names
    that no node declares.

    Names from the shared run files (``task``, ``learning.*``, other components' sections) and
    other nodes' top-level names (:func:`node_parameter_names`) are not reported, since those
    files go to every node.
    """
    owned = tuple(p + "." for p in owned_prefixes if p)
    other_nodes = node_parameter_names()
    unused = []
    for name in parameter_overrides(node):
        if node.has_parameter(name):
            continue
        head = name.split(".", 1)[0]
        if name.startswith(owned) or ("." not in name and head not in SHARED_TOP_LEVEL and head not in other_nodes):
            unused.append(name)
    return sorted(unused)


@functools.lru_cache(maxsize=1)
def node_parameter_names() -> frozenset[str]:
    """Top-level parameter names some node of the package declares (its ``*Config`` fields).

    A params file given to every node of a launch (``params_file``) may hold a name meant for one
    of them (``episode_length`` for a stand-in): the others leave it alone, while a name that no
    node declares is a typo and refused. Read from the sources (no imports: cheap at start-up).
    """
    root = Path(__file__).resolve().parent.parent
    names: set[str] = set()
    # Nodes live in nodes/ and, per robot, in robots/<robot>/ (bridges, stand-ins).
    for source in [*sorted((root / "nodes").glob("*.py")), *sorted((root / "robots").rglob("*.py")),
                   root / "sensors.py"]:
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name.endswith("Config")):
            names.update(f.target.id for f in cls.body
                         if isinstance(f, ast.AnnAssign) and isinstance(f.target, ast.Name))
    return frozenset(names)


def refuse_unknown_parameters(node: Any, owned_prefixes: Iterable[str]) -> list[str]:
    """Refuse the names :func:`unused_parameters` finds (typos), listing the node's valid ones.

    Raises:
        ConfigError: some were given; the node then exits with code 2 and this message
            (:func:`mbrl_ros.nodes.runner.run_node`), as ``mbrl-ros train`` refuses unknown names.
    """
    unused = unused_parameters(node, owned_prefixes)
    if unused:
        owned = tuple(p + "." for p in owned_prefixes if p)
        valid = sorted(n for n in _declared_names(node) if "." not in n or n.startswith(owned))
        raise ConfigError(f"node {node.get_name()!r}: unknown parameter(s) {', '.join(unused)}; "
                          f"valid names: {', '.join(valid)}")
    return unused


def _declared_names(node: Any) -> list[str]:
    parameters = getattr(node, "_parameters", None)
    if isinstance(parameters, Mapping):
        return [n for n in parameters if n != "use_sim_time"] + ["use_sim_time"]
    return []


#: The former name (nodes call it after declaring their configs); unknown names are refused now.
warn_unused_parameters = refuse_unknown_parameters
