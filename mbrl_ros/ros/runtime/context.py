"""``Context``: the unit of ``init``/``shutdown``, owning the parsed global arguments and the DDS participant."""
from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Sequence

from mbrl_ros.ros.runtime import logging as ros_logging
from mbrl_ros.ros.runtime.arguments import RosArguments, parse_ros_args
from mbrl_ros.ros.runtime.dds import check_domain_id, domain_id_from_env
from mbrl_ros.ros.runtime.exceptions import NotInitializedException


class Context:
    """Holds what ``init()`` set up; nodes created on it share one DDS participant.

    A context can be initialised again after ``shutdown()`` (as rclpy's default context can).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._initialized = False
        self._shut_down = False
        self._arguments = RosArguments()
        self._domain_id = 0
        self._participant: Any = None
        self._callbacks: list[Callable[[], Any]] = []
        self._nodes: "weakref.WeakSet[Any]" = weakref.WeakSet()

    def init(self, args: Sequence[str] | None = None, *, initialize_logging: bool = True, domain_id: int | None = None) -> None:
        """Parse ``args`` (``sys.argv`` when ``None``) and pick the domain.

        Args:
            args: Full argument vector; only ``--ros-args`` sections are interpreted.
            initialize_logging: Apply ``--log-level`` to the loggers.
            domain_id: DDS domain; default ``ROS_DOMAIN_ID`` (0 when unset).

        Raises:
            RuntimeError: already initialised and not shut down.
            UnknownROSArgsError, InvalidROSArgsError: bad ``--ros-args``.
        """
        import sys

        with self._lock:
            if self._initialized and not self._shut_down:
                raise RuntimeError("Context.init() must only be called once")
            arguments = parse_ros_args(sys.argv if args is None else args)
            self._domain_id = domain_id_from_env() if domain_id is None else check_domain_id(domain_id)
            self._arguments = arguments
            if initialize_logging:
                for name, level in arguments.log_levels.items():
                    ros_logging.set_logger_level(name, level)
            self._participant = None
            self._nodes = weakref.WeakSet()
            self._initialized = True
            self._shut_down = False

    @property
    def ros_arguments(self) -> RosArguments:
        """Global ``--ros-args`` given to ``init``."""
        return self._arguments

    def ok(self) -> bool:
        with self._lock:
            return self._initialized and not self._shut_down

    def get_domain_id(self) -> int:
        if not self.ok():
            raise NotInitializedException("cannot get the domain id")
        return self._domain_id

    def on_shutdown(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` (kept as a weak reference if it is a bound method) at shutdown."""
        if not callable(callback):
            raise TypeError("callback should be a callable")
        if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
            self._callbacks.append(weakref.WeakMethod(callback))
        else:
            self._callbacks.append(lambda cb=callback: cb)

    def shutdown(self) -> None:
        """Shut down: nodes' DDS entities are deleted and executors wake up.

        Raises:
            RuntimeError: not initialised, or already shut down.
        """
        with self._lock:
            if not self._initialized or self._shut_down:
                raise RuntimeError("Context must be initialized before it can be shutdown")
            self._do_shutdown()

    def try_shutdown(self) -> None:
        """Shut down if initialised and not shut down yet."""
        with self._lock:
            if self._initialized and not self._shut_down:
                self._do_shutdown()

    def _do_shutdown(self) -> None:
        self._shut_down = True
        callbacks, self._callbacks = self._callbacks, []
        for ref in callbacks:
            callback = ref()
            if callback is not None:
                callback()
        for node in list(self._nodes):
            node._invalidate()
        if self._participant is not None:
            self._participant.close()
            self._participant = None

    # -- used by Node -------------------------------------------------------------------------

    def _dds(self) -> Any:
        """The context's :class:`~mbrl_ros.ros.runtime.graph.ContextParticipant` (created on first use)."""
        from mbrl_ros.ros.runtime.graph import ContextParticipant

        with self._lock:
            if not self.ok():
                raise NotInitializedException("cannot create DDS entities on a context that is not initialised")
            if self._participant is None:
                self._participant = ContextParticipant(self._domain_id, enclave=self._arguments.enclave or "/")
            return self._participant

    def _register_node(self, node: Any) -> None:
        with self._lock:
            self._nodes.add(node)
