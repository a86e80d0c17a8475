"""policy_controller on the runtime: tagged clamped commands, refused files, hot swaps, safe commands."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from mbrl_ros.config import ConfigError
from mbrl_ros.export.onnx_policy import PolicyFormatError, PolicyNetwork, export_policy_onnx
from mbrl_ros.nodes.conversions import bytes_message, command_to_action, joint_state_message
from mbrl_ros.nodes.policy_controller import EXIT_BAD_POLICY, PolicyControllerNode
from mbrl_ros.ros.runtime.testing import isolated_domain
from mbrl_ros.tasks import make_task

LIMIT = 3.0  # pendulum torque limit, N*m
BASE = {"task": "pendulum_swingup", "max_state_age": 0.0, "state_timeout": 60.0}


def small_policy(task_name="pendulum_swingup", seed=0, gain=1.0):
    spec = make_task(task_name).spec
    policy = PolicyNetwork.from_spec(spec, {"hidden_units": 8}, seed=seed)
    policy.fit_normalization(np.random.default_rng(seed).normal(size=(64, spec.obs_dim)))
    with torch.no_grad():
        policy.layers[-1].weight.mul_(gain)  # gain >> 1: saturated actions, at the bounds
    return policy, spec


def exported(tmp_path, name="policy.onnx", version=1, **kwargs):
    policy, spec = small_policy(**kwargs)
    path = export_policy_onnx(policy, tmp_path / name, task_spec=spec, metadata={"version": version})
    return policy, path


def start(graph, wait_for, latched, policy_file, **overrides):
    node = graph.start(PolicyControllerNode, **{**BASE, "policy_file": str(policy_file), **overrides})
    commands = graph.collect("std_msgs/msg/Float64MultiArray", "/effort_controller/commands")
    states = graph.publisher("sensor_msgs/msg/JointState", "/mbrl/state")
    policies = graph.publisher("std_msgs/msg/UInt8MultiArray", "/mbrl/policy", latched)
    wait_for(lambda: states.get_subscription_count() > 0 and policies.get_subscription_count() > 0,
             what="the controller's subscriptions")
    return node, commands, states, policies


def expected_action(policy, q, dq):
    with torch.no_grad():
        return policy(torch.tensor([[q, dq]], dtype=torch.float32))[0].numpy()


def test_each_state_gets_the_policys_tagged_command(graph, wait_for, latched, tmp_path):
    policy, path = exported(tmp_path)
    node, commands, states, _ = start(graph, wait_for, latched, path)
    rng = np.random.default_rng(1)
    sent = []
    for k in range(6):
        q, dq = rng.normal(size=2) * 2
        stamp = 1_000_000_000 + k * 50_000_000
        states.publish(joint_state_message(stamp, ["hinge"], [q], [dq]))
        sent.append((stamp, q, dq))
        wait_for(lambda: len(commands) == k + 1, what=f"the command for state {k}")
    for message, (stamp, q, dq) in zip(commands, sent):
        action, tag = command_to_action(message, 1)
        assert tag == stamp
        assert np.all(np.isfinite(action)) and -LIMIT <= action[0] <= LIMIT
        assert np.abs(action - expected_action(policy, q, dq)).max() <= 1e-5
    assert node.health.get("commands.policy") == 6 and node.health.get("states") == 6
    assert node.health.get("policy_version") == 1


def test_saturated_policy_and_bad_values_stay_within_the_limits(graph, wait_for, latched, tmp_path):
    _, path = exported(tmp_path, gain=1e4)
    node, commands, states, _ = start(graph, wait_for, latched, path)
    for k, q in enumerate((-3.0, -1.0, 0.5, 2.0, 3.0)):
        states.publish(joint_state_message(1_000_000_000 + k * 50_000_000, ["hinge"], [q], [5.0 * q]))
    wait_for(lambda: len(commands) == 5, what="five commands")
    values = [command_to_action(c, 1)[0][0] for c in commands]
    assert all(-LIMIT <= v <= LIMIT for v in values) and max(abs(v) for v in values) > 0.99 * LIMIT, values
    # The guard behind every publish: out-of-range values are clamped, NaN becomes the safe command.
    node._publish_command(np.array([50.0]), tag_ns=2_000_000_000)
    node._publish_command(np.array([np.nan]), tag_ns=2_050_000_000)
    wait_for(lambda: len(commands) == 7, what="the guarded commands")
    assert command_to_action(commands[5], 1)[0][0] == LIMIT
    assert command_to_action(commands[6], 1)[0][0] == 0.0
    assert node.health.get("non_finite_actions") == 1


def test_bad_states_get_no_command(graph, wait_for, latched, tmp_path, check_bad_states_get_no_command):
    _, path = exported(tmp_path)
    node, commands, states, _ = start(graph, wait_for, latched, path)
    check_bad_states_get_no_command(node, commands, states)


def test_hot_swap_takes_newer_valid_policies_only(graph, wait_for, latched, tmp_path):
    first, path = exported(tmp_path, version=1, seed=0)
    second, second_path = exported(tmp_path, "second.onnx", version=2, seed=5)
    _, other_task_path = exported(tmp_path, "cartpole.onnx", version=9, task_name="cartpole_swingup")
    node, commands, states, policies = start(graph, wait_for, latched, path)
    diagnostics = graph.collect("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics")

    def answer(k, q=0.7, dq=-0.3):
        states.publish(joint_state_message(1_000_000_000 + k * 50_000_000, ["hinge"], [q], [dq]))
        wait_for(lambda: len(commands) == k + 1, what=f"the command for state {k}")
        return command_to_action(commands[k], 1)[0]

    assert np.abs(answer(0) - expected_action(first, 0.7, -0.3)).max() <= 1e-5
    policies.publish(bytes_message(second_path.read_bytes()))
    wait_for(lambda: node._pending is not None, what="the new policy's checks")
    assert np.abs(answer(1) - expected_action(second, 0.7, -0.3)).max() <= 1e-5
    assert node.health.get("policy_version") == 2 and node.health.get("policies_swapped") == 1

    # Latched, keep-last 1: a message published while the last one is being checked replaces it, so
    # each is sent after the previous verdict.
    for count, data in enumerate((b"not an onnx file", other_task_path.read_bytes(),
                                  path.read_bytes()), start=1):  # the last is version 1 < 2
        policies.publish(bytes_message(data))
        wait_for(lambda: node.health.rejected_total("policy") == count, what=f"rejected policy {count}")
    assert node.health.get("rejected.policy.invalid") == 2 and node.health.get("rejected.policy.not_newer") == 1
    assert np.abs(answer(2) - expected_action(second, 0.7, -0.3)).max() <= 1e-5  # the old one is kept
    wait_for(lambda: any(kv.key == "rejected.policy.invalid" and kv.value == "2"
                         for array in list(diagnostics) for kv in array.status[0].values
                         if array.status[0].name.endswith("policy_controller")),
             what="the rejections in /diagnostics")


def test_safe_command_when_states_stop(graph, wait_for, latched, tmp_path):
    _, path = exported(tmp_path, gain=1e4)
    node, commands, states, _ = start(graph, wait_for, latched, path, state_timeout=0.2)
    states.publish(joint_state_message(5_000_000_000, ["hinge"], [2.0], [1.0]))
    wait_for(lambda: len(commands) >= 3, timeout=5.0, what="safe commands after the timeout")
    safe = [command_to_action(c, 1) for c in commands[1:3]]
    assert all(a[0] == 0.0 and tag == 5_000_000_000 for a, tag in safe)
    assert node.health.get("commands.safe") >= 2


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing.onnx", "cannot be read"),
    (lambda tmp: (tmp / "junk.onnx").write_bytes(b"junk") and tmp / "junk.onnx", "not an ONNX model"),
    (lambda tmp: exported(tmp, "cartpole.onnx", task_name="cartpole_swingup")[1], "does not match task"),
])
def test_a_bad_policy_file_is_refused_before_anything_runs(graph, tmp_path, make, message):
    with pytest.raises(PolicyFormatError, match=message):
        graph.start(PolicyControllerNode, **{**BASE, "policy_file": str(make(tmp_path))})
    with pytest.raises(ConfigError, match="policy_file is empty"):
        graph.start(PolicyControllerNode, **BASE)


def test_the_executable_exits_non_zero_with_an_actionable_message(tmp_path):
    _, path = exported(tmp_path, "cartpole.onnx", task_name="cartpole_swingup")
    with isolated_domain():  # a leased domain, as every DDS test (no fixed ROS_DOMAIN_ID)
        proc = subprocess.run([sys.executable, "-m", "mbrl_ros.nodes.policy_controller", "--ros-args",
                               "-p", "task:=pendulum_swingup", "-p", f"policy_file:={path}"],
                              capture_output=True, text=True, timeout=120, env=dict(os.environ), cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == EXIT_BAD_POLICY, output
    assert "does not match task 'pendulum_swingup'" in output and "re-export" in output, output
    assert "Traceback" not in output
