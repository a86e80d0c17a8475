"""``$(...)`` substitutions of ``launch.frontend``: parsing, evaluation, command-line splitting.

Supported: ``$(var NAME [DEFAULT])``, ``$(env NAME [DEFAULT])``,
``$(optenv NAME [DEFAULT])``, ``$(find-pkg-share mbrl_ros)``, ``$(dirname)``,
``$(filename)``, ``$(eval 'PYTHON EXPRESSION')`` (evaluated like ROS's
``PythonExpression``, with the names of :mod:`math` in scope).

:func:`parse_substitutions` turns text into literal strings and :class:`Substitution`
objects; ``_evaluate``/``_perform`` give their values in a ``_Scope`` (launch
configurations, environment, current file); ``_split_cmdline`` splits a command line as
``ExecuteProcess`` does. :func:`resolve_executable` turns a node's ``pkg``/``exec`` into a
command (what ``launch_ros``'s ``ExecutableInPackage`` substitution does on a ROS machine).
It imports only :mod:`mbrl_ros.launcher.entities`.
"""
from __future__ import annotations

import math
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, Union

from mbrl_ros.launcher.entities import PACKAGE, ExecutableNotFoundError, LaunchFileError, SubstitutionError


# --------------------------------------------------------------------------- substitutions


@dataclass(frozen=True)
class Substitution:
    """A parsed ``$(name arg ...)``; every argument is itself a list of fragments."""

    name: str
    args: tuple[tuple["Fragment", ...], ...]

    def __str__(self) -> str:
        rendered = ["".join(_render(f) for f in arg) for arg in self.args]
        return "$(" + " ".join([self.name, *rendered]) + ")"


Fragment = Union[str, Substitution]

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
SUPPORTED_SUBSTITUTIONS = ("var", "env", "optenv", "find-pkg-share", "dirname", "filename", "eval")


def _render(fragment: Fragment) -> str:
    return fragment if isinstance(fragment, str) else str(fragment)


