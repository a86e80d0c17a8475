"""ONNX Runtime ensemble backend: parity with torch, propagation semantics, registry, files."""
import numpy as np
import onnx
import pytest
import torch

from transition_samples import random_walk

from mbrl_ros.config import ConfigError
from mbrl_ros.export.onnx_ensemble import ensemble_parity, export_ensemble
from mbrl_ros.models import MODELS
from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics, ModelFormatError
from mbrl_ros.models.onnx_backend import OnnxEnsembleModel, TrainableOnnxEnsemble
from mbrl_ros.models.ort import IOBoundRun
from mbrl_ros.planning import TrajectoryObjective, make_planner
from mbrl_ros.tasks import make_task

torch.set_num_threads(1)
OBS, ACT = 5, 2


def synthetic_ensemble(*, probabilistic=True, propagation="ts_inf", elites=(0, 2, 4), hidden_units=200,
                       hidden_layers=3, activation="silu", logvar=(-6.0, 0.3), seed=0):
    """An ensemble with non-trivial normalizers (a constant target entry, an angle) set by hand."""
    cfg = EnsembleConfig(ensemble_size=5, num_elites=len(elites), hidden_layers=hidden_layers,
                         hidden_units=hidden_units, activation=activation, propagation=propagation,
                         num_particles=2 * len(elites))
    model = EnsembleDynamics(OBS, ACT, cfg, angle_indices=(1,), probabilistic=probabilistic, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.input_norm.mean.copy_(torch.randn(model.input_dim, generator=gen))
        model.input_norm.std.copy_(torch.rand(model.input_dim, generator=gen) + 0.5)
        scale = torch.rand(OBS, generator=gen) * 0.5 + 0.1
        scale[3] = 0.0  # a constant entry: predicted exactly whatever the network says
        model.target_norm.mean.copy_(torch.randn(OBS, generator=gen) * 0.1)
        model.target_norm.scale.copy_(scale)
        model.target_norm.std.copy_(torch.where(scale > 0, scale, torch.ones(OBS)))
        model.min_logvar.fill_(logvar[0])
        model.max_logvar.fill_(logvar[1])
    model.elites = torch.tensor(elites)
    model.trained = True
    model._planning_layers = None
    return model


@pytest.fixture(scope="module")
def full_size():
    """The benchmark architecture: 5 members x 3 x 200, silu, two elites left out of planning."""
    return synthetic_ensemble()


def test_one_step_parity_all_members(full_size):
    proto = export_ensemble(full_size, members="all")
    backend = OnnxEnsembleModel.from_bytes(proto.SerializeToString(), num_particles=5)
    parity = ensemble_parity(full_size, backend, n=2000)
    assert backend.members == [0, 1, 2, 3, 4]
    assert parity["mean"] <= 1e-5 and parity["std"] <= 1e-5, parity


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_parity_other_activations_and_deterministic(activation):
    for probabilistic in (True, False):
        model = synthetic_ensemble(probabilistic=probabilistic, activation=activation, hidden_units=32)
        backend = OnnxEnsembleModel.from_ensemble(model)
        parity = ensemble_parity(model, backend, n=500)
        assert parity["mean"] <= 1e-5 and parity["std"] <= 1e-5, (activation, probabilistic, parity)


def test_graph_layout_and_elites(full_size):
    proto = export_ensemble(full_size)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("MatMul") == 4 and "Softplus" in ops and {"Sin", "Cos", "Gather"} <= set(ops)
    dims = [[d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim] for v in proto.graph.input]
    assert dims == [[3, "M", OBS], [3, "M", ACT]]  # elites only, dynamic M
    assert [o.name for o in proto.graph.output] == ["next_mean", "std"]
    backend = OnnxEnsembleModel.from_bytes(proto.SerializeToString())
    assert backend.members == [0, 2, 4] and backend.num_particles == 6
    mean, std = backend.predict_members(np.zeros((7, OBS)), np.zeros((7, ACT)))
    assert mean.shape == std.shape == (3, 7, OBS)
    assert np.all(std[..., 3] == 0.0) and np.all(std[..., [0, 1, 2, 4]] > 0)


def quiet(model):
    """Same weights with a negligible std, so sampled propagation is deterministic up to float error."""
    with torch.no_grad():
        model.min_logvar.fill_(-40.0)
        model.max_logvar.fill_(-39.0)
    return model


@pytest.mark.parametrize("propagation", ["ts_inf", "ts1", "expectation"])
def test_rollouts_match_torch_with_the_same_generator_seed(propagation):
    """The noise (and ts1's permutations) are drawn with the torch model's calls in its order."""
    model = synthetic_ensemble(propagation=propagation, hidden_units=64, logvar=(-3.0, -1.0))
    backend = OnnxEnsembleModel.from_ensemble(model)
    actions = torch.rand(12, 8, ACT) * 2 - 1
    obs = torch.randn(OBS)
    ours = backend.rollout(obs, actions, generator=torch.Generator().manual_seed(5))
    ref = model.rollout(obs, actions, generator=torch.Generator().manual_seed(5))
    assert ours.shape == ref.shape == (12, model.num_particles, 8, OBS) and ours.dtype == torch.float32
    assert torch.allclose(ours, ref, atol=1e-4, rtol=0), (ours - ref).abs().max()
    if propagation != "expectation":
        other_seed = backend.rollout(obs, actions, generator=torch.Generator().manual_seed(6))
        assert (other_seed - ref).abs().max() > 1e-2  # the noise is really there


def test_ts1_steps_are_member_predictions():
    """Every particle's every step is one elite's prediction from its own previous state."""
    model = quiet(synthetic_ensemble(propagation="ts1", hidden_units=64))
    backend = OnnxEnsembleModel.from_ensemble(model)
    n, horizon = 40, 5
    actions = torch.rand(n, horizon, ACT) * 2 - 1
    obs = torch.randn(OBS)
    traj = backend.rollout(obs, actions, generator=torch.Generator().manual_seed(0))
    assert traj.shape == (n, 6, horizon, OBS)
    prev = obs.expand(n, 6, OBS)
    used = np.zeros(3, int)
    for h in range(horizon):
        flat_prev = prev.reshape(-1, OBS)
        flat_act = actions[:, h].repeat_interleave(6, 0)
        candidates, _ = model.predict(flat_prev, flat_act)  # (5, n*6, O)
        candidates = candidates[model.elites]
        err = (candidates - traj[:, :, h].reshape(1, -1, OBS)).abs().amax(-1)  # (3, n*6)
        assert float(err.min(0).values.max()) < 1e-4
        used += np.bincount(err.argmin(0).numpy(), minlength=3)
        prev = traj[:, :, h]
    # 1200 member draws: each elite gets about a third of them.
    assert used.min() > 0.25 * used.sum(), used


def test_sampled_noise_has_the_predicted_std():
    model = synthetic_ensemble(propagation="ts_inf", hidden_units=32, logvar=(-3.0, -1.0))
    backend = OnnxEnsembleModel.from_ensemble(model)
    n = 3000
    obs = torch.zeros(OBS)
    actions = torch.zeros(n, 1, ACT)
    ours = backend.rollout(obs, actions, generator=torch.Generator().manual_seed(0))[:, :, 0]  # (n, 6, O)
    mean, std = backend.predict_members(np.zeros((1, OBS)), np.zeros((1, ACT)))
    for p in range(6):
        member = p // 2  # particle p = e * k + j follows exported member e
        assert np.allclose(ours[:, p].mean(0).numpy(), mean[member, 0], atol=4 * std[member, 0].max() / n ** 0.5)
        assert np.allclose(ours[:, p].std(0).numpy(), std[member, 0], rtol=0.08, atol=1e-7)


def test_deterministic_ensemble_rollout_matches_torch():
    model = synthetic_ensemble(probabilistic=False, propagation="ts_inf", hidden_units=32)
    backend = OnnxEnsembleModel.from_ensemble(model)
    actions = torch.rand(4, 6, ACT)
    obs = torch.randn(OBS)
    assert torch.allclose(backend.rollout(obs, actions), model.rollout(obs, actions), atol=1e-4, rtol=0)


def test_buffers_are_reused_and_outputs_are_fresh():
    model = synthetic_ensemble(hidden_units=16)
    backend = OnnxEnsembleModel.from_ensemble(model)
    obs, actions = torch.randn(OBS), torch.rand(5, 4, ACT)
    first = backend.rollout(obs, actions, generator=torch.Generator().manual_seed(3))
    buffers = backend._step_buffers(10)
    second = backend.rollout(obs, actions, generator=torch.Generator().manual_seed(3))
    assert backend._step_buffers(10) is buffers
    assert torch.equal(first, second) and first.data_ptr() != second.data_ptr()
    for n in range(1, 20):  # more row counts than the cache holds: the oldest are dropped
        backend.rollout(obs, torch.rand(n, 2, ACT))
    assert len(backend._buffers) == backend.runtime.cached_batch_sizes


def test_bound_run_fast_and_public_paths_agree(full_size):
    backend = OnnxEnsembleModel.from_ensemble(full_size)
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((3, 11, OBS)).astype(np.float32)
    act = rng.standard_normal((3, 11, ACT)).astype(np.float32)
    outs = []
    for fast in (True, False):
        mean, std = np.zeros_like(obs), np.zeros_like(obs)
        run = IOBoundRun(backend._session, {"obs": obs, "action": act}, {"next_mean": mean, "std": std},
                         fast_path=fast)
        run()
        outs.append((mean, std))
    ref_mean, ref_std = backend.predict_members(obs, act)
    for mean, std in outs:
        assert np.array_equal(mean, ref_mean) and np.array_equal(std, ref_std)
    with pytest.raises(ValueError, match="contiguous"):
        IOBoundRun(backend._session, {"obs": obs[:, ::2], "action": act}, {})


def test_registered_backend_trains_plans_and_saves(tmp_path):
    task = make_task("pendulum_swingup")
    config = {"ensemble_size": 2, "num_elites": 2, "hidden_layers": 1, "hidden_units": 16, "num_particles": 4,
              "max_epochs": 2, "onnx": {"intra_op_threads": 2}}
    untouched = {**config, "onnx": dict(config["onnx"])}
    model = MODELS.get("pets_ensemble_onnx")(task.spec, config, task=task, seed=0)
    assert config == untouched, "the factory must not mutate the caller's config"
    assert isinstance(model, TrainableOnnxEnsemble) and model.runtime.intra_op_threads == 2
    with pytest.raises(RuntimeError, match="trained"):
        model.rollout(torch.zeros(task.spec.obs_dim), torch.zeros(1, 3, task.spec.act_dim))
    walk = random_walk(task, 60)
    report = model.fit(*walk)
    obs = walk[2][-1]  # where the walk ended
    assert model.members == report.elites
    assert ensemble_parity(model.ensemble, model, n=300)["mean"] <= 1e-5
    objective = TrajectoryObjective(model, task.reward, generator=torch.Generator().manual_seed(0))
    planner = make_planner("icem", {"population": 16, "min_population": 8, "num_elites": 4},
                           action_low=task.spec.action_low, action_high=task.spec.action_high, horizon=5,
                           objective=objective)
    result = planner.plan(obs)
    assert result.actions.shape == (5, task.spec.act_dim) and np.isfinite(result.predicted_return)
    # The .npz is the torch model's (either backend loads it); the .onnx is what planning ran.
    reloaded = EnsembleDynamics.load(model.save(tmp_path / "model.npz"))
    assert torch.equal(reloaded.elites, model.ensemble.elites)
    standalone = OnnxEnsembleModel.load(model.save_onnx(tmp_path / "model.onnx"))
    x, u = walk[0][:9], walk[1][:9]
    assert all(np.array_equal(a, b) for a, b in zip(standalone.predict_members(x, u), model.predict_members(x, u)))


def test_factory_validates_its_config():
    spec = make_task("pendulum_swingup").spec
    with pytest.raises(ConfigError, match="intra_op_threadz"):
        MODELS.get("pets_ensemble_onnx")(spec, {"onnx": {"intra_op_threadz": 1}})
    with pytest.raises(ConfigError, match="hidden_unitz"):
        MODELS.get("pets_ensemble_onnx")(spec, {"hidden_unitz": 3})
    with pytest.raises(ValueError, match="CPU"):
        MODELS.get("pets_ensemble_onnx")(spec, {}, device="meta")


def test_load_refuses_garbage_and_foreign_models(tmp_path, full_size):
    with pytest.raises(ModelFormatError, match="not an ONNX model"):
        OnnxEnsembleModel.from_bytes(b"\x00garbage bytes")
    proto = export_ensemble(full_size)
    del proto.metadata_props[:]
    with pytest.raises(ModelFormatError, match="format"):
        OnnxEnsembleModel.from_bytes(proto.SerializeToString())
    proto = export_ensemble(full_size, tmp_path / "e.onnx")
    assert onnx.load(str(tmp_path / "e.onnx")) == proto
    with pytest.raises(ValueError, match="multiple"):
        OnnxEnsembleModel.load(tmp_path / "e.onnx", num_particles=4)
    untrained = EnsembleDynamics(OBS, ACT, EnsembleConfig(ensemble_size=2, num_elites=2, num_particles=2))
    with pytest.raises(RuntimeError, match="trained"):
        export_ensemble(untrained)
