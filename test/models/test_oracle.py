"""The oracle model: the true simulator behind the RolloutModel interface."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mbrl_ros.models import MODELS, RolloutModel
from mbrl_ros.models.oracle import OracleModel
from mbrl_ros.tasks import TASKS, GymTask, SimulatedTask, make_task

torch.set_num_threads(1)

SIMULATED = [name for name in TASKS.names()
             if isinstance(TASKS.get(name), type) and issubclass(TASKS.get(name), SimulatedTask)]


@pytest.mark.parametrize("name", SIMULATED)
def test_oracle_matches_stepping(name):
    task = make_task(name)
    model = MODELS.get("oracle")(task.spec, {}, task=task, device="cpu", seed=3)  # as the learning loop calls it
    assert isinstance(model, RolloutModel) and model.num_particles == 1
    obs, _ = task.reset(seed=0)
    n, horizon = 4, 6
    low, high = task.spec.action_bounds()
    actions = low + (high - low) * torch.rand(n, horizon, task.spec.act_dim,
                                              generator=torch.Generator().manual_seed(0))
    actions[0, 0] = 10 * high  # clipped like the task clips it
    predicted = model.rollout(torch.as_tensor(obs, dtype=torch.float32), actions)
    assert predicted.shape == (n, 1, horizon, task.spec.obs_dim)
    assert predicted.dtype == torch.float32
    for k in (0, n - 1):
        task.reset(seed=0)
        stepped = np.array([task.step(a.numpy())[0] for a in actions[k]])
        # The start observation went through float32, hence the tolerance.
        np.testing.assert_allclose(predicted[k, 0].numpy(), stepped, rtol=1e-4, atol=1e-4)


def test_oracle_is_exact_from_float64_input():
    task = make_task("cartpole_swingup")
    obs, _ = task.reset(seed=1)
    actions = torch.full((1, 5, 1), 3.0, dtype=torch.float64)
    predicted = OracleModel(task).rollout(torch.from_numpy(obs), actions)
    stepped = np.array([task.step(np.array([3.0]))[0] for _ in range(5)])
    np.testing.assert_allclose(predicted[0, 0].numpy(), stepped.astype(np.float32), rtol=0, atol=0)


def test_oracle_needs_a_simulated_task():
    task = make_task("pendulum_swingup")
    factory = MODELS.get("oracle")
    with pytest.raises(ValueError, match="task"):
        factory(task.spec)
    gym = GymTask("plain", _Env(), lambda o, a, n: -o[..., 0] ** 2, control_period=0.1, episode_length=5,
                  action_low=[-1.0], action_high=[1.0])
    with pytest.raises(TypeError, match="SimulatedTask"):
        factory(gym.spec, task=gym)
    with pytest.raises(ValueError, match="shape"):
        OracleModel(task).rollout(torch.zeros(2), torch.zeros(3, 1))


class _Env:
    def reset(self, seed=None):
        return np.zeros(1), {}

    def step(self, action):
        return np.zeros(1), 0.0, False, False, {}
