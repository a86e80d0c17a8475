"""A minimal ``Future`` (rclpy.task.Future) for ``spin_until_future_complete``."""
from __future__ import annotations

import threading
from typing import Any, Callable


class Future:
    """Result of work that finishes later; thread safe, done callbacks run where it completes."""

    def __init__(self, *, executor: Any = None) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._cancelled = False
        self._result: Any = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[["Future"], Any]] = []
        if executor is not None:
            self.add_done_callback(lambda _f: executor.wake())

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        self._finish(cancelled=True)

    def result(self) -> Any:
        """The result (None if not done yet); re-raises the exception it completed with."""
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self) -> BaseException | None:
        return self._exception

    def set_result(self, result: Any) -> None:
        self._finish(result=result)

    def set_exception(self, exception: BaseException) -> None:
        self._finish(exception=exception)

    def add_done_callback(self, callback: Callable[["Future"], Any]) -> None:
        with self._lock:
            if not self._done:
                self._callbacks.append(callback)
                return
        callback(self)

    def _finish(self, *, result: Any = None, exception: BaseException | None = None, cancelled: bool = False) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            self._cancelled = cancelled
            self._result = result
            self._exception = exception
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)
