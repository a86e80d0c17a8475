"""Read a ROS 2 YAML launch file without ROS and plan the processes it starts.

The same ``*.launch.yaml`` serves ``ros2 launch mbrl_ros sim.launch.yaml task:=...`` on a
ROS machine and ``mbrl-ros launch sim.launch.yaml task:=...`` here, so this module follows
the ROS 2 frontend (``launch_yaml``, ``launch.frontend``, ``launch_ros.actions.Node``) in
what a file means, and refuses, with the construct and file named, whatever it does not
implement. It never ignores a construct silently.

Supported entities (``launch:`` is a list of them, or ``{children: [...]}``):

* ``arg``: ``name``, ``default``, ``description``, ``choice`` (``[{value: x}]``) or
  ``choices`` (``[x, y]``).
* ``let``: ``name``, ``value``.
* ``node``: ``pkg``, ``exec``, ``name``, ``namespace``, ``exec_name``, ``args``,
  ``ros_args``, ``param`` (``{name, value[, type]}``, nested ``{name, param: [...]}``,
  ``{from: FILE[, allow_substs]}``), ``remap`` (``{from, to}``) and the process attributes
  below.
* ``executable``: ``cmd`` and the process attributes below.
* process attributes: ``cwd``, ``env`` (``[{name, value}]``), ``output`` (every value
  means the screen here), ``on_exit: shutdown`` (the launch stops when this process
  exits), ``respawn``, ``respawn_delay``, ``sigterm_timeout``, ``sigkill_timeout``,
  ``launch-prefix``.
* ``group``: ``scoped`` (default true), ``forwarding`` (default true), ``keep``,
  ``children``; or a plain list of children.
* ``push-ros-namespace`` / ``push_ros_namespace``: ``namespace``.
* ``include``: ``file`` (YAML launch files only) and ``arg`` (``[{name, value}]``).
* ``set_env``, ``unset_env``, ``append_env`` (``prepend``, ``separator``), ``log``
  (``message``, ``level``).
* ``if`` / ``unless`` on every entity.

Substitutions (``$(var ...)``, ``$(env ...)``, ...) are described in
:mod:`mbrl_ros.launcher.substitutions`.

Deliberate differences from ``ros2 launch``, each one stricter or a fix:

* An argument given on the command line that no ``arg`` declares is an error.
* A ``from:`` parameter file that does not exist is an error (ROS warns and drops it).
* ``$(dirname)`` after an ``include`` still names the including file's directory
  (ros2/launch#618: ROS leaks the included file's directory).
* A relative ``include`` path is read, like ROS, from the current directory; when it only
  exists next to the including file the error says to write ``$(dirname)/...``.
* Consecutive inline ``param`` entries of one node share one temporary parameter file
  (ROS writes one file per entry; the values and their order are the same).

This module holds the interpreter that walks the entities and the public entry points
(:func:`load_launch_file`, :func:`list_launch_arguments`, :func:`find_launch_file`,
:func:`parse_launch_arguments`); the entity model lives in :mod:`mbrl_ros.launcher.entities`.
"""
from __future__ import annotations

import math
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from mbrl_ros.launcher.entities import (
    _FALSE, _NAMESPACE, _NODE_NAME, _PARAM_TYPES, _TRUE, ExecutableNotFoundError, LaunchArgument,
    LaunchArgumentError, LaunchError, LaunchFileError, LaunchPlan, ProcessSpec, SubstitutionError,
    UnsupportedLaunchConstructError, _check_parameter_value, _coerce_text, _Entity, _entity_list,
    _load_yaml_launch, _parse_choices, _static_argument_names, _top_level_required_arguments,
    _value_kind, _yaml_value, prefix_namespace,
)
from mbrl_ros.launcher.substitutions import (
    ExecutableResolver, _evaluate, _has_substitution, _Scope, _split_cmdline, parse_substitutions,
    resolve_executable,
)


