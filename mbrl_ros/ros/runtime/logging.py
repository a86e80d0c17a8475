"""rcutils-style loggers: ``get_logger(name).info(msg, throttle_duration_sec=1.0, once=True)``.

Lines go to stderr (stdout with ``RCUTILS_LOGGING_USE_STDOUT=1``) in the rcutils
format, ``[INFO] [1712345678.123456789] [node_name]: message``, or in
``RCUTILS_CONSOLE_OUTPUT_FORMAT`` (``{severity}``, ``{name}``, ``{message}``,
``{time}``, ``{time_as_nanoseconds}``, ``{function_name}``, ``{file_name}``,
``{line_number}``). Logger names form a dotted hierarchy, so ``--log-level
my_node:=debug`` affects ``my_node`` and ``my_node.child``.
"""
from __future__ import annotations

import os
import sys
import threading
import time as _time
from enum import IntEnum
from typing import Any, Callable, NamedTuple, TextIO

from mbrl_ros.ros.runtime.time import ClockType


class LoggingSeverity(IntEnum):
    UNSET = 0
    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40
    FATAL = 50


_DEFAULT_FORMAT = "[{severity}] [{time}] [{name}]: {message}"
_lock = threading.RLock()
_levels: dict[str, int] = {}
_default_level = int(LoggingSeverity.INFO)
_sink: Callable[[str], None] | None = None


def _stream() -> TextIO:
    return sys.stdout if os.environ.get("RCUTILS_LOGGING_USE_STDOUT") == "1" else sys.stderr


def set_output_sink(sink: Callable[[str], None] | None) -> None:
    """Send formatted lines to ``sink`` instead of the console (``None`` restores the console)."""
    global _sink
    _sink = sink


#: Logger name -> ``sink(level, name, message, file, function, line)`` publishing to /rosout.
_rosout_sinks: dict[str, Callable[[int, str, str, str, str, int], None]] = {}


def add_rosout_sink(logger_name: str, sink: Callable[[int, str, str, str, str, int], None]) -> None:
    """Send what ``logger_name`` (and its children) log to ``sink`` too (a node's /rosout publisher)."""
    with _lock:
        _rosout_sinks[logger_name] = sink


def remove_rosout_sink(logger_name: str, sink: Callable[..., None]) -> None:
    """Undo :func:`add_rosout_sink` (only if ``sink`` is still the one registered)."""
    with _lock:
        if _rosout_sinks.get(logger_name) is sink:
            del _rosout_sinks[logger_name]


def _nearest_entry(table: dict, name: str):
    """``table``'s value for ``name`` or its nearest dotted ancestor (``a.b.c`` -> ``a.b`` -> ``a``), else None.

    The caller holds ``_lock``.
    """
    parts = name.split(".")
    while parts:
        value = table.get(".".join(parts))
        if value is not None:
            return value
        parts.pop()
    return None


def _rosout_sink_for(name: str) -> Callable[[int, str, str, str, str, int], None] | None:
    """The sink of ``name`` or of its nearest dotted ancestor (rcl's rosout sublogger rule)."""
    if not _rosout_sinks:
        return None
    with _lock:
        return _nearest_entry(_rosout_sinks, name)


def set_logger_level(name: str, level: int) -> None:
    """Severity threshold of logger ``name`` (``""`` sets the default for all loggers)."""
    global _default_level
    level = int(level)
    with _lock:
        if name == "":
            _default_level = level
        elif level == LoggingSeverity.UNSET:
            _levels.pop(name, None)
        else:
            _levels[name] = level


def get_logger_effective_level(name: str) -> int:
    """The level of ``name`` or of its nearest dotted ancestor that has one, else the default."""
    with _lock:
        level = _nearest_entry(_levels, name)
        return _default_level if level is None else level


def get_logger(name: str) -> "RcutilsLogger":
    if not name:
        raise ValueError("a logger needs a name")
    return RcutilsLogger(name)


class _CallSite(NamedTuple):
    filename: str
    lineno: int
    function: str


def _format(severity: LoggingSeverity, name: str, message: str, frame: _CallSite | None) -> str:
    template = os.environ.get("RCUTILS_CONSOLE_OUTPUT_FORMAT") or _DEFAULT_FORMAT
    now_ns = _time.time_ns()
    fields = {
        "severity": severity.name,
        "name": name,
        "message": message,
        "time": f"{now_ns // 1_000_000_000}.{now_ns % 1_000_000_000:09d}",
        "time_as_nanoseconds": str(now_ns),
        "function_name": frame.function if frame else "",
        "file_name": frame.filename if frame else "",
        "line_number": str(frame.lineno) if frame else "",
    }
    out = template
    for key, value in fields.items():
        out = out.replace("{" + key + "}", value)
    return out


