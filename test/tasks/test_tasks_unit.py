"""Known-answer tests for the built-in tasks, their physics and the task registry."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mbrl_ros.config import ConfigError
from mbrl_ros.registry import UnknownComponentError
from mbrl_ros.tasks import TASKS, GymTask, make_task, register_gym_task
from mbrl_ros.tasks.physics import MujocoPhysics

torch.set_num_threads(1)


def _reward(task, obs, action, next_obs):
    return task.reward_numpy(np.asarray(obs, float), np.asarray(action, float), np.asarray(next_obs, float))


# -- pendulum -------------------------------------------------------------
def test_pendulum_upright_is_best_and_hanging_is_tiny():
    task = make_task("pendulum_swingup")
    sigma, length = task.config.tip_sigma, task.length
    assert length == pytest.approx(0.5)
    upright = [np.pi, 0.0]
    assert _reward(task, upright, [0.0], upright) == pytest.approx(1.0, abs=1e-12)
    assert _reward(task, upright, [0.0], [-np.pi, 0.0]) == pytest.approx(1.0, abs=1e-12)
    assert _reward(task, upright, [0.0], [3 * np.pi, 0.0]) == pytest.approx(1.0, abs=1e-12)  # unwrapped
    hanging = [0.0, 0.0]
    assert _reward(task, hanging, [0.0], hanging) == pytest.approx(np.exp(-(2 * length) ** 2 / sigma ** 2))
    # Full torque costs the action weight, whatever the torque's units.
    limit = task.spec.action_high[0]
    assert (_reward(task, upright, [0.0], upright) - _reward(task, upright, [limit], upright)
            == pytest.approx(task.cost_weights["action"]))
    # The reward is bounded in [-action weight, 1] per step.
    thetas = torch.linspace(-4 * np.pi, 4 * np.pi, 101, dtype=torch.float64)
    obs = torch.stack([thetas, torch.zeros_like(thetas)], -1)
    r = task.reward(obs, torch.zeros(101, 1, dtype=torch.float64), obs)
    assert torch.all(r >= 0) and torch.all(r <= 1)


def test_pendulum_must_pump():
    task = make_task("pendulum_swingup")
    model = task.physics.model
    pole = model.body("pole").id
    gravity_torque = -model.opt.gravity[2] * model.body_mass[pole] * abs(model.body_ipos[pole][2])
    ratio = task.spec.action_high[0] / gravity_torque
    assert 0.4 <= ratio <= 0.6


def test_pendulum_rests_at_bottom_without_torque():
    task = make_task("pendulum_swingup")
    task.reset(seed=0)
    task.set_observation(np.zeros(2))
    for _ in range(20):
        obs, *_ = task.step([0.0])
    np.testing.assert_allclose(obs, 0.0, atol=1e-12)


def test_pendulum_tip_matches_mujoco():
    task = make_task("pendulum_swingup")
    task.reset(seed=0)
    pivot = task.physics.body_xpos("pole")
    for theta in np.linspace(-7, 7, 9):
        task.set_observation(np.array([theta, 0.0]))
        tip = task.tip_position(torch.tensor([theta, 0.0], dtype=torch.float64)).numpy()
        mj = task.physics.site_xpos("tip") - pivot
        np.testing.assert_allclose(tip, mj[[0, 2]], atol=1e-12)


def test_pendulum_starts_near_bottom():
    task = make_task("pendulum_swingup")
    for seed in range(5):
        obs, _ = task.reset(seed=seed)
        assert np.all(np.abs(obs) <= task.config.init_noise)


# -- cart-pole ------------------------------------------------------------
def test_cartpole_rewards():
    task = make_task("cartpole_swingup")
    length, sigma = task.pole_length, task.config.tip_sigma
    assert length == pytest.approx(0.6)
    upright = [0.0, np.pi, 0.0, 0.0]
    assert _reward(task, upright, [0.0], upright) == pytest.approx(1.0, abs=1e-12)
    hanging = [0.0, 0.0, 0.0, 0.0]
    assert _reward(task, hanging, [0.0], hanging) == pytest.approx(np.exp(-(2 * length) ** 2 / sigma ** 2))
    # Upright but 1 m off centre: only the horizontal offset counts.
    shifted = [1.0, np.pi, 0.0, 0.0]
    assert _reward(task, shifted, [0.0], shifted) == pytest.approx(np.exp(-1.0 / sigma ** 2))


def test_cartpole_tip_matches_mujoco():
    task = make_task("cartpole_swingup")
    task.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs = np.array([rng.uniform(-2, 2), rng.uniform(-7, 7), 0.0, 0.0])
        task.set_observation(obs)
        tip = task.tip_position(torch.from_numpy(obs)).numpy()
        hinge_at_zero = task.physics.body_xpos("pole") - [obs[0], 0.0, 0.0]
        mj = task.physics.site_xpos("tip") - hinge_at_zero
        np.testing.assert_allclose(tip, mj[[0, 2]], atol=1e-12)


def test_cartpole_rests_at_bottom_without_force():
    task = make_task("cartpole_swingup")
    task.reset(seed=0)
    task.set_observation(np.zeros(4))
    for _ in range(20):
        obs, *_ = task.step([0.0])
    np.testing.assert_allclose(obs, 0.0, atol=1e-12)


def test_cartpole_push_moves_cart_forward():
    task = make_task("cartpole_swingup")
    task.reset(seed=0)
    task.set_observation(np.zeros(4))
    obs, *_ = task.step([task.spec.action_high[0]])
    assert obs[0] > 0 and obs[2] > 0
    assert obs[1] < 0  # the hanging pole lags behind: tip moves towards -x relative to the cart


# -- reacher --------------------------------------------------------------
def test_reacher_targets_are_reachable_and_fixed():
    task = make_task("reacher")
    l1, l2 = task.link_lengths
    assert (l1, l2) == pytest.approx((0.12, 0.12))
    for seed in range(50):
        obs, _ = task.reset(seed=seed)
        radius = np.hypot(obs[4], obs[5])
        assert task.config.target_min_radius - 1e-12 <= radius <= task.config.target_max_radius + 1e-12
        assert abs(l1 - l2) <= radius <= l1 + l2
    target = obs[4:].copy()
    for _ in range(5):
        obs, *_ = task.step(np.array(task.spec.action_high))
    np.testing.assert_array_equal(obs[4:], target)
    np.testing.assert_allclose(task.physics.site_xpos("target")[:2], target)


def test_reacher_distance_is_zero_at_inverse_kinematics_solution():
    task = make_task("reacher")
    obs, _ = task.reset(seed=3)
    l1, l2 = task.link_lengths
    tx, ty = obs[4:]
    r2 = tx ** 2 + ty ** 2
    q2 = np.arccos((r2 - l1 ** 2 - l2 ** 2) / (2 * l1 * l2))
    q1 = np.arctan2(ty, tx) - np.arctan2(l2 * np.sin(q2), l1 + l2 * np.cos(q2))
    at_target = np.array([q1, q2, 0.0, 0.0, tx, ty])
    costs = task.cost_values(at_target, np.zeros(2), at_target)
    assert costs["distance"] == pytest.approx(0.0, abs=1e-5)
    task.set_observation(at_target)
    np.testing.assert_allclose(task.physics.site_xpos("fingertip")[:2], [tx, ty], atol=1e-12)


def test_reacher_fingertip_matches_mujoco():
    task = make_task("reacher")
    obs, _ = task.reset(seed=1)
    for _ in range(3):
        obs, *_ = task.step(np.array([0.05, -0.03]))
    tip = task.fingertip_position(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(tip, task.physics.site_xpos("fingertip")[:2], atol=1e-12)


def test_reacher_rejects_unreachable_targets():
    with pytest.raises(ConfigError, match="reachable"):
        make_task("reacher", target_max_radius=0.3)


# -- configs and registry -------------------------------------------------
def test_partial_cost_weights_keep_defaults():
    task = make_task("cartpole_swingup", {"cost_weights": {"action": 0.05}})
    assert task.cost_weights == {"tip_distance": 1.0, "action": 0.05}
    dotted = make_task("cartpole_swingup", {"cost_weights.action": 0.05})
    assert dotted.cost_weights == task.cost_weights


def test_overrides_reach_the_physics():
    task = make_task("cartpole_swingup", {"force_limit": 5.0}, force_limit=12.0, pole_mass=0.3)
    assert task.spec.action_high == (12.0,)
    assert task.physics.model.body("pole").mass[0] == pytest.approx(0.3)
    slow = make_task("pendulum_swingup", control_period=0.1, timestep=0.005)
    assert slow.frame_skip == 20 and slow.spec.control_period == pytest.approx(0.1)


@pytest.mark.parametrize("bad", [
    {"cost_weights": {"tip_distanse": 1.0}},
    {"cost_weights": {"action": -1.0}},
    {"force_limt": 3.0},
    {"force_limit": -3.0},
    {"control_period": 0.055},
    {"episode_length": "long"},
])
def test_bad_configs_are_rejected(bad):
    with pytest.raises(ConfigError):
        make_task("cartpole_swingup", bad)


def test_unknown_task_lists_registered_ones():
    with pytest.raises(UnknownComponentError, match="cartpole_swingup"):
        make_task("cartpoll")


# -- physics --------------------------------------------------------------
def test_physics_accessors_copy_and_state_round_trips():
    physics = MujocoPhysics("pendulum.xml")
    physics.set_joint_state("hinge", [0.3], [0.1])
    qpos = physics.joint_qpos("hinge")
    qpos[0] = 2.0
    assert physics.joint_qpos("hinge")[0] == 0.3
    tip = physics.site_xpos("tip")
    tip[:] = 0.0
    assert np.linalg.norm(physics.site_xpos("tip")) == pytest.approx(0.5)
    state = physics.get_state()
    physics.step([1.0], n_substeps=3)
    assert physics.time == pytest.approx(0.03)
    moved = physics.get_state()
    physics.set_state(state)
    np.testing.assert_array_equal(physics.get_state(), state)
    physics.step([1.0], n_substeps=3)
    np.testing.assert_array_equal(physics.get_state(), moved)
    with pytest.raises(KeyError, match="hinge"):
        physics.joint_qpos("elbow")
    with pytest.raises(ValueError):
        physics.step([1.0, 2.0])
    physics.close()


def test_physics_rollout_leaves_live_data_alone():
    physics = MujocoPhysics("cartpole.xml")
    physics.set_joint_state("hinge", [0.5], [0.0])
    before = physics.get_state()
    states = physics.rollout(physics.state_from_qpos_qvel([0.0, 1.0], [0.0, 0.0]), np.ones((2, 4, 1)))
    assert states.shape == (2, 4, physics.state_size)
    np.testing.assert_array_equal(physics.get_state(), before)
    qpos, qvel = physics.split_states(states)
    assert qpos.shape == (2, 4, 2) and qvel.shape == (2, 4, 2)


def test_missing_mjcf_is_reported():
    with pytest.raises(FileNotFoundError):
        MujocoPhysics("no_such_robot.xml")


# -- Gymnasium-style tasks ------------------------------------------------
class _Box:
    def __init__(self, low, high):
        self.low, self.high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)


class _DoubleIntegrator:
    dt = 0.1
    action_space = _Box([-1.0], [1.0])

    def reset(self, seed=None):
        self.state = np.random.default_rng(seed).uniform(-1, 1, size=2)
        return self.state.copy(), {"note": "start"}

    def step(self, action):
        x, v = self.state
        v = v + self.dt * float(action[0])
        self.state = np.array([x + self.dt * v, v])
        return self.state.copy(), -float(self.state @ self.state), False, abs(x) > 5, {}


@pytest.fixture
def gym_registry():
    """Registers test tasks and removes them again so other tests see the built-ins only."""
    names = []

    def register(name, *args, **kwargs):
        names.append(name)
        register_gym_task(name, *args, **kwargs)

    yield register
    for name in names:
        if name in TASKS:
            TASKS.unregister(name)


def test_register_gym_task_with_reward(gym_registry):
    gym_registry("test_double_integrator", _DoubleIntegrator,
                 lambda o, a, n: -(n ** 2).sum(-1),
                 control_period=0.1, episode_length=4, observation_names=("x", "v"))
    task = make_task("test_double_integrator")
    assert isinstance(task, GymTask)
    assert task.spec.action_low == (-1.0,) and task.spec.obs_dim == 2
    assert task.cost_weights == {"reward": 1.0}
    obs, info = task.reset(seed=0)
    assert info == {"note": "start"}
    next_obs, reward, terminated, truncated, info = task.step([3.0])  # clipped to 1
    assert reward == pytest.approx(-float(next_obs @ next_obs))
    assert reward == pytest.approx(info["env_reward"])
    assert next_obs[1] == pytest.approx(obs[1] + 0.1)
    for _ in range(3):
        *_, truncated, _ = task.step([0.0])
    assert truncated
    longer = make_task("test_double_integrator", episode_length=10)
    assert longer.spec.episode_length == 10


def test_register_gym_task_with_named_costs(gym_registry):
    def costs(obs, action, next_obs):
        return {"position": next_obs[..., 0] ** 2, "effort": (action ** 2).sum(-1)}

    gym_registry("test_double_integrator_terms", _DoubleIntegrator, costs, control_period=0.1,
                 episode_length=10, cost_weights={"position": 1.0, "effort": 0.1})
    task = make_task("test_double_integrator_terms", {"cost_weights": {"effort": 0.5}})
    assert task.cost_weights == {"position": 1.0, "effort": 0.5}
    assert task.spec.observation_names == ("obs_0", "obs_1")
    task.reset(seed=1)
    next_obs, reward, *_ = task.step([0.4])
    assert reward == pytest.approx(-(next_obs[0] ** 2 + 0.5 * 0.16))
    with pytest.raises(ConfigError, match="unknown cost"):
        make_task("test_double_integrator_terms", {"cost_weights": {"speed": 1.0}})


def test_register_gym_task_with_cost_terms_has_a_casadi_form(gym_registry):
    import casadi

    from mbrl_ros.planning.nmpc import casadi_reward_of
    from mbrl_ros.tasks.costs import CostTerm

    terms = [CostTerm("position", lambda t: t.next["x"] ** 2, weight=1.0),
             CostTerm("effort", lambda t: t.ops.sumsq(t.action), weight=0.01)]
    gym_registry("test_double_integrator_costs", _DoubleIntegrator, terms, control_period=0.1,
                 episode_length=10, observation_names=("x", "v"))
    task = make_task("test_double_integrator_costs", {"cost_weights": {"effort": 0.5}})
    assert task.cost_weights == {"position": 1.0, "effort": 0.5}
    task.reset(seed=1)
    next_obs, reward, *_ = task.step([0.4])
    assert reward == pytest.approx(-(next_obs[0] ** 2 + 0.5 * 0.16))
    o, a, x = casadi.SX.sym("o", 2), casadi.SX.sym("a", 1), casadi.SX.sym("x", 2)
    value = casadi.Function("r", [o, a, x], [casadi_reward_of(task.reward)(o, a, x)])([0, 0], [0.4], next_obs)
    assert float(value) == pytest.approx(reward)
    with pytest.raises(ConfigError, match="unknown cost"):
        make_task("test_double_integrator_costs", {"cost_weights": {"speed": 1.0}})


def test_gym_task_needs_bounds():
    class NoSpace:
        def reset(self, seed=None):
            return np.zeros(1), {}

        def step(self, action):
            return np.zeros(1), 0.0, False, False, {}

    with pytest.raises(TypeError, match="action_low"):
        GymTask("nospace", NoSpace(), lambda o, a, n: o[..., 0], control_period=0.1, episode_length=5)
    task = GymTask("nospace", NoSpace(), lambda o, a, n: o[..., 0], control_period=0.1, episode_length=5,
                   action_low=[-2.0], action_high=[2.0])
    assert task.spec.obs_dim == 1 and task.spec.action_high == (2.0,)


def test_task_spec_nominal_action_defaults_to_mid_range_and_is_validated():
    from mbrl_ros.tasks.base import TaskSpec

    base = dict(name="t", observation_names=("x",), action_names=("a", "b"), action_low=(0.0, -2.0),
                action_high=(1.0, 2.0), control_period=0.1, episode_length=10)
    np.testing.assert_array_equal(TaskSpec(**base).nominal(), [0.5, 0.0])
    np.testing.assert_array_equal(TaskSpec(**base, nominal_action=(0.25, 2.0)).nominal(), [0.25, 2.0])
    with pytest.raises(ValueError, match="one per action"):
        TaskSpec(**base, nominal_action=(0.25,))
    with pytest.raises(ValueError, match="within the action bounds"):
        TaskSpec(**base, nominal_action=(1.5, 0.0))
    assert make_task("cartpole_swingup").spec.nominal_action is None


def test_termination_charge_counts_the_steps_left():
    from mbrl_ros.tasks.base import TaskSpec

    base = dict(name="t", observation_names=("x",), action_names=("a",), action_low=(-1.0,),
                action_high=(1.0,), control_period=0.1, episode_length=10)
    assert TaskSpec(**base).termination_charge(3) == 0.0  # the default: nothing after a termination
    charged = TaskSpec(**base, termination_reward=-2.5)
    assert charged.termination_charge(3) == -2.5 * 7 and charged.termination_charge(10) == 0.0
    with pytest.raises(ValueError, match="termination_reward must be finite"):
        TaskSpec(**base, termination_reward=float("inf"))
    for name in ("cartpole_swingup", "pendulum_swingup", "reacher", "quadrotor_waypoints"):
        assert make_task(name).termination_fn is None  # never terminate: the charge never applies
    assert make_task("cartpole_swingup", termination_reward=-1.0).spec.termination_reward == -1.0


def test_register_gym_task_termination_reward_is_registered_and_overridable(gym_registry):
    gym_registry("test_charged_integrator", _DoubleIntegrator, lambda o, a, n: -(n ** 2).sum(-1),
                 control_period=0.1, episode_length=4, termination_fn=lambda o, a, n: n[..., 0].abs() > 5,
                 termination_reward=-30.0)
    assert make_task("test_charged_integrator").spec.termination_reward == -30.0
    assert make_task("test_charged_integrator", termination_reward=-40.0).spec.termination_reward == -40.0
    assert make_task("test_charged_integrator", episode_length=8).spec.termination_reward == -30.0


def test_safe_action_is_the_declared_nominal_action_else_zero():
    from mbrl_ros.tasks import make_task

    quad = make_task("quadrotor_hover")
    np.testing.assert_allclose(quad.spec.safe_action(), quad.hover_action)
    np.testing.assert_array_equal(make_task("cartpole_swingup").spec.safe_action(), [0.0])
