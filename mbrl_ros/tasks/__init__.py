"""Tasks (MuJoCo physics + task definitions) and the task registry (no ROS imports).

Built-in tasks: ``pendulum_swingup``, ``cartpole_swingup``, ``reacher``, the quadrotor tasks, and
the sparse-reward swing-ups ``pendulum_sparse`` and ``cartpole_sparse`` (:mod:`mbrl_ros.tasks.sparse`).
Add your own MuJoCo task by subclassing :class:`~mbrl_ros.tasks.physics.MujocoTask`
(its cost: a ``costs`` list of :class:`~mbrl_ros.tasks.costs.CostTerm`) and calling
:func:`register_task`, or wrap a Gymnasium-style environment with
:func:`~mbrl_ros.tasks.gym_task.register_gym_task`.

Example:
    task = make_task("cartpole_swingup", {"cost_weights": {"action": 0.02}}, force_limit=12.0)
    obs, _ = task.reset(seed=0)

User tasks without registering them in this process: a ``"module:function"`` spec
(``make_task("my_pkg.my_module:make_task")``, ``mbrl-ros train --task my_pkg.my_module:make_task``,
a launch file's ``task:=``) imports ``module`` and uses ``function`` as the task factory, so
every process (the CLI, each node) resolves the same spec to the same task. Its parameters
live under the section :data:`USER_TASK_SECTION` (``task_params.*``), since a dotted spec
cannot be a ROS parameter prefix.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any, Callable, Mapping

from mbrl_ros.config import ConfigError, merge, to_dict, unflatten
from mbrl_ros.registry import Registry
from mbrl_ros.tasks.base import SimulatedTask, Task, TaskSpec
from mbrl_ros.tasks.costs import CostTerm
from mbrl_ros.tasks.layout import ObsLayout

#: Task name -> factory ``(config: Mapping[str, Any]) -> Task``.
TASKS: Registry = Registry("task")

#: Parameter section of a task given as a ``"module:function"`` spec (a registered task uses its name).
USER_TASK_SECTION = "task_params"


class UserTaskError(ConfigError):
    """A ``"module:function"`` task spec that does not resolve to a task factory."""


def is_task_spec(name: str) -> bool:
    """True for a ``"module:function"`` user task spec (registered names are identifiers)."""
    return isinstance(name, str) and ":" in name


def task_section(name: str) -> str:
    """Parameter section of task ``name``: the name itself, or ``task_params`` for a user spec."""
    return USER_TASK_SECTION if is_task_spec(name) else name


def resolve_task_factory(name: str) -> Callable[..., Task]:
    """The factory of a registered task, or of a ``"module:function"`` spec (imported now).

    Raises:
        UnknownComponentError: ``name`` is neither registered nor a spec.
        UserTaskError: the module does not import or has no such callable.
    """
    if not is_task_spec(name):
        return TASKS.get(name)
    module_name, _, attr = name.partition(":")
    if not module_name or not attr:
        raise UserTaskError(f"task spec {name!r} must look like 'my_pkg.my_module:make_task'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserTaskError(f"task spec {name!r}: cannot import {module_name!r} ({exc}); is its directory "
                            f"on PYTHONPATH (in every process that loads the task)?") from exc
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise UserTaskError(f"task spec {name!r}: module {module_name!r} has no attribute {attr!r}")
    if not callable(factory):
        raise UserTaskError(f"task spec {name!r}: {attr!r} is not callable")
    return factory


def _takes_config(factory: Callable) -> bool:
    try:
        params = [p for p in inspect.signature(factory).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):  # builtins without a signature: assume the documented protocol
        return True
    return bool(params)


def register_task(name: str, factory: Callable[[Mapping[str, Any]], Task], *,
                  overwrite: bool = False) -> Callable[[Mapping[str, Any]], Task]:
    """Make ``factory`` available as ``make_task(name, ...)``.

    ``factory`` receives the task's parameters as a (possibly empty) nested
    mapping and returns a :class:`Task`; a task class whose constructor takes
    its config mapping works as is.
    """
    return TASKS.register(name, factory, overwrite=overwrite)


def make_task(name: str, config: Mapping[str, Any] | Any | None = None, **overrides: Any) -> Task:
    """Build the task registered as ``name``.

    Args:
        name: registry name, e.g. ``"cartpole_swingup"``, or a ``"module:function"`` user task
            spec whose function takes the config mapping (or no argument, then no config).
        config: parameters as a nested or dotted mapping (or a config dataclass);
            validated by the task's config class.
        **overrides: parameters that replace entries of ``config`` (deep merge).
    Raises:
        UnknownComponentError: ``name`` is not registered (the message lists what is).
        UserTaskError: a spec that does not resolve (see :func:`resolve_task_factory`).
        ConfigError: an unknown, mistyped or out-of-bounds parameter.
    """
    factory = resolve_task_factory(name)
    if config is None:
        values: dict[str, Any] = {}
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        values = to_dict(config)
    elif isinstance(config, Mapping):
        values = unflatten(dict(config))
    else:
        raise TypeError(f"task config must be a mapping or a config dataclass, got {type(config).__name__}")
    values = merge(values, unflatten(overrides))
    if _takes_config(factory):
        task = factory(values)
    elif values:
        raise ConfigError(f"task {name!r}: its factory takes no parameters, got {sorted(values)}")
    else:
        task = factory()
    if not isinstance(task, Task):
        raise TypeError(f"task factory for {name!r} returned {type(task).__name__}, not a Task")
    return task


# Built-in tasks register themselves here (one line per task).
from mbrl_ros.tasks.cartpole import CartpoleSwingupTask  # noqa: E402
from mbrl_ros.tasks.pendulum import PendulumSwingupTask  # noqa: E402
from mbrl_ros.tasks.reacher import ReacherTask  # noqa: E402
from mbrl_ros.tasks.gym_task import GymTask, register_gym_task  # noqa: E402
from mbrl_ros.tasks.quadrotor import QuadrotorHoverTask  # noqa: E402
from mbrl_ros.tasks.quadrotor import QuadrotorWaypointsTask  # noqa: E402
from mbrl_ros.tasks.sparse import CartpoleSparseTask, PendulumSparseTask  # noqa: E402

register_task(PendulumSwingupTask.name, PendulumSwingupTask)
register_task(CartpoleSwingupTask.name, CartpoleSwingupTask)
register_task(ReacherTask.name, ReacherTask)
register_task(QuadrotorHoverTask.name, QuadrotorHoverTask)
register_task(QuadrotorWaypointsTask.name, QuadrotorWaypointsTask)
register_task(PendulumSparseTask.name, PendulumSparseTask)
register_task(CartpoleSparseTask.name, CartpoleSparseTask)

__all__ = ["TASKS", "USER_TASK_SECTION", "UserTaskError", "is_task_spec", "task_section",
           "resolve_task_factory", "Task", "SimulatedTask", "TaskSpec", "CostTerm", "ObsLayout", "make_task",
           "register_task", "register_gym_task", "GymTask", "PendulumSwingupTask", "CartpoleSwingupTask", "ReacherTask"]
