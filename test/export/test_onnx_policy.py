"""Policy export: parity, metadata round trip, and a loader that refuses unusable files."""
import dataclasses
import json

import numpy as np
import onnx
import pytest
import torch

from mbrl_ros.export.onnx_policy import (OnnxPolicy, PolicyFormatError, PolicyNetwork, check_parity,
                                         export_policy_onnx, load_policy_onnx, policy_to_onnx)
from mbrl_ros.models.ort import IOBoundRun
from mbrl_ros.tasks.base import TaskSpec

torch.set_num_threads(1)
SPEC = TaskSpec(name="arm", observation_names=("q0", "q1", "dq0", "dq1", "target"),
                action_names=("tau0", "tau1"), action_low=(-2.0, -0.5), action_high=(2.0, 1.5),
                control_period=0.02, episode_length=100)


def trained_like_policy(activation="tanh", seed=0):
    """A policy with a non-trivial normalization (one constant observation entry)."""
    policy = PolicyNetwork.from_spec(SPEC, {"hidden_units": 32, "activation": activation}, seed=seed)
    rng = np.random.default_rng(seed)
    obs = rng.normal([0.5, -1.0, 0.0, 2.0, 0.3], [1.0, 0.2, 3.0, 0.5, 0.0], size=(500, 5))
    policy.fit_normalization(obs)
    return policy


@pytest.fixture
def exported(tmp_path):
    policy = trained_like_policy()
    path = export_policy_onnx(policy, tmp_path / "policy.onnx", task_spec=SPEC,
                              metadata={"version": 7, "expert": "icem", "episodes": 12})
    return policy, path


@pytest.mark.parametrize("activation", ["tanh", "relu", "silu"])
def test_parity_on_10000_observations(tmp_path, activation):
    policy = trained_like_policy(activation)
    path = export_policy_onnx(policy, tmp_path / "p.onnx", task_spec=SPEC)
    assert check_parity(path, policy, n=10000) <= 1e-5


def test_round_trip_keeps_metadata_and_actions(exported):
    policy, path = exported
    loaded = load_policy_onnx(path, expected_spec=SPEC)
    assert isinstance(loaded, OnnxPolicy)
    assert loaded.task == "arm" and loaded.observation_names == SPEC.observation_names
    assert loaded.action_names == SPEC.action_names and loaded.control_period == 0.02
    assert np.allclose(loaded.action_low, SPEC.action_low) and np.allclose(loaded.action_high, SPEC.action_high)
    assert loaded.version == 7 and loaded.opset == 17 and loaded.metadata == {"expert": "icem", "episodes": 12}
    proto = onnx.load(str(path))
    assert proto.model_version == 7
    assert [i.name for i in proto.graph.input] == ["observation"] and [o.name for o in proto.graph.output] == ["action"]
    obs = np.random.default_rng(1).normal(size=(64, 5))
    with torch.no_grad():
        expected = policy(torch.tensor(obs, dtype=torch.float32)).numpy()
    single = np.stack([loaded(o) for o in obs])
    assert np.abs(single - expected).max() <= 1e-5
    assert np.abs(loaded.act_batch(obs) - expected).max() <= 1e-5
    first = loaded(obs[0])
    loaded(obs[1])
    assert np.array_equal(first, loaded(obs[0])), "returned actions must not alias the bound output buffer"


def test_actions_are_squashed_onto_the_bounds(tmp_path):
    policy = trained_like_policy()
    with torch.no_grad():
        policy.layers[-1].weight.mul_(1000.0)  # pre-squash outputs far beyond +-1
    loaded = load_policy_onnx(export_policy_onnx(policy, tmp_path / "p.onnx", task_spec=SPEC), SPEC)
    actions = loaded.act_batch(np.random.default_rng(2).normal(scale=3.0, size=(256, 5)))
    low, high = np.array(SPEC.action_low), np.array(SPEC.action_high)
    assert np.all(actions >= low - 1e-6) and np.all(actions <= high + 1e-6)
    assert np.allclose(actions.max(0), high, atol=1e-4) and np.allclose(actions.min(0), low, atol=1e-4)


def test_export_refuses_a_policy_for_another_task(tmp_path):
    policy = trained_like_policy()
    other = dataclasses.replace(SPEC, action_low=(-1.0, -0.5))
    with pytest.raises(ValueError, match="bounds"):
        export_policy_onnx(policy, tmp_path / "p.onnx", task_spec=other)
    with pytest.raises(ValueError, match="version"):
        export_policy_onnx(policy, tmp_path / "p.onnx", task_spec=SPEC, metadata={"version": "v1"})


@pytest.mark.parametrize("change, message", [
    ({"name": "other_arm"}, "task"),
    ({"action_high": (2.0, 1.0)}, "action_high"),
    ({"control_period": 0.01}, "control_period"),
    ({"observation_names": ("q0", "q1", "dq0", "dq1", "goal")}, "observation_names"),
])
def test_loader_refuses_a_file_for_another_task(exported, change, message):
    _, path = exported
    with pytest.raises(PolicyFormatError, match=message):
        load_policy_onnx(path, expected_spec=dataclasses.replace(SPEC, **change))


