"""Which backend plans a learned ensemble: the fused ONNX Runtime graph on the CPU by default
(bench/planner_latency.py), torch elsewhere."""
import numpy as np
import pytest
import torch

from mbrl_ros.learning import run_learning
from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics
from mbrl_ros.models.onnx_backend import (OnnxEnsembleModel, TrainableOnnxEnsemble, for_planning,
                                          resolve_planning_backend)

torch.set_num_threads(1)


def test_auto_is_the_fused_onnx_runtime_graph_on_the_cpu_and_torch_otherwise():
    assert resolve_planning_backend("auto", device="cpu", threads=1) == "onnx"
    assert resolve_planning_backend("auto", device="cpu", threads=2) == "onnx"
    assert resolve_planning_backend("onnx_step", device="cpu", threads=2) == "onnx_step"
    assert resolve_planning_backend("auto", device="cuda", threads=1) == "torch"
    assert resolve_planning_backend("torch", device="cpu", threads=1) == "torch"
    assert resolve_planning_backend("onnx", device="cpu", threads=4) == "onnx"
    for backend in ("onnx", "onnx_step"):
        with pytest.raises(ValueError, match="on the CPU"):
            resolve_planning_backend(backend, device="cuda", threads=1)
    with pytest.raises(ValueError, match="planning_backend must be one of"):
        resolve_planning_backend("tensorrt")


def small_ensemble(probabilistic=True):
    cfg = EnsembleConfig(ensemble_size=3, num_elites=2, num_particles=4, hidden_layers=2, hidden_units=16,
                         max_epochs=5)
    return EnsembleDynamics(2, 1, cfg, probabilistic=probabilistic, seed=0)


def test_only_a_probabilistic_torch_ensemble_is_wrapped_and_it_still_trains_as_torch():
    model = small_ensemble()
    wrapped = for_planning(model, "auto", threads=1)
    assert isinstance(wrapped, TrainableOnnxEnsemble) and wrapped.ensemble is model
    assert wrapped.runtime.fused and not for_planning(model, "onnx_step").runtime.fused
    assert for_planning(model, "torch") is model and for_planning(model, "auto", device="cuda") is model
    deterministic = small_ensemble(probabilistic=False)
    assert for_planning(deterministic, "onnx") is deterministic
    assert for_planning(wrapped, "onnx") is wrapped
    rng = np.random.default_rng(0)
    obs, act = rng.normal(size=(200, 2)), rng.normal(size=(200, 1))
    wrapped.fit(obs, act, obs + 0.1 * act)   # trains the torch model and exports it
    assert model.trained and wrapped.trained
    actions = torch.linspace(-1, 1, 24).reshape(4, 6, 1)
    with torch.no_grad():  # ts_inf with the same generator seed: the same particles, float rounding apart
        torch_traj = model.rollout(torch.zeros(2), actions, generator=torch.Generator().manual_seed(3))
        ort_traj = wrapped.rollout(torch.zeros(2), actions, generator=torch.Generator().manual_seed(3))
    assert torch_traj.shape == ort_traj.shape and torch.allclose(torch_traj, ort_traj, atol=1e-4)


def test_the_learning_loop_plans_through_onnx_runtime_by_default():
    small = {"horizon": 5, "episodes": 2, "threads": 1, "max_train_epochs": 3}
    planner = {"population": 16, "min_population": 8, "num_elites": 4, "iterations": 1}
    runs = {backend: run_learning("pendulum_swingup", learning={**small, "planning_backend": backend},
                                  task_config={"episode_length": 20}, planner_config=planner,
                                  model_config={"hidden_units": 16}, seed=1)
            for backend in ("auto", "torch")}
    assert isinstance(runs["auto"].model, OnnxEnsembleModel)
    assert isinstance(runs["torch"].model, EnsembleDynamics)
    # Same seed, same data, same torch training: the two backends plan alike (float rounding apart).
    returns = {b: [r.episode_return for r in run.records] for b, run in runs.items()}
    assert returns["auto"][0] == returns["torch"][0]  # the random seed episode
    assert returns["auto"][1] == pytest.approx(returns["torch"][1], rel=0.05, abs=1.0)
