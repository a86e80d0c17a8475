"""NMPC (CasADi + IPOPT/SQP): LQR answer, CasADi models and costs against torch, codegen cache, distillation,
failures and fallback, warm start, deadline.

Planners here run CasADi's interpreter (``codegen: off``) except in the codegen tests, which compile
one small NLP into the machine's cache once (later runs find it there).
"""
import time

import casadi
import numpy as np
import pytest
import torch

from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics
from mbrl_ros.models.linear import LinearModel
from mbrl_ros.planning import TrajectoryObjective, make_planner
from mbrl_ros.planning.casadi_models import (CasadiDynamics, UnsupportedModelError, bind_parameters,
                                             casadi_dynamics, ensemble_mean_function, linear_function)
from mbrl_ros.planning.casadi_compile import CompileError, compiled_nlpsol, default_cache_dir, find_compiler
from mbrl_ros.planning.nmpc import NMPCPlanner, UnsupportedRewardError, casadi_reward_of
from mbrl_ros.tasks import make_task

torch.set_num_threads(1)

DT = 0.1
A = np.array([[1.0, DT], [0.0, 1.0]])
B = np.array([[0.0], [DT]])
Q = np.diag([1.0, 0.1])
R = np.array([[0.1]])
HORIZON = 15
X0 = np.array([1.0, -0.5])
EXACT = {"hessian_approximation": "exact", "tol": 1e-10, "codegen": "off", "fallback": "none"}


def lqr_plan(x0, a=A, b=B, horizon=HORIZON):
    """Open-loop optimal actions (H,) of sum_{h<H} x_{h+1}'Q x_{h+1} + u_h'R u_h (Riccati recursion)."""
    P = Q.copy()
    gains = []
    for k in range(horizon - 1, -1, -1):
        K = np.linalg.solve(R + b.T @ P @ b, b.T @ P @ a)
        P = (Q if k > 0 else 0 * Q) + a.T @ P @ (a - b @ K)
        gains.append(K)
    x, actions = np.asarray(x0, dtype=float), []
    for K in reversed(gains):
        u = -K @ x
        actions.append(u)
        x = a @ x + b @ u
    return np.array(actions).reshape(-1)


def torch_quadratic_reward(obs, act, next_obs):
    q, r = torch.tensor(Q, dtype=next_obs.dtype), torch.tensor(R, dtype=act.dtype)
    return -((next_obs @ q) * next_obs).sum(-1) - ((act @ r) * act).sum(-1)


def casadi_quadratic_reward(obs, act, next_obs):
    return -casadi.bilin(casadi.DM(Q), next_obs, next_obs) - casadi.bilin(casadi.DM(R), act, act)


def lqr_planner(config=None, model=None, horizon=HORIZON, low=-5.0, high=5.0):
    objective = TrajectoryObjective(model or LinearModel(A, B), torch_quadratic_reward)
    return NMPCPlanner({**EXACT, **(config or {})}, [low], [high], horizon, objective,
                       casadi_reward=casadi_quadratic_reward)


class NaNModel:
    """A model whose CasADi step is NaN for every action in [-5, 5] (sqrt of a negative number)."""

    def to_casadi(self):
        x, u = casadi.SX.sym("x", 2), casadi.SX.sym("u", 1)
        step = casadi.Function("nan_step", [x, u], [x + casadi.sqrt(-1 - u ** 2)])
        return CasadiDynamics(step, lambda: [], ("nan_step",))


def small_ensemble(obs_dim, act_dim, angle_indices, probabilistic=True, activation="silu", seed=0):
    cfg = EnsembleConfig(ensemble_size=4, num_elites=3, hidden_layers=2, hidden_units=32, activation=activation,
                         propagation="expectation", max_epochs=5)
    model = EnsembleDynamics(obs_dim, act_dim, cfg, angle_indices=angle_indices, probabilistic=probabilistic,
                             seed=seed)
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(400, obs_dim))
    act = rng.uniform(-1, 1, size=(400, act_dim))
    nxt = obs + 0.1 * np.tanh(obs + act.sum(-1, keepdims=True)) + 0.01 * rng.normal(size=obs.shape)
    nxt[:, -1] = obs[:, -1]  # a constant delta: target scale 0, as for a reacher's target
    model.fit(obs, act, nxt, seed=seed)
    return model


