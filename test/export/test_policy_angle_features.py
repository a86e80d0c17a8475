"""Angle entries reach the policy as sin/cos, in torch and in the exported ONNX graph alike."""
import math

import numpy as np
import onnx
from onnx import numpy_helper
import pytest
import torch

from mbrl_ros.export.onnx_policy import PolicyNetwork, check_parity, export_policy_onnx, load_policy_onnx
from mbrl_ros.tasks import make_task
from mbrl_ros.tasks.base import TaskSpec

torch.set_num_threads(1)


def cartpole_policy(angle_features=True):
    spec = make_task("cartpole_swingup").spec  # [x, theta, x_dot, theta_dot], theta an angle
    policy = PolicyNetwork.from_spec(spec, {"hidden_units": 32, "angle_features": angle_features}, seed=3)
    obs = np.random.default_rng(0).normal([0.0, 1.0, 0.0, 0.0], [1.0, 4.0, 2.0, 6.0], size=(500, 4))
    policy.fit_normalization(obs)
    return policy, spec


def test_angles_one_turn_apart_give_the_same_action(tmp_path):
    policy, spec = cartpole_policy()
    assert policy.angle_indices == (1,) and policy.layers[0].in_features == 5  # x, x_dot, theta_dot, sin, cos
    obs = np.random.default_rng(1).normal(size=(64, 4)).astype(np.float32)
    turned = obs.copy()
    turned[:, 1] += 2 * math.pi
    loaded = load_policy_onnx(export_policy_onnx(policy, tmp_path / "p.onnx", task_spec=spec), spec)
    with torch.no_grad():
        assert torch.allclose(policy(torch.from_numpy(obs)), policy(torch.from_numpy(turned)), atol=1e-4)
    assert np.abs(loaded.act_batch(obs) - loaded.act_batch(turned)).max() < 1e-4
    # Without angle features the unwrapped angle is an ordinary input: the two differ.
    plain, _ = cartpole_policy(angle_features=False)
    with torch.no_grad():
        assert not torch.allclose(plain(torch.from_numpy(obs)), plain(torch.from_numpy(turned)), atol=1e-3)


def test_graph_and_parity(tmp_path):
    """The graphs hold the fewest nodes (ONNX Runtime's cost per node exceeds the arithmetic)."""
    policy, spec = cartpole_policy()
    path = export_policy_onnx(policy, tmp_path / "p.onnx", task_spec=spec)
    ops = [node.op_type for node in onnx.load(path).graph.node]
    # float64: float64 in and out (no Cast), 1/std and the centering folded into layer 0,
    # one Sin gives sin and cos, no Add for the symmetric +-15 N bounds.
    assert ops == ["Gemm", "Sin", "Concat", "Gemm", "Tanh", "Gemm", "Tanh", "Gemm", "Tanh", "Mul"]
    init = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    assert init["angle_phase"].tolist() == [0.0, math.pi / 2]  # cos = sin(angle + pi/2), pi/2 in float64
    assert check_parity(path, policy, n=10000) <= 1e-5
    path32 = export_policy_onnx(policy, tmp_path / "p32.onnx", task_spec=spec, precision="float32")
    assert [node.op_type for node in onnx.load(path32).graph.node] == [
        "Sub", "Gather", "Sin", "Cos", "Concat", "Gemm", "Tanh", "Gemm", "Tanh", "Gemm", "Tanh", "Mul"]


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_asymmetric_bounds_and_no_angles(tmp_path, precision):
    """An action offset is added when the bounds are not symmetric; without angles no sin/cos nodes."""
    policy = PolicyNetwork(3, [0.0, -1.0], [2.0, 3.0], {"hidden_units": 16, "angle_features": False}, seed=1)
    policy.fit_normalization(np.random.default_rng(2).normal([5.0, -1.0, 0.0], [0.5, 2.0, 1.0], size=(200, 3)))
    spec = TaskSpec(name="offset_task", observation_names=("a", "b", "c"), action_names=("u", "v"),
                    action_low=(0.0, -1.0), action_high=(2.0, 3.0), control_period=0.01, episode_length=10)
    path = export_policy_onnx(policy, tmp_path / "p.onnx", task_spec=spec, precision=precision)
    ops = [node.op_type for node in onnx.load(path).graph.node]
    assert "Add" in ops and not {"Sin", "Cos", "Gather", "Concat"} & set(ops)
    assert check_parity(path, policy, n=10000) <= (1e-6 if precision == "float64" else 1e-5)
    actions = load_policy_onnx(path, spec).act_batch(np.random.default_rng(3).normal(size=(100, 3)) * 50)
    assert np.all(actions >= [0.0, -1.0]) and np.all(actions <= [2.0, 3.0])


def test_a_large_action_range_keeps_parity(tmp_path):
    """Float32 sums alone would move a +-15 N action by ~1e-5; the float64 graph matches to float64 rounding."""
    policy, spec = cartpole_policy()
    policy = PolicyNetwork.from_spec(spec, {"hidden_units": 128}, seed=0)
    policy.fit_normalization(np.random.default_rng(0).normal(size=(100, 4)) * [1.0, 3.0, 2.0, 6.0])
    with torch.no_grad():
        for layer in policy.layers:
            layer.weight.mul_(3.0)  # a trained network's larger weights
    path = export_policy_onnx(policy, tmp_path / "p.onnx", task_spec=spec)
    graph = onnx.load(path).graph
    assert graph.input[0].type.tensor_type.elem_type == graph.output[0].type.tensor_type.elem_type == 11  # double
    assert check_parity(path, policy, n=10000) <= 1e-12


def test_float32_precision_graph(tmp_path):
    policy, spec = cartpole_policy()
    path = export_policy_onnx(policy, tmp_path / "p32.onnx", task_spec=spec, precision="float32")
    model = onnx.load(path)
    assert "Cast" not in [node.op_type for node in model.graph.node]
    assert {p.key: p.value for p in model.metadata_props}["precision"] == '"float32"'
    assert check_parity(path, policy, n=10000) <= 1e-4  # float32 on both sides: a few ulps of 15 N
    loaded = load_policy_onnx(path, spec)
    obs = np.random.default_rng(4).normal(size=(16, 4)).astype(np.float32)
    with torch.no_grad():
        assert np.abs(loaded.act_batch(obs) - policy(torch.from_numpy(obs)).numpy()).max() <= 1e-4
