"""Conformance over every registered model on every registered simulated task."""
import numpy as np
import pytest
import torch

from transition_samples import random_walk

from mbrl_ros.models import MODELS, RolloutModel
from mbrl_ros.models.base import LearnedModel
from mbrl_ros.planning import TrajectoryObjective
from mbrl_ros.tasks import TASKS, make_task
from mbrl_ros.tasks.base import SimulatedTask

TINY = {"ensemble_size": 2, "num_elites": 2, "hidden_layers": 1, "hidden_units": 16, "num_particles": 4,
        "max_epochs": 2}
SIM_TASKS = [name for name in TASKS.names() if isinstance(make_task(name), SimulatedTask)]


def build(model_name, task):
    config = {} if model_name == "oracle" else TINY
    model = MODELS.get(model_name)(task.spec, config, task=task, seed=0)
    if isinstance(model, LearnedModel):
        model.fit(*random_walk(task, 40))
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


def test_the_trainable_models_are_learned_models_and_save_what_they_learned(tmp_path):
    from mbrl_ros.models.ensemble import EnsembleDynamics

    task = make_task("pendulum_swingup")
    models = {name: build(name, task) for name in MODELS.names()}
    learned = {name for name, model in models.items() if isinstance(model, LearnedModel)}
    assert learned == {"pets_ensemble", "deterministic_ensemble", "pets_ensemble_onnx"}
    assert not isinstance(models["oracle"], LearnedModel)
    for name in sorted(learned):
        model = models[name]
        assert model.trained and model.metadata()["trained"]
        saved = EnsembleDynamics.load(model.save(tmp_path / f"{name}.npz"))  # LearnedModel.save: to_bytes
        again = EnsembleDynamics.from_bytes(model.to_bytes())
        assert saved.trained and saved.metadata() == again.metadata() == model.metadata()
        for key, value in again.state_dict().items():
            assert torch.equal(saved.state_dict()[key], value), (name, key)
