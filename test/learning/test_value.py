"""The value learner (Q ensemble + SAC actor on real and branched model data) and its loop wiring."""
import numpy as np
import pytest
import torch

from mbrl_ros.config import ConfigError
from mbrl_ros.learning import run_learning
from mbrl_ros.learning.value import (VALUE_LEARNERS, EnsembleMLP, SacMbpoConfig, make_value_learner,
                                     one_step_model, rollout_length)
from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics
from mbrl_ros.tasks import make_task

torch.set_num_threads(1)


def test_ensemble_mlp_is_one_batched_net_per_member():
    torch.manual_seed(0)
    net = EnsembleMLP(3, 4, 2, 8, 2)
    x = torch.randn(5, 4)
    out = net(x)
    assert out.shape == (3, 5, 2)
    for k in range(3):  # member k alone, layer by layer, gives the same numbers
        h = x
        for i, (w, b) in enumerate(zip(net.weights, net.biases)):
            h = h @ w[k] + b[k]
            if i < len(net.weights) - 1:
                h = torch.nn.functional.silu(h)
        torch.testing.assert_close(out[k], h)


def test_rollout_length_schedule():
    cfg = SacMbpoConfig(rollout_length_min=1, rollout_length_max=5, rollout_schedule_start=2,
                        rollout_schedule_end=6)
    assert [rollout_length(cfg, e) for e in range(9)] == [1, 1, 1, 2, 3, 4, 5, 5, 5]
    with pytest.raises(ConfigError):
        SacMbpoConfig(rollout_schedule_start=5, rollout_schedule_end=2)
    assert "sac_mbpo" in VALUE_LEARNERS.names()


def _linear_data(n, seed=0):
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, size=(n, 2))
    act = rng.uniform(-1, 1, size=(n, 1))
    nxt = obs + 0.1 * np.c_[obs[:, 1], act[:, 0]]
    return obs, act, nxt


def test_critic_fits_a_known_q_when_every_step_terminates():
    # Terminating every step: Q(s, a) = r(s, a, s') exactly, with no bootstrap and no entropy term.
    task = make_task("pendulum_swingup")
    reward = lambda o, a, n: -(n[..., 0] ** 2) + 0.5 * a[..., 0]  # noqa: E731
    learner = make_value_learner("sac_mbpo", {"min_updates": 500, "updates_per_step": 0, "real_fraction": 1.0,
                                              "hidden_units": 32, "learning_rate": 3e-3},
                                 spec=task.spec, reward_fn=reward,
                                 termination_fn=lambda o, a, n: torch.ones(o.shape[:-1], dtype=torch.bool))
    obs, act, nxt = _linear_data(2000)
    act = act * 3.0  # the pendulum's torque range
    assert float(learner.terminal_value(torch.zeros(4, 2)).abs().max()) == 0.0  # untrained: no value
    learner.update(obs, act, nxt)
    q = learner.q_values(torch.as_tensor(obs[:200], dtype=torch.float32),
                         torch.as_tensor(act[:200], dtype=torch.float32)).detach()
    truth = reward(torch.as_tensor(obs[:200]), torch.as_tensor(act[:200]), torch.as_tensor(nxt[:200])).float()
    assert float((q - truth).abs().mean()) < 0.05 * float(truth.abs().mean() + 0.1)
    # The actor maximizes Q: +0.5 * torque, so it learns to push the torque to the top of the range.
    action, _ = learner.policy(torch.zeros(16, 2), deterministic=True)
    assert float(action.mean()) > 2.0


def test_a_termination_bootstraps_from_the_absorbing_value_of_the_crash_charge():
    # Every step terminates with reward 0; each step left is charged -1: Q = 0.8 * -1 / (1 - 0.8) = -4.
    import dataclasses

    spec = dataclasses.replace(make_task("pendulum_swingup").spec, termination_reward=-1.0)
    learner = make_value_learner("sac_mbpo", {"min_updates": 400, "updates_per_step": 0, "real_fraction": 1.0,
                                              "discount": 0.8, "hidden_units": 32, "learning_rate": 3e-3},
                                 spec=spec, reward_fn=lambda o, a, n: torch.zeros(o.shape[:-1]),
                                 termination_fn=lambda o, a, n: torch.ones(o.shape[:-1], dtype=torch.bool))
    obs, act, nxt = _linear_data(1000)
    learner.update(obs, act * 3.0, nxt)
    q = learner.q_values(torch.as_tensor(obs[:200], dtype=torch.float32),
                         torch.as_tensor(3.0 * act[:200], dtype=torch.float32)).detach()
    assert float((q - (-4.0)).abs().mean()) < 0.2


def test_value_bootstraps_a_constant_reward():
    # Reward 1 forever: Q -> sum_k discount^k r = 1 / (1 - discount) (minus a small entropy share).
    task = make_task("pendulum_swingup")
    learner = make_value_learner("sac_mbpo", {"min_updates": 500, "updates_per_step": 0, "discount": 0.8,
                                              "real_fraction": 1.0, "tau": 0.1, "init_temperature": 1e-4,
                                              "learning_rate": 3e-3, "hidden_units": 32},
                                 spec=task.spec, reward_fn=lambda o, a, n: torch.ones(o.shape[:-1]))
    learner.update(*_linear_data(500))
    v = learner.terminal_value(torch.as_tensor(_linear_data(50, seed=1)[0]).reshape(5, 10, 2))
    assert v.shape == (5, 10)
    assert float(v.mean()) == pytest.approx(5.0, rel=0.1)


