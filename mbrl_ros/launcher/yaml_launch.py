"""Read a ROS 2 YAML launch file without ROS and plan the processes it starts.

The public names of the YAML launcher, gathered from the three modules that hold it,
laid out like ROS 2 launch itself (entities, substitutions, the frontend interpreter):

* :mod:`mbrl_ros.launcher.entities`: the exceptions, :class:`LaunchArgument`,
  :class:`ProcessSpec`, :class:`LaunchPlan`, the entity model and the loading of a
  ``*.launch.yaml``, and the checks of names and parameter values.
* :mod:`mbrl_ros.launcher.substitutions`: ``$(...)`` parsing and evaluation, command-line
  splitting and :func:`resolve_executable`.
* :mod:`mbrl_ros.launcher.interpreter`: what each entity does, :func:`load_launch_file`,
  :func:`list_launch_arguments`, :func:`find_launch_file`, :func:`parse_launch_arguments`;
  its docstring lists the supported entities and the deliberate differences from
  ``ros2 launch``.
"""
from __future__ import annotations

from mbrl_ros.launcher.entities import (
    PACKAGE, ExecutableNotFoundError, LaunchArgument, LaunchArgumentError, LaunchError, LaunchFileError, LaunchPlan,
    ProcessSpec, SubstitutionError, UnsupportedLaunchConstructError, prefix_namespace,
)
from mbrl_ros.launcher.interpreter import (
    find_launch_file, list_launch_arguments, load_launch_file, parse_launch_arguments,
)
from mbrl_ros.launcher.substitutions import (
    SUPPORTED_SUBSTITUTIONS, ExecutableResolver, Fragment, Substitution, parse_substitutions, resolve_executable,
)

__all__ = [
    "PACKAGE",
    "SUPPORTED_SUBSTITUTIONS",
    "ExecutableNotFoundError",
    "ExecutableResolver",
    "Fragment",
    "LaunchArgument",
    "LaunchArgumentError",
    "LaunchError",
    "LaunchFileError",
    "LaunchPlan",
    "ProcessSpec",
    "Substitution",
    "SubstitutionError",
    "UnsupportedLaunchConstructError",
    "find_launch_file",
    "list_launch_arguments",
    "load_launch_file",
    "parse_launch_arguments",
    "parse_substitutions",
    "prefix_namespace",
    "resolve_executable",
]
