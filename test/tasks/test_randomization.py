"""Domain randomization and stand-in profiles: seeded, in range, applied to the named physics."""
import numpy as np
import pytest

from mbrl_ros.tasks import make_task
from mbrl_ros.tasks.randomization import (
    ActuatorDynamics,
    ProfileError,
    RandomizedTask,
    load_profile,
    with_profile,
)

TASKS = ["cartpole_swingup", "quadrotor_hover", "pendulum_swingup"]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("profile", ["randomized", "stand_in"])
def test_shipped_profiles_load_and_sample_within_their_ranges(task, profile):
    prof = load_profile(profile, task, seed=3)
    assert prof.parameters
    randomized = RandomizedTask(make_task(task), prof)
    draws = [randomized.sample_for(seed) for seed in range(50)]
    for p in prof.parameters:
        values = np.array([d[p.name] for d in draws])
        assert np.all(values >= p.low) and np.all(values <= p.high), p
        if p.low < p.high:
            assert values.std() > 0.1 * (p.high - p.low) / np.sqrt(12)   # really sampled, not fixed
        else:
            assert np.all(values == p.low)


def test_sampling_is_seeded_per_reset_seed_and_independent_of_history():
    a = with_profile(make_task("cartpole_swingup"), "randomized", seed=1)
    b = with_profile(make_task("cartpole_swingup"), "randomized", seed=1)
    c = with_profile(make_task("cartpole_swingup"), "randomized", seed=2)
    a.reset(seed=10)
    a.reset(seed=11)
    b.reset(seed=11)
    assert a.samples[-1] == b.samples[-1]                          # same seed, same physics, whatever came first
    assert a.samples[0] != a.samples[1]
    c.reset(seed=11)
    assert c.samples[-1] != b.samples[-1]                          # another profile seed, other physics
    obs_a, _ = a.reset(seed=12)
    obs_b, _ = b.reset(seed=12)
    np.testing.assert_array_equal(obs_a, obs_b)                    # noise seeded too


def test_values_reach_the_named_mujoco_fields_relative_to_the_nominal_model():
    task = with_profile(make_task("cartpole_swingup"), "randomized", seed=0)
    model = task.physics.model
    nominal_mass = model.body_mass.copy()
    nominal_inertia = model.body_inertia.copy()
    nominal_damping = model.dof_damping.copy()
    for seed in (1, 2):  # twice: factors apply to the nominal values, never compound
        _, info = task.reset(seed=seed)
        v = info["physics"]
        assert model.body_mass[2] == pytest.approx(nominal_mass[2] * v["body_mass.pole"])
        assert model.body_mass[1] == pytest.approx(nominal_mass[1] * v["body_mass.cart"])
        np.testing.assert_allclose(model.body_inertia[2],
                                   nominal_inertia[2] * v["body_mass.pole"] * v["body_inertia.pole"])
        assert model.dof_damping[0] == pytest.approx(nominal_damping[0] * v["joint_damping.slider"])
        assert model.dof_frictionloss[1] == pytest.approx(v["joint_friction.hinge"])
        assert model.actuator_gainprm[0, 0] == pytest.approx(v["actuator_gain.force"])
        delay = v["actuation_delay"] + v["control_latency"]
        assert task.actuation.delay_steps == round(delay / 0.01)


def test_stand_in_is_the_issue_s_robot():
    cart = with_profile(make_task("cartpole_swingup"), "stand_in")
    cart.reset(seed=0)
    assert cart.physics.model.body_mass[2] == pytest.approx(1.3 * 0.2)
    assert cart.actuation.delay_steps == 2 and cart.actuation.alpha == 1.0       # 20 ms at 10 ms steps
    quad = with_profile(make_task("quadrotor_hover"), "stand_in")
    quad.reset(seed=0)
    np.testing.assert_allclose(quad.physics.model.actuator_gainprm[:, 0], 0.9)
    assert quad.actuation.delay_steps == 0 and quad.actuation.alpha == pytest.approx(1 - np.exp(-0.005 / 0.03))


def test_a_profile_keeps_the_task_s_termination_and_crash_charge():
    # Task.termination_fn is a class attribute: the wrapper's __getattr__ would never forward it.
    quad = with_profile(make_task("quadrotor_hover", crash_distance=1.0), "stand_in")
    assert quad.termination_fn is not None and quad.termination_fn == quad.inner.termination_fn
    assert quad.spec.termination_reward == -5.0
    assert with_profile(make_task("cartpole_swingup"), "stand_in").termination_fn is None


def test_delay_holds_the_previous_command_and_lag_filters_it():
    delay = ActuatorDynamics(np.zeros(1), delay_steps=2, lag=0.0, timestep=0.01)
    assert [float(delay(np.ones(1))[0]) for _ in range(4)] == [0.0, 0.0, 1.0, 1.0]
    lag = ActuatorDynamics(np.zeros(1), delay_steps=0, lag=0.01, timestep=0.01)
    first, second = float(lag(np.ones(1))[0]), float(lag(np.ones(1))[0])
    assert first == pytest.approx(1 - np.exp(-1)) and second == pytest.approx(1 - np.exp(-2))
    lag.reset()
    assert float(lag(np.ones(1))[0]) == pytest.approx(first)


def test_stand_in_dynamics_differ_from_sim_and_noise_spares_the_true_state():
    sim = make_task("cartpole_swingup")
    real = with_profile(make_task("cartpole_swingup"), "stand_in")
    obs_sim, _ = sim.reset(seed=4)
    obs_real, _ = real.reset(seed=4)
    assert np.allclose(real.true_observation, obs_sim)             # same start state
    assert not np.allclose(obs_real, obs_sim)                      # measured with noise
    for _ in range(5):
        obs_sim, *_ = sim.step(np.array([10.0]))
        obs_real, *_ = real.step(np.array([10.0]))
    assert abs(real.true_observation[2] - obs_sim[2]) > 0.01       # delayed force: the cart lags


def test_bad_profiles_are_refused_with_the_reason(tmp_path):
    def write(text):
        path = tmp_path / "p.yaml"
        path.write_text(text)
        return path

    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "missing.yaml", "cartpole_swingup")
    with pytest.raises(ProfileError, match="no stand_in physics profile for task 'reacher'"):
        load_profile("stand_in", "reacher")
    with pytest.raises(ProfileError, match="is for task 'pendulum_swingup'"):
        load_profile(write("task: pendulum_swingup\nparameters: {}\n"), "cartpole_swingup")
    with pytest.raises(ProfileError, match="unknown parameter 'body_colour.pole'"):
        load_profile(write("task: cartpole_swingup\nparameters: {body_colour.pole: {scale: 1}}\n"), "cartpole_swingup")
    with pytest.raises(ProfileError, match="low <= high"):
        load_profile(write("task: cartpole_swingup\nparameters: {body_mass.pole: {scale: [2, 1]}}\n"),
                     "cartpole_swingup")
    with pytest.raises(ProfileError, match="takes a value"):
        load_profile(write("task: cartpole_swingup\nparameters: {actuation_delay: {scale: 1}}\n"), "cartpole_swingup")
    prof = load_profile(write("task: cartpole_swingup\nparameters: {body_mass.mast: {scale: 1.1}}\n"),
                        "cartpole_swingup")
    with pytest.raises(ProfileError, match="no body named 'mast'; bodys: world, cart, pole"):
        RandomizedTask(make_task("cartpole_swingup"), prof)
