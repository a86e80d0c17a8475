"""Executors: run subscription, timer and guard-condition callbacks of nodes.

Waiting is a Cyclone ``WaitSet`` holding one ``ReadCondition`` per subscription plus a
guard condition that ``wake()`` triggers (node changes, finished callbacks, shutdown);
the timeout is the next timer deadline. Nothing polls: an idle executor sleeps in the
DDS wait (the main thread wakes at least every 0.25 s so Ctrl-C is handled promptly).

Entities of a busy mutually exclusive callback group are left out of the wait until the
group frees, so a long callback in one group never blocks another group's callbacks in
the :class:`MultiThreadedExecutor`, and never makes the dispatcher spin.

A subscription's sample is taken (and deserialized) by the thread that dispatches it;
its callback runs in the spinning thread (single-threaded) or a worker thread
(multi-threaded), never in a DDS listener thread.
"""
from __future__ import annotations

import os
import threading
import time as _time
from concurrent.futures import Future as _PoolFuture
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as _wait_futures
from typing import Any, Iterable

from cyclonedds.core import DDSException, GuardCondition, WaitSet
from cyclonedds.util import duration as dds_duration

from mbrl_ros.ros.runtime.dds import CYCLONE_ROOT
from mbrl_ros.ros.runtime.duration import S_TO_NS
from mbrl_ros.ros.runtime.exceptions import ExternalShutdownException, ShutdownException
from mbrl_ros.ros.runtime.node import GuardCondition as NodeGuardCondition
from mbrl_ros.ros.runtime.node import Subscription
from mbrl_ros.ros.runtime.timer import Timer

_INFINITE_NS = dds_duration(infinite=True)
# Cap on one DDS wait in the main thread: signals (Ctrl-C) are only handled between waits.
_MAIN_THREAD_MAX_WAIT_NS = 250_000_000


class TimeoutException(Exception):
    """No callback became ready before the timeout (caught inside ``spin_once``)."""


