"""DAgger with validation returns the best policy of its iterations, not merely the last one."""
import numpy as np
import pytest
import torch

from mbrl_ros.export.distill import distill_policy

torch.set_num_threads(1)
TASK = "double_integrator_validation_test"


@pytest.fixture(scope="module")
def task(double_integrator):
    return double_integrator.register(TASK, episode_length=30)


def validation_return(task, policy, seed, episodes):
    returns = []
    for k in range(episodes):
        obs, _ = task.reset(seed=seed * 100003 + 50_000 + k)
        total = 0.0
        for _ in range(30):
            obs, reward, *_ = task.step(policy.act(obs))
            total += reward
        returns.append(total)
    return float(np.mean(returns))


def test_the_best_validated_iteration_is_returned(task):
    expert = lambda x: np.clip(-np.array([1.0, 1.6]) @ np.asarray(x), -1.0, 1.0).reshape(1)  # noqa: E731
    config = {"iterations": 4, "episodes_per_iteration": 1, "expert_episodes": 1, "epochs": 3,
              "learning_rate": 0.05, "validation_episodes": 3, "policy": {"hidden_units": 8}}
    result = distill_policy(expert, TASK, config=config, seed=1)
    values = [h.validation_return for h in result.history]
    assert all(np.isfinite(values)) and len(values) == 5
    assert result.best_iteration == int(np.argmax(values))
    assert validation_return(task, result.policy, 1, 3) == pytest.approx(max(values), rel=1e-9)


def test_without_validation_the_last_fit_is_returned(task):
    result = distill_policy(lambda x: np.zeros(1), TASK, config={"iterations": 1, "epochs": 1,
                                                                 "episodes_per_iteration": 1}, seed=0)
    assert result.best_iteration == 1 and np.isnan(result.history[-1].validation_return)
