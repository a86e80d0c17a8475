"""Conformance tests run over every registered task (and a Gymnasium-style wrapper).

Each check holds for any task: determinism under seeds, shapes and dtypes,
no memory shared with the simulator, the step reward equal to the batched
reward the planners optimize, truncation, action clipping and validation,
and for simulated tasks, open-loop rollouts equal to stepping.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mbrl_ros.tasks import TASKS, GymTask, make_task
from mbrl_ros.tasks.base import SimulatedTask, TaskSpec

torch.set_num_threads(1)


class _Box:
    def __init__(self, low, high):
        self.low, self.high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
        self.shape = self.low.shape


class DoubleIntegrator:
    """A 1-D point mass, Gymnasium API in pure numpy (exact Euler steps of 0.1 s)."""

    dt = 0.1
    action_space = _Box([-1.0], [1.0])
    observation_space = _Box([-np.inf, -np.inf], [np.inf, np.inf])

    def reset(self, seed=None):
        self.rng = np.random.default_rng(seed)
        self.state = self.rng.uniform(-1.0, 1.0, size=2)
        return self.state, {}  # the same buffer every time: the wrapper must copy it

    def step(self, action):
        x, v = self.state
        v = v + self.dt * float(action[0])
        self.state[:] = [x + self.dt * v, v]
        return self.state, -float(self.state @ self.state), False, False, {}


def double_integrator_reward(obs, action, next_obs):
    return -(next_obs ** 2).sum(-1) - 0.01 * (action ** 2).sum(-1)


def _gym_double_integrator():
    return GymTask("double_integrator", DoubleIntegrator(), double_integrator_reward,
                   control_period=0.1, episode_length=30, observation_names=("x", "v"))


FACTORIES = {name: (lambda name=name: make_task(name)) for name in TASKS.names()}
FACTORIES["gym_double_integrator"] = _gym_double_integrator


@pytest.fixture(params=sorted(FACTORIES), scope="module")
def task_factory(request):
    return FACTORIES[request.param]


@pytest.fixture
def task(task_factory):
    task = task_factory()
    yield task
    task.close()


SIMULATED = sorted(name for name, factory in FACTORIES.items() if isinstance(factory(), SimulatedTask))


@pytest.fixture(params=SIMULATED)
def simulated_task(request):
    """Only tasks whose simulator can be rolled out from an observation."""
    task = FACTORIES[request.param]()
    yield task
    task.close()


def _random_actions(spec: TaskSpec, n: int, seed: int, overshoot: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low, high = np.array(spec.action_low), np.array(spec.action_high)
    mid, half = (low + high) / 2, (high - low) / 2
    return mid + overshoot * half * rng.uniform(-1, 1, size=(n, spec.act_dim))


def _run(task, seed: int, actions: np.ndarray):
    obs, _ = task.reset(seed=seed)
    out = [obs]
    rewards = []
    for action in actions:
        obs, reward, *_ = task.step(action)
        out.append(obs)
        rewards.append(reward)
    return np.array(out), np.array(rewards)


def test_builtin_tasks_are_registered():
    assert {"pendulum_swingup", "cartpole_swingup", "reacher"} <= set(TASKS.names())


def test_spec_is_consistent(task):
    spec = task.spec
    assert isinstance(spec, TaskSpec)
    assert spec.obs_dim == len(spec.observation_names) > 0
    assert spec.act_dim == len(spec.action_names) == len(spec.action_low) == len(spec.action_high) > 0
    assert len(set(spec.observation_names)) == spec.obs_dim
    assert all(np.isfinite(spec.action_low)) and all(np.isfinite(spec.action_high))
    assert all(0 <= i < spec.obs_dim for i in spec.angle_indices)
    assert spec.control_period > 0 and spec.episode_length > 0
    if hasattr(task, "frame_skip"):
        assert spec.control_period == pytest.approx(task.frame_skip * task.physics.timestep, abs=1e-12)
    low, high = spec.action_bounds()
    assert low.dtype == torch.float32 and low.shape == (spec.act_dim,)


def test_registered_name_matches_spec():
    for name in TASKS.names():
        task = make_task(name)
        assert task.spec.name == name
        task.close()


def test_reset_is_seeded(task):
    first, info = task.reset(seed=3)
    assert isinstance(info, dict)
    assert first.shape == (task.spec.obs_dim,) and first.dtype == np.float64
    assert np.all(np.isfinite(first))
    again, _ = task.reset(seed=3)
    np.testing.assert_array_equal(first, again)
    other, _ = task.reset(seed=4)
    assert not np.array_equal(first, other)


def test_step_is_deterministic(task_factory):
    a, b = task_factory(), task_factory()
    actions = _random_actions(a.spec, 15, seed=0)
    obs_a, rew_a = _run(a, 7, actions)
    obs_b, rew_b = _run(b, 7, actions)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)
    assert obs_a.dtype == np.float64 and np.all(np.isfinite(obs_a))
    assert obs_a.shape == (16, a.spec.obs_dim)


def test_step_returns_types(task):
    task.reset(seed=0)
    obs, reward, terminated, truncated, info = task.step(_random_actions(task.spec, 1, 0)[0])
    assert obs.shape == (task.spec.obs_dim,) and obs.dtype == np.float64
    assert isinstance(reward, float) and np.isfinite(reward)
    assert isinstance(terminated, bool) and isinstance(truncated, bool)
    assert isinstance(info, dict)


def test_returned_arrays_are_copies(task_factory):
    reference, probe = task_factory(), task_factory()
    actions = _random_actions(reference.spec, 5, seed=1)
    expected, _ = _run(reference, 2, actions)

    obs, _ = probe.reset(seed=2)
    obs[:] = 123.0
    got = []
    for action in actions:
        given = action.copy()
        obs, _, _, _, info = probe.step(given)
        got.append(obs.copy())
        obs[:] = -55.0  # scribbling on what we got must not reach the simulator
        given[:] = 1e6
        for value in info.values():
            if isinstance(value, np.ndarray):
                value[...] = 99.0
    np.testing.assert_array_equal(np.array(got), expected[1:])


def test_step_reward_equals_batched_reward(task):
    actions = _random_actions(task.spec, 12, seed=5, overshoot=1.5)
    obs, _ = task.reset(seed=11)
    transitions = []
    for action in actions:
        next_obs, reward, _, _, _ = task.step(action)
        clipped = task.clip_action(action)
        assert reward == task.reward_numpy(obs, clipped, next_obs)
        transitions.append((obs, clipped, next_obs, reward))
        obs = next_obs
    o, a, n, r = (np.array(x) for x in zip(*transitions))
    with torch.no_grad():
        batched = task.reward(torch.from_numpy(o), torch.from_numpy(a), torch.from_numpy(n))
        np.testing.assert_allclose(batched.numpy(), r, rtol=1e-12, atol=1e-12)
        # (N, P, H) leading dims, as planners evaluate it
        shape = (2, 3, 2)
        nph = task.reward(torch.from_numpy(o).reshape(*shape, -1), torch.from_numpy(a).reshape(*shape, -1),
                          torch.from_numpy(n).reshape(*shape, -1))
        assert nph.shape == shape
        np.testing.assert_allclose(nph.reshape(-1).numpy(), r, rtol=1e-12, atol=1e-12)
        as_float32 = task.reward(torch.from_numpy(o).float(), torch.from_numpy(a).float(),
                                 torch.from_numpy(n).float())
        assert as_float32.dtype == torch.float32
        np.testing.assert_allclose(as_float32.numpy(), r, rtol=1e-4, atol=1e-5)


def test_cost_terms_match_weights(task):
    obs, _ = task.reset(seed=0)
    o = torch.from_numpy(np.tile(obs, (4, 3, 1)))
    a = torch.zeros(4, 3, task.spec.act_dim, dtype=torch.float64)
    terms = task.cost_terms(o, a, o)
    assert set(terms) == set(task.cost_weights)
    for name, value in terms.items():
        assert value.shape == (4, 3), name
        assert torch.all(torch.isfinite(value)), name


def test_truncates_at_episode_length(task):
    task.reset(seed=0)
    zero = np.zeros(task.spec.act_dim)
    for step in range(1, task.spec.episode_length + 1):
        _, _, terminated, truncated, _ = task.step(zero)
        assert not terminated
        assert truncated == (step == task.spec.episode_length)
    with pytest.raises(RuntimeError):
        task.step(zero)
    task.reset(seed=0)
    task.step(zero)  # a reset starts a new episode


def test_actions_are_clipped(task_factory):
    clipped_task, bound_task = task_factory(), task_factory()
    spec = clipped_task.spec
    high, low = np.array(spec.action_high), np.array(spec.action_low)
    for too_big, bound in ((high * 10 + 1, high), (low * 10 - 1, low)):
        clipped_task.reset(seed=0)
        bound_task.reset(seed=0)
        obs_c, rew_c, *_ = clipped_task.step(too_big)
        obs_b, rew_b, *_ = bound_task.step(bound)
        np.testing.assert_array_equal(obs_c, obs_b)
        assert rew_c == rew_b


def test_invalid_actions_raise(task_factory):
    task = task_factory()
    with pytest.raises(RuntimeError, match="reset"):
        task.step(np.zeros(task.spec.act_dim))
    task.reset(seed=0)
    bad = np.zeros(task.spec.act_dim)
    bad[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        task.step(bad)
    with pytest.raises(ValueError, match="shape"):
        task.step(np.zeros(task.spec.act_dim + 1))


def test_rollout_equals_stepping(simulated_task):
    task = simulated_task
    n, horizon = 3, 8
    actions = _random_actions(task.spec, n * horizon, seed=9, overshoot=1.3).reshape(n, horizon, -1)
    start, _ = task.reset(seed=4)
    task.step(np.zeros(task.spec.act_dim))  # start from a state with velocity, mid-episode
    start = task.step(_random_actions(task.spec, 1, 3)[0])[0]
    predicted = task.rollout(start, actions)
    assert predicted.shape == (n, horizon, task.spec.obs_dim)
    # The rollout does not disturb the live episode.
    after, *_ = task.step(actions[0, 0])
    np.testing.assert_allclose(after, predicted[0, 0], atol=1e-9, rtol=0)
    for k in range(n):
        task.reset(seed=4)
        task.step(np.zeros(task.spec.act_dim))
        task.step(_random_actions(task.spec, 1, 3)[0])
        stepped = np.array([task.step(a)[0] for a in actions[k]])
        np.testing.assert_allclose(predicted[k], stepped, atol=1e-9, rtol=0)


def test_rollout_validates_input(simulated_task):
    task = simulated_task
    obs, _ = task.reset(seed=0)
    good = np.zeros((2, 3, task.spec.act_dim))
    with pytest.raises(ValueError):
        task.rollout(obs[:-1], good)
    with pytest.raises(ValueError):
        task.rollout(obs, good[0])
    with pytest.raises(ValueError):
        task.rollout(obs, np.full_like(good, np.nan))
