"""Tasks (MuJoCo physics + task definitions) and the task registry (no ROS imports).

Built-in tasks: ``pendulum_swingup``, ``cartpole_swingup``, ``reacher``.
Add your own MuJoCo task by subclassing :class:`~mbrl_ros.tasks.physics.MujocoTask`
and calling :func:`register_task`, or wrap a Gymnasium-style environment with
:func:`~mbrl_ros.tasks.gym_task.register_gym_task`.

Example:
    task = make_task("cartpole_swingup", {"cost_weights": {"action": 0.02}}, force_limit=12.0)
    obs, _ = task.reset(seed=0)
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from mbrl_ros.config import merge, to_dict, unflatten
from mbrl_ros.registry import Registry
from mbrl_ros.tasks.base import SimulatedTask, Task, TaskSpec

#: Task name -> factory ``(config: Mapping[str, Any]) -> Task``.
TASKS: Registry = Registry("task")


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
        name: registry name, e.g. ``"cartpole_swingup"``.
        config: parameters as a nested or dotted mapping (or a config dataclass);
            validated by the task's config class.
        **overrides: parameters that replace entries of ``config`` (deep merge).
    Raises:
        UnknownComponentError: ``name`` is not registered (the message lists what is).
        ConfigError: an unknown, mistyped or out-of-bounds parameter.
    """
    factory = TASKS.get(name)
    if config is None:
        values: dict[str, Any] = {}
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        values = to_dict(config)
    elif isinstance(config, Mapping):
        values = unflatten(dict(config))
    else:
        raise TypeError(f"task config must be a mapping or a config dataclass, got {type(config).__name__}")
    values = merge(values, unflatten(overrides))
    task = factory(values)
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

register_task(PendulumSwingupTask.name, PendulumSwingupTask)
register_task(CartpoleSwingupTask.name, CartpoleSwingupTask)
register_task(ReacherTask.name, ReacherTask)
register_task(QuadrotorHoverTask.name, QuadrotorHoverTask)
register_task(QuadrotorWaypointsTask.name, QuadrotorWaypointsTask)

__all__ = ["TASKS", "Task", "SimulatedTask", "TaskSpec", "make_task", "register_task",
           "register_gym_task", "GymTask", "PendulumSwingupTask", "CartpoleSwingupTask", "ReacherTask"]