# -- known answer ----------------------------------------------------------------------------------
def test_matches_finite_horizon_lqr_sequence():
    planner = lqr_planner()
    result = planner.plan(X0)
    expected = lqr_plan(X0)
    assert np.abs(result.actions[:, 0].numpy() - expected).max() < 1e-4
    assert planner.last_status == "Solve_Succeeded" and planner.solver_failures == 0
    # The predicted return is the reward along the solution's states, which obey the linear model.
    states = planner.predicted_states.numpy().astype(float)
    assert np.allclose(states[1:], states[:-1] @ A.T + result.actions.numpy() @ B.T, atol=1e-5)
    rewards = -(np.einsum("hi,ij,hj->h", states[1:], Q, states[1:]) + R[0, 0] * expected ** 2)
    assert abs(result.predicted_return - rewards.sum()) < 1e-4


def test_binding_bounds_and_same_structure_model_swap():
    planner = lqr_planner(low=-0.3, high=0.8)
    first = planner.plan(X0).actions
    assert float(first[0, 0]) == pytest.approx(-0.3, abs=1e-6)  # LQR wants -1.42: the bound binds
    solver = planner._solver
    # A different model object of the same shape reuses the built NLP with new parameters.
    a2 = np.array([[1.0, 0.2], [0.0, 0.9]])
    planner.objective.model = LinearModel(a2, B)
    planner.reset()
    second = planner.plan(X0).actions[:, 0].numpy()
    assert planner._solver is solver
    unbounded = lqr_planner(model=LinearModel(a2, B), low=-50.0, high=50.0).plan(X0).actions[:, 0].numpy()
    assert np.abs(unbounded - lqr_plan(X0, a=a2)).max() < 1e-4
    assert second.min() >= -0.3 - 1e-6 and second.max() <= 0.8 + 1e-6


# -- CasADi models and costs against torch ---------------------------------------------------------
@pytest.mark.parametrize("probabilistic,activation", [(True, "silu"), (False, "relu"), (True, "tanh")])
def test_casadi_ensemble_equals_torch_expectation(probabilistic, activation):
    model = small_ensemble(4, 1, (1,), probabilistic, activation)
    assert len(model.elites) == 3 < model.config.ensemble_size  # the mean is over a subset of members
    rng = np.random.default_rng(3)
    obs = rng.normal(size=(100, 4)).astype(np.float32)
    act = rng.uniform(-1, 1, size=(100, 1)).astype(np.float32)
    torch_next = np.stack([model.rollout(torch.from_numpy(o), torch.from_numpy(a).reshape(1, 1, 1))[0, 0, 0].numpy()
                           for o, a in zip(obs, act)])
    f = ensemble_mean_function(model)
    casadi_next = np.asarray(f.map(100)(obs.T.astype(float), act.T.astype(float))).T
    assert np.abs(casadi_next - torch_next).max() < 1e-5
    assert np.array_equal(casadi_next[:, 3], obs[:, 3].astype(float))  # scale-0 dimension stays constant


def test_casadi_dynamics_reads_weights_retrained_in_place():
    model = small_ensemble(3, 2, (0,))
    dyn = casadi_dynamics(model)
    obs, act = np.array([0.3, -0.2, 0.5]), np.array([0.1, -0.4])
    rng = np.random.default_rng(5)
    model.fit(rng.normal(size=(200, 3)), rng.uniform(-1, 1, size=(200, 2)), rng.normal(size=(200, 3)), seed=1)
    expected = model.rollout(torch.tensor(obs), torch.tensor(act).reshape(1, 1, 2))[0, 0, 0].numpy()
    assert np.abs(np.asarray(dyn.function(obs, act, *dyn.parameters())).ravel() - expected).max() < 1e-5
    assert casadi_dynamics(model).structure == dyn.structure


def test_an_ensemble_planned_through_onnx_runtime_keeps_its_casadi_form():
    """nmpc differentiates the torch weights even when the sampling planners use ORT."""
    from mbrl_ros.models.onnx_backend import for_planning

    model = small_ensemble(3, 1, (1,))
    wrapped = for_planning(model, "onnx")
    assert wrapped is not model
    x, u = np.array([0.3, -1.0, 0.5]), np.array([0.2])
    direct, via = ensemble_mean_function(model), casadi_dynamics(wrapped)
    assert np.allclose(np.asarray(direct(x, u)).ravel(),
                       np.asarray(bind_parameters(via)(x, u)).ravel(), atol=1e-9)


