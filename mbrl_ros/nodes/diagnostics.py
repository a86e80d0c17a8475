"""Counters, throttled rejection logs and ``/diagnostics`` for every node.

Each node owns one :class:`NodeHealth`. Rejected inputs are counted under
``rejected.<input>.<reason>`` (``rejected.joint_states.non_finite``) and
logged at most once per ``throttle_s`` per input and reason, with the count so
far, so a broken sensor at 1 kHz cannot flood the console. :meth:`NodeHealth.publish`
sends a ``diagnostic_msgs/DiagnosticArray`` with one status named after the
node, holding every counter and gauge as key/value strings.
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Any, Mapping

from mbrl_ros.ros.compat import msg

DIAGNOSTICS_TOPIC = "/diagnostics"
_LEVELS = ("ok", "warn", "error", "stale")


class NodeHealth:
    """Counters and gauges of one node, published as a DiagnosticStatus.

    Args:
        node: the node (its logger, clock and publisher are used).
        throttle_s: minimum seconds between two logs of the same rejection kind.
        hardware_id: ``hardware_id`` of the published status.

    Thread-safe: callbacks and worker threads may count concurrently.
    """

    def __init__(self, node: Any, *, throttle_s: float = 2.0, hardware_id: str = ""):
        self._node = node
        self._throttle_s = float(throttle_s)
        self._hardware_id = hardware_id
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._gauges: dict[str, Any] = {}
        self._last_log: dict[str, float] = {}
        self._array_cls = msg("diagnostic_msgs/msg/DiagnosticArray")
        self._status_cls = msg("diagnostic_msgs/msg/DiagnosticStatus")
        self._kv_cls = msg("diagnostic_msgs/msg/KeyValue")
        self._publisher = node.create_publisher(self._array_cls, DIAGNOSTICS_TOPIC, 10)

    # -- counting -------------------------------------------------------
    def count(self, key: str, n: int = 1) -> int:
        """Add ``n`` to counter ``key``; returns the new total."""
        with self._lock:
            self._counts[key] += n
            return self._counts[key]

    def set(self, key: str, value: Any) -> None:
        """Set gauge ``key`` (a number or short text shown as is)."""
        with self._lock:
            self._gauges[key] = value

    def get(self, key: str, default: Any = 0) -> Any:
        """Current value of counter or gauge ``key``."""
        with self._lock:
            if key in self._counts:
                return self._counts[key]
            return self._gauges.get(key, default)

    def snapshot(self) -> dict[str, Any]:
        """Copy of every counter and gauge."""
        with self._lock:
            return {**self._gauges, **self._counts}

    def rejected_total(self, source: str | None = None) -> int:
        """Inputs rejected so far (from ``source`` only, if given)."""
        head = "rejected." if source is None else f"rejected.{source}."
        with self._lock:
            return sum(v for k, v in self._counts.items() if k.startswith(head))

    def reject(self, source: str, reason: str, detail: str) -> int:
        """Count a rejected input and log it (throttled per source and reason); returns the count."""
        key = f"rejected.{source}.{reason}"
        total = self.count(key)
        self.log_throttled(key, f"rejected {source} ({reason}): {detail} [{total} so far]")
        return total

    def log_throttled(self, key: str, text: str, severity: str = "warning") -> bool:
        """Log ``text`` unless the same ``key`` was logged less than ``throttle_s`` ago."""
        now = time.monotonic()
        with self._lock:
            last = self._last_log.get(key)
            if last is not None and now - last < self._throttle_s:
                return False
            self._last_log[key] = now
        getattr(self._node.get_logger(), severity)(text)
        return True

    # -- publishing -------------------------------------------------------
    def status(self, level: str = "ok", message: str = "", extra: Mapping[str, Any] | None = None) -> Any:
        """A DiagnosticStatus with every counter and gauge (and ``extra``) as key/value pairs."""
        if level not in _LEVELS:
            raise ValueError(f"diagnostic level must be one of {_LEVELS}, got {level!r}")
        status_cls = self._status_cls
        values = {**self.snapshot(), **dict(extra or {})}
        return status_cls(
            level=getattr(status_cls, level.upper()),
            name=self._node.get_fully_qualified_name().lstrip("/") or self._node.get_name(),
            message=message,
            hardware_id=self._hardware_id,
            values=[self._kv_cls(key=str(k), value=_text(v)) for k, v in sorted(values.items())],
        )

    def publish(self, level: str = "ok", message: str = "", extra: Mapping[str, Any] | None = None) -> None:
        """Publish the status on ``/diagnostics``."""
        array = self._array_cls()
        array.header.stamp = self._node.get_clock().now().to_msg()
        array.status = [self.status(level, message, extra)]
        self._publisher.publish(array)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