# --------------------------------------------------------------------------- launch files and arguments


def find_launch_file(name: str | os.PathLike[str]) -> Path:
    """A launch file from a path, or a bare file name in ``<share>/launch``.

    Raises:
        LaunchFileError: neither exists.
    """
    path = Path(name)
    if path.is_file():
        return path.resolve()
    if len(path.parts) == 1:
        from mbrl_ros.package_data import PackageDataNotFoundError, share_dir

        try:
            launch_dir = share_dir() / "launch"
        except PackageDataNotFoundError as exc:
            raise LaunchFileError(f"launch file {name} not found here and {exc}") from None
        candidate = launch_dir / path
        if candidate.is_file():
            return candidate.resolve()
        available = sorted(p.name for p in launch_dir.glob("*.launch.yaml")) if launch_dir.is_dir() else []
        raise LaunchFileError(
            f"launch file {name} not found in the current directory nor in {launch_dir} "
            f"(available: {', '.join(available) or 'none'})"
        )
    raise LaunchFileError(f"launch file {path} does not exist")


def parse_launch_arguments(items: Iterable[str]) -> dict[str, str]:
    """``["task:=pendulum", ...]`` -> ``{"task": "pendulum"}``.

    Raises:
        LaunchArgumentError: an item without ``:=`` or with an empty name.
    """
    parsed: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise LaunchArgumentError(f"launch arguments are written name:=value, got {item!r}")
        parsed[name] = value
    return parsed


# --------------------------------------------------------------------------- interpreter

_PROCESS_ATTRIBUTES = (
    "cwd", "env", "output", "on_exit", "respawn", "respawn_delay", "sigterm_timeout", "sigkill_timeout",
    "launch-prefix",
)
_SUPPORTED_ENTITIES = (
    "arg", "let", "node", "executable", "group", "push-ros-namespace", "push_ros_namespace", "include",
    "set_env", "unset_env", "append_env", "log",
)


