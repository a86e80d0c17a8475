"""Planners: known LQR answers, bounds, anytime deadlines, warm starts, conformance."""
import time

import casadi
import numpy as np
import pytest
import torch

from mbrl_ros.config import ConfigError
from mbrl_ros.models.linear import LinearModel
from mbrl_ros.planning import PLANNERS, TrajectoryObjective, make_planner
from mbrl_ros.planning.base import INVALID_RETURN

DT = 0.1
A = np.array([[1.0, DT], [0.0, 1.0]])
B = np.array([[0.0], [DT]])
Q = np.diag([1.0, 0.1])
R = np.array([[0.1]])
HORIZON = 15
X0 = np.array([1.0, -0.5])

# Settings that give each sampler enough samples to resolve the optimum of a 15-dim problem.
KNOWN_ANSWER_CONFIGS = {
    "random_shooting": {"population": 4000, "iterations": 8},
    "cem": {"population": 400, "num_elites": 40, "iterations": 12},
    "icem": {"population": 400, "num_elites": 40, "iterations": 20, "min_population": 100, "noise_beta": 0.5},
    "mppi": {"population": 1000, "iterations": 40, "temperature": 0.2, "noise_std": 0.3},
    "nmpc": {"hessian_approximation": "exact", "tol": 1e-10, "max_iter": 50},
}
# Random shooting samples blindly, so it is asked the one-step problem (a 15-dim search is beyond
# it); the others solve the 15-step one. Tolerances are ~3x the errors measured at seed 0
# (random shooting 0.0002, cem 0.008, icem 0.005, mppi 0.13); random shooting gets 10x because
# its error is set by the sample spacing alone. nmpc solves the QP exactly (error 3e-8, the float32
# rounding of its output); 1e-4 is the agreement asked of it.
TOLERANCE = {"random_shooting": 0.002, "cem": 0.025, "icem": 0.02, "mppi": 0.3, "nmpc": 1e-4}
KNOWN_ANSWER_HORIZON = {"random_shooting": 1, "cem": HORIZON, "icem": HORIZON, "mppi": HORIZON, "nmpc": HORIZON}
#: Planners that sample the objective (a fixed number of iterations, each one objective call).
SAMPLING_PLANNERS = sorted(set(KNOWN_ANSWER_CONFIGS) - {"nmpc"})


def lqr_first_action(x0, horizon=HORIZON):
    """Finite-horizon LQR for cost sum_{h<H} x_{h+1}'Q x_{h+1} + u_h'R u_h."""
    P = Q.copy()
    K = None
    for k in range(horizon - 1, -1, -1):
        K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        P = (Q if k > 0 else 0 * Q) + A.T @ P @ (A - B @ K)
    return -K @ x0


def quadratic_reward(obs, act, next_obs):
    q = torch.tensor(Q, dtype=next_obs.dtype)
    r = torch.tensor(R, dtype=act.dtype)
    return -((next_obs @ q) * next_obs).sum(-1) - ((act @ r) * act).sum(-1)


def casadi_quadratic_reward(obs, act, next_obs):
    return -casadi.bilin(casadi.DM(Q), next_obs, next_obs) - casadi.bilin(casadi.DM(R), act, act)


quadratic_reward.casadi_reward = casadi_quadratic_reward  # what gradient-based planners (nmpc) optimize


def linear_objective():
    return TrajectoryObjective(LinearModel(A, B), quadratic_reward)


def test_every_planner_is_covered_here():
    assert set(PLANNERS.names()) == set(KNOWN_ANSWER_CONFIGS)


@pytest.mark.parametrize("name", sorted(KNOWN_ANSWER_CONFIGS))
def test_planner_finds_lqr_action(name):
    torch.manual_seed(0)
    horizon = KNOWN_ANSWER_HORIZON[name]
    u_star = lqr_first_action(X0, horizon)[0]
    planner = make_planner(name, KNOWN_ANSWER_CONFIGS[name], action_low=[-5.0], action_high=[5.0],
                           horizon=horizon, objective=linear_objective(), seed=0)
    result = planner.plan(X0)
    assert abs(float(result.actions[0, 0]) - u_star) < TOLERANCE[name], (float(result.actions[0, 0]), u_star)
    if name == "nmpc":  # IPOPT stops when converged, below its iteration cap
        assert 1 <= result.iterations < KNOWN_ANSWER_CONFIGS[name]["max_iter"] and not result.deadline_hit
    else:
        assert result.iterations == KNOWN_ANSWER_CONFIGS[name]["iterations"] and not result.deadline_hit