class Executor:
    """Base executor; use :class:`SingleThreadedExecutor` or :class:`MultiThreadedExecutor`.

    Args:
        context: Context whose shutdown stops the executor (default: the global one).
    """

    def __init__(self, *, context: Any = None) -> None:
        from mbrl_ros.ros.runtime.utilities import get_default_context

        self._context = get_default_context() if context is None else context
        self._nodes: list[Any] = []
        self._nodes_lock = threading.RLock()
        self._wait_lock = threading.Lock()
        self._guard = GuardCondition(CYCLONE_ROOT)
        self._waitset = WaitSet(CYCLONE_ROOT)
        self._waitset.attach(self._guard)
        self._attached: dict[int, Any] = {}
        self._pending: list[Any] = []
        self._is_shutdown = False
        self._context.on_shutdown(self.wake)

    @property
    def context(self) -> Any:
        return self._context

    # -- nodes --------------------------------------------------------------------------------

    def add_node(self, node: Any) -> bool:
        """Add ``node``; False if it was already added."""
        with self._nodes_lock:
            if node in self._nodes:
                return False
            current = node.executor
            if current is not None and current is not self:
                current.remove_node(node)
            self._nodes.append(node)
            node._set_executor(self)
        self.wake()
        return True

    def remove_node(self, node: Any) -> None:
        with self._nodes_lock:
            if node in self._nodes:
                self._nodes.remove(node)
                if node.executor is self:
                    node._set_executor(None)
        self.wake()

    def get_nodes(self) -> list[Any]:
        with self._nodes_lock:
            return list(self._nodes)

    def wake(self) -> None:
        """Make a waiting ``spin_once`` re-examine its nodes."""
        self._guard.set(True)

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        """Stop spinning; True once no callback is running (within ``timeout_sec``)."""
        self._is_shutdown = True
        self.wake()
        with self._nodes_lock:
            for node in self._nodes:
                if node.executor is self:
                    node._set_executor(None)
            self._nodes = []
        return True

    # -- spinning -------------------------------------------------------------------------------

    def spin(self) -> None:
        """Run callbacks until the executor or its context shuts down."""
        while self._context.ok() and not self._is_shutdown:
            self.spin_once()

    def spin_once(self, timeout_sec: float | None = None) -> None:
        raise NotImplementedError

    def spin_until_future_complete(self, future: Any, timeout_sec: float | None = None) -> None:
        """Spin until ``future.done()`` (or ``timeout_sec`` passed)."""
        if hasattr(future, "add_done_callback"):
            future.add_done_callback(lambda _f: self.wake())
        deadline = None if timeout_sec is None or timeout_sec < 0 else _time.monotonic() + timeout_sec
        while self._context.ok() and not self._is_shutdown and not future.done():
            if deadline is None:
                self.spin_once()
            else:
                remaining = deadline - _time.monotonic()
                if remaining <= 0:
                    return
                self.spin_once(timeout_sec=remaining)

    def spin_once_until_future_complete(self, future: Any, timeout_sec: float | None = None) -> None:
        if hasattr(future, "add_done_callback"):
            future.add_done_callback(lambda _f: self.wake())
        self.spin_once(timeout_sec=timeout_sec)

    # -- waiting --------------------------------------------------------------------------------

    def _entities(self) -> tuple[list[Subscription], list[Timer], list[NodeGuardCondition]]:
        """Entities of live nodes whose callback group could run them now."""
        subs: list[Subscription] = []
        timers: list[Timer] = []
        guards: list[NodeGuardCondition] = []
        for node in self.get_nodes():
            if node._destroyed:
                continue
            subs.extend(s for s in node._subscriptions if not s._destroyed and s.callback_group.can_execute(s))
            timers.extend(t for t in node._timers if t.callback_group.can_execute(t))
            guards.extend(g for g in node._guards if g.callback_group.can_execute(g))
        return subs, timers, guards

    def _sync_attached(self, subs: Iterable[Subscription]) -> None:
        wanted = {id(s._condition): s._condition for s in subs}
        for key in list(self._attached):
            if key not in wanted:
                condition = self._attached.pop(key)
                try:
                    self._waitset.detach(condition)
                except DDSException:
                    # Deleted with its reader; Cyclone already took it out of the wait set.
                    self._waitset.attached = [a for a in self._waitset.attached if a[0] is not condition]
        for key, condition in wanted.items():
            if key not in self._attached:
                try:
                    self._waitset.attach(condition)
                except DDSException:
                    continue  # its subscription was destroyed meanwhile
                self._attached[key] = condition

    def _check_running(self) -> None:
        if self._is_shutdown:
            raise ShutdownException()
        if not self._context.ok():
            raise ExternalShutdownException()

    def _wait_for_ready(self, timeout_ns: int | None) -> list[Any]:
        """Block until some entity is ready; timers first, then subscriptions, then guards.

        Raises:
            TimeoutException: nothing became ready within ``timeout_ns``.
            ShutdownException, ExternalShutdownException: executor or context shut down.
        """
        deadline = None if timeout_ns is None else _time.monotonic_ns() + timeout_ns
        in_main_thread = threading.current_thread() is threading.main_thread()
        with self._wait_lock:
            while True:
                self._check_running()
                subs, timers, guards = self._entities()
                self._sync_attached(subs)
                wait_ns: int | None = None
                for timer in timers:
                    until = timer._wall_ns_until_ready()
                    if until is not None:
                        wait_ns = until if wait_ns is None else min(wait_ns, until)
                if any(g._is_triggered() for g in guards):
                    wait_ns = 0
                if deadline is not None:
                    remaining = max(0, deadline - _time.monotonic_ns())
                    wait_ns = remaining if wait_ns is None else min(wait_ns, remaining)
                if in_main_thread:
                    wait_ns = _MAIN_THREAD_MAX_WAIT_NS if wait_ns is None else min(wait_ns, _MAIN_THREAD_MAX_WAIT_NS)
                self._waitset.wait(_INFINITE_NS if wait_ns is None else max(0, int(wait_ns)))
                self._guard.take()
                self._check_running()
                ready: list[Any] = [t for t in timers if t.is_ready()]
                ready.extend(s for s in subs if s._condition.is_triggered())
                ready.extend(g for g in guards if g._is_triggered())
                if ready:
                    return ready
                if deadline is not None and _time.monotonic_ns() >= deadline:
                    raise TimeoutException()

    @staticmethod
    def _begin(entity: Any) -> tuple[bool, Any]:
        """Claim ``entity``'s group and take its work (a sample, a timer tick, a trigger).

        Returns (True, payload) when the callback should run, else (False, None) with the
        group released again.
        """
        group = entity.callback_group
        if not group.beginning(entity):
            return False, None
        try:
            if isinstance(entity, Subscription):
                payload = entity._take()
                if payload is not None:
                    return True, payload
            elif isinstance(entity, Timer):
                if entity._call_begin():
                    return True, None
            elif entity._take_trigger():
                return True, None
        except BaseException:
            group.ending(entity)
            raise
        group.ending(entity)
        return False, None

    @staticmethod
    def _run(entity: Any, payload: Any) -> None:
        try:
            if isinstance(entity, Subscription):
                entity._execute(payload)
            else:
                entity._execute()
        finally:
            entity.callback_group.ending(entity)

    def _next_ready(self, timeout_sec: float | None) -> tuple[Any, Any]:
        """One (entity, payload) ready to run, waiting up to ``timeout_sec``."""
        deadline = None if timeout_sec is None or timeout_sec < 0 else _time.monotonic_ns() + int(timeout_sec * S_TO_NS)
        while True:
            while self._pending:
                entity = self._pending.pop(0)
                begun, payload = self._begin(entity)
                if begun:
                    return entity, payload
            remaining = None if deadline is None else max(0, deadline - _time.monotonic_ns())
            self._pending = self._wait_for_ready(remaining)


