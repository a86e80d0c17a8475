"""Typed component configs loaded from ROS 2 parameter YAML files.

Each component owns one dataclass. Fields carry their documentation and
bounds in ``metadata`` (see :func:`param`). Configs are frozen: derived values
get new names instead of mutating what a caller passed in.

A ROS params file looks like::

    /**:
      ros__parameters:
        planner:
          name: icem
          icem: {population: 64, iterations: 3}

ROS flattens nested keys to ``planner.icem.population``; :func:`unflatten`
and :func:`flatten` convert between the two forms.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

C = TypeVar("C")


class ConfigError(ValueError):
    """A parameter is unknown, of the wrong type, or out of bounds."""


def param(default: Any, doc: str, *, low: float | None = None, high: float | None = None,
          choices: tuple | None = None):
    """A dataclass field with a description and optional bounds (inclusive) or choices."""
    meta = {"doc": doc, "low": low, "high": high, "choices": choices}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError("; ".join(errors))
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {annotation.__name__}, got {value!r}")
        return from_dict(annotation, value, prefix=where + ".")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        vtype = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(v, vtype, f"{where}.{k}") for k, v in value.items()}
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ConfigError(f"{where}: must be finite, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _check_bounds(field: dataclasses.Field, value: Any, where: str) -> None:
    meta = field.metadata
    low, high, choices = meta.get("low"), meta.get("high"), meta.get("choices")
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if choices is not None and v not in choices:
            raise ConfigError(f"{where}: {v!r} is not one of {list(choices)}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if low is not None and v < low:
                raise ConfigError(f"{where}: {v!r} is below the minimum {low}")
            if high is not None and v > high:
                raise ConfigError(f"{where}: {v!r} is above the maximum {high}")


def per_joint(value: Any, num_joints: int, name: str):
    """A per-joint setting (one number for every joint, or one per joint) as a ``(J,)`` float64 array.

    Raises:
        ConfigError: a list whose length is neither 1 nor ``num_joints``.
    """
    import numpy as np

    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if values.size == 1:
        return np.full(num_joints, float(values[0]))
    if values.size != num_joints:
        raise ConfigError(f"{name}: give one value or one per joint ({num_joints}), got {values.size}")
    return values.copy()


def from_dict(cls: type[C], values: Mapping[str, Any] | None = None, *, prefix: str = "") -> C:
    """Build a config dataclass from a (possibly nested or dotted) mapping, validating it.

    Raises:
        ConfigError: unknown keys (with the valid ones listed), wrong types, out of bounds.
    """
    values = unflatten(dict(values or {}))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(prefix + u for u in unknown)} for {cls.__name__}; "
            f"valid: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in values.items():
        where = prefix + name
        coerced = _coerce(value, hints[name], where)
        _check_bounds(fields[name], coerced, where)
        kwargs[name] = coerced
    obj = cls(**kwargs)
    for name, field in fields.items():
        if name not in kwargs:
            _check_bounds(field, getattr(obj, name), prefix + name)
    return obj


def to_dict(config: Any) -> dict[str, Any]:
    """Nested plain-dict form of a config (for YAML, JSON and ROS parameters)."""
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = {k: to_dict(v) if dataclasses.is_dataclass(v) else v for k, v in value.items()}
        out[field.name] = value
    return out


def describe(cls: type) -> dict[str, str]:
    """Field name -> description, for ROS parameter descriptors and --help texts."""
    return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}


def unflatten(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (nested input passes through)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"parameter {key!r} conflicts with a scalar at {part!r}")
        if isinstance(value, Mapping):
            existing = node.setdefault(parts[-1], {})
            existing.update(unflatten(value))
        else:
            node[parts[-1]] = value
    return out


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (ROS parameter names)."""
    out = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def load_ros_params(path: str | Path, node_name: str = "/**") -> dict[str, Any]:
    """Parameters for ``node_name`` from a ROS 2 params file, nested.

    ``/**`` entries apply to every node; entries for the node's own name (with
    or without leading slash) override them.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: expected a mapping of node names at the top level")
    merged: dict[str, Any] = {}
    wanted = {"/**", node_name, node_name.lstrip("/"), "/" + node_name.lstrip("/")}
    for key in ["/**"] + [k for k in document if k != "/**"]:
        if key not in document or key not in wanted:
            continue
        section = document[key]
        if not isinstance(section, Mapping) or "ros__parameters" not in section:
            raise ConfigError(f"{path}: section {key!r} has no 'ros__parameters' mapping")
        merged = merge(merged, unflatten(section["ros__parameters"] or {}))
    return merged


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of nested mappings; ``override`` wins. Inputs are not modified."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
