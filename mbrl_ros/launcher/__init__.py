"""``mbrl-ros launch``: run a ROS 2 YAML launch file on a machine without ROS 2.

``mbrl-ros launch sim.launch.yaml task:=pendulum_swingup planner:=icem`` reads the same
file that ``ros2 launch mbrl_ros sim.launch.yaml ...`` reads on a ROS machine
(:mod:`mbrl_ros.launcher.yaml_launch`) and runs its processes
(:mod:`mbrl_ros.launcher.processes`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from mbrl_ros.launcher.processes import ProcessRunner, run_processes
from mbrl_ros.launcher.yaml_launch import (
    ExecutableNotFoundError,
    LaunchArgument,
    LaunchArgumentError,
    LaunchError,
    LaunchFileError,
    LaunchPlan,
    ProcessSpec,
    SubstitutionError,
    UnsupportedLaunchConstructError,
    find_launch_file,
    list_launch_arguments,
    load_launch_file,
    parse_launch_arguments,
    resolve_executable,
)

__all__ = [
    "ExecutableNotFoundError",
    "LaunchArgument",
    "LaunchArgumentError",
    "LaunchError",
    "LaunchFileError",
    "LaunchPlan",
    "ProcessRunner",
    "ProcessSpec",
    "SubstitutionError",
    "UnsupportedLaunchConstructError",
    "build_parser",
    "find_launch_file",
    "format_plan",
    "list_launch_arguments",
    "load_launch_file",
    "main",
    "parse_launch_arguments",
    "resolve_executable",
    "run_processes",
]

PROG = "mbrl-ros launch"


def build_parser() -> argparse.ArgumentParser:
    """Parser for the arguments that follow ``mbrl-ros launch``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run a ROS 2 YAML launch file without ROS 2 (the same file `ros2 launch` reads).",
    )
    parser.add_argument(
        "launch_file",
        help="path to a *.launch.yaml, or a file name in the mbrl_ros share directory's launch/ folder "
        "(`mbrl_ros NAME` as with ros2 launch works too)",
    )
    parser.add_argument("arguments", nargs="*", metavar="NAME:=VALUE", help="launch arguments")
    parser.add_argument("--print", dest="print_only", action="store_true",
                        help="print the resolved command lines instead of running them")
    parser.add_argument("-s", "--show-args", action="store_true",
                        help="list the launch file's arguments and exit")
    return parser


def format_plan(plan: LaunchPlan) -> str:
    """Human-readable listing of a plan: one block per process."""
    lines = [f"# {len(plan.processes)} process(es) from {plan.file}"]
    for message in plan.messages:
        lines.append(f"# {message}")
    for spec in plan.processes:
        flags = [flag for flag, on in (("on_exit: shutdown", spec.required), ("respawn", spec.respawn)) if on]
        where = f"node {(spec.namespace or '').rstrip('/')}/{spec.node_name}" if spec.node_name else "process"
        lines.append(f"[{spec.name}] {where}" + (f" ({', '.join(flags)})" if flags else ""))
        if spec.cwd:
            lines.append(f"  cwd: {spec.cwd}")
        lines.append(f"  {spec.command_line()}")
    generated = [f for spec in plan.processes for f in spec.params_files if Path(f).parent == plan.params_dir]
    if generated:
        lines.append(f"# parameter files are kept in {plan.params_dir}")
    return "\n".join(lines)


def _available_launch_files() -> list[str]:
    from mbrl_ros.package_data import PackageDataNotFoundError, share_dir

    try:
        return sorted(p.name for p in (share_dir() / "launch").glob("*.launch.yaml"))
    except PackageDataNotFoundError:
        return []


def _registered(argument: LaunchArgument) -> tuple[str, ...] | None:
    """The valid values of a ``task`` or ``planner`` argument, from the registries (None: other
    arguments). A ``planner`` whose description offers ``policy`` takes it too."""
    if argument.name == "task":
        from mbrl_ros.tasks import TASKS

        return tuple(TASKS.names())
    if argument.name == "planner":
        from mbrl_ros.planning import PLANNERS

        return tuple(PLANNERS.names()) + (("policy",) if "policy" in (argument.description or "") else ())
    return None


def _check_registered_names(arguments: Sequence[LaunchArgument], given: dict[str, str]) -> None:
    """A misspelt task or planner is refused with the registered names (before any file is read)."""
    for argument in arguments:
        if argument.name not in given or "$(" in given[argument.name]:
            continue
        valid = _registered(argument)
        if valid is not None and given[argument.name] not in valid:
            raise LaunchArgumentError(f"{argument.name}:={given[argument.name]} is not registered; valid "
                                      f"{argument.name}s: {', '.join(valid)}")


def _format_arguments(arguments: Sequence[LaunchArgument]) -> str:
    if not arguments:
        return "No arguments."
    lines = ["Arguments (pass arguments as '<name>:=<value>'):"]
    for argument in arguments:
        lines.append(f"\n    '{argument.name}':")
        lines.append(f"        {argument.description or 'no description given'}")
        registered = _registered(argument)
        if registered is not None:
            lines.append(f"        Registered: {', '.join(registered)}")
        if argument.choices:
            lines.append(f"        Valid choices are: {', '.join(argument.choices)}")
        default = "(required)" if argument.default is None else f"(default: '{argument.default}')"
        lines.append(f"        {default}")
    return "\n".join(lines)


def _split_package_form(launch_file: str, arguments: list[str]) -> tuple[str, list[str]]:
    """Accept ``mbrl_ros sim.launch.yaml`` (the ``ros2 launch PKG FILE`` form)."""
    if arguments and ":=" not in arguments[0] and ":=" not in launch_file and "/" not in launch_file \
            and not launch_file.endswith((".yaml", ".yml", ".py", ".xml")):
        if launch_file != "mbrl_ros":
            raise LaunchFileError(
                f"package {launch_file} is not available without ROS 2; this launcher runs mbrl_ros launch files"
            )
        return arguments[0], arguments[1:]
    return launch_file, arguments


def main(argv: Sequence[str] | None = None) -> int:
    """``mbrl-ros launch <file> [NAME:=VALUE ...] [--print] [--show-args]``.

    Args:
        argv: The arguments after ``launch`` (default ``sys.argv[1:]``).

    Returns:
        The exit code: 2 for a bad launch file or arguments, otherwise what
        :meth:`ProcessRunner.run` returns.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(f"usage: {PROG} FILE [NAME:=VALUE ...] [--print] [--show-args]\n"
              f"{PROG}: error: give a launch file: {', '.join(_available_launch_files())} "
              f"(`{PROG} FILE --show-args` lists its arguments, `{PROG} --help` the options)", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    plan = None
    try:
        launch_file, arguments = _split_package_form(args.launch_file, list(args.arguments))
        if args.show_args:
            print(_format_arguments(list_launch_arguments(launch_file)))
            return 0
        given = parse_launch_arguments(arguments)
        _check_registered_names(list_launch_arguments(launch_file), given)
        plan = load_launch_file(launch_file, given)
        if args.print_only:
            print(format_plan(plan))
            plan = None  # keep the parameter files the printed commands name
            return 0
        for message in plan.messages:
            print(message, file=sys.stderr)
        if not plan.processes:
            print(f"{PROG}: {plan.file} starts no processes", file=sys.stderr)
            return 0
        return ProcessRunner(plan.processes).run()
    except LaunchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if plan is not None:
            plan.cleanup()
