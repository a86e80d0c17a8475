"""Fault injection on a real-time stack of real processes (one launch for the whole module).

The tests run in file order on the stack of ``conftest.stack`` (sim_bridge in real time,
state_estimator, model_learner with a data_dir, mpc_planner with ``trigger: state_async``,
policy_controller on ``/fault_policy/commands``), each fault after the previous one was
recovered from:

1. corrupt model payloads on /mbrl/model and policy payloads on /mbrl/policy: each refused and
   counted in /diagnostics, the running model/policy keeps commanding;
2. NaN / inf / wrong-length / wrong-name / old-stamp states: each counted, none answered;
3. a 10k msg/s flood of bad states: memory bounded (RSS), every node alive, the robot safe;
4. kill -9 of model_learner: control goes on, its files survive with at most the last second
   lost, it respawns and resumes from them;
5. kill -9 of mpc_planner and of state_estimator: the bridge's watchdog applies the safe
   action by the 2nd control step after the last valid command; the launch names the dead
   node and respawns it; commands come back;
6. kill -9 of sim_bridge (``on_exit: shutdown``): the launch shuts everything down.

Every measured number goes into the results table (see conftest), the source of the README's
safety table.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import payloads
import pytest

from mbrl_ros.launcher.process_tree import running_pids
from mbrl_ros.nodes.conversions import bytes_message, command_tag, joint_state_message

JOINT = "hinge"
WATCHDOG_STEPS = 2  # the bound: the safe action acts by the 2nd control step after the last valid command
RSS_GROWTH_BOUND_MIB = 64.0
DATA_LOSS_BOUND_S = 1.0
RESPAWN_TIMEOUT_S = 90.0


def _max_gap_ms(items) -> float:
    times = [t for t, _ in items]
    return 1e3 * float(np.max(np.diff(times))) if len(times) > 1 else float("nan")


def _late_unsafe_steps(stack, start: float, end: float) -> tuple[int, int]:
    """``(late, steps)``: steps in ``[start, end]`` that applied something other than the safe action
    more than 2 control periods after the newest command (probe arrival times), and all steps."""
    command_times = np.array([t for t, _ in stack.commands.between(start - 5.0, end)])
    late, applied = 0, stack.applied.between(start, end)
    for t, m in applied:
        newest = command_times[command_times <= t]
        age = t - newest[-1] if newest.size else np.inf
        late += int(age > WATCHDOG_STEPS * stack.period and not np.array_equal(np.asarray(m.data), stack.safe_action))
    return late, len(applied)


def _wait_for_planned_commands(stack, count: int = 3, timeout: float = 30.0) -> None:
    """Until the newest ``count`` commands are planned ones (not the safe action), so that a fault
    is injected while the actuator moves."""
    deadline = time.monotonic() + timeout
    while True:
        recent = stack.commands.between(time.monotonic() - count * stack.period * 1.5)
        if len(recent) >= count and not any(np.array_equal(np.asarray(m.data), stack.safe_action)
                                            for _, m in recent[-count:]):
            return
        if time.monotonic() > deadline:
            pytest.fail("the planner does not command anything but the safe action")
        time.sleep(0.01)


def _watchdog_response(stack, t_fault: float) -> tuple[int, float, float]:
    """After a controller died at ``t_fault``: ``(steps, seconds, last_command_time)`` from the last
    valid command to the first step that applied the safe action (step 0 applied that command, or,
    when a reset dropped it, is the first step after it)."""
    before = stack.commands.between(t_fault - 2.0, t_fault + 0.1)
    assert before, "no command before the fault"
    t_last, last = before[-1]
    last_action = np.asarray(last.data)
    assert not np.array_equal(last_action, stack.safe_action), "the last command was the safe action already"
    deadline = time.monotonic() + 5.0
    while True:
        applied = stack.applied.between(t_last - 0.5)
        values = [np.asarray(m.data) for _, m in applied]
        start = max((i for i, v in enumerate(values) if np.allclose(v, last_action)), default=None)
        if start is None:
            # Never applied: it came in a reset gap (a new episode drops what the old one got); count
            # from the first step after it.
            start = next((i for i, (t, _) in enumerate(applied) if t > t_last), None)
        safe = None if start is None else next(
            (i for i in range(start, len(values)) if np.array_equal(values[i], stack.safe_action)), None)
        if safe is not None:
            return safe - start, applied[safe][0] - t_last, t_last
        if time.monotonic() > deadline:
            pytest.fail(f"the bridge never applied the safe action after the fault (start {start}):\n"
                        f"{stack.log()[-3000:]}")
        time.sleep(0.05)


def _kill_and_check_respawn(stack, name: str) -> tuple[int, float, float, float, str]:
    """kill -9 ``name``: returns (steps to safe, seconds to safe at the probe and at the bridge, seconds
    until commands again, fate)."""
    old_pid = stack.pids()[name]
    mark = len(stack.log())
    trips_before = stack.diagnostics.of("sim_bridge").get("watchdog_trips", 0)
    # Early in an episode, so the response is not a reset's (a reset pauses the robot and drops
    # the command it got meanwhile).
    stack.wait_commands(stack.episode_ends, time.monotonic(), 1, 30)
    time.sleep(0.4)
    _wait_for_planned_commands(stack)
    t_fault = time.monotonic()
    os.kill(old_pid, signal.SIGKILL)
    steps, seconds, t_last = _watchdog_response(stack, t_fault)
    # The bridge's own view of this trip (it stays tripped until a valid command comes again).
    latency = stack.diagnostics.of("sim_bridge", newer_than=t_last + seconds)["watchdog_latency_s"]
    stack.wait_log(f"ERROR: {name} was killed by SIGKILL", 10, mark)
    stack.wait_log(f"respawning {name}", 10, mark)
    stack.wait_log(f"started {name} (pid", 30, mark)
    new_pid = stack.pids()[name]
    # Commands that answer states again (not the planner's own safe commands on a state timeout).
    deadline = time.monotonic() + RESPAWN_TIMEOUT_S
    while True:
        fresh = [t for t, m in stack.commands.between(t_fault + 0.5)
                 if not np.array_equal(np.asarray(m.data), stack.safe_action)]
        if len(fresh) >= 5:
            break
        if time.monotonic() > deadline or stack.process.poll() is not None:
            pytest.fail(f"no commands after {name} respawned:\n{stack.log()[-3000:]}")
        time.sleep(0.1)
    bridge = stack.diagnostics.of("sim_bridge", newer_than=time.monotonic())
    assert bridge.get("watchdog_trips", 0) > trips_before, "the bridge's watchdog did not count the trip"
    assert new_pid != old_pid
    return steps, seconds, latency, fresh[0] - t_fault, (f"launch: 'ERROR: {name} was killed by SIGKILL', "
                                                         f"respawned (pid {old_pid} -> {new_pid})")


# -- 1. corrupt model and policy payloads --------------------------------------------------------
def _send_corrupt(stack, latched, topic: str, node: str, source: str, good: bytes, makers) -> tuple[dict, float, float]:
    """Publish each maker's corruption of ``good`` on ``topic`` and wait until ``node`` counted them all
    (``rejected.<source>.*``); returns the reasons counted, the start and the end time."""
    pid = stack.pids()[node]
    start = time.monotonic()
    before = sum(stack.diagnostics.rejected(node, source, start).values())
    publisher = stack.graph.publisher("std_msgs/msg/UInt8MultiArray", topic, latched)
    # One at a time: the topic is latched with depth 1 (as ROS's latching), so a payload sent
    # while the previous one (1.6 MB, fragmented) is still unacknowledged may replace it in the
    # writer's history; a learner sends one model per retraining, never a burst.
    for sent, make in enumerate(makers, start=1):
        publisher.publish(bytes_message(make(good)))
        deadline = time.monotonic() + 20
        while sum(stack.diagnostics.rejected(node, source).values()) < before + sent:
            assert time.monotonic() < deadline, (make.__name__, stack.diagnostics.rejected(node, source))
            time.sleep(0.1)
    time.sleep(0.5)
    reasons = stack.diagnostics.rejected(node, source)
    assert sum(reasons.values()) == before + len(makers), reasons
    assert stack.pids()[node] == pid and running_pids({pid})
    return reasons, start, time.monotonic()


def test_corrupt_models_are_refused_and_the_running_model_keeps_planning(stack, latched):
    makers = [payloads.truncated, payloads.npz_oversized_length, payloads.npz_wrong_shape, payloads.npz_nan_weight]
    reasons, start, end = _send_corrupt(stack, latched, "/mbrl/model", "mpc_planner", "model",
                                        (stack.data_dir / "model.npz").read_bytes(), makers)
    planner = stack.diagnostics.of("mpc_planner", end)
    learner = stack.diagnostics.of("model_learner", end)
    assert planner["model_version"] == learner["model_version"] >= 1  # the learner's model, no other
    during = stack.commands.between(start, end)
    assert len(during) >= 0.5 * (end - start) / stack.period, "commands thinned out during the payloads"
    for make in makers:
        stack.record(fault=f"model bytes: {make.__name__}", time_to_safe="not needed: the running model kept "
                     f"commanding (max command gap {_max_gap_ms(during):.0f} ms)", data_lost="none",
                     node_fate=f"mpc_planner runs on, pid unchanged; rejected.model.* {dict(reasons)}")


def test_corrupt_policies_are_refused_and_the_running_policy_keeps_commanding(stack, latched):
    makers = [payloads.truncated, payloads.onnx_oversized_length, payloads.onnx_wrong_shape,
              payloads.onnx_nan_weight]
    reasons, start, end = _send_corrupt(stack, latched, "/mbrl/policy", "policy_controller", "policy",
                                        stack.policy_file.read_bytes(), makers)
    assert stack.diagnostics.of("policy_controller", end)["policy_version"] == 1
    during = stack.policy_commands.between(start, end)
    assert len(during) >= 0.5 * (end - start) / stack.period
    assert all(np.all(np.isfinite(m.data)) for _, m in during)
    for make in makers:
        stack.record(fault=f"policy bytes: {make.__name__}", time_to_safe="not needed: policy version 1 kept "
                     f"commanding (max command gap {_max_gap_ms(during):.0f} ms)", data_lost="none",
                     node_fate=f"policy_controller runs on, pid unchanged; rejected.policy.* {dict(reasons)}")


# -- 2. bad states ------------------------------------------------------------------------------
BAD_STATES = {
    "NaN": lambda: joint_state_message(10 ** 18, [JOINT], [float("nan")], [0.0]),
    "inf": lambda: joint_state_message(10 ** 18, [JOINT], [0.0], [float("inf")]),
    "wrong-length": lambda: joint_state_message(10 ** 18, [JOINT], [0.0, 1.0], [0.0]),
    "wrong-name": lambda: joint_state_message(10 ** 18, ["elbow"], [0.0], [0.0]),
    "old-stamp": lambda: joint_state_message(1, [JOINT], [0.0], [0.0]),
}
STATE_READERS = ("mpc_planner", "model_learner", "policy_controller")


def test_bad_states_are_each_counted_and_never_answered(stack):
    # Stamped far in the future (bad content) or at 1 ns (old): none may become a command.
    publisher = stack.graph.publisher("sensor_msgs/msg/JointState", "/mbrl/state", 10)
    raw = stack.graph.publisher("sensor_msgs/msg/JointState", "/joint_states", 10)
    start = time.monotonic()
    before = {n: sum(stack.diagnostics.rejected(n, "state", start).values()) for n in STATE_READERS}
    before_raw = sum(stack.diagnostics.rejected("state_estimator", "joint_states", start).values())
    per_kind = 10
    # 20 msg/s per topic (the control rate): slow enough that no node falls 10 messages behind on a
    # loaded machine, so every one reaches the node (the flood below is where DDS drops some).
    for _ in range(per_kind):
        for make in BAD_STATES.values():
            publisher.publish(make())
            raw.publish(make())
            time.sleep(0.05)
    expected = per_kind * len(BAD_STATES)
    deadline = time.monotonic() + 20
    while True:
        now = {n: sum(stack.diagnostics.rejected(n, "state").values()) - before[n] for n in STATE_READERS}
        now["state_estimator"] = sum(stack.diagnostics.rejected("state_estimator", "joint_states").values()) - before_raw
        if all(v >= expected for v in now.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert now == {n: expected for n in now}, now
    # No command answers a bad state (tagged with its stamp).
    tags = {command_tag(m) for stream in (stack.commands, stack.policy_commands) for _, m in stream.between(start)}
    assert not tags & {10 ** 18, 1}, "a bad state was answered"
    for kind in BAD_STATES:
        stack.record(fault=f"state: {kind} (x{per_kind}, on /mbrl/state and /joint_states)",
                     time_to_safe="not needed: refused, never answered", data_lost="none",
                     node_fate=f"each counted in /diagnostics rejected.state.* by {', '.join(STATE_READERS)} and "
                               f"rejected.joint_states.* by state_estimator ({expected} of {expected} each)")


# -- 3. a flood of states -----------------------------------------------------------------------
FLOOD_RATE = 10_000
FLOOD_SECONDS = 3.0


def _flood(publisher, messages, stop: threading.Event, sent: list[int]) -> None:
    # Serialized once: the flood is what the nodes receive, not what this test can serialize.
    messages = [m.serialize() for m in messages]
    start = time.perf_counter()
    n = 0
    while not stop.is_set():
        due = int((time.perf_counter() - start) * FLOOD_RATE)
        while n < due:
            publisher.publish(messages[n % len(messages)])
            n += 1
        time.sleep(0.0005)
    sent.extend([n, time.perf_counter() - start])


def test_a_10k_per_second_flood_keeps_memory_bounded_and_the_robot_safe(stack):
    publisher = stack.graph.publisher("sensor_msgs/msg/JointState", "/mbrl/state", 10)
    messages = [make() for make in BAD_STATES.values()]
    names = ("mpc_planner", "model_learner", "policy_controller", "state_estimator", "sim_bridge")
    pids = {n: stack.pids()[n] for n in names}
    rss_before = {n: _rss(p) for n, p in pids.items()}
    start = time.monotonic()
    rejected_before = {n: sum(stack.diagnostics.rejected(n, "state", start).values()) for n in STATE_READERS}
    bridge_before = stack.diagnostics.of("sim_bridge", start)
    stop, sent = threading.Event(), []
    thread = threading.Thread(target=_flood, args=(publisher, messages, stop, sent), daemon=True)
    thread.start()
    peak = dict(rss_before)
    while time.monotonic() - start < FLOOD_SECONDS:
        for n, p in pids.items():
            peak[n] = max(peak[n], _rss(p))
        time.sleep(0.25)
    stop.set()
    thread.join(timeout=10)
    end = time.monotonic()
    time.sleep(1.0)
    rss_after = {n: _rss(p) for n, p in pids.items()}
    assert all(running_pids({p}) for p in pids.values()), stack.log()[-3000:]
    growth = {n: peak[n] - rss_before[n] for n in names}
    assert max(growth.values()) < RSS_GROWTH_BOUND_MIB, growth
    rate = sent[0] / sent[1]
    counted = {n: sum(stack.diagnostics.rejected(n, "state", time.monotonic()).values()) - rejected_before[n]
               for n in STATE_READERS}
    assert all(v > 0 for v in counted.values()), counted
    assert all(v <= sent[0] for v in counted.values()), counted
    bridge = stack.diagnostics.of("sim_bridge", time.monotonic())
    steps = bridge["steps"] - bridge_before["steps"]
    misses = bridge["missed_steps"] - bridge_before["missed_steps"]
    trips = bridge.get("watchdog_trips", 0) - bridge_before.get("watchdog_trips", 0)
    late, applied = _late_unsafe_steps(stack, start, end)
    assert late == 0, f"{late} of {applied} steps held a command longer than {WATCHDOG_STEPS} periods"
    # Control after the flood: commands again at the control rate.
    stack.wait_commands(stack.commands, time.monotonic(), 10, 30)
    stack.record(fault=f"flood: {sent[0]} bad states in {sent[1]:.1f} s ({rate:.0f} msg/s) on /mbrl/state",
                 time_to_safe=f"{misses:.0f} of {steps:.0f} steps without a fresh command (the planner starved), "
                              f"{trips:.0f} watchdog trip(s) to the safe action; {late} of {applied} steps seen "
                              f"held a command past {WATCHDOG_STEPS} periods",
                 data_lost="none",
                 node_fate="all alive; RSS growth (peak - before, MiB) "
                           + ", ".join(f"{n} {growth[n]:+.1f}" for n in names)
                           + "; counted rejections " + ", ".join(f"{n} {counted[n]}" for n in STATE_READERS)
                           + f" of {sent[0]} sent (the rest dropped by DDS keep-last-10 history)")
    stack.flood = {"rss_before": rss_before, "rss_peak": peak, "rss_after": rss_after, "rate": rate}


def _rss(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


# -- 4. kill -9 of the learner ---------------------------------------------------------------------
def test_kill_learner_keeps_control_and_its_data_and_it_resumes(stack):
    from mbrl_ros.learning.archive import LearnerArchive
    from mbrl_ros.learning.model_payload import decode_model
    from mbrl_ros.tasks import make_task

    spec = make_task("pendulum_swingup").spec
    deadline = time.monotonic() + 30
    while stack.diagnostics.of("model_learner").get("persisted_transitions", 0) < 20:
        assert time.monotonic() < deadline, "the learner never persisted its transitions"
        time.sleep(0.1)
    pid = stack.pids()["model_learner"]
    mark = len(stack.log())
    trips_before = stack.diagnostics.of("sim_bridge").get("watchdog_trips", 0)
    t_kill = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    obs, action, next_obs, episodes = LearnerArchive(stack.data_dir, spec.obs_dim, spec.act_dim).load_transitions()
    # The newest stored transition's second state, found among the states the probe heard.
    last = next_obs[-1]
    heard = [t for t, m in stack.states.between(t_kill - 30, t_kill)
             if np.allclose([m.position[0], m.velocity[0]], last, rtol=0, atol=1e-12)]
    assert heard, "the newest stored transition matches no state on /mbrl/state"
    lost_s = t_kill - heard[-1]
    assert lost_s <= DATA_LOSS_BOUND_S, lost_s
    model = decode_model((stack.data_dir / "model.npz").read_bytes(), spec)
    rows = (stack.data_dir / "training.csv").read_text().splitlines()
    assert len(rows) >= 2 and rows[0].startswith("version,")
    stack.wait_log("ERROR: model_learner was killed by SIGKILL", 10, mark)
    stack.wait_log("respawning model_learner", 10, mark)
    stack.wait_log("resumed from", RESPAWN_TIMEOUT_S, mark)
    resumed = int(stack.log()[mark:].split("resumed from", 1)[1].split(": ", 1)[1].split(" transitions")[0])
    assert resumed == obs.shape[0], (resumed, obs.shape)
    end = time.monotonic()
    during = stack.commands.between(t_kill, end)
    trips = stack.diagnostics.of("sim_bridge", end).get("watchdog_trips", 0) - trips_before
    assert len(during) >= 0.5 * (end - t_kill) / stack.period, (
        f"{len(during)} commands in {end - t_kill:.1f} s while the learner respawned")
    late, applied = _late_unsafe_steps(stack, t_kill, end)
    assert late == 0, f"{late} of {applied} steps held a command longer than {WATCHDOG_STEPS} periods"
    stack.record(fault="kill -9 model_learner (real time)",
                 time_to_safe=f"control went on while it respawned (max command gap {_max_gap_ms(during):.0f} ms, "
                              f"{trips:.0f} watchdog trips, {late} of {applied} steps held a command past "
                              f"{WATCHDOG_STEPS} periods)",
                 data_lost=f"{lost_s:.2f} s of transitions (bound {DATA_LOSS_BOUND_S} s); transitions.npz "
                           f"({obs.shape[0]}), model.npz (version {model.extra_metadata.get('version')}), "
                           f"training.csv ({len(rows) - 1} rows) intact",
                 node_fate=f"launch: 'ERROR: model_learner was killed by SIGKILL', respawned, resumed from "
                           f"its data_dir with {resumed} transitions")


# -- 5. kill -9 of the planner and the estimator -----------------------------------------------------
@pytest.mark.parametrize("name", ["mpc_planner", "state_estimator"])
def test_kill_controller_path_gives_the_safe_action_within_two_periods_and_a_respawn(stack, name):
    steps, seconds, latency, back, fate = _kill_and_check_respawn(stack, name)
    assert steps <= WATCHDOG_STEPS, (steps, seconds)
    stack.record(fault=f"kill -9 {name} (real time, {stack.period * 1e3:.0f} ms period)",
                 time_to_safe=f"safe action at step {steps} after the last valid command (bound {WATCHDOG_STEPS}); "
                              f"wall: {seconds * 1e3:.0f} ms between the two at the probe, "
                              f"{latency * 1e3:.0f} ms at the bridge (bound "
                              f"{WATCHDOG_STEPS} periods = {WATCHDOG_STEPS * stack.period * 1e3:.0f} ms)",
                 data_lost="none (stateless)" if name == "state_estimator" else "the current plan (rebuilt)",
                 node_fate=f"{fate}; planned commands again {back:.1f} s after the kill")


# -- 6. kill -9 of the robot (on_exit: shutdown) -----------------------------------------------------
def test_kill_bridge_shuts_the_launch_down_cleanly(stack):
    pids = set(stack.pids().values())
    mark = len(stack.log())
    t_kill = time.monotonic()
    os.kill(stack.pids()["sim_bridge"], signal.SIGKILL)
    code = stack.process.wait(timeout=60)
    took = time.monotonic() - t_kill
    text = stack.log()[mark:]
    assert code == 128 + signal.SIGKILL, text
    assert "ERROR: sim_bridge was killed by SIGKILL" in text and "shutting down: sim_bridge exited" in text, text
    deadline = time.monotonic() + 10
    while running_pids(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running_pids(pids), running_pids(pids)
    assert (stack.data_dir / "transitions.npz").is_file()
    stack.record(fault="kill -9 sim_bridge (the robot; on_exit: shutdown)",
                 time_to_safe="n/a (the actuator itself is gone)", data_lost="none: learner saved at its SIGINT",
                 node_fate=f"launch: 'ERROR: sim_bridge was killed by SIGKILL', shut every node down in {took:.1f} s, "
                           f"exit code {code}, no process left")
