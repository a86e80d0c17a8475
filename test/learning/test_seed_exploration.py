"""Seed episodes that explore around the task's nominal action (learning.seed_action_std)."""
import numpy as np
import pytest

from mbrl_ros.learning import run_learning

TINY_MODEL = {"hidden_units": 8, "hidden_layers": 1, "max_epochs": 1}


def test_seed_actions_are_gaussian_around_the_hover_thrust():
    # One episode in all: the seed episode only (no training, no planning).
    run = run_learning("quadrotor_hover", seed=1, model_config=TINY_MODEL,
                       learning={"episodes": 1, "seed_episodes": 1, "seed_action_std": 0.1})
    spec = run.task.spec
    _, actions, _ = run.data.arrays()
    half = (np.asarray(spec.action_high) - np.asarray(spec.action_low)) / 2
    assert actions.shape == (spec.episode_length, 4)
    # 250 draws per rotor: the sample mean is within 4 standard errors, the std within 15%.
    np.testing.assert_allclose(actions.mean(0), spec.nominal_action, atol=4 * 0.1 * half[0] / np.sqrt(250))
    np.testing.assert_allclose(actions.std(0), 0.1 * half, rtol=0.15)
    # The planner was given the same nominal action.
    np.testing.assert_allclose(run.planner.nominal.numpy(), spec.nominal_action, rtol=1e-6)


def test_uniform_seed_actions_by_default():
    run = run_learning("quadrotor_hover", seed=1, model_config=TINY_MODEL,
                       learning={"episodes": 1, "seed_episodes": 1})
    spec = run.task.spec
    _, actions, _ = run.data.arrays()
    # Uniform on [0, f_max]: std f_max / sqrt(12), far wider than the Gaussian above.
    np.testing.assert_allclose(actions.std(0), np.asarray(spec.action_high) / np.sqrt(12), rtol=0.15)


def test_a_crash_ends_the_seed_episode_early():
    run = run_learning("quadrotor_hover", seed=0, model_config=TINY_MODEL,
                       task_config={"crash_distance": 0.5},
                       learning={"episodes": 1, "seed_episodes": 1, "seed_action_std": 0.5})
    obs, _, next_obs = run.data.arrays()
    assert 1 <= len(obs) < run.task.spec.episode_length
    assert np.linalg.norm(next_obs[-1, :3] - np.asarray(run.task.config.hover_point)) > 0.5
    assert np.all(np.linalg.norm(next_obs[:-1, :3] - np.asarray(run.task.config.hover_point), axis=1) <= 0.5)
    assert run.records[0].env_steps == len(obs)


def test_seed_action_std_is_validated():
    from mbrl_ros.config import ConfigError

    with pytest.raises(ConfigError, match="seed_action_std"):
        run_learning("quadrotor_hover", learning={"episodes": 1, "seed_action_std": -0.1})


def test_quadrotor_hover_config_resolves_to_valid_settings():
    from mbrl_ros.config import from_dict
    from mbrl_ros.learning.loop import LearningConfig
    from mbrl_ros.learning.run_config import resolve_run_parameters
    from mbrl_ros.models.ensemble import EnsembleConfig
    from mbrl_ros.planning import PLANNERS
    from mbrl_ros.tasks import make_task

    params = resolve_run_parameters("quadrotor_hover")
    assert (params.planner, params.model) == ("icem", "pets_ensemble")
    learning = from_dict(LearningConfig, params.section("learning"))
    assert learning.seed_action_std > 0 and learning.plan_deadline == 0.0 and learning.threads == 1
    planner_config = from_dict(PLANNERS.get("icem").Config, params.section("icem"))
    assert planner_config.init_std == pytest.approx(0.2)
    from_dict(EnsembleConfig, params.section("pets_ensemble"))
    assert make_task("quadrotor_hover", params.section("quadrotor_hover")).config.crash_distance == pytest.approx(1.0)
