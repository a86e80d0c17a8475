"""Executors, timers and callback groups."""
from __future__ import annotations

import threading
import time

import pytest

from mbrl_ros.ros import runtime as rclpy
from mbrl_ros.ros.messages import message_class
from mbrl_ros.ros.runtime import (
    Context,
    Future,
    MultiThreadedExecutor,
    MutuallyExclusiveCallbackGroup,
    Node,
    ReentrantCallbackGroup,
    SingleThreadedExecutor,
)
from mbrl_ros.ros.runtime.exceptions import ExternalShutdownException
from mbrl_ros.ros.runtime.testing import isolated_domain



@pytest.fixture
def context():
    with isolated_domain():
        ctx = Context()
        ctx.init(["test"])
        yield ctx
        ctx.try_shutdown()


def spin_for(executor, seconds):
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        executor.spin_once(timeout_sec=remaining)


def test_timer_keeps_its_schedule(context):
    """20 Hz for ~0.6 s: calls land on start + k * period, late callbacks do not shift later ones."""
    node = Node("timed", context=context)
    stamps = []

    def tick():
        stamps.append(time.monotonic())
        if len(stamps) == 3:
            time.sleep(0.03)  # a slow callback (60% of the period) must not delay the schedule

    period = 0.05
    timer = node.create_timer(period, tick)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    start = time.monotonic()
    spin_for(executor, 0.6 + period / 2)
    assert 11 <= len(stamps) <= 12
    # No accumulated drift: the k-th call is k periods after creation (loose bound for a busy 2-core box).
    errors = [stamp - (start + (k + 1) * period) for k, stamp in enumerate(stamps)]
    assert max(abs(e) for e in errors) < 0.03, errors
    assert timer.timer_period_ns == 50_000_000


def test_timer_cancel_reset_and_missed_periods(context):
    node = Node("timer_api", context=context)
    calls = []
    timer = node.create_timer(0.05, lambda: calls.append(time.monotonic()), autostart=False)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spin_for(executor, 0.12)
    assert calls == [] and timer.is_canceled()
    timer.reset()
    spin_for(executor, 0.08)
    assert len(calls) == 1
    timer.cancel()
    time.sleep(0.2)  # four periods pass without spinning: they are skipped, not replayed
    timer.reset()
    spin_for(executor, 0.07)
    assert len(calls) == 2
    assert node.destroy_timer(timer)
    spin_for(executor, 0.1)
    assert len(calls) == 2


def test_multithreaded_groups_do_not_block_each_other(context):
    """A long callback in group B must not stop group A's timer; B's own timer waits for B."""
    node = Node("groups", context=context)
    group_a = MutuallyExclusiveCallbackGroup()
    group_b = MutuallyExclusiveCallbackGroup()
    a_ticks, b_events = [], []
    blocker_started = threading.Event()

    def slow_b():
        b_events.append(("slow_start", time.monotonic()))
        blocker_started.set()
        time.sleep(0.5)
        b_events.append(("slow_end", time.monotonic()))

    def fast_b():
        b_events.append(("fast", time.monotonic()))

    node.create_timer(0.02, lambda: a_ticks.append(time.monotonic()), callback_group=group_a)
    slow = node.create_timer(0.01, slow_b, callback_group=group_b)
    node.create_timer(0.05, fast_b, callback_group=group_b)
    executor = MultiThreadedExecutor(num_threads=3, context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        assert blocker_started.wait(2.0)
        slow.cancel()
        start = b_events[0][1]
        time.sleep(0.6)
    finally:
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=2.0)
    assert not spinner.is_alive()
    end = next(t for kind, t in b_events if kind == "slow_end")
    during = [t for t in a_ticks if start < t < end]
    assert len(during) >= 12, f"group A ran {len(during)} times during the 0.5 s block"
    # Group B is mutually exclusive: its fast timer only ran after the slow callback ended.
    fast = [t for kind, t in b_events if kind == "fast"]
    assert fast and all(t >= end for t in fast)


def test_reentrant_group_runs_callbacks_in_parallel(context):
    node = Node("reentrant", context=context)
    group = ReentrantCallbackGroup()
    barrier = threading.Barrier(2, timeout=2.0)
    passed = []

    def meet():
        barrier.wait()  # only returns if both callbacks run at the same time
        passed.append(True)

    timers = [node.create_timer(0.01, meet, callback_group=group) for _ in range(2)]
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    deadline = time.monotonic() + 3.0
    while len(passed) < 2 and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.1)
        if len(passed) >= 1:
            for t in timers:
                t.cancel()
    executor.shutdown(timeout_sec=2.0)
    assert len(passed) >= 2


def test_callback_exception_reaches_the_spinner(context):
    node = Node("boom", context=context)

    def fail():
        raise ValueError("callback failed")

    node.create_timer(0.01, fail)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    with pytest.raises(ValueError, match="callback failed"):
        spin_for(executor, 1.0)
    mt = MultiThreadedExecutor(num_threads=2, context=context)
    mt.add_node(node)
    with pytest.raises(ValueError, match="callback failed"):
        spin_for(mt, 1.0)
    mt.shutdown(timeout_sec=1.0)


def test_idle_executor_sleeps(context):
    """Waiting is event driven: an idle executor with a subscription and a slow timer uses ~no CPU."""
    node = Node("idle", context=context)
    node.create_subscription(message_class("std_msgs/msg/String"), "nothing", lambda m: None, 10)
    node.create_timer(0.25, lambda: None)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    cpu = time.process_time()
    spin_for(executor, 1.0)
    used = time.process_time() - cpu
    assert used < 0.15, f"idle spinning used {used:.3f} s of CPU in 1 s"


def test_shutdown_from_another_thread_ends_spin(context):
    node = Node("stopper", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    threading.Timer(0.2, context.shutdown).start()
    start = time.monotonic()
    with pytest.raises(ExternalShutdownException):
        executor.spin()
    assert time.monotonic() - start < 1.0


def test_guard_condition_and_future(context):
    node = Node("guarded", context=context)
    future = Future()
    guard = node.create_guard_condition(lambda: future.set_result("woken"))
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    threading.Timer(0.1, guard.trigger).start()
    executor.spin_until_future_complete(future, timeout_sec=2.0)
    assert future.done() and future.result() == "woken"


def test_global_api_spin_once_and_spin():
    """rclpy-style module functions on the default context."""
    with isolated_domain():
        rclpy.init(args=["prog", "--ros-args", "-r", "__node:=renamed"])
        try:
            node = rclpy.create_node("original")
            assert node.get_name() == "renamed"
            calls = []
            node.create_timer(0.01, lambda: calls.append(1))
            rclpy.spin_once(node, timeout_sec=1.0)
            assert calls == [1]
            # Shutting down from a callback ends spin() normally, as in rclpy.
            node.create_timer(0.05, rclpy.try_shutdown)
            rclpy.spin(node)
            assert not rclpy.ok()
        finally:
            rclpy.try_shutdown()
        # The default context can be initialised again.
        rclpy.init(args=[])
        assert rclpy.ok()
        rclpy.shutdown()
