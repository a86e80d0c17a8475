"""A policy file's network comes back as a PolicyNetwork, for re-export at another precision."""
import numpy as np
import onnx
import pytest
import torch

from mbrl_ros.export.onnx_policy import (PolicyFormatError, PolicyNetwork, check_parity, export_policy_onnx,
                                         policy_from_onnx)
from mbrl_ros.tasks import make_task

torch.set_num_threads(1)


def trained_like_policy(spec, activation="tanh"):
    policy = PolicyNetwork.from_spec(spec, {"hidden_units": 24, "activation": activation}, seed=5)
    policy.fit_normalization(np.random.default_rng(0).normal([0.5, 1.0, 0.0, 0.0], [1.0, 4.0, 2.0, 6.0], (300, 4)))
    return policy.eval()


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_round_trip_gives_the_same_function(tmp_path, precision, activation):
    spec = make_task("cartpole_swingup").spec
    policy = trained_like_policy(spec, activation)
    path = export_policy_onnx(policy, tmp_path / "p.onnx", task_spec=spec, precision=precision)
    back = policy_from_onnx(path, spec)
    assert back.config.activation == activation and back.config.hidden_units == 24 and back.angle_indices == (1,)
    obs = torch.from_numpy(np.random.default_rng(1).normal(size=(2000, 4)) * [2.0, 8.0, 4.0, 12.0])
    with torch.no_grad():
        expected = policy.double()(obs)
        got = back(obs)
    # float64 graphs hold the network's weights exactly (folded in float64); float32 ones rounded.
    assert torch.abs(expected - got).max().item() <= (1e-9 if precision == "float64" else 1e-4)
    # Re-exported at the other precision, the file agrees with the recovered network.
    other = "float32" if precision == "float64" else "float64"
    again = export_policy_onnx(back, tmp_path / "again.onnx", task_spec=spec, precision=other)
    assert check_parity(again, back, n=10000) <= 1e-5


def test_a_file_of_another_task_or_not_ours_is_refused(tmp_path):
    spec = make_task("cartpole_swingup").spec
    path = export_policy_onnx(trained_like_policy(spec), tmp_path / "p.onnx", task_spec=spec)
    with pytest.raises(PolicyFormatError, match="does not match task"):
        policy_from_onnx(path, make_task("pendulum_swingup").spec)
    model = onnx.load(str(path))
    for tensor in model.graph.initializer:
        if tensor.name == "weight_1":
            tensor.name = "renamed"
    for node in model.graph.node:
        node.input[:] = ["renamed" if name == "weight_1" else name for name in node.input]
    onnx.save(model, str(tmp_path / "renamed.onnx"))
    with pytest.raises(PolicyFormatError, match="weight_0"):
        policy_from_onnx(tmp_path / "renamed.onnx", spec)