def test_linear_function_and_unsupported_models():
    c = np.array([0.1, -0.2])
    f = linear_function(LinearModel(A, B, c))
    x, u = np.array([0.4, -1.0]), np.array([2.0])
    assert np.allclose(np.asarray(f(x, u)).ravel(), A @ x + B @ u + c, atol=1e-6)
    with pytest.raises(UnsupportedModelError, match="no CasADi form for model type object"):
        casadi_dynamics(object())
    linear = casadi_dynamics(LinearModel(A, B))
    wrong = CasadiDynamics(linear.function, lambda: [np.zeros((3, 3)), B, np.zeros(2)], linear.structure)
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(3, 3\), the function expects \(2, 2\)"):
        wrong.flat_parameters()


@pytest.mark.parametrize("task_name,weights", [
    ("cartpole_swingup", {"tip_distance": 1.0, "action": 0.01}),
    ("pendulum_swingup", {"tip_distance": 1.0, "action": 0.03, "velocity": 0.2}),
    ("pendulum_swingup", {"tip_distance": 2.0, "action": 0.0, "velocity": 0.0}),
])
def test_casadi_cost_terms_equal_torch(task_name, weights):
    task = make_task(task_name, {"cost_weights": weights})
    spec = task.spec
    rng = np.random.default_rng(0)
    n = 64
    obs = rng.normal(scale=2.0, size=(n, spec.obs_dim))
    nxt = rng.normal(scale=2.0, size=(n, spec.obs_dim))
    act = rng.uniform(spec.action_low, spec.action_high, size=(n, spec.act_dim))
    o, a, x = (casadi.SX.sym(k, d) for k, d in (("o", spec.obs_dim), ("a", spec.act_dim), ("x", spec.obs_dim)))
    terms = task.casadi_cost_terms(o, a, x)
    torch_terms = task.cost_terms(*(torch.tensor(v) for v in (obs, act, nxt)))
    assert set(terms) == set(torch_terms)
    for name, expr in terms.items():
        values = np.asarray(casadi.Function("t", [o, a, x], [expr]).map(n)(obs.T, act.T, nxt.T)).ravel()
        assert np.abs(values - torch_terms[name].numpy()).max() < 1e-12, name
    reward = casadi.Function("r", [o, a, x], [casadi_reward_of(task.reward)(o, a, x)]).map(n)
    torch_reward = task.reward(*(torch.tensor(v) for v in (obs, act, nxt))).numpy()
    assert np.abs(np.asarray(reward(obs.T, act.T, nxt.T)).ravel() - torch_reward).max() < 1e-12


def test_reward_without_casadi_form_is_refused():
    objective = TrajectoryObjective(LinearModel(A, B), lambda o, a, n: -(n ** 2).sum(-1))
    with pytest.raises(UnsupportedRewardError, match="casadi_reward="):
        make_planner("nmpc", {}, action_low=[-1.0], action_high=[1.0], horizon=3, objective=objective)


def test_plans_on_learned_ensemble_with_task_reward():
    task = make_task("pendulum_swingup", {})
    spec = task.spec
    model = small_ensemble(spec.obs_dim, spec.act_dim, spec.angle_indices)
    planner = make_planner("nmpc", {"max_iter": 30, "codegen": "off"}, action_low=spec.action_low, action_high=spec.action_high,
                           horizon=8, objective=TrajectoryObjective(model, task.reward))
    obs = np.array([0.2, -0.1])
    result = planner.plan(obs)
    assert torch.isfinite(result.actions).all() and np.isfinite(result.predicted_return)
    assert planner.solver_failures == 0, planner.last_status
    # The solution's states follow the torch mean network, and its value is the task's reward along them.
    rollout = model.rollout(torch.tensor(obs), result.actions.unsqueeze(0))[0, 0]
    assert torch.allclose(planner.predicted_states[1:], rollout, atol=1e-4)
    before = torch.cat([torch.tensor(obs, dtype=torch.float32).unsqueeze(0), rollout[:-1]])
    assert abs(float(task.reward(before, result.actions, rollout).sum()) - result.predicted_return) < 1e-3