class _SubstitutionParser:
    """Recursive-descent reader of the ``launch.frontend`` substitution grammar.

    Outside ``$(...)`` everything is text (``\\x`` escapes ``x``). Inside, arguments are
    separated by spaces; an argument is unquoted text without spaces, quotes or
    parentheses, or a ``'...'``/``"..."`` string; both may contain nested substitutions.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> SubstitutionError:
        return SubstitutionError(f"cannot parse substitutions in {self.text!r} at column {self.pos + 1}: {message}")

    def template(self) -> list[Fragment]:
        fragments: list[Fragment] = []
        buffer: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                buffer.append(self.text[self.pos + 1])
                self.pos += 2
            elif self.text.startswith("$(", self.pos):
                _flush(buffer, fragments)
                fragments.append(self.substitution())
            else:
                buffer.append(char)
                self.pos += 1
        _flush(buffer, fragments)
        return fragments

    def substitution(self) -> Substitution:
        self.pos += 2
        match = _IDENTIFIER.match(self.text, self.pos)
        if match is None:
            raise self.error("expected a substitution name after '$('")
        self.pos = match.end()
        args: list[tuple[Fragment, ...]] = []
        while True:
            if self.pos >= len(self.text):
                raise self.error(f"'$({match.group()}' is not closed with ')'")
            char = self.text[self.pos]
            if char == ")":
                self.pos += 1
                return Substitution(match.group(), tuple(args))
            if char != " ":
                raise self.error(f"expected ' ' or ')' after the name or an argument of $({match.group()} ...)")
            while self.pos < len(self.text) and self.text[self.pos] == " ":
                self.pos += 1
            if self.pos < len(self.text) and self.text[self.pos] != ")":
                args.append(self.argument())

    def argument(self) -> tuple[Fragment, ...]:
        fragments: list[Fragment] = []
        buffer: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " )":
                break
            if char in "'\"":
                _flush(buffer, fragments)
                fragments.extend(self.quoted(char))
            elif char == "\\" and self.pos + 1 < len(self.text):
                buffer.append(self.text[self.pos + 1])
                self.pos += 2
            elif self.text.startswith("$(", self.pos):
                _flush(buffer, fragments)
                fragments.append(self.substitution())
            elif char == "(":
                raise self.error("'(' inside a substitution argument must be quoted, e.g. $(eval 'max(1, 2)')")
            else:
                buffer.append(char)
                self.pos += 1
        _flush(buffer, fragments)
        return tuple(fragments)

    def quoted(self, quote: str) -> list[Fragment]:
        self.pos += 1
        fragments: list[Fragment] = []
        buffer: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                _flush(buffer, fragments)
                return fragments
            if char == "\\" and self.pos + 1 < len(self.text):
                buffer.append(self.text[self.pos + 1])
                self.pos += 2
            elif self.text.startswith("$(", self.pos):
                _flush(buffer, fragments)
                fragments.append(self.substitution())
            else:
                buffer.append(char)
                self.pos += 1
        raise self.error(f"unterminated {quote} quote")


def _flush(buffer: list[str], fragments: list[Fragment]) -> None:
    if buffer:
        fragments.append("".join(buffer))
        buffer.clear()


def parse_substitutions(text: str) -> list[Fragment]:
    """Split ``text`` into literal strings and :class:`Substitution` objects.

    Raises:
        SubstitutionError: unbalanced ``$(``, a missing name, or an unquoted ``(``.
    """
    return _SubstitutionParser(text).template()


def _has_substitution(fragments: Sequence[Fragment]) -> bool:
    return any(isinstance(f, Substitution) for f in fragments)


@dataclass
class _Scope:
    """Launch configurations and environment seen by the entities being evaluated."""

    configurations: dict[str, str]
    environment: dict[str, str]
    file: Path

    def scoped_copy(self) -> "_Scope":
        return _Scope(dict(self.configurations), dict(self.environment), self.file)

    def in_file(self, file: Path) -> "_Scope":
        # Same dictionaries: an include is not a scope in ROS 2 (its lets/args leak out).
        return _Scope(self.configurations, self.environment, file)


def _evaluate(fragments: Sequence[Fragment], scope: _Scope) -> str:
    return "".join(f if isinstance(f, str) else _perform(f, scope) for f in fragments)


def _perform(sub: Substitution, scope: _Scope) -> str:
    name, args = sub.name, sub.args

    def arity(low: int, high: int) -> None:
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            raise SubstitutionError(f"{sub}: $({name}) takes {expected} argument(s), got {len(args)}")

    if name == "var":
        arity(1, 2)
        key = _evaluate(args[0], scope)
        if key in scope.configurations:
            return scope.configurations[key]
        if len(args) == 2:
            return _evaluate(args[1], scope)
        known = ", ".join(sorted(scope.configurations)) or "none"
        raise SubstitutionError(
            f"{sub}: launch configuration '{key}' is not set; declare it with `arg` or `let` "
            f"before using it (set here: {known})"
        )
    if name in ("env", "optenv"):
        arity(1, 2)
        key = _evaluate(args[0], scope)
        if key in scope.environment:
            return scope.environment[key]
        if len(args) == 2:
            return _evaluate(args[1], scope)
        if name == "optenv":
            return ""
        raise SubstitutionError(
            f"{sub}: environment variable '{key}' is not set; set it or give a default: $(env {key} DEFAULT)"
        )
    if name == "find-pkg-share":
        arity(1, 1)
        package = _evaluate(args[0], scope)
        if package != PACKAGE:
            raise SubstitutionError(
                f"{sub}: package {package} is not available without ROS 2 "
                f"(this launcher only finds {PACKAGE}); run this file with `ros2 launch` instead"
            )
        from mbrl_ros.package_data import PackageDataNotFoundError, share_dir

        try:
            return str(share_dir())
        except PackageDataNotFoundError as exc:
            raise SubstitutionError(f"{sub}: {exc}") from None
    if name == "dirname":
        arity(0, 0)
        return str(scope.file.parent)
    if name == "filename":
        arity(0, 0)
        return str(scope.file)
    if name == "eval":
        arity(1, 1)
        expression = _evaluate(args[0], scope)
        try:
            # Same namespace as launch.substitutions.PythonExpression: math's names.
            return str(eval(expression, {}, dict(vars(math))))  # noqa: S307 - launch files are code
        except Exception as exc:  # noqa: BLE001 - any error in user code becomes a message
            raise SubstitutionError(f"{sub}: evaluating {expression!r} failed: {type(exc).__name__}: {exc}") from exc
    raise SubstitutionError(
        f"{sub}: substitution $({name}) is not supported by the mbrl_ros launcher "
        f"(supported: {', '.join(SUPPORTED_SUBSTITUTIONS)})"
    )


def _split_cmdline(fragments: Sequence[Fragment], scope: _Scope) -> list[str]:
    """``launch`` ``ExecuteProcess._parse_cmdline``: literal text is shell-split,
    a substitution's value stays one word (glued to adjacent text without spaces)."""
    result: list[str] = []
    current: list[str] | None = None

    def close() -> None:
        nonlocal current
        if current is not None:
            result.append("".join(current))
            current = None

    for fragment in fragments:
        if isinstance(fragment, Substitution):
            current = (current or []) + [_perform(fragment, scope)]
            continue
        try:
            tokens = shlex.split(fragment)
        except ValueError as exc:
            raise LaunchFileError(
                f"cannot split {fragment!r} into arguments ({exc}); quotes cannot span a $(...)"
            ) from None
        if not tokens:
            close()
            continue
        if fragment[0].isspace():
            close()
        current = (current or []) + [tokens[0]]
        if len(tokens) > 1:
            close()
            result.extend(tokens[1:-1])
            current = [tokens[-1]]
        if fragment[-1].isspace():
            close()
    close()
    return result


# --------------------------------------------------------------------------- executables


#: ``(package, executable) -> argv prefix`` used to start a node.
ExecutableResolver = Callable[[str, str], Sequence[str]]


def resolve_executable(package: str, executable: str) -> list[str]:
    """Command that runs ``executable`` of ``package`` in this Python environment.

    ``mbrl_ros`` executables are its ``console_scripts`` entry points; they run with
    ``sys.executable`` so no installed script needs to be on ``PATH``.

    Raises:
        ExecutableNotFoundError: another package, or no such entry point.
    """
    if package != PACKAGE:
        raise ExecutableNotFoundError(
            f"package {package} is not available without ROS 2; only {PACKAGE} nodes can be started "
            "by this launcher (use `ros2 launch` on a ROS 2 machine)"
        )
    from importlib import metadata

    try:
        distribution = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise ExecutableNotFoundError(f"{PACKAGE} is not installed; run `pip install -e .` in the repository") from None
    scripts = {ep.name: ep for ep in distribution.entry_points if ep.group == "console_scripts"}
    entry = scripts.get(executable)
    if entry is None:
        raise ExecutableNotFoundError(
            f"{PACKAGE} has no executable '{executable}' (console_scripts: {', '.join(sorted(scripts)) or 'none'}); "
            "after adding one to setup.py, re-run `pip install -e .`"
        )
    attr = entry.attr
    # `python -c` puts the working directory first on sys.path, where any stray struct.py or
    # numpy.py would shadow the real module; drop it before importing anything (like python -P).
    code = (
        f"import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
        f"sys.argv[0] = {executable!r}; "
        f"from {entry.module} import {attr.split('.')[0]}; sys.exit({attr}())"
    )
    return [sys.executable, "-c", code]
