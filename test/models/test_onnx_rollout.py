"""The fused rollout (horizon, propagation and reward in one function / one ORT graph) against the
per-step torch rollout it replaces: the same returns for the same generator seed."""
import warnings

import numpy as np
import pytest
import torch

from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics
from mbrl_ros.models.fused_rollout import FusedReturns, fused_torch_returns
from mbrl_ros.models.onnx_backend import OnnxRuntimeConfig, TrainableOnnxEnsemble
from mbrl_ros.models.onnx_rollout import FusedExportError, OnnxFusedReturns, fused_for
from mbrl_ros.planning import TrajectoryObjective, make_planner
from mbrl_ros.tasks import make_task

torch.set_num_threads(1)
HORIZON = 6


@pytest.fixture(scope="module")
def task():
    return make_task("cartpole_swingup")  # an angle input (sin/cos) and a two-term reward


def trained(task, propagation="ts_inf", particles=4, probabilistic=True, seed=0):
    spec = task.spec
    cfg = EnsembleConfig(ensemble_size=3, num_elites=2, num_particles=particles, hidden_layers=2, hidden_units=24,
                         propagation=propagation, max_epochs=3)
    model = EnsembleDynamics(spec.obs_dim, spec.act_dim, cfg, angle_indices=spec.angle_indices,
                             probabilistic=probabilistic, seed=seed)
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(300, spec.obs_dim))
    act = rng.uniform(-1, 1, size=(300, spec.act_dim))
    model.fit(obs, act, obs + 0.05 * rng.normal(size=obs.shape) + 0.1 * act)
    return model


def sequences(task, n=7, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(task.spec.obs_dim, generator=gen),
            torch.rand(n, HORIZON, task.spec.act_dim, generator=gen) * 2 - 1)


def per_step_returns(model, task, obs, actions, seed):
    return TrajectoryObjective(model, task.reward, torch.Generator().manual_seed(seed))(obs, actions)


@pytest.mark.parametrize("propagation,particles,probabilistic", [
    ("ts_inf", 4, True), ("ts1", 4, True), ("expectation", 1, True), ("ts_inf", 2, False)])
def test_torch_and_onnx_fused_returns_equal_the_per_step_rollout_for_the_same_seed(task, propagation, particles,
                                                                                    probabilistic):
    model = trained(task, propagation, particles, probabilistic)
    obs, actions = sequences(task)
    expected = per_step_returns(model, task, obs, actions, seed=5)
    fused = FusedReturns(model, task.reward, HORIZON)
    reference = fused_torch_returns(fused, obs, actions, torch.Generator().manual_seed(5))
    assert torch.allclose(reference, expected, atol=1e-6, rtol=1e-6)
    onnx = OnnxFusedReturns(fused)
    got = onnx(obs, actions, torch.Generator().manual_seed(5))
    assert got.shape == (7,) and torch.allclose(got, expected, atol=1e-5, rtol=1e-5)
    # Another sequence count (a smaller iCEM population): same graph, fresh buffers, still exact.
    got = onnx(obs, actions[:3], torch.Generator().manual_seed(5))
    assert torch.allclose(got, per_step_returns(model, task, obs, actions[:3], seed=5), atol=1e-5, rtol=1e-5)
    # The draws move the generator on as the per-step rollout does, so the next call agrees too.
    gen_a, gen_b = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    for _ in range(2):
        assert torch.allclose(onnx(obs, actions, gen_a),
                              TrajectoryObjective(model, task.reward, gen_b)(obs, actions), atol=1e-5, rtol=1e-5)


def test_trainable_backend_plans_the_same_actions_fused_and_per_step_and_refreshes_after_fit(task):
    model = trained(task)
    fused_model = TrainableOnnxEnsemble(model, OnnxRuntimeConfig(fused=True))
    plans, evaluations = {}, {}
    for name, backend in (("torch", model), ("onnx", fused_model),
                          ("onnx_step", TrainableOnnxEnsemble(model, OnnxRuntimeConfig(fused=False)))):
        objective = TrajectoryObjective(backend, task.reward, torch.Generator().manual_seed(0))
        planner = make_planner("icem", {"population": 24, "min_population": 8, "num_elites": 4, "iterations": 3},
                               action_low=task.spec.action_low, action_high=task.spec.action_high,
                               horizon=HORIZON, objective=objective, seed=0)
        result = [planner.plan(np.zeros(task.spec.obs_dim)) for _ in range(2)][-1]
        plans[name] = result.actions
        evaluations[name] = objective.model_evaluations
    assert len(set(evaluations.values())) == 1 and evaluations["torch"] > 0
    assert torch.allclose(plans["onnx"], plans["torch"], atol=1e-4)
    assert torch.allclose(plans["onnx_step"], plans["torch"], atol=1e-4)
    # fit re-exports the fused graph already in use: the returns follow the new weights.
    obs, actions = sequences(task)
    before = fused_model.returns(obs, actions, task.reward, torch.Generator().manual_seed(2))
    rng = np.random.default_rng(3)
    o = rng.normal(size=(200, task.spec.obs_dim))
    fused_model.fit(o, rng.uniform(-1, 1, (200, 1)), o - 0.2)
    after = fused_model.returns(obs, actions, task.reward, torch.Generator().manual_seed(2))
    assert not torch.allclose(before, after)
    assert torch.allclose(after, per_step_returns(model, task, obs, actions, seed=2), atol=1e-5, rtol=1e-5)


def test_a_reward_that_does_not_trace_is_caught_and_planning_falls_back_per_step(task):
    model = trained(task)
    calls = []

    def stateful_reward(obs, action, next_obs):  # Python state: tracing freezes the factor of the first call
        calls.append(1)
        return task.reward(obs, action, next_obs) * len(calls)

    with pytest.raises(FusedExportError, match="per-step backend"):
        OnnxFusedReturns(FusedReturns(model, stateful_reward, HORIZON))
    backend = TrainableOnnxEnsemble(model)
    obs, actions = sequences(task)
    with pytest.warns(RuntimeWarning, match="one ORT run per step"):
        got = backend.returns(obs, actions, stateful_reward, torch.Generator().manual_seed(4))
    expected = TrajectoryObjective(model, task.reward, torch.Generator().manual_seed(4))(obs, actions)
    factor = float(got[0] / expected[0])  # the counter's value at that call (export and probe called it too)
    assert abs(factor - round(factor)) < 1e-4 and factor > 1.5 and torch.allclose(got, expected * factor, rtol=1e-5)  # the per-step path
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the failure is remembered: no second export, no second warning
        backend.returns(obs, actions, stateful_reward, torch.Generator().manual_seed(4))


def test_bad_action_shapes_are_refused(task):
    onnx = fused_for(trained(task), task.reward, HORIZON)
    with pytest.raises(ValueError, match=r"actions \(N, 6, 1\)"):
        onnx(torch.zeros(4), torch.zeros(3, HORIZON + 1, 1))
