"""Process scheduling (mbrl_ros.nodes.scheduling): parameters, real time, nice and the fallbacks.

Everything that changes a priority runs in a child process, so the test process (and the
tests after it) keep the scheduling they were started with.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from mbrl_ros.config import ConfigError
from mbrl_ros.nodes.scheduling import (
    LEARNER_DEFAULTS,
    REALTIME_DEFAULTS,
    SchedulingConfig,
    declare_scheduling,
    thread_scheduling,
)
from mbrl_ros.ros.compat import Node, Parameter

# The child: starts two idle threads, applies a SchedulingConfig, starts one more thread
# (which must inherit), then prints the outcome and every thread's (policy, priority, nice).
CHILD = textwrap.dedent("""
    import dataclasses, json, os, sys, threading
    from mbrl_ros.nodes import scheduling
    config = scheduling.SchedulingConfig(**json.loads(sys.argv[1]))
    if sys.argv[2] == "refuse_realtime":
        def refuse(tid, policy, param):
            if policy in scheduling.REALTIME_POLICIES.values():
                raise PermissionError(1, "Operation not permitted")
            return real(tid, policy, param)
        real, os.sched_setscheduler = os.sched_setscheduler, refuse
    stop = threading.Event()
    before = [threading.Thread(target=stop.wait) for _ in range(2)]
    for t in before:
        t.start()
    outcome = scheduling.apply_scheduling(config)
    if sys.argv[2] == "twice":  # a node's main calling it after run_node did: the same result
        outcome = scheduling.apply_scheduling(config)
    ids = {}
    def record():
        ids["later"] = threading.get_native_id()
        stop.wait()
    later = threading.Thread(target=record)
    later.start()
    while "later" not in ids:
        pass
    threads = {tid: scheduling.thread_scheduling(tid) for tid in scheduling.thread_ids()}
    stop.set()
    print(json.dumps({"outcome": dataclasses.asdict(outcome), "summary": outcome.summary(),
                      "threads": list(threads.values()), "later": threads[ids["later"]]}))
""")


def run_child(config: dict, mode: str = "") -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config), mode], capture_output=True, text=True,
                          timeout=60, env={**os.environ})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def realtime_permitted() -> bool:
    """Whether this machine lets a child process use SCHED_FIFO (root or RLIMIT_RTPRIO)."""
    probe = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def test_realtime_reaches_every_thread_and_new_threads_inherit():
    result = run_child({"realtime_priority": 10, "nice": -10})
    if realtime_permitted():
        assert result["outcome"]["policy"] == "fifo" and result["outcome"]["realtime_priority"] == 10, result
        assert len(result["threads"]) >= 4  # main, two before, one after
        assert all(policy == "fifo" and priority == 10 for policy, priority, _ in result["threads"]), result
        assert result["later"][:2] == ["fifo", 10], result
        assert result["summary"].startswith("SCHED_FIFO priority 10 on "), result
    else:  # the fallback is what this machine can show
        assert result["outcome"]["policy"] == "other" and "not permitted" in result["summary"], result


def test_refused_realtime_falls_back_to_nice_with_a_note():
    start = os.getpriority(os.PRIO_PROCESS, 0)  # the child starts at the test's nice; nice is an increment
    result = run_child({"realtime_priority": 10, "nice": 7}, "refuse_realtime")
    outcome, expected = result["outcome"], min(19, start + 7)
    assert outcome["policy"] == "other" and outcome["realtime_priority"] == 0 and outcome["nice"] == expected, result
    assert any("not permitted" in note and f"falling back to nice {expected}" in note
               for note in outcome["notes"]), result
    assert all(thread == ["other", 0, expected] for thread in result["threads"]), result  # raising is always allowed
    assert result["later"] == ["other", 0, expected], result


def test_nice_alone_applies_to_every_thread():
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + LEARNER_DEFAULTS["nice"])
    result = run_child(dict(LEARNER_DEFAULTS))
    assert result["outcome"]["policy"] == "other" and result["outcome"]["notes"] == [], result
    assert all(thread == ["other", 0, expected] for thread in result["threads"]), result


def test_applying_twice_does_not_add_up():
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 4)
    result = run_child({"nice": 4}, "twice")
    assert all(thread == ["other", 0, expected] for thread in result["threads"]), result


def test_default_config_changes_nothing():
    before = list(thread_scheduling(0))
    result = run_child({})
    assert result["outcome"]["notes"] == [] and all(thread == before for thread in result["threads"]), result


def test_disabled_leaves_the_process_as_started():
    before = thread_scheduling(0)
    result = run_child({"enabled": False, "realtime_priority": 10, "nice": 10})
    assert result["outcome"]["threads"] == 0 and "left as started" in result["summary"], result
    assert all(tuple(thread) == before for thread in result["threads"]), (before, result)


def test_parameters_take_node_defaults_and_overrides(graph):
    node = graph.add(Node("scheduled", context=graph.context,
                          parameter_overrides=[Parameter("scheduling.nice", value=3)]))
    config = declare_scheduling(node, **REALTIME_DEFAULTS)
    assert config == SchedulingConfig(realtime_priority=10, nice=3)
    assert node.get_parameter("scheduling.realtime_policy").value == "fifo"
    assert "CAP_SYS_NICE" in node.describe_parameter("scheduling.realtime_priority").description


def test_out_of_bounds_and_unknown_values_are_refused(graph):
    node = graph.add(Node("badly_scheduled", context=graph.context,
                          parameter_overrides=[Parameter("scheduling.realtime_priority", value=120)]))
    with pytest.raises(ConfigError, match="scheduling.realtime_priority"):
        declare_scheduling(node)
    with pytest.raises(TypeError, match="unknown scheduling default"):
        declare_scheduling(node, priority=3)


RUN_NODE_CHILD = textwrap.dedent("""
    import json, sys
    from mbrl_ros.nodes import scheduling
    from mbrl_ros.nodes.runner import run_node
    from mbrl_ros.ros.compat import Node, rclpy_api

    class Refined(Node):
        def __init__(self):
            super().__init__("refined")
            self.scheduling_defaults = {"nice": 4}  # known only once the node has read its parameters
            self.seen = None
            self.create_timer(0.01, self.check)

        def check(self):
            self.seen = scheduling.thread_scheduling(0)
            rclpy_api.shutdown()

    nodes = []
    def factory():
        nodes.append(Refined())
        return nodes[0]
    code = run_node(factory, ["x"], name="refined", scheduling={"nice": 2, "realtime_priority": 0})
    print(json.dumps({"code": code, "seen": nodes[0].seen}))
""")


def test_run_node_applies_the_defaults_a_node_refines_over_its_mains():
    done = subprocess.run([sys.executable, "-c", RUN_NODE_CHILD], capture_output=True, text=True, timeout=120,
                          env={**os.environ})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    started_nice = os.getpriority(os.PRIO_PROCESS, 0)
    assert result["code"] == 0 and result["seen"] == ["other", 0, min(19, started_nice + 4)]
