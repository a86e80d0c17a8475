"""Parameters several nodes share with ``mbrl-ros train``: the task and the ``learning`` section.

The same ROS params files drive the in-process loop and the nodes
(``config/tasks/<task>.yaml``, ``config/planners/<planner>.yaml``): a node
declares ``task`` plus the task's own section (``pendulum_swingup.*``, the
fields of the task's config class) and the ``learning.*`` fields of
:class:`~mbrl_ros.learning.LearningConfig`, and uses the ones that concern it.
"""
from __future__ import annotations

from typing import Any

import torch

from mbrl_ros.learning import LearningConfig
from mbrl_ros.nodes.parameters import declare_config
from mbrl_ros.tasks import make_task, resolve_task_factory, task_section
from mbrl_ros.tasks.base import Task


def declare_task(node: Any, name: str) -> Task:
    """Build task ``name`` from the node's ``<name>.*`` parameters (the task config's fields).

    ``name`` may be a user's ``"module:function"`` spec: every node imports the same module
    (it must be on the node's PYTHONPATH) and reads the ``task_params.*`` parameters.

    Raises:
        UnknownComponentError: no such task. UserTaskError: a spec that does not resolve.
        ConfigError: a bad task parameter.
    """
    factory = resolve_task_factory(name)
    config_cls = getattr(factory, "Config", None)
    if config_cls is None:
        return make_task(name)
    return make_task(name, declare_config(node, config_cls, prefix=task_section(name)))


def declare_learning(node: Any) -> LearningConfig:
    """The ``learning.*`` parameters; applies ``learning.threads`` to torch in this process."""
    learning = declare_config(node, LearningConfig, prefix="learning")
    torch.set_num_threads(learning.threads)
    return learning