# -- failures, warm start, deadline ----------------------------------------------------------------
def test_failing_solver_falls_back_to_shifted_plan():
    planner = lqr_planner()
    planner.plan(X0)
    planner.shift()
    shifted = planner.mean.clone()
    planner.objective.model = NaNModel()
    result = planner.plan(X0)
    assert planner.solver_failures == 1 and "Invalid_Number" in planner.last_status
    assert torch.equal(result.actions, shifted) and torch.isfinite(result.actions).all()
    assert result.predicted_return == float("-inf") and not result.deadline_hit
    planner.reset()
    again = planner.plan(X0)
    assert planner.solver_failures == 2 and torch.equal(again.actions, torch.zeros(HORIZON, 1))  # mid-range


def test_non_finite_model_parameters_fall_back_without_solving():
    planner = lqr_planner(model=LinearModel(A, B, c=[np.nan, 0.0]))
    result = planner.plan(X0)
    assert planner.solver_failures == 1 and planner.last_status == "non-finite model parameters"
    assert result.iterations == 0 and torch.equal(result.actions, torch.zeros(HORIZON, 1))


def test_warm_start_is_the_shifted_solution():
    primal_only = {"warm_start_duals": False}
    planner = lqr_planner(primal_only)
    first = planner.plan(X0)
    states = planner.predicted_states.clone()
    planner.shift()
    assert torch.equal(planner.mean[:-1], first.actions[1:]) and torch.equal(planner.mean[-1], torch.zeros(1))
    assert torch.equal(planner.predicted_states[:-1], states[1:])
    assert torch.equal(planner.predicted_states[-1], states[-1])
    x1 = A @ X0 + B @ first.actions[0].numpy().astype(float)
    warm = planner.plan(x1)
    cold = lqr_planner(primal_only).plan(x1)
    assert torch.allclose(warm.actions, cold.actions, atol=1e-5)
    assert warm.iterations <= cold.iterations
    planner.reset()
    assert planner.predicted_states is None
    duals = lqr_planner({"warm_start_duals": True})
    duals.plan(X0)
    duals.shift()
    with_duals = duals.plan(x1)
    assert torch.allclose(with_duals.actions, cold.actions, atol=1e-4)
    assert with_duals.iterations < cold.iterations


def test_deadline_stops_ipopt_between_iterations(monkeypatch):
    planner = lqr_planner({"max_solve_time": 1e6})
    late = planner.plan(X0, deadline=time.perf_counter() - 1.0)
    assert late.iterations == 0 and late.deadline_hit and torch.equal(late.actions, torch.zeros(HORIZON, 1))
    assert planner.solver_failures == 0
    # A clock that advances 1 s per reading: plan() reads it, _optimize reads the solve's start, the
    # solve arms the stop (t=2); IPOPT's callback sees t=3 after iteration 0 (estimate 1 s per iteration: go
    # on) and t=4 after iteration 1, when the next iteration would end at 5 = the deadline: stop.
    clock = iter(range(1000))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))
    result = planner.plan(X0, deadline=5.0)
    assert result.deadline_hit and result.iterations == 1 and planner.last_status == "deadline"
    assert torch.isfinite(result.actions).all() and planner.solver_failures == 0


# -- real time: SQP, codegen cache, distillation, fallback -------------------------------------------
def test_one_sqp_iteration_solves_the_lqr_problem():
    """Linear dynamics and a quadratic cost make the NLP a QP: one SQP step (qrqp) is exact."""
    planner = lqr_planner({"solver": "sqpmethod", "max_iter": 1})
    result = planner.plan(X0)
    assert np.abs(result.actions[:, 0].numpy() - lqr_plan(X0)).max() < 1e-4
    assert result.iterations == 1 and planner.solver_failures == 0 and not planner.fallbacks
    bounded = lqr_planner({"solver": "sqpmethod", "max_iter": 20}, low=-0.3, high=0.8).plan(X0).actions
    assert float(bounded[0, 0]) == pytest.approx(-0.3, abs=1e-6)


