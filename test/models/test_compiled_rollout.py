"""Planning backend ``compiled``: the fused rollout compiled by torch.compile gives the per-step
torch rollout's returns for the same generator seed, follows retrained weights without a new
compile, plans eager while a batch size compiles in the background, and falls back to eager (with
one warning) when compiling fails."""
import numpy as np
import pytest
import torch

from mbrl_ros.models import compiled_rollout
from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics
from mbrl_ros.models.onnx_backend import for_planning, resolve_planning_backend
from mbrl_ros.planning import TrajectoryObjective
from mbrl_ros.tasks import make_task

torch.set_num_threads(1)
HORIZON = 4


@pytest.fixture(scope="module")
def task():
    return make_task("cartpole_swingup")  # an angle input (sin/cos) and a two-term reward


def trained(task, propagation="ts_inf", particles=4, seed=0, epochs=3):
    spec = task.spec
    cfg = EnsembleConfig(ensemble_size=3, num_elites=2, num_particles=particles, hidden_layers=2, hidden_units=16,
                         propagation=propagation, max_epochs=epochs)
    model = EnsembleDynamics(spec.obs_dim, spec.act_dim, cfg, angle_indices=spec.angle_indices, seed=seed)
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(300, spec.obs_dim))
    act = rng.uniform(-1, 1, size=(300, spec.act_dim))
    model.fit(obs, act, obs + 0.05 * rng.normal(size=obs.shape) + 0.1 * act)
    return model, (obs, act)


def sequences(task, n=6, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(task.spec.obs_dim, generator=gen),
            torch.rand(n, HORIZON, task.spec.act_dim, generator=gen) * 2 - 1)


def torch_returns(model, task, obs, actions, seed):
    """The reference: the per-step torch rollout (compiling off)."""
    saved, model._compiled_returns = model._compiled_returns, None
    try:
        return TrajectoryObjective(model, task.reward, torch.Generator().manual_seed(seed))(obs, actions)
    finally:
        model._compiled_returns = saved


def test_compiled_returns_equal_the_torch_rollout_and_follow_retraining(task):
    model, (obs_data, act_data) = trained(task)
    obs, actions = sequences(task)
    expected = torch_returns(model, task, obs, actions, seed=5)
    assert for_planning(model, "compiled") is model
    model.compile_planning(background=False)  # the first call compiles
    got = TrajectoryObjective(model, task.reward, torch.Generator().manual_seed(5))(obs, actions)
    (compiled,) = model.compiled_planning()
    assert compiled.failure is None and compiled.ready == {actions.shape[0]}
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)
    # Retrained: the compiled code runs the new weights (no new compile), still equal to torch.
    model.fit(obs_data, act_data, obs_data + 0.2 * act_data, max_epochs=3)
    retrained = torch_returns(model, task, obs, actions, seed=5)
    assert not torch.allclose(retrained, expected, atol=1e-3)
    got = TrajectoryObjective(model, task.reward, torch.Generator().manual_seed(5))(obs, actions)
    assert model.compiled_planning() == [compiled] and compiled.ready == {actions.shape[0]}
    assert torch.allclose(got, retrained, atol=1e-5, rtol=1e-5)


def test_background_compile_plans_eager_until_ready(task):
    model, _ = trained(task, seed=1)
    obs, actions = sequences(task, n=5)
    expected = torch_returns(model, task, obs, actions, seed=2)
    model.compile_planning(background=True)
    first = model.returns(obs, actions, task.reward, generator=torch.Generator().manual_seed(2))
    (compiled,) = model.compiled_planning()
    assert torch.allclose(first, expected, atol=1e-6, rtol=1e-6)  # eager fused while compiling
    assert compiled.wait(timeout=600) and compiled.failure is None and compiled.ready == {5}
    after = model.returns(obs, actions, task.reward, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(after, expected, atol=1e-5, rtol=1e-5)


def test_a_failed_compile_warns_once_and_plans_eager(task, monkeypatch):
    def failing_compile(module, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler found (test)")
        return run

    monkeypatch.setattr(compiled_rollout.torch, "compile", failing_compile)
    model, _ = trained(task, propagation="expectation", particles=1, seed=2)
    obs, actions = sequences(task, n=3)
    expected = torch_returns(model, task, obs, actions, seed=3)
    model.compile_planning(background=False)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler found"):
        got = model.returns(obs, actions, task.reward, generator=torch.Generator().manual_seed(3))
    (compiled,) = model.compiled_planning()
    assert "no C++ compiler" in compiled.failure and not compiled.ready
    assert torch.allclose(got, expected, atol=1e-6, rtol=1e-6)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        again = model.returns(obs, actions, task.reward, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(again, expected, atol=1e-6, rtol=1e-6)


def test_compiled_backend_is_cpu_only():
    assert resolve_planning_backend("compiled") == "compiled"
    with pytest.raises(ValueError, match="runs on the CPU"):
        resolve_planning_backend("compiled", device="cuda")


def test_bfloat16_hidden_layers_stay_close_to_float32(task):
    model, _ = trained(task, seed=3)
    obs, actions = sequences(task, n=6, seed=4)
    expected = torch_returns(model, task, obs, actions, seed=6)
    assert for_planning(model, "compiled", precision="bfloat16") is model
    model.compile_planning(background=False, precision="bfloat16")
    got = model.returns(obs, actions, task.reward, generator=torch.Generator().manual_seed(6))
    (compiled,) = model.compiled_planning()
    assert compiled.precision == "bfloat16" and compiled.failure is None
    assert compiled.fused.weight_1.dtype == torch.bfloat16 and compiled.fused.weight_0.dtype == torch.float32
    # bfloat16 keeps ~3 significant digits per activation: close, not equal.
    assert torch.allclose(got, expected, rtol=2e-2, atol=2e-2) and not torch.equal(got, expected)


def test_bfloat16_needs_the_compiled_backend(task):
    model, _ = trained(task, seed=4)
    with pytest.raises(ValueError, match="needs planning_backend compiled"):
        for_planning(model, "torch", precision="bfloat16")
    with pytest.raises(ValueError, match="planning_precision must be one of"):
        for_planning(model, "compiled", precision="float16")


def test_a_new_model_version_takes_over_the_compiled_code(task):
    model, (obs_data, act_data) = trained(task, seed=5)
    obs, actions = sequences(task, n=6, seed=5)
    model.compile_planning(background=False)
    model.returns(obs, actions, task.reward, generator=torch.Generator().manual_seed(1))
    (compiled,) = model.compiled_planning()
    newer, _ = trained(task, seed=6)  # another training run: other weights, same architecture
    expected = torch_returns(newer, task, obs, actions, seed=1)
    newer.compile_planning(background=False)
    assert newer.adopt_compiled_planning(model) == 1 and newer.compiled_planning() == [compiled]
    got = newer.returns(obs, actions, task.reward, generator=torch.Generator().manual_seed(1))
    assert compiled.ensemble is newer and compiled.ready == {6}  # nothing compiled again
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)
    other = EnsembleDynamics(task.spec.obs_dim, task.spec.act_dim,
                             EnsembleConfig(ensemble_size=3, num_elites=2, num_particles=4, hidden_units=8,
                                            max_epochs=1), angle_indices=task.spec.angle_indices)
    other.fit(obs_data, act_data, obs_data)
    other.compile_planning(background=False)
    assert other.adopt_compiled_planning(newer) == 0  # another architecture compiles its own
