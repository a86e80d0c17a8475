"""Process-wide state: the default context, the global executor, signal handling."""
from __future__ import annotations

import enum
import signal
import threading
import weakref
from typing import Any

from mbrl_ros.ros.runtime.arguments import remove_ros_args
from mbrl_ros.ros.runtime.context import Context

__all__ = ["get_default_context", "ok", "remove_ros_args", "try_shutdown", "shutdown", "get_global_executor"]

_default_context = Context()
_contexts: "weakref.WeakSet[Context]" = weakref.WeakSet()
_global_executor: Any = None
_lock = threading.RLock()
_previous_handlers: dict[int, Any] = {}


def get_default_context(*, shutting_down: bool = False) -> Context:
    return _default_context


def ok(*, context: Context | None = None) -> bool:
    return (context or _default_context).ok()


def shutdown(*, context: Context | None = None, uninstall_handlers: bool | None = None) -> None:
    """Shut ``context`` (default: the global one) down.

    Raises:
        RuntimeError: it is not initialised or already shut down.
    """
    (context or _default_context).shutdown()
    _maybe_uninstall_handlers(uninstall_handlers)


def try_shutdown(*, context: Context | None = None, uninstall_handlers: bool | None = None) -> None:
    """Shut ``context`` down if it is running; never raises for an idle context."""
    (context or _default_context).try_shutdown()
    _maybe_uninstall_handlers(uninstall_handlers)


def get_global_executor() -> Any:
    """The executor ``spin``/``spin_once`` use when none is given (recreated after a shutdown)."""
    global _global_executor
    from mbrl_ros.ros.runtime.executors import SingleThreadedExecutor

    with _lock:
        if _global_executor is None or _global_executor._is_shutdown:
            executor = SingleThreadedExecutor(context=_default_context)
            _default_context.on_shutdown(_reset_global_executor)
            _global_executor = executor
        return _global_executor


def _reset_global_executor() -> None:
    global _global_executor
    with _lock:
        if _global_executor is not None:
            _global_executor.shutdown()
            _global_executor = None


def _register_context(context: Context) -> None:
    _contexts.add(context)


class SignalHandlerOptions(enum.Enum):
    """Which signals ``init`` handles (rclpy.signals.SignalHandlerOptions)."""

    NO = 0
    SIGINT = 1
    SIGTERM = 2
    ALL = 3


def _install_signal_handlers(options: SignalHandlerOptions = SignalHandlerOptions.ALL) -> None:
    """SIGINT/SIGTERM shut every context down (waking executors), then chain to the old handler.

    Only possible from the main thread; elsewhere this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread() or options == SignalHandlerOptions.NO:
        return
    signums = {
        SignalHandlerOptions.SIGINT: (signal.SIGINT,),
        SignalHandlerOptions.SIGTERM: (signal.SIGTERM,),
        SignalHandlerOptions.ALL: (signal.SIGINT, signal.SIGTERM),
    }[options]
    with _lock:
        for signum in signums:
            if signum in _previous_handlers:
                continue
            _previous_handlers[signum] = signal.getsignal(signum)
            signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: Any) -> None:
    for context in list(_contexts):
        context.try_shutdown()
    previous = _previous_handlers.get(signum)
    if callable(previous):
        previous(signum, frame)


def _maybe_uninstall_handlers(uninstall: bool | None) -> None:
    if uninstall is False or threading.current_thread() is not threading.main_thread():
        return
    if uninstall is None and any(c.ok() for c in list(_contexts)):
        return
    with _lock:
        for signum, previous in list(_previous_handlers.items()):
            if signal.getsignal(signum) is _on_signal:
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            del _previous_handlers[signum]