class RcutilsLogger:
    """A named logger with rclpy's methods and filters.

    The ``once``, ``skip_first`` and ``throttle_duration_sec`` filters are kept per
    call site (file and line), as rclpy does.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._contexts: dict[tuple[str, int], dict[str, Any]] = {}
        self._contexts_lock = threading.Lock()

    def get_child(self, name: str) -> "RcutilsLogger":
        if not name:
            raise ValueError("a child logger needs a name")
        return RcutilsLogger(f"{self.name}.{name}")

    def set_level(self, level: int) -> bool:
        set_logger_level(self.name, level)
        return True

    def get_effective_level(self) -> LoggingSeverity:
        return LoggingSeverity(get_logger_effective_level(self.name))

    def is_enabled_for(self, severity: int) -> bool:
        return int(severity) >= get_logger_effective_level(self.name)

    def log(
        self,
        message: Any,
        severity: int,
        *,
        once: bool = False,
        skip_first: bool = False,
        throttle_duration_sec: float | None = None,
        throttle_time_source_type: Any = ClockType.STEADY_TIME,
        _stack_depth: int = 1,
    ) -> bool:
        """Log ``message`` at ``severity``; True if it was printed.

        Args:
            once: Print only the first time this call site logs.
            skip_first: Drop the first occurrence at this call site.
            throttle_duration_sec: Print at most once per this many seconds per call site
                (the first call prints).
            throttle_time_source_type: Accepted for rclpy compatibility; steady time is used.
        """
        severity = LoggingSeverity(int(severity))
        if once and (skip_first or throttle_duration_sec is not None):
            raise ValueError("'once' can't be combined with 'skip_first' or 'throttle_duration_sec'")
        if not self.is_enabled_for(severity):
            return False
        filtered = once or skip_first or throttle_duration_sec is not None
        template = os.environ.get("RCUTILS_CONSOLE_OUTPUT_FORMAT") or ""
        frame = None
        if filtered or any(k in template for k in ("{function_name}", "{file_name}", "{line_number}")):
            caller = sys._getframe(_stack_depth)
            frame = _CallSite(caller.f_code.co_filename, caller.f_lineno, caller.f_code.co_name)
        if filtered:
            key = (frame.filename, frame.lineno)
            with self._contexts_lock:
                state = self._contexts.setdefault(key, {"count": 0, "last": None})
                state["count"] += 1
                if once and state["count"] > 1:
                    return False
                if skip_first and state["count"] == 1:
                    return False
                if throttle_duration_sec is not None:
                    now = _time.monotonic()
                    if state["last"] is not None and now - state["last"] < throttle_duration_sec:
                        return False
                    state["last"] = now
        line = _format(severity, self.name, str(message), frame)
        with _lock:
            if _sink is not None:
                _sink(line)
            else:
                stream = _stream()
                stream.write(line + "\n")
                stream.flush()
        rosout = _rosout_sink_for(self.name)
        if rosout is not None:
            if frame is None:
                caller = sys._getframe(_stack_depth)
                frame = _CallSite(caller.f_code.co_filename, caller.f_lineno, caller.f_code.co_name)
            rosout(int(severity), self.name, str(message), frame.filename, frame.function, frame.lineno)
        return True

    def debug(self, message: Any, **kwargs: Any) -> bool:
        return self.log(message, LoggingSeverity.DEBUG, _stack_depth=2, **kwargs)

    def info(self, message: Any, **kwargs: Any) -> bool:
        return self.log(message, LoggingSeverity.INFO, _stack_depth=2, **kwargs)

    def warning(self, message: Any, **kwargs: Any) -> bool:
        return self.log(message, LoggingSeverity.WARN, _stack_depth=2, **kwargs)

    warn = warning

    def error(self, message: Any, **kwargs: Any) -> bool:
        return self.log(message, LoggingSeverity.ERROR, _stack_depth=2, **kwargs)

    def fatal(self, message: Any, **kwargs: Any) -> bool:
        return self.log(message, LoggingSeverity.FATAL, _stack_depth=2, **kwargs)