class SingleThreadedExecutor(Executor):
    """Runs every callback in the thread that spins."""

    def spin_once(self, timeout_sec: float | None = None) -> None:
        """Run at most one callback, waiting up to ``timeout_sec`` (forever if None) for one."""
        try:
            entity, payload = self._next_ready(timeout_sec)
        except (ShutdownException, TimeoutException):
            return
        self._run(entity, payload)


class MultiThreadedExecutor(Executor):
    """Runs callbacks on a thread pool; callback groups decide what may overlap.

    Args:
        num_threads: Worker threads (default: CPU count).
        context: See :class:`Executor`.

    An exception raised by a callback is re-raised by the next ``spin_once`` (and so
    ends ``spin``), as in rclpy.
    """

    def __init__(self, num_threads: int | None = None, *, context: Any = None) -> None:
        super().__init__(context=context)
        if num_threads is None:
            num_threads = os.cpu_count() or 2
        if num_threads < 1:
            raise ValueError("num_threads must be at least 1")
        self._pool = ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="ros_executor")
        self._futures: list[_PoolFuture] = []
        self._futures_lock = threading.Lock()

    def _collect_finished(self) -> None:
        with self._futures_lock:
            done = [f for f in self._futures if f.done()]
            self._futures = [f for f in self._futures if not f.done()]
        for future in done:
            future.result()

    def spin_once(self, timeout_sec: float | None = None) -> None:
        """Dispatch every callback that may run now to the pool, waiting up to ``timeout_sec`` for one."""
        self._collect_finished()
        try:
            entity, payload = self._next_ready(timeout_sec)
        except (ShutdownException, TimeoutException):
            return
        self._submit(entity, payload)
        # Dispatch the rest of this wait's ready entities that can start now.
        pending, self._pending = self._pending, []
        for other in pending:
            begun, other_payload = self._begin(other)
            if begun:
                self._submit(other, other_payload)

    def _submit(self, entity: Any, payload: Any) -> None:
        def job() -> None:
            try:
                self._run(entity, payload)
            finally:
                self.wake()

        future = self._pool.submit(job)
        with self._futures_lock:
            self._futures.append(future)

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        super().shutdown(timeout_sec)
        with self._futures_lock:
            futures = list(self._futures)
        _done, not_done = _wait_futures(futures, timeout=timeout_sec)
        self._pool.shutdown(wait=not not_done)
        return not not_done
