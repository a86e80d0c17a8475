"""The planner's gate for models from /mbrl/model."""
import numpy as np
import pytest
import torch

from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics
from mbrl_ros.learning.model_payload import ModelRejectedError, decode_model, encode_model, model_version
from mbrl_ros.tasks import make_task


@pytest.fixture(scope="module")
def spec():
    torch.set_num_threads(1)
    return make_task("pendulum_swingup").spec


def test_round_trip_keeps_metadata(spec, trained_model):
    data = encode_model(trained_model(spec), version=4, task=spec.name, episodes=2, transitions=32,
                        metrics={"holdout_mse": 0.5})
    model = decode_model(data, spec, np.array([0.1, 0.0]))
    assert model_version(model) == 4
    assert model.extra_metadata["metrics"] == {"holdout_mse": 0.5}
    assert model.extra_metadata["task"] == spec.name


def test_garbage_is_rejected(spec):
    with pytest.raises(ModelRejectedError) as err:
        decode_model(b"not a model", spec)
    assert err.value.reason == "decode"


def test_a_model_of_another_task_is_rejected(spec, trained_model):
    cartpole = make_task("cartpole_swingup").spec
    data = encode_model(trained_model(cartpole), version=1, task=cartpole.name, episodes=1, transitions=32,
                        metrics={})
    with pytest.raises(ModelRejectedError) as err:
        decode_model(data, spec)
    assert err.value.reason == "dims"
    same_dims = encode_model(trained_model(spec), version=1, task="other_task", episodes=1, transitions=32,
                             metrics={})
    with pytest.raises(ModelRejectedError) as err:
        decode_model(same_dims, spec)
    assert err.value.reason == "task"


def test_untrained_and_non_finite_models_are_rejected(spec, trained_model):
    untrained = EnsembleDynamics(spec.obs_dim, spec.act_dim, EnsembleConfig(ensemble_size=2, num_elites=2,
                                 num_particles=2, hidden_units=8), angle_indices=spec.angle_indices)
    with pytest.raises(ModelRejectedError) as err:
        decode_model(untrained.to_bytes(), spec)
    assert err.value.reason == "untrained"
    broken = trained_model(spec)
    with torch.no_grad():
        broken.layers[0].weight[0, 0, 0] = float("nan")
    with pytest.raises(ModelRejectedError) as err:
        decode_model(broken.to_bytes({"task": spec.name}), spec)
    assert err.value.reason == "non_finite"