class _Interpreter:
    def __init__(
        self,
        arguments: Mapping[str, str],
        resolver: ExecutableResolver,
        environ: Mapping[str, str],
        params_dir: Path | None,
    ) -> None:
        self.cli_arguments = dict(arguments)
        self.resolver = resolver
        self.base_environment = dict(environ)
        self.params_dir = params_dir
        self.owns_params_dir = False
        self.processes: list[ProcessSpec] = []
        self.arguments: list[LaunchArgument] = []
        self.declared_names: set[str] = set()
        self.messages: list[str] = []
        self._labels: set[str] = set()
        self._params_count = 0
        self._include_stack: list[Path] = []

    # -- files and entity lists

    def run_file(self, path: Path, scope: _Scope) -> None:
        if path in self._include_stack:
            chain = " -> ".join(str(p) for p in [*self._include_stack, path])
            raise LaunchFileError(f"launch files include each other in a cycle: {chain}")
        self._include_stack.append(path)
        try:
            self.run_entities(_load_yaml_launch(path), scope)
        finally:
            self._include_stack.pop()

    def run_entities(self, entities: list[_Entity], scope: _Scope) -> None:
        for entity in entities:
            if self._condition_holds(entity, scope):
                self._dispatch(entity, scope)
            else:
                self._note_skipped_arguments(entity)

    def _condition_holds(self, entity: _Entity, scope: _Scope) -> bool:
        if not isinstance(entity.body, dict):
            return True
        if_text = entity.text("if", optional=True)
        unless_text = entity.text("unless", optional=True)
        if if_text is not None and unless_text is not None:
            raise entity.error("'if' and 'unless' cannot be used together")
        for text, wanted in ((if_text, True), (unless_text, False)):
            if text is None:
                continue
            value = self._sub(entity, text, scope).strip().lower()
            if value in _TRUE:
                return wanted
            if value in _FALSE:
                return not wanted
            raise entity.error(
                f"condition {text!r} evaluated to {value!r}; a condition must be one of true, false, 1, 0"
            )
        return True

    def _note_skipped_arguments(self, entity: _Entity) -> None:
        """Arguments declared behind a false condition are still valid command-line names."""
        if entity.kind == "arg" and isinstance(entity.body, dict) and isinstance(entity.body.get("name"), str):
            self.declared_names.add(entity.body["name"])
        elif entity.kind == "group":
            body = entity.body
            items = body if isinstance(body, list) else body.get("children") if isinstance(body, dict) else None
            try:
                children = _entity_list(items, entity.file, f"{entity.label}.children")
            except LaunchFileError:
                return
            for child in children:
                self._note_skipped_arguments(child)

    def _dispatch(self, entity: _Entity, scope: _Scope) -> None:
        handler = {
            "arg": self._arg,
            "let": self._let,
            "node": self._node,
            "executable": self._executable,
            "group": self._group,
            "push-ros-namespace": self._push_ros_namespace,
            "push_ros_namespace": self._push_ros_namespace,
            "include": self._include,
            "set_env": self._set_env,
            "unset_env": self._unset_env,
            "append_env": self._append_env,
            "log": self._log,
        }.get(entity.kind)
        if handler is None:
            raise UnsupportedLaunchConstructError(
                f"{entity.file}: `{entity.kind}` ({entity.label}) is not supported by the mbrl_ros launcher "
                f"(supported: {', '.join(_SUPPORTED_ENTITIES)}); run this file with `ros2 launch` instead"
            )
        handler(entity, scope)
        if entity.kind != "group":
            entity.finish()

    # -- helpers

    def _sub(self, entity: _Entity, text: str, scope: _Scope) -> str:
        try:
            return _evaluate(parse_substitutions(text), scope)
        except SubstitutionError as exc:
            raise entity.error(str(exc), SubstitutionError) from None

    def _sub_attr(self, entity: _Entity, name: str, scope: _Scope, optional: bool = False) -> str | None:
        text = entity.text(name, optional)
        return None if text is None else self._sub(entity, text, scope)

    def _bool_attr(self, entity: _Entity, name: str, scope: _Scope, default: bool) -> bool:
        value = entity.raw(name, optional=True)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            text = self._sub(entity, value, scope).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
        raise entity.error(f"attribute '{name}' must be true or false, got {value!r}")

    def _float_attr(self, entity: _Entity, name: str, scope: _Scope, default: float) -> float:
        value = entity.raw(name, optional=True)
        if value is None:
            return default
        if isinstance(value, bool):
            raise entity.error(f"attribute '{name}' must be a number of seconds, got {value!r}")
        if isinstance(value, str):
            value = self._sub(entity, value, scope)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise entity.error(f"attribute '{name}' must be a number of seconds, got {value!r}") from None
        if number < 0 or not math.isfinite(number):
            raise entity.error(f"attribute '{name}' must be a non-negative number of seconds, got {value!r}")
        return number

    def _cmdline_attr(self, entity: _Entity, name: str, scope: _Scope, optional: bool = True) -> list[str]:
        text = entity.text(name, optional)
        if text is None:
            return []
        try:
            return _split_cmdline(parse_substitutions(text), scope)
        except LaunchFileError as exc:
            raise entity.error(str(exc), type(exc)) from None

    def _name_value_pairs(self, entity: _Entity, name: str, scope: _Scope) -> list[tuple[str, str]]:
        pairs = []
        for item in entity.children(name) or []:
            pairs.append((self._sub_attr(item, "name", scope), self._sub_attr(item, "value", scope)))
            item.finish()
        return pairs

    def _unique_label(self, wanted: str) -> str:
        label, count = wanted, 1
        while label in self._labels:
            count += 1
            label = f"{wanted}-{count}"
        self._labels.add(label)
        return label

    # -- arg, let, environment, log

    def _arg(self, entity: _Entity, scope: _Scope) -> None:
        name = entity.text("name")
        default = entity.text("default", optional=True)
        description = entity.text("description", optional=True) or ""
        choices = _parse_choices(entity)
        self.declared_names.add(name)
        self.arguments.append(LaunchArgument(name, default, description, choices, entity.file))
        if name not in scope.configurations:
            if default is None:
                given = ", ".join(f"{k}:={v}" for k, v in self.cli_arguments.items()) or "none"
                hint = f" ({description})" if description else ""
                raise entity.error(
                    f"launch argument '{name}'{hint} has no default and was not given: pass {name}:=VALUE "
                    f"(arguments given: {given})",
                    LaunchArgumentError,
                )
            scope.configurations[name] = self._sub(entity, default, scope)
        value = scope.configurations[name]
        if choices is not None and value not in choices:
            raise entity.error(
                f"launch argument '{name}' is {value!r}, which is not one of: {', '.join(choices)}",
                LaunchArgumentError,
            )

    def _let(self, entity: _Entity, scope: _Scope) -> None:
        name = self._sub_attr(entity, "name", scope)
        scope.configurations[name] = self._sub_attr(entity, "value", scope)

    def _set_env(self, entity: _Entity, scope: _Scope) -> None:
        name = self._sub_attr(entity, "name", scope)
        scope.environment[name] = self._sub_attr(entity, "value", scope)

    def _unset_env(self, entity: _Entity, scope: _Scope) -> None:
        scope.environment.pop(self._sub_attr(entity, "name", scope), None)

    def _append_env(self, entity: _Entity, scope: _Scope) -> None:
        name = self._sub_attr(entity, "name", scope)
        value = self._sub_attr(entity, "value", scope)
        prepend = self._bool_attr(entity, "prepend", scope, default=False)
        separator = self._sub_attr(entity, "separator", scope, optional=True)
        separator = os.pathsep if separator is None else separator
        if name in scope.environment:
            old = scope.environment[name]
            scope.environment[name] = value + separator + old if prepend else old + separator + value
        else:
            scope.environment[name] = value

    def _log(self, entity: _Entity, scope: _Scope) -> None:
        message = self._sub_attr(entity, "message", scope)
        level = (self._sub_attr(entity, "level", scope, optional=True) or "INFO").upper()
        self.messages.append(f"[{level}] [launch.user]: {message}")

    # -- group, namespace, include

    def _group(self, entity: _Entity, scope: _Scope) -> None:
        if isinstance(entity.body, list):
            children, scoped, forwarding, keep = entity.body, True, True, []
        elif isinstance(entity.body, dict):
            scoped = self._bool_attr(entity, "scoped", scope, default=True)
            forwarding = self._bool_attr(entity, "forwarding", scope, default=True)
            keep = self._name_value_pairs(entity, "keep", scope)
            children = entity.raw("children", optional=True) or []
            entity.finish()
        else:
            raise entity.error("a group is a list of entities or a mapping with 'children'")
        entities = _entity_list(children, entity.file, f"{entity.label}.children")
        if not scoped:
            scope.configurations.update(keep)
            self.run_entities(entities, scope)
            return
        inner = scope.scoped_copy()
        if forwarding:
            inner.configurations.update(keep)
        else:
            inner.configurations = dict(keep)
            inner.environment = dict(self.base_environment)
        self.run_entities(entities, inner)

    def _push_ros_namespace(self, entity: _Entity, scope: _Scope) -> None:
        pushed = self._sub_attr(entity, "namespace", scope)
        namespace = prefix_namespace(scope.configurations.get("ros_namespace"), pushed)
        self._validate_namespace(entity, namespace)
        scope.configurations["ros_namespace"] = namespace

    def _include(self, entity: _Entity, scope: _Scope) -> None:
        if isinstance(entity.body, str):
            # `- include: path` is the short form of `- include: {file: path}`.
            entity.body = {"file": entity.body}
        file_text = self._sub_attr(entity, "file", scope)
        path = Path(file_text)
        if not path.is_absolute() and not path.is_file():
            beside = scope.file.parent / path
            if beside.is_file():
                raise entity.error(
                    f"included file {file_text} is read from the current directory, as `ros2 launch` does, "
                    f"and is not there; to include {beside} write file: '$(dirname)/{file_text}'"
                )
        if not path.is_file():
            raise entity.error(f"included launch file {path} does not exist")
        path = path.resolve()
        included_scope = scope.in_file(path)
        given = []
        for item in entity.children("arg") or []:
            name = self._sub_attr(item, "name", scope)
            # SetLaunchConfiguration runs in order: a later value may use an earlier one.
            scope.configurations[name] = self._sub_attr(item, "value", scope)
            given.append(name)
            item.finish()
        for argument in _top_level_required_arguments(path):
            # Like ROS: the include itself must pass it, whatever the parent has set.
            if argument not in given:
                raise entity.error(
                    f"included launch file {path} requires argument '{argument}'; add it to this include's "
                    f"'arg' list ({{name: {argument}, value: ...}})",
                    LaunchArgumentError,
                )
        self.run_file(path, included_scope)

    # -- processes

    def _node(self, entity: _Entity, scope: _Scope) -> None:
        package = self._sub_attr(entity, "pkg", scope, optional=True)
        executable = self._sub_attr(entity, "exec", scope)
        node_name = self._sub_attr(entity, "name", scope, optional=True)
        namespace = self._sub_attr(entity, "namespace", scope, optional=True)
        exec_name = self._sub_attr(entity, "exec_name", scope, optional=True)
        if node_name is not None and not _NODE_NAME.match(node_name):
            raise entity.error(
                f"node name {node_name!r} is invalid: use letters, digits and '_', not starting with a digit"
            )
        namespace = prefix_namespace(scope.configurations.get("ros_namespace"), namespace)
        if namespace is not None:
            self._validate_namespace(entity, namespace)
        if package is not None:
            try:
                cmd = list(self.resolver(package, executable))
            except ExecutableNotFoundError as exc:
                raise entity.error(str(exc), ExecutableNotFoundError) from None
        else:
            cmd = [executable]
        cmd += self._cmdline_attr(entity, "args", scope)
        ros_args = self._cmdline_attr(entity, "ros_args", scope)
        if ros_args:
            cmd += ["--ros-args", *ros_args]
        cmd.append("--ros-args")
        if node_name is not None:
            cmd += ["-r", f"__node:={node_name}"]
        if namespace is not None:
            cmd += ["-r", f"__ns:={namespace}"]
        fully_specified = node_name is not None and namespace is not None
        params_key = prefix_namespace(namespace, node_name) if fully_specified else "/**"
        label = self._unique_label(exec_name or node_name or Path(executable).name)
        params_files = self._parameters(entity, scope, params_key, label)
        for path in params_files:
            cmd += ["--params-file", path]
        for item in entity.children("remap") or []:
            source = self._sub_attr(item, "from", scope)
            target = self._sub_attr(item, "to", scope)
            item.finish()
            cmd += ["-r", f"{source}:={target}"]
        spec = self._process_spec(entity, scope, label, cmd)
        spec.node_name, spec.namespace, spec.params_files = node_name, namespace, tuple(params_files)
        self.processes.append(spec)

    def _executable(self, entity: _Entity, scope: _Scope) -> None:
        cmd = self._cmdline_attr(entity, "cmd", scope, optional=False)
        if not cmd:
            raise entity.error("attribute 'cmd' is empty")
        shell = entity.raw("shell", optional=True)
        if shell not in (None, False, "false", "False"):
            raise entity.error(
                "'shell: true' is not supported by the mbrl_ros launcher", UnsupportedLaunchConstructError
            )
        label = self._unique_label(self._sub_attr(entity, "name", scope, optional=True) or Path(cmd[0]).name)
        self.processes.append(self._process_spec(entity, scope, label, cmd))

    def _process_spec(self, entity: _Entity, scope: _Scope, label: str, cmd: list[str]) -> ProcessSpec:
        prefix = self._sub_attr(entity, "launch-prefix", scope, optional=True)
        if prefix:
            cmd = shlex.split(prefix) + cmd
        cwd = self._sub_attr(entity, "cwd", scope, optional=True)
        if cwd is not None and not Path(cwd).is_dir():
            raise entity.error(f"working directory {cwd} does not exist")
        entity.text("output", optional=True)  # every output mode goes to the screen here
        on_exit = self._sub_attr(entity, "on_exit", scope, optional=True)
        if on_exit not in (None, "shutdown"):
            raise entity.error(f"on_exit must be 'shutdown' (the only value ROS 2 accepts), got {on_exit!r}")
        environment = dict(scope.environment)
        environment.update(self._name_value_pairs(entity, "env", scope))
        return ProcessSpec(
            name=label,
            cmd=cmd,
            env={k: v for k, v in environment.items() if self.base_environment.get(k) != v},
            unset_env=tuple(k for k in self.base_environment if k not in environment),
            cwd=cwd,
            required=on_exit == "shutdown",
            respawn=self._bool_attr(entity, "respawn", scope, default=False),
            respawn_delay=self._float_attr(entity, "respawn_delay", scope, 0.0),
            sigterm_timeout=self._float_attr(entity, "sigterm_timeout", scope, 5.0),
            sigkill_timeout=self._float_attr(entity, "sigkill_timeout", scope, 5.0),
            source=entity.where,
        )

    def _validate_namespace(self, entity: _Entity, namespace: str) -> None:
        if not _NAMESPACE.match(namespace):
            raise entity.error(
                f"namespace {namespace!r} is invalid: '/'-separated tokens of letters, digits and '_', "
                "none starting with a digit"
            )

    # -- parameters

    def _parameters(self, entity: _Entity, scope: _Scope, key: str, label: str) -> list[str]:
        """``--params-file`` paths, in order; consecutive inline entries share one file."""
        files: list[str] = []
        pending: dict[str, Any] = {}

        def flush() -> None:
            if pending:
                files.append(self._write_params(label, {key: {"ros__parameters": dict(pending)}}))
                pending.clear()

        for item in entity.children("param") or []:
            if item.has("from"):
                if item.has("name"):
                    raise item.error("'name' and 'from' cannot be used together")
                flush()
                files.append(self._params_file(item, scope, label))
            elif item.has("name"):
                pending.update(self._inline_parameter(item, scope, prefix=""))
            else:
                raise item.error("a param needs 'name' (with 'value' or nested 'param') or 'from'")
            item.finish()
        flush()
        return files

    def _inline_parameter(self, item: _Entity, scope: _Scope, prefix: str) -> dict[str, Any]:
        name = prefix + self._sub_attr(item, "name", scope)
        has_value, nested = item.has("value"), item.has("param")
        type_id = item.text("type", optional=True)
        if has_value and nested:
            raise item.error("nested 'param' and 'value' cannot be used together")
        if nested:
            if type_id is not None:
                raise item.error("nested 'param' and 'type' cannot be used together")
            values: dict[str, Any] = {}
            for child in item.children("param"):
                values.update(self._inline_parameter(child, scope, prefix=name + "."))
                child.finish()
            return values
        if not has_value:
            raise item.error(f"parameter '{name}' needs a 'value' or nested 'param' entries")
        return {name: self._parameter_value(item, item.raw("value"), type_id, scope, name)}

    def _parameter_value(self, item: _Entity, raw: Any, type_id: str | None, scope: _Scope, name: str) -> Any:
        where = f"{item.where}: parameter '{name}'"
        if type_id is not None and type_id not in _PARAM_TYPES:
            raise item.error(f"unknown parameter type {type_id!r} (one of: {', '.join(_PARAM_TYPES)})")
        kind, is_list = _PARAM_TYPES.get(type_id, (None, False))
        if kind is None:
            return self._guess_parameter_value(item, raw, scope, where)
        if is_list:
            if isinstance(raw, str):
                value = _yaml_value(self._sub(item, raw, scope), where)
                if not isinstance(value, list):
                    raise LaunchFileError(f"{where}: {raw!r} is not a list")
            elif isinstance(raw, list):
                value = [self._typed_element(item, element, kind, scope, where) for element in raw]
            else:
                raise LaunchFileError(f"{where}: type {type_id} needs a list, got {raw!r}")
            if not value or not all(isinstance(v, kind) and _value_kind(v) is kind for v in value):
                raise LaunchFileError(
                    f"{where}: type {type_id} needs a non-empty list of {kind.__name__}, got {value!r}"
                )
            return value
        return self._typed_element(item, raw, kind, scope, where)

    def _typed_element(self, item: _Entity, raw: Any, kind: type, scope: _Scope, where: str) -> Any:
        if isinstance(raw, str):
            return _coerce_text(self._sub(item, raw, scope), kind, where)
        if _value_kind(raw) is not kind:
            raise LaunchFileError(f"{where}: {raw!r} is not a {kind.__name__} (ROS 2 launch does not convert it)")
        return raw

    def _guess_parameter_value(self, item: _Entity, raw: Any, scope: _Scope, where: str) -> Any:
        """No ``type``: YAML scalars keep their type, plain strings stay strings, and
        strings with substitutions are read with YAML rules after substitution."""
        def one(value: Any) -> Any:
            if isinstance(value, str):
                fragments = parse_substitutions(value)
                if not _has_substitution(fragments):
                    return "".join(fragments)
                return _yaml_value(self._sub(item, value, scope), where)
            if _value_kind(value) is None:
                raise LaunchFileError(
                    f"{where}: {type(value).__name__} values are not parameter values; "
                    "use nested `param` entries for a mapping"
                )
            return value

        try:
            if isinstance(raw, list):
                plain_kinds = {_value_kind(v) for v in raw if not isinstance(v, str) or "$(" not in v}
                if len(plain_kinds) > 1:
                    raise LaunchFileError(
                        f"{where}: {raw!r} mixes types; ROS 2 launch rejects non-uniform lists "
                        "(write 1.0, not 1, in a list of floats)"
                    )
                return _check_parameter_value([one(v) for v in raw], where)
            return one(raw)
        except SubstitutionError as exc:
            raise item.error(str(exc), SubstitutionError) from None

    def _params_file(self, item: _Entity, scope: _Scope, label: str) -> str:
        path = Path(self._sub_attr(item, "from", scope))
        if not path.is_file():
            # List what is there: a misspelt name in the path (task, planner, sensor profile) shows its valid values.
            folder = path.parent if path.parent.is_dir() else path.parent.parent
            there = sorted(p.stem for p in folder.glob("*.yaml")) if folder is path.parent else \
                sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
            raise item.error(f"parameter file {path} does not exist"
                             + (f"; {folder} has: {', '.join(there)}" if there else ""))
        if not self._bool_attr(item, "allow_substs", scope, default=False):
            return str(path.resolve())
        try:
            text = yaml.safe_dump(yaml.safe_load(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            raise item.error(f"parameter file {path} is not valid YAML: {exc}") from None
        substituted = self._sub(item, text, scope)
        try:
            document = yaml.safe_load(substituted)
        except yaml.YAMLError as exc:
            raise item.error(f"parameter file {path} is not valid YAML after substitution: {exc}") from None
        return self._write_params(label, document)

    def _write_params(self, label: str, document: Any) -> str:
        if self.params_dir is None:
            self.params_dir = Path(tempfile.mkdtemp(prefix="mbrl_ros_launch_"))
            self.owns_params_dir = True
        self.params_dir.mkdir(parents=True, exist_ok=True)
        self._params_count += 1
        path = self.params_dir / f"{self._params_count:02d}_{label}.yaml"
        path.write_text(yaml.safe_dump(document, default_flow_style=False, sort_keys=False), encoding="utf-8")
        return str(path)


def _cleanup_params(interpreter: _Interpreter) -> None:
    if interpreter.owns_params_dir:
        LaunchPlan(Path(), [], [], {}, params_dir=interpreter.params_dir, _owns_params_dir=True).cleanup()


def list_launch_arguments(launch_file: str | os.PathLike[str]) -> list[LaunchArgument]:
    """Arguments a launch file declares at its top level (what ``ros2 launch -s`` lists first)."""
    path = find_launch_file(launch_file)
    arguments = []
    for entity in _load_yaml_launch(path):
        if entity.kind == "arg" and isinstance(entity.body, dict):
            arguments.append(LaunchArgument(
                entity.text("name"), entity.text("default", optional=True),
                entity.text("description", optional=True) or "", _parse_choices(entity), path,
            ))
    return arguments


def load_launch_file(
    launch_file: str | os.PathLike[str],
    arguments: Mapping[str, str] | Iterable[str] = (),
    *,
    resolver: ExecutableResolver = resolve_executable,
    environ: Mapping[str, str] | None = None,
    params_dir: str | os.PathLike[str] | None = None,
) -> LaunchPlan:
    """Interpret a YAML launch file into the processes it starts, without running them.

    Args:
        launch_file: Path, or a bare name looked up in ``<share>/launch``.
        arguments: ``{"task": "pendulum_swingup"}`` or ``["task:=pendulum_swingup"]``.
        resolver: ``(pkg, exec) -> argv prefix``; default :func:`resolve_executable`.
        environ: Environment the launch starts from (default ``os.environ``); ``$(env)``
            reads it and :attr:`ProcessSpec.env` holds the changes to it.
        params_dir: Where to write parameter files for inline ``param`` entries; default
            a new temporary directory, deleted by :meth:`LaunchPlan.cleanup`.

    Raises:
        LaunchFileError: malformed file, failed substitution, or unsupported construct
            (:class:`UnsupportedLaunchConstructError`, :class:`SubstitutionError`).
        LaunchArgumentError: unknown, missing or invalid launch arguments.
        ExecutableNotFoundError: a node's executable cannot be resolved.
    """
    path = find_launch_file(launch_file)
    given = dict(arguments) if isinstance(arguments, Mapping) else parse_launch_arguments(arguments)
    interpreter = _Interpreter(
        given, resolver, os.environ if environ is None else environ,
        None if params_dir is None else Path(params_dir),
    )
    scope = _Scope(dict(given), dict(interpreter.base_environment), path)
    try:
        interpreter.run_file(path, scope)
    except LaunchError as exc:
        _cleanup_params(interpreter)
        known = interpreter.declared_names | _static_argument_names(path)
        unknown = [name for name in given if name not in known]
        if not unknown:
            raise
        # A misspelled argument is a likely cause of whatever failed: say so.
        raise type(exc)(f"{exc} (note: unknown launch argument(s) {', '.join(unknown)})") from exc
    except BaseException:
        _cleanup_params(interpreter)
        raise
    unknown = [name for name in given if name not in interpreter.declared_names]
    if unknown:
        _cleanup_params(interpreter)
        raise LaunchArgumentError(
            f"unknown launch argument(s) {', '.join(unknown)} for {path}; declared arguments: "
            f"{', '.join(sorted(interpreter.declared_names)) or 'none'}"
        )
    return LaunchPlan(
        file=path,
        processes=interpreter.processes,
        arguments=interpreter.arguments,
        configurations=dict(scope.configurations),
        messages=interpreter.messages,
        params_dir=interpreter.params_dir,
        _owns_params_dir=interpreter.owns_params_dir,
    )