def test_codegen_compiles_once_and_gives_the_interpreted_answer(tmp_path, monkeypatch):
    """The compiled NLP is cached by a hash of its source: a second planner loads it without compiling."""
    if find_compiler("gcc") is None:
        pytest.skip("no gcc on this machine: codegen 'auto' interprets (tested by every other test here)")
    config = {"codegen": "on", "cache_dir": ""}
    first = lqr_planner(config, horizon=6)
    compiled = first.build_reports[-1]["compiled"]
    assert compiled.library.exists() and compiled.library.parent == default_cache_dir()
    second = lqr_planner(config, horizon=6)
    again = second.build_reports[-1]["compiled"]
    assert again.cached and again.compile_seconds == 0.0 and again.key == compiled.key
    interpreted = lqr_planner(horizon=6).plan(X0).actions
    assert torch.allclose(second.plan(X0).actions, interpreted, atol=1e-6)
    assert np.abs(interpreted[:, 0].numpy() - lqr_plan(X0, horizon=6)).max() < 1e-4
    # Another horizon is another NLP (another key); an unusable compiler is a clear error with "on".
    assert lqr_planner({**config, "max_iter": 7}, horizon=6).build_reports[-1]["compiled"].key == compiled.key
    with pytest.raises(CompileError, match="not found on PATH"):
        lqr_planner({"codegen": "on", "compiler": "no-such-cc"}, horizon=6)
    fallback = lqr_planner({"codegen": "auto", "compiler": "no-such-cc"}, horizon=6)
    assert fallback.build_reports[-1]["codegen"] == "off"


def test_compiler_errors_are_reported(tmp_path):
    if find_compiler("gcc") is None:
        pytest.skip("no gcc on this machine")
    x = casadi.MX.sym("x")
    with pytest.raises(CompileError, match="failed on the generated NLP"):
        compiled_nlpsol("bad", "ipopt", {"x": x, "f": x ** 2}, {"print_time": False}, compiler="gcc",
                        flags=("-fno-such-flag",), cache_dir=tmp_path)
    assert not list(tmp_path.glob("*.so"))  # nothing half-written is left in the cache


DISTILL = {"distill": "always", "distill_hidden_units": 16, "distill_samples": 2000, "distill_steps": 400}


def test_distilled_network_follows_the_ensemble_and_refits_after_retraining():
    task = make_task("pendulum_swingup", {})
    spec = task.spec
    model = small_ensemble(spec.obs_dim, spec.act_dim, spec.angle_indices)
    planner = make_planner("nmpc", {**DISTILL, "codegen": "off", "max_iter": 30}, action_low=spec.action_low,
                           action_high=spec.action_high, horizon=8, objective=TrajectoryObjective(model, task.reward))
    distilled = planner.distilled
    assert distilled is not None and len(planner.distill_reports) == 1
    report = planner.distill_reports[0]
    assert max(report.relative_rmse) < 0.2, report  # measured 0.03-0.08 at these settings
    rng = np.random.default_rng(1)
    obs = torch.tensor(rng.normal(size=(50, spec.obs_dim)) * 0.5)
    act = torch.tensor(rng.uniform(spec.action_low, spec.action_high, size=(50, spec.act_dim)))
    teacher = model.predict(obs.float(), act.float())[0][model.elites].mean(0).double()
    student = distilled.predict(obs, act)
    change = teacher - obs  # the student's error is small against what the teacher predicts
    assert ((student - teacher)[:, 0] ** 2).mean() < 0.1 * ((change[:, 0] - change[:, 0].mean()) ** 2).mean()
    assert torch.allclose(student[:, 1], teacher[:, 1], atol=1e-6)  # constant entry (target scale 0): exact
    # The CasADi form is the student itself, and nmpc's solution follows it.
    dyn = distilled.to_casadi()
    casadi_next = np.asarray(dyn.function.map(50)(obs.numpy().T, act.numpy().T, *dyn.parameters())).T
    assert np.abs(casadi_next - student.numpy()).max() < 1e-9
    result = planner.plan(np.array([0.2, -0.1]))
    assert planner.solver_failures == 0 and not planner.fallbacks, planner.last_status
    states = planner.predicted_states.double()
    assert (distilled.predict(states[:-1], result.actions.double()) - states[1:]).abs().max() < 1e-4
    # Retraining the ensemble in place refits the student before the next plan; the NLP is reused.
    solver = planner._solver
    planner.plan(np.array([0.2, -0.1]))
    assert len(planner.distill_reports) == 1  # unchanged weights: no refit
    model.fit(rng.normal(size=(300, spec.obs_dim)), rng.uniform(-1, 1, size=(300, spec.act_dim)),
              rng.normal(size=(300, spec.obs_dim)), seed=2)
    planner.plan(np.array([0.2, -0.1]))
    assert len(planner.distill_reports) == 2 and planner._solver is solver