@pytest.mark.parametrize("name", sorted(KNOWN_ANSWER_CONFIGS))
def test_conformance_bounds_shapes_determinism(name):
    # Bounds that bind: the LQR action (-1.42) lies outside [-0.3, 0.8].
    kwargs = dict(action_low=[-0.3], action_high=[0.8], horizon=7, objective=linear_objective())
    p1 = make_planner(name, {}, seed=3, **kwargs)
    p2 = make_planner(name, {}, seed=3, **kwargs)
    r1, r2 = p1.plan(X0), p2.plan(X0)
    assert r1.actions.shape == (7, 1) and r1.actions.dtype == torch.float32
    assert torch.equal(r1.actions, r2.actions), "same seed must give the same plan"
    eps = 1e-6  # float32 rounding of the bounds
    assert float(r1.actions.min()) >= -0.3 - eps and float(r1.actions.max()) <= 0.8 + eps
    assert np.isfinite(r1.predicted_return)
    # Better than doing nothing in the middle of the range (what a reset planner would send).
    objective = linear_objective()
    mid = torch.full((1, 7, 1), 0.25)
    assert float(objective(torch.tensor(X0), r1.actions.unsqueeze(0))) > float(objective(torch.tensor(X0), mid))
    p1.shift()
    assert torch.isfinite(p1.plan(X0).actions).all()
    p1.reset()
    assert torch.allclose(p1.mean, torch.full((7, 1), 0.25))


# nmpc never calls the sampled objective (it counts IPOPT iterations): test_nmpc.py tests its deadline.
@pytest.mark.parametrize("name", SAMPLING_PLANNERS)
def test_anytime_deadline(name):
    calls = []
    objective = linear_objective()

    def slow_objective(obs, actions):
        calls.append(actions.shape[0])
        time.sleep(0.02)
        return objective(obs, actions)

    planner = make_planner(name, {"iterations": 50}, action_low=[-5.0], action_high=[5.0],
                           horizon=HORIZON, objective=slow_objective, seed=0)
    start = time.perf_counter()
    result = planner.plan(X0, deadline=start + 0.1)
    assert result.deadline_hit and 1 <= result.iterations < 50
    assert len(calls) == result.iterations
    assert torch.isfinite(result.actions).all()
    # A deadline already past returns the warm start without evaluating anything.
    calls.clear()
    late = planner.plan(X0, deadline=time.perf_counter() - 1.0)
    assert late.iterations == 0 and not calls and late.actions.shape == (HORIZON, 1)


@pytest.mark.parametrize("name", sorted(KNOWN_ANSWER_CONFIGS))
def test_warm_start_shift_moves_plan_forward(name):
    planner = make_planner(name, KNOWN_ANSWER_CONFIGS[name], action_low=[-5.0], action_high=[5.0],
                           horizon=HORIZON, objective=linear_objective(), seed=0)
    planner.plan(X0)
    before = planner.mean.clone()
    planner.shift()
    assert torch.equal(planner.mean[:-1], before[1:])
    assert torch.equal(planner.mean[-1], torch.zeros(1))  # mid-range fill


def test_non_finite_predictions_are_never_chosen():
    def objective(obs, actions):
        returns = -actions.pow(2).sum((1, 2))
        returns[actions[:, 0, 0] > 0] = float("nan")
        return torch.nan_to_num(returns, nan=INVALID_RETURN)

    planner = make_planner("cem", {"population": 200, "num_elites": 20}, action_low=[-1.0], action_high=[1.0],
                           horizon=3, objective=objective, seed=0)
    assert float(planner.plan(np.zeros(2)).actions[0, 0]) <= 0.0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ConfigError, match="population"):
        make_planner("cem", {"population": -1}, action_low=[-1.0], action_high=[1.0], horizon=3,
                     objective=linear_objective())
    with pytest.raises(ValueError, match="low < high"):
        make_planner("cem", {}, action_low=[1.0], action_high=[-1.0], horizon=3, objective=linear_objective())
    planner = make_planner("cem", {}, action_low=[-1.0], action_high=[1.0], horizon=3,
                           objective=linear_objective())
    with pytest.raises(ValueError, match="not finite"):
        planner.plan(np.array([np.nan, 0.0]))
    from mbrl_ros.registry import UnknownComponentError
    with pytest.raises(UnknownComponentError, match="registered: cem, icem"):
        make_planner("cme", {}, action_low=[-1.0], action_high=[1.0], horizon=3, objective=linear_objective())


@pytest.mark.parametrize("name", ["cem", "icem", "mppi", "random_shooting"])
def test_deadline_predicts_the_next_iteration(name, monkeypatch):
    """With iterations of 30 ms and a 100 ms deadline, a 4th iteration (ending at 120 ms) never starts."""
    import mbrl_ros.planning.base as base

    clock = [1000.0]
    monkeypatch.setattr(base.time, "perf_counter", lambda: clock[0])
    objective = linear_objective()

    def timed_objective(obs, actions):
        clock[0] += 0.03
        return objective(obs, actions)

    planner = make_planner(name, {"iterations": 10}, action_low=[-5.0], action_high=[5.0], horizon=HORIZON,
                           objective=timed_objective, seed=0)
    deadline = clock[0] + 0.1
    result = planner.plan(X0, deadline=deadline)
    assert result.iterations == 3 and result.deadline_hit
    assert clock[0] <= deadline