def write(proto, path):
    path.write_bytes(proto.SerializeToString())
    return path


def test_loader_refuses_wrong_names(tmp_path):
    proto = policy_to_onnx(trained_like_policy(), task_spec=SPEC)
    proto.graph.input[0].name = "obs"
    for node in proto.graph.node:
        node.input[:] = ["obs" if name == "observation" else name for name in node.input]
    with pytest.raises(PolicyFormatError, match=r"expected exactly \['observation'\]"):
        load_policy_onnx(write(proto, tmp_path / "names.onnx"))


def test_loader_takes_float32_or_float64_input_and_output_but_not_mixed(tmp_path):
    policy = trained_like_policy()
    assert load_policy_onnx(write(policy_to_onnx(policy, task_spec=SPEC, precision="float32"),
                                  tmp_path / "f32.onnx")).dtype == np.float32
    # A float64 graph between float32 input and output (how float64 policies were first exported).
    proto = policy_to_onnx(policy, task_spec=SPEC)
    graph = proto.graph
    graph.input[0].type.tensor_type.elem_type = graph.output[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    for node in graph.node:
        node.input[:] = ["observation_f64" if name == "observation" else name for name in node.input]
        node.output[:] = ["action_f64" if name == "action" else name for name in node.output]
    graph.node.insert(0, onnx.helper.make_node("Cast", ["observation"], ["observation_f64"], to=11))
    graph.node.append(onnx.helper.make_node("Cast", ["action_f64"], ["action"], to=1))
    wrapped = load_policy_onnx(write(proto, tmp_path / "cast.onnx"), expected_spec=SPEC)
    assert wrapped.dtype == np.float32 and check_parity(tmp_path / "cast.onnx", policy) <= 1e-6
    graph.output[0].type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    del graph.node[-1]
    graph.node[-1].output[:] = ["action"]
    with pytest.raises(PolicyFormatError, match="input and output types differ"):
        load_policy_onnx(write(proto, tmp_path / "mixed.onnx"))


def test_loader_refuses_wrong_metadata(tmp_path):
    proto = policy_to_onnx(trained_like_policy(), task_spec=SPEC)
    props = {p.key: p.value for p in proto.metadata_props}
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {k: v for k, v in props.items() if k != "control_period"})
    with pytest.raises(PolicyFormatError, match=r"metadata lacks \['control_period'\]"):
        load_policy_onnx(write(proto, tmp_path / "missing.onnx"))

    onnx.helper.set_model_props(proto, {**props, "action_names": json.dumps(["tau0"])})
    with pytest.raises(PolicyFormatError, match="one finite bound per action"):
        load_policy_onnx(write(proto, tmp_path / "names_vs_bounds.onnx"))

    onnx.helper.set_model_props(proto, {**props, "observation_names": json.dumps(["a", "b"])})
    with pytest.raises(PolicyFormatError, match=r"shape \(batch, 2\)"):
        load_policy_onnx(write(proto, tmp_path / "shape.onnx"))

    onnx.helper.set_model_props(proto, {**props, "opset": "18"})
    with pytest.raises(PolicyFormatError, match="opset"):
        load_policy_onnx(write(proto, tmp_path / "opset.onnx"))

    onnx.helper.set_model_props(proto, {**props, "format": json.dumps("somebody.else")})
    with pytest.raises(PolicyFormatError, match="no mbrl_ros policy metadata"):
        load_policy_onnx(write(proto, tmp_path / "foreign.onnx"))


def test_loader_refuses_nan_outputs(tmp_path):
    policy = trained_like_policy()
    with torch.no_grad():
        policy.layers[1].weight[0, 3] = float("nan")
    path = export_policy_onnx(policy, tmp_path / "nan.onnx", task_spec=SPEC)
    with pytest.raises(PolicyFormatError, match="non-finite"):
        load_policy_onnx(path, expected_spec=SPEC)


def test_loader_refuses_unreadable_files(tmp_path):
    with pytest.raises(PolicyFormatError, match="cannot be read"):
        load_policy_onnx(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01 definitely not protobuf \xff")
    with pytest.raises(PolicyFormatError, match="not an ONNX model"):
        load_policy_onnx(tmp_path / "junk.onnx")


def test_bound_run_fallback_path_gives_the_same_action(exported):
    _, path = exported
    loaded = load_policy_onnx(path)
    assert loaded.dtype == np.float64  # float64 policies take and give float64
    obs = np.random.default_rng(3).normal(size=(1, 5))
    out_fast, out_public = np.zeros((1, 2)), np.zeros((1, 2))
    IOBoundRun(loaded.session, {"observation": obs}, {"action": out_fast})()
    IOBoundRun(loaded.session, {"observation": obs}, {"action": out_public}, fast_path=False)()
    assert np.array_equal(out_fast, out_public) and np.array_equal(out_fast[0], loaded(obs[0]))