def test_auto_distills_only_large_ensembles():
    model = small_ensemble(3, 1, (1,))
    objective = TrajectoryObjective(model, lambda o, a, n: -(n ** 2).sum(-1))

    def plan_with(config):
        return NMPCPlanner({**DISTILL, "codegen": "off", **config}, [-1.0], [1.0], 3, objective,
                           casadi_reward=lambda o, a, n: -casadi.sumsqr(n))

    assert plan_with({"distill": "auto", "distill_above_parameters": 10 ** 6}).distilled is None
    assert plan_with({"distill": "auto", "distill_above_parameters": 100}).distilled is not None
    assert plan_with({"distill": "never", "distill_above_parameters": 100}).distilled is None
    assert lqr_planner(DISTILL).distilled is None  # not an ensemble: nothing to distill


class NaNLinearModel(LinearModel):
    """Rolls out as the linear system (for the sampling fallback) but its CasADi step is NaN."""

    def to_casadi(self):
        return NaNModel().to_casadi()


def test_failure_hands_the_plan_to_icem_warm_started_from_the_shifted_plan():
    objective = TrajectoryObjective(NaNLinearModel(A, B), torch_quadratic_reward)
    icem = make_planner("icem", {"population": 64, "iterations": 3}, action_low=[-5.0], action_high=[5.0],
                        horizon=HORIZON, objective=objective, seed=4)
    planner = NMPCPlanner({**EXACT, "fallback": "icem"}, [-5.0], [5.0], HORIZON, objective,
                          casadi_reward=casadi_quadratic_reward, fallback_planner=icem)
    planner.mean = torch.full((HORIZON, 1), -0.5)  # a warm start the fallback starts from
    result = planner.plan(X0)
    assert planner.solver_failures == 1 and planner.fallbacks == {"failure": 1}
    reference = make_planner("icem", {"population": 64, "iterations": 3}, action_low=[-5.0], action_high=[5.0],
                             horizon=HORIZON, objective=objective, seed=4)
    reference.mean = torch.full((HORIZON, 1), -0.5)
    expected = reference.plan(X0)
    assert torch.equal(result.actions, expected.actions)
    assert result.predicted_return == pytest.approx(expected.predicted_return)
    assert torch.equal(planner.mean, expected.actions)  # the next warm start is the fallback's plan
    assert np.isfinite(result.predicted_return) and result.iterations >= 3


def test_time_out_without_progress_falls_back_and_is_counted():
    objective = TrajectoryObjective(LinearModel(A, B), torch_quadratic_reward)
    # fallback_time 1e3: the fallback runs all its iterations (no timing in the answer).
    planner = NMPCPlanner({**EXACT, "fallback": "icem", "max_solve_time": 1e-6, "fallback_time": 1e3}, [-5.0],
                          [5.0], HORIZON, objective, casadi_reward=casadi_quadratic_reward)
    result = planner.plan(X0)
    assert planner.fallbacks == {"timeout": 1} and planner.solver_failures == 0
    assert planner.last_status.startswith("deadline") and result.deadline_hit
    # The plan is icem's (default config, the planner's seed) from the nominal warm start.
    reference = make_planner("icem", {}, action_low=[-5.0], action_high=[5.0], horizon=HORIZON,
                             objective=objective, seed=0)
    assert torch.equal(result.actions, reference.plan(X0).actions)
    zero = objective(torch.tensor(X0), torch.zeros(1, HORIZON, 1))
    assert float(objective(torch.tensor(X0), result.actions.unsqueeze(0))) > float(zero)
    with pytest.raises(ValueError, match="fallback must be a sampling planner"):
        NMPCPlanner({**EXACT, "fallback": "nmpc"}, [-5.0], [5.0], HORIZON, objective,
                    casadi_reward=casadi_quadratic_reward)


def test_iteration_cap_keeps_the_iterate_without_fallback():
    """max_iter 1-3 is the real-time iteration scheme: the capped iterate is the plan."""
    task = make_task("pendulum_swingup", {})
    spec = task.spec
    model = small_ensemble(spec.obs_dim, spec.act_dim, spec.angle_indices)
    planner = make_planner("nmpc", {"solver": "sqpmethod", "max_iter": 1, "codegen": "off"},
                           action_low=spec.action_low, action_high=spec.action_high, horizon=8,
                           objective=TrajectoryObjective(model, task.reward))
    result = planner.plan(np.array([0.2, -0.1]))
    assert result.iterations == 1 and not planner.fallbacks and planner.solver_failures == 0
    assert planner.last_status == "Maximum_Iterations_Exceeded"
    assert torch.isfinite(result.actions).all()
