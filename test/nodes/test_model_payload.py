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


# -- a critic in the payload (learning.terminal_value over ROS) --------------------------------

def _payload_with_critic(task, trained_model, trained_values, version=5):
    model = trained_model(task.spec)
    values = trained_values(task, model)
    data = encode_model(model, version=version, task=task.spec.name, episodes=2, transitions=32,
                        metrics={"holdout_mse": 0.5}, values=values)
    return model, values, data


def test_round_trip_of_model_and_critic_under_one_version(trained_model, trained_values):
    from mbrl_ros.learning.model_payload import decode_value

    task = make_task("pendulum_swingup")
    spec = task.spec
    model, values, data = _payload_with_critic(task, trained_model, trained_values)
    decoded = decode_model(data, spec, np.array([0.1, 0.0]))
    assert model_version(decoded) == 5 and decoded.extra_metadata["value"]["version"] == values.version == 1
    critic = decode_value(data, decoded, spec, reward_fn=task.reward, termination_fn=task.termination_fn)
    assert critic.version == 1 and critic.trained and critic.config == values.config
    for name, array in values.state_arrays().items():  # every array exactly
        np.testing.assert_array_equal(critic.state_arrays()[name], array, err_msg=name)
    states = torch.randn(3, 4, spec.obs_dim)
    assert torch.equal(critic.terminal_value(states), values.terminal_value(states))
    assert float(values.terminal_value(states).abs().max()) > 0.0  # a trained critic, not zeros
    # Readers of model files (export-policy, initial_model) see the same model, critic or not.
    plain = EnsembleDynamics.from_bytes(model.to_bytes())
    for name, weight in EnsembleDynamics.from_bytes(data).state_dict().items():
        assert torch.equal(weight, plain.state_dict()[name]), name


def test_a_model_without_a_critic_has_none(spec, trained_model):
    from mbrl_ros.learning.model_payload import decode_value

    task = make_task("pendulum_swingup")
    data = encode_model(trained_model(spec), version=2, task=spec.name, episodes=1, transitions=32, metrics={})
    model = decode_model(data, spec)
    assert "value" not in model.extra_metadata
    assert decode_value(data, model, spec, reward_fn=task.reward) is None


def test_a_broken_critic_rejects_the_payload(trained_model, trained_values):
    from mbrl_ros.learning.model_payload import decode_value

    task = make_task("pendulum_swingup")
    model, values, _ = _payload_with_critic(task, trained_model, trained_values)
    with torch.no_grad():
        values.critic.weights[0][0, 0, 0] = float("nan")
    data = encode_model(model, version=1, task=task.spec.name, episodes=1, transitions=32, metrics={},
                        values=values)
    with pytest.raises(ModelRejectedError) as err:
        decode_value(data, decode_model(data, task.spec), task.spec, reward_fn=task.reward)
    assert err.value.reason == "value" and "critic.weights.0" in str(err.value)
    cartpole = make_task("cartpole_swingup")  # the metadata names the critic's sizes: another task's are refused
    other = decode_model(data, task.spec)
    other.extra_metadata["value"] = {**other.extra_metadata["value"], "obs_dim": cartpole.spec.obs_dim}
    with pytest.raises(ModelRejectedError) as err:
        decode_value(data, other, task.spec, reward_fn=task.reward)
    assert err.value.reason == "value"
