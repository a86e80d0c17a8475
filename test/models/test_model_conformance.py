"""Conformance over every registered model on every registered simulated task."""
import numpy as np
import pytest
import torch

from mbrl_ros.models import MODELS, RolloutModel
from mbrl_ros.planning import TrajectoryObjective
from mbrl_ros.tasks import TASKS, make_task
from mbrl_ros.tasks.base import SimulatedTask

TINY = {"ensemble_size": 2, "num_elites": 2, "hidden_layers": 1, "hidden_units": 16, "num_particles": 4,
        "max_epochs": 2}
SIM_TASKS = [name for name in TASKS.names() if isinstance(make_task(name), SimulatedTask)]


def build(model_name, task):
    config = {} if model_name == "oracle" else TINY
    model = MODELS.get(model_name)(task.spec, config, task=task, seed=0)
    if hasattr(model, "fit"):
        rng = np.random.default_rng(0)
        obs, _ = task.reset(seed=0)
        rows = []
        for _ in range(40):
            act = rng.uniform(task.spec.action_low, task.spec.action_high)
            nxt = task.step(act)[0]
            rows.append((obs, act, nxt))
            obs = nxt
        model.fit(*[np.array(x) for x in zip(*rows)])
    return model


@pytest.mark.parametrize("task_name", SIM_TASKS)
@pytest.mark.parametrize("model_name", MODELS.names())
def test_rollout_contract(model_name, task_name):
    task = make_task(task_name)
    model = build(model_name, task)
    assert isinstance(model, RolloutModel)
    obs, _ = task.reset(seed=1)
    spec = task.spec
    low, high = np.array(spec.action_low), np.array(spec.action_high)
    actions = torch.tensor(np.random.default_rng(2).uniform(low, high, size=(6, 5, spec.act_dim)),
                           dtype=torch.float32)
    obs_t = torch.tensor(obs, dtype=torch.float32)
    traj1 = model.rollout(obs_t, actions, generator=torch.Generator().manual_seed(0))
    traj2 = model.rollout(obs_t, actions, generator=torch.Generator().manual_seed(0))
    assert traj1.shape == (6, model.num_particles, 5, spec.obs_dim)
    assert traj1.dtype == torch.float32 and torch.isfinite(traj1).all()
    assert torch.equal(traj1, traj2), "same generator seed must give the same rollout"
    assert torch.equal(obs_t, torch.tensor(obs, dtype=torch.float32)), "rollout must not modify its input"
    returns = TrajectoryObjective(model, task.reward)(obs_t, actions)
    assert returns.shape == (6,) and torch.isfinite(returns).all()
