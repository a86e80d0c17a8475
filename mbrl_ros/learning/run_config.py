"""Resolve the parameters of a learning run from the package's ROS params YAML files.

Layout of the parameters (flat ROS names in brackets)::

    task: cartpole_swingup          # [task]
    planner: icem                   # [planner]
    model: pets_ensemble            # [model]
    learning: {episodes: 10, ...}   # [learning.episodes] -> LearningConfig
    icem: {population: 64, ...}     # [icem.population]   -> the planner's config
    pets_ensemble: {...}            # [pets_ensemble.*]   -> the model's config
    cartpole_swingup: {...}         # [cartpole_swingup.*] -> the task's config

Precedence (later wins): ``config/planners/<planner>.yaml``,
``config/tasks/<task>.yaml`` (``config/tasks/default.yaml`` for a user's
``--task my_pkg.my_module:make_task``, whose own parameters are the ``task_params`` section),
user ``--params-file``s, ``-p name:=value``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from mbrl_ros.config import ConfigError, load_ros_params, merge, unflatten
from mbrl_ros.package_data import PackageDataNotFoundError, share_path


@dataclasses.dataclass(frozen=True)
class RunParameters:
    """The merged parameters of one run and where they came from."""

    task: str
    planner: str
    model: str
    values: dict[str, Any]
    sources: tuple[str, ...]

    def task_config(self) -> dict[str, Any]:
        """The task's own parameters: section ``<task>``, or ``task_params`` for a ``module:function`` task."""
        from mbrl_ros.tasks import task_section

        return self.section(task_section(self.task))

    def section(self, name: str) -> dict[str, Any]:
        """Parameters under ``name`` (e.g. the planner's own), or ``{}``."""
        value = self.values.get(name, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"parameter {name!r} must be a mapping, got {value!r}")
        return dict(value)


def parse_assignment(text: str) -> dict[str, Any]:
    """``"icem.population:=128"`` (or ``=``) -> ``{"icem": {"population": 128}}`` (YAML-typed value)."""
    sep = ":=" if ":=" in text else "="
    if sep not in text:
        raise ConfigError(f"parameter override {text!r} must look like name:=value")
    name, raw = text.split(sep, 1)
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"parameter override {text!r}: value is not valid YAML: {exc}") from exc
    return unflatten({name.strip(): value})


def _package_file(*parts: str) -> Path | None:
    try:
        return share_path(*parts)
    except PackageDataNotFoundError:
        return None


def resolve_run_parameters(task: str | None = None, planner: str | None = None, model: str | None = None,
                           params_files: Iterable[str | Path] = (), overrides: Iterable[str] = (),
                           node_name: str = "/**") -> RunParameters:
    """Merge the package defaults, user files and overrides for one run."""
    user: dict[str, Any] = {}
    for path in params_files:
        user = merge(user, load_ros_params(path, node_name))
    for text in overrides:
        user = merge(user, parse_assignment(text))
    explicit = {k: v for k, v in (("task", task), ("planner", planner), ("model", model)) if v}
    user = merge(user, explicit)
    task_name = user.get("task", "cartpole_swingup")
    # A user's "module:function" task has no file of its own: it gets the documented defaults of
    # config/tasks/default.yaml (planner, model, learning budget).
    task_file = _package_file("config", "tasks", "default.yaml") if ":" in str(task_name) else \
        _package_file("config", "tasks", f"{task_name}.yaml")
    task_defaults = load_ros_params(task_file, node_name) if task_file else {}
    planner_name = user.get("planner", task_defaults.get("planner", "icem"))
    planner_file = _package_file("config", "planners", f"{planner_name}.yaml")
    planner_defaults = load_ros_params(planner_file, node_name) if planner_file else {}
    values = merge(merge(planner_defaults, task_defaults), user)
    values.setdefault("planner", planner_name)
    values.setdefault("model", "pets_ensemble")
    values["task"] = task_name
    sources = tuple(str(p) for p in (planner_file, task_file, *params_files) if p)
    for key in ("task", "planner", "model"):
        if not isinstance(values[key], str):
            raise ConfigError(f"parameter {key!r} must be a name, got {values[key]!r}")
    return RunParameters(task=values["task"], planner=values["planner"], model=values["model"],
                         values=values, sources=sources)