def test_a_slow_plan_does_not_starve_the_next_ones(monkeypatch):
    """One 80 ms iteration against a 40 ms deadline must not stop later plans from optimizing."""
    import mbrl_ros.planning.base as base

    clock = [0.0]
    monkeypatch.setattr(base.time, "perf_counter", lambda: clock[0])
    objective = linear_objective()
    cost = [0.08]

    def timed_objective(obs, actions):
        clock[0] += cost[0]
        return objective(obs, actions)

    planner = make_planner("icem", {"iterations": 3}, action_low=[-5.0], action_high=[5.0], horizon=HORIZON,
                           objective=timed_objective, seed=0)
    assert planner.plan(X0, deadline=clock[0] + 0.04).iterations == 1  # overran once
    cost[0] = 0.01
    assert planner.plan(X0, deadline=clock[0] + 0.04).iterations == 3  # back to full plans


# -- nominal action (TaskSpec.nominal_action, e.g. a quadrotor's hover thrust) --------------------
NOMINAL_LOW, NOMINAL_HIGH, NOMINAL = [-1.0], [2.0], [1.5]


@pytest.mark.parametrize("name", sorted(PLANNERS.names()))
def test_nominal_action_starts_and_extends_the_plan(name):
    planner = make_planner(name, KNOWN_ANSWER_CONFIGS[name], action_low=NOMINAL_LOW, action_high=NOMINAL_HIGH,
                           horizon=HORIZON, objective=linear_objective(), seed=0, nominal_action=NOMINAL)
    assert torch.equal(planner.mean, torch.full((HORIZON, 1), 1.5))
    # A deadline already past returns the nominal plan untouched.
    late = planner.plan(X0, deadline=time.perf_counter() - 1.0)
    assert late.iterations == 0 and torch.equal(late.actions, torch.full((HORIZON, 1), 1.5))
    planner.plan(X0)
    planner.shift(3)
    assert torch.equal(planner.mean[-3:], torch.full((3, 1), 1.5))
    planner.reset()
    assert torch.equal(planner.mean, torch.full((HORIZON, 1), 1.5))


@pytest.mark.parametrize("name", sorted(PLANNERS.names()))
def test_without_nominal_action_plans_start_mid_range(name):
    planner = make_planner(name, KNOWN_ANSWER_CONFIGS[name], action_low=NOMINAL_LOW, action_high=NOMINAL_HIGH,
                           horizon=HORIZON, objective=linear_objective(), seed=0)
    assert torch.equal(planner.mean, torch.full((HORIZON, 1), 0.5))
    planner.shift(2)
    assert torch.equal(planner.mean[-2:], torch.full((2, 1), 0.5))


def test_icem_fills_shifted_elites_with_the_nominal_action():
    planner = make_planner("icem", {}, action_low=NOMINAL_LOW, action_high=NOMINAL_HIGH, horizon=HORIZON,
                           objective=linear_objective(), seed=0, nominal_action=NOMINAL)
    planner.plan(X0)
    elites = planner._elites.clone()
    planner.shift(2)
    assert torch.equal(planner._elites[:, :-2], elites[:, 2:])
    assert torch.equal(planner._elites[:, -2:], torch.full((elites.shape[0], 2, 1), 1.5))


@pytest.mark.parametrize("name,config", [("cem", {"init_std": 0.05, "iterations": 1}),
                                         ("icem", {"init_std": 0.05, "iterations": 1}),
                                         ("mppi", {"noise_std": 0.05, "iterations": 1})])
def test_nominal_action_puts_a_narrow_search_where_the_answer_is(name, config):
    """Known answer: the best action is the constant 0.1 (near the low bound of [0, 1]).

    A narrow first search (std 5% of the half range) reaches it from a nominal of 0.1 but
    not from the middle of the range, which is why a hover thrust far from mid-range
    needs the nominal action.
    """
    def objective(obs, actions):  # (N, H, A) -> (N,)
        return -((actions - 0.1) ** 2).sum((1, 2))

    kwargs = dict(action_low=[0.0], action_high=[1.0], horizon=5, objective=objective, seed=0)
    with_nominal = make_planner(name, config, nominal_action=[0.1], **kwargs).plan(X0).actions
    from_mid = make_planner(name, config, **kwargs).plan(X0).actions
    assert float((with_nominal - 0.1).abs().max()) < 0.05
    assert float((from_mid - 0.1).abs().min()) > 0.2  # measured >= 0.30 (icem's colored noise reaches farthest)


def test_bad_nominal_action_raises_clear_errors():
    kwargs = dict(action_low=[-1.0, 0.0], action_high=[1.0, 1.0], horizon=3, objective=linear_objective())
    with pytest.raises(ValueError, match="one entry per action"):
        make_planner("cem", {}, nominal_action=[0.0], **kwargs)
    with pytest.raises(ValueError, match="within the action bounds"):
        make_planner("cem", {}, nominal_action=[0.0, 1.5], **kwargs)
    # On a bound is allowed (a float64 bound rounds to float32).
    assert torch.equal(make_planner("cem", {}, nominal_action=[1.0, 0.0], **kwargs).mean[0],
                       torch.tensor([1.0, 0.0]))