def _trained_ensemble(task):
    model = EnsembleDynamics(task.spec.obs_dim, task.spec.act_dim,
                             EnsembleConfig(ensemble_size=2, num_elites=2, hidden_units=16, hidden_layers=2,
                                            max_epochs=3, num_particles=2),
                             angle_indices=task.spec.angle_indices)
    obs, act, nxt = _linear_data(300)
    model.fit(obs, act, nxt, seed=0)
    return model


def test_branched_rollouts_and_proposals_use_the_model():
    task = make_task("pendulum_sparse")
    model = _trained_ensemble(task)
    assert one_step_model(model) is not None and one_step_model(object()) is None
    learner = make_value_learner("sac_mbpo", {"min_updates": 5, "updates_per_step": 0.1, "rollout_starts": 64,
                                              "rollout_length_min": 3, "rollout_length_max": 3, "num_proposals": 6},
                                 spec=task.spec, reward_fn=task.reward)
    report = learner.update(*_linear_data(300), model=model, episode=4)
    assert report.rollout_length == 3 and report.model_transitions == 64 * 3 and report.updates == 30
    assert np.isfinite(report.critic_loss) and learner.version == 1
    plans = learner.proposals(model, horizon=7)(torch.zeros(2))
    assert plans.shape == (6, 7, 1)
    assert float(plans.abs().max()) <= task.spec.action_high[0] + 1e-6  # inside the torque limits
    # Branched rollouts stop at a predicted termination: one step per start, whatever the length.
    ends = make_value_learner("sac_mbpo", {"min_updates": 1, "rollout_starts": 32, "rollout_length_min": 4,
                                           "rollout_length_max": 4}, spec=task.spec, reward_fn=task.reward,
                              termination_fn=lambda o, a, n: torch.ones(o.shape[:-1], dtype=torch.bool))
    assert ends.update(*_linear_data(100), model=model, episode=3).model_transitions == 32


def test_loop_with_terminal_value_on_a_sparse_task():
    run = run_learning("pendulum_sparse", planner="icem", seed=0,
                       learning={"episodes": 3, "horizon": 4, "action_repeat": 4, "terminal_value": True},
                       task_config={"episode_length": 40},
                       planner_config={"population": 8, "min_population": 4, "num_elites": 2, "iterations": 1},
                       model_config={"hidden_units": 16, "max_epochs": 2, "ensemble_size": 2, "num_elites": 2,
                                     "num_particles": 2},
                       value_config={"min_updates": 10, "updates_per_step": 0, "hidden_units": 16,
                                     "num_proposals": 3})
    assert [r.env_steps for r in run.records] == [40, 80, 120]
    assert run.values is not None and run.values.trained and run.values.version == 2
    assert run.records[1].value_seconds > 0 and run.records[2].value_seconds == 0  # no update after the last
    assert run.planner.objective.terminal_value is not None and run.planner.proposal_fn is not None
    assert all(np.isfinite(r.env_return) for r in run.records)
    assert run.records[0].start_obs


def test_default_loop_has_no_value_head():
    run = run_learning("pendulum_swingup", planner="cem", model="oracle", seed=0,
                       learning={"episodes": 1, "horizon": 3}, task_config={"episode_length": 5},
                       planner_config={"population": 8, "num_elites": 2, "iterations": 1})
    assert run.values is None and run.planner.proposal_fn is None
    assert run.planner.objective.terminal_value is None and run.planner.objective.discount == 1.0


def test_actor_converts_exactly_to_an_exportable_policy(tmp_path):
    from mbrl_ros.export.onnx_policy import export_policy_onnx, load_policy_onnx

    task = make_task("cartpole_sparse")
    learner = make_value_learner("sac_mbpo", {"min_updates": 3, "hidden_units": 16}, spec=task.spec,
                                 reward_fn=task.reward)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(200, 4)) * [1.0, 3.0, 2.0, 5.0]
    learner.update(obs, rng.uniform(-15, 15, size=(200, 1)), obs + 0.01)
    net = learner.to_policy_network()
    probe = torch.as_tensor(rng.normal(size=(64, 4)) * [1.0, 3.0, 2.0, 5.0], dtype=torch.float32)
    with torch.no_grad():
        expected, _ = learner.policy(probe, deterministic=True)
    torch.testing.assert_close(net(probe), expected, atol=1e-5, rtol=1e-5)
    path = export_policy_onnx(net, tmp_path / "actor.onnx", task_spec=task.spec, metadata={"version": 1})
    policy = load_policy_onnx(path, expected_spec=task.spec)
    np.testing.assert_allclose(policy(probe.double().numpy()[0]), expected[0].double().numpy(), atol=1e-5)
