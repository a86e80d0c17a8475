"""CostTerm lists, named observations and the one weighted sum (mbrl_ros.tasks.costs, .layout)."""
import json

import casadi
import numpy as np
import pytest
import torch

from reward_cases import CASES, GOLDEN, current_rewards, reward_inputs

from mbrl_ros.tasks import TASKS, make_task
from mbrl_ros.tasks.costs import (TORCH, CostTerm, UnsupportedCostError, weighted_sum, weighted_terms,
                                  with_weights)
from mbrl_ros.tasks.layout import ObsLayout


def test_rewards_equal_the_golden_values_from_before_cost_terms_to_a_few_ulp():
    golden = json.loads(GOLDEN.read_text())
    assert {name for _, name, _ in CASES} == set(TASKS.names())  # every registered built-in task
    current = current_rewards()
    assert set(current) == set(golden)
    for case, values in golden.items():
        # Bit-identical on the machine that wrote the file; float64 exp/sin kernels differ by an ulp
        # between CPUs (AVX2 vs AVX-512 builds of the same torch), so allow 4 ulp, nothing looser.
        np.testing.assert_array_max_ulp(np.asarray(current[case]), np.asarray(values), maxulp=4)


@pytest.mark.parametrize("case,name,config", CASES, ids=[c[0] for c in CASES])
def test_reward_is_minus_the_weighted_sum_of_the_unweighted_terms(case, name, config):
    task = make_task(name, config)
    obs, action, nxt = reward_inputs(task.spec, seed=1)
    terms = task.cost_terms(obs, action, nxt)
    assert list(terms) == [t.name for t in task.costs] and set(terms) == set(task.cost_weights)
    expected = -sum(w * terms[k] for k, w in task.cost_weights.items())
    assert torch.allclose(task.reward(obs, action, nxt), expected, rtol=0, atol=1e-12)
    weighted = task.weighted_cost_terms(obs, action, nxt)
    assert set(weighted) == {k for k, w in task.cost_weights.items() if w != 0}
    task.close()


def test_weighted_sum_skips_zero_weights_and_names_missing_terms():
    costs = {"a": 2.0, "b": 3.0, "c": float("nan")}
    assert weighted_sum(costs, {"a": 0.5, "b": 2.0, "c": 0.0}, "t") == 7.0
    assert weighted_sum(costs, {"a": 0.0}, "t") is None
    assert weighted_terms(costs, {"b": 2.0, "a": 1.0}, "t") == {"b": 6.0, "a": 2.0}
    with pytest.raises(KeyError, match=r"unknown cost terms \['d'\]"):
        weighted_sum(costs, {"d": 1.0}, "t")


def test_a_disabled_term_weighs_zero_and_leaves_the_reward():
    task = make_task("pendulum_swingup", {"cost_weights": {"velocity": 0.5}})
    obs, action, nxt = reward_inputs(task.spec)
    full = task.reward(obs, action, nxt)
    task.costs = tuple(t if t.name != "velocity" else CostTerm(t.name, t.fn, t.weight, enabled=False)
                       for t in task.costs)
    assert task.cost_weights["velocity"] == 0.0
    speed = task.cost_terms(obs, action, nxt)["velocity"]
    assert torch.allclose(task.reward(obs, action, nxt), full + 0.5 * speed, rtol=0, atol=1e-12)


def test_with_weights_overrides_named_terms_and_refuses_unknown_ones():
    terms = (CostTerm("a", lambda t: 1.0, 1.0), CostTerm("b", lambda t: 1.0, 0.5))
    assert [t.weight for t in with_weights(terms, {"b": 2.0}, "x")] == [1.0, 2.0]
    with pytest.raises(KeyError, match="unknown cost term"):
        with_weights(terms, {"z": 1.0}, "x")
    with pytest.raises(ValueError, match="finite number >= 0"):
        CostTerm("a", lambda t: 1.0, -1.0)


def test_obs_layout_names_entries_and_contiguous_groups():
    layout = ObsLayout(("x", "y", "z", "vx"), (("position", ("x", "y", "z")),))
    obs = torch.arange(8.0).reshape(2, 4)
    assert layout["z"] == 2 and layout["position"] == slice(0, 3) and len(layout) == 4
    assert torch.equal(obs[..., layout["position"]], obs[..., :3]) and "vx" in layout
    with pytest.raises(KeyError, match="no observation entry or group 'w'"):
        layout["w"]
    with pytest.raises(ValueError, match="not adjacent"):
        ObsLayout(("x", "y", "z"), (("xz", ("x", "z")),))
    with pytest.raises(ValueError, match="twice"):
        ObsLayout(("x", "x"))


def test_every_task_spec_names_its_observations():
    for name in TASKS.names():
        task = make_task(name)
        layout = task.spec.layout
        assert [layout[n] for n in task.spec.observation_names] == list(range(task.spec.obs_dim))
        task.close()
    quad = make_task("quadrotor_waypoints")
    assert quad.spec.layout["quaternion"] == slice(3, 7) and quad.spec.layout["target"] == slice(13, 16)


@pytest.mark.parametrize("case,name,config", [c for c in CASES if "sparse" not in c[1]], ids=lambda v: str(v))
def test_casadi_form_equals_torch_for_every_differentiable_task(case, name, config):
    """One formula, two backends: the CasADi terms equal the torch terms at random points."""
    task = make_task(name, config)
    spec = task.spec
    obs, action, nxt = reward_inputs(spec, seed=2)
    o, a, x = (casadi.SX.sym(k, d) for k, d in (("o", spec.obs_dim), ("a", spec.act_dim), ("x", spec.obs_dim)))
    symbolic = task.casadi_cost_terms(o, a, x)
    numeric = task.cost_terms(obs, action, nxt)
    assert list(symbolic) == list(numeric)
    n = obs.shape[0]
    for term, expr in symbolic.items():
        values = casadi.Function("t", [o, a, x], [expr]).map(n)(obs.numpy().T, action.numpy().T, nxt.numpy().T)
        assert np.abs(np.asarray(values).ravel() - numeric[term].numpy()).max() < 1e-12, term
    task.close()


def test_sparse_terms_have_no_casadi_form_unless_weighted_zero():
    o, a, x = casadi.SX.sym("o", 2), casadi.SX.sym("a", 1), casadi.SX.sym("x", 2)
    with pytest.raises(UnsupportedCostError, match="'upright' has no gradient"):
        make_task("pendulum_sparse").casadi_cost_terms(o, a, x)
    terms = make_task("pendulum_sparse", {"cost_weights": {"upright": 0.0, "action": 1.0}}).casadi_cost_terms(o, a, x)
    assert list(terms) == ["action"]


def test_a_term_written_once_runs_on_both_backends():
    def height(t):
        return -t.task.length * t.ops.cos(t.next["theta"])

    task = make_task("pendulum_swingup")
    task.costs = (CostTerm("height", height),)
    assert task.cost_weights == {"height": 1.0}
    theta = torch.tensor([[0.0, 0.0], [np.pi, 0.0]], dtype=torch.float64)
    assert task.reward(theta, torch.zeros(2, 1), theta).tolist() == pytest.approx([task.length, -task.length])
    sym = casadi.SX.sym("x", 2)
    expr = task.casadi_cost_terms(sym, casadi.SX.sym("a", 1), sym)["height"]
    assert float(casadi.Function("h", [sym], [expr])([np.pi, 0.0])) == pytest.approx(task.length)
    assert TORCH.entry(theta, task.spec.layout["theta"]).tolist() == [0.0, np.pi]
