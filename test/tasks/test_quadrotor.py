"""Known-answer tests for the quadrotor tasks (physics, mixer, observation, costs, waypoints).

The conformance suite covers both tasks in their default action mode; the
``thrust_torques`` mode is checked here for the same rollout and reward identities.
"""
from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from mbrl_ros.config import ConfigError
from mbrl_ros.tasks import make_task
from mbrl_ros.tasks.quadrotor import quat_from_euler

torch.set_num_threads(1)

MODES = ("rotor_thrusts", "thrust_torques")


def _level_obs(position, velocity=(0.0, 0.0, 0.0), rates=(0.0, 0.0, 0.0), quat=(1.0, 0.0, 0.0, 0.0)):
    return np.concatenate([position, quat, velocity, rates]).astype(np.float64)


def _costs(task, obs, action, next_obs):
    return task.cost_values(np.asarray(obs, float), np.asarray(action, float), np.asarray(next_obs, float))


# -- physical parameters ---------------------------------------------------
def test_crazyflie_parameters():
    task = make_task("quadrotor_hover")
    model = task.physics.model
    body = model.body("quadrotor").id
    assert task.mass == pytest.approx(0.027)
    np.testing.assert_allclose(model.body_inertia[body], [1.4e-5, 1.4e-5, 2.17e-5])
    for rotor in ("rotor1", "rotor2", "rotor3", "rotor4"):
        assert np.linalg.norm(task.physics.site_local_pos(rotor)[:2]) == pytest.approx(0.046)
    assert task.hover_thrust == pytest.approx(0.027 * 9.81 / 4)
    assert 4 * task.max_rotor_thrust / (task.mass * task.gravity) == pytest.approx(2.0)
    assert task.spec.control_period == pytest.approx(0.02)
    assert task.spec.episode_length == 250
    assert task.spec.angle_indices == ()


@pytest.mark.parametrize("mode", MODES)
def test_hover_action_is_mid_range(mode):
    task = make_task("quadrotor_hover", action_mode=mode)
    mid = (np.array(task.spec.action_low) + np.array(task.spec.action_high)) / 2
    np.testing.assert_allclose(task.hover_action, mid, atol=1e-15)


def test_config_changes_the_physics():
    task = make_task("quadrotor_hover", mass=0.035, arm_length=0.06, thrust_to_weight=2.5)
    assert task.mass == pytest.approx(0.035)
    assert np.linalg.norm(task.physics.site_local_pos("rotor1")[:2]) == pytest.approx(0.06)
    assert task.max_rotor_thrust == pytest.approx(2.5 * 0.035 * 9.81 / 4)
    np.testing.assert_allclose(task.spec.action_high, [task.max_rotor_thrust] * 4)


# -- hover and free fall ------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_hover_thrust_holds_still_for_one_second(mode):
    task = make_task("quadrotor_hover", action_mode=mode)
    task.reset(seed=0)
    start = _level_obs(task.config.hover_point)
    task.set_observation(start)
    for _ in range(50):  # 1 s
        obs, reward, *_ , info = task.step(task.hover_action)
        np.testing.assert_allclose(info["rotor_thrusts"], [task.hover_thrust] * 4, rtol=1e-12)
    np.testing.assert_allclose(obs, start, atol=1e-9)
    assert reward == pytest.approx(0.0, abs=1e-12)  # at the target, level, at rest, hover thrust


def test_free_fall_follows_gravity():
    task = make_task("quadrotor_hover")
    task.reset(seed=0)
    z0, dt, g = 5.0, task.physics.timestep, task.gravity
    task.set_observation(_level_obs([0.3, -0.2, z0]))
    n_steps = 50  # 1 s
    for _ in range(n_steps):
        obs, *_ = task.step(np.zeros(4))
    t = n_steps * task.frame_skip * dt
    # MuJoCo's integrator updates the velocity first, then the position with the new velocity:
    # z_n = z0 - g dt^2 n (n + 1) / 2, which is z0 - g t^2 / 2 - g dt t / 2.
    n = n_steps * task.frame_skip
    assert obs[2] == pytest.approx(z0 - g * dt ** 2 * n * (n + 1) / 2, abs=1e-9)
    assert abs(obs[2] - (z0 - g * t ** 2 / 2)) <= g * dt * t / 2 + 1e-9
    assert obs[9] == pytest.approx(-g * t, abs=1e-9)
    np.testing.assert_allclose(obs[[0, 1, 7, 8]], [0.3, -0.2, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(obs[3:7], [1, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(obs[10:13], 0.0, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_nominal_action_is_the_hover_action(mode):
    task = make_task("quadrotor_hover", action_mode=mode, thrust_to_weight=3.0)
    np.testing.assert_allclose(task.spec.nominal_action, task.hover_action, rtol=1e-15)
    np.testing.assert_allclose(task.spec.nominal(), task.hover_action, rtol=1e-15)
    if mode == "rotor_thrusts":  # at thrust-to-weight 3 hover is a third of the range, not the middle
        np.testing.assert_allclose(task.spec.nominal(), [task.max_rotor_thrust / 3] * 4, rtol=1e-12)


def test_crash_distance_ends_a_free_fall():
    task = make_task("quadrotor_hover", crash_distance=1.0)
    task.reset(seed=0)
    task.set_observation(_level_obs(task.config.hover_point))
    dt, g, k = task.physics.timestep, task.gravity, task.frame_skip
    # Free fall drop after n physics steps: g dt^2 n (n + 1) / 2 (see test_free_fall_follows_gravity).
    expected = next(s for s in range(1, 100) if g * dt ** 2 * (s * k) * (s * k + 1) / 2 > 1.0)
    drops = []
    for step in range(1, expected + 1):
        obs, _, terminated, truncated, info = task.step(np.zeros(4))
        drops.append(task.config.hover_point[2] - obs[2])
        assert terminated == (step == expected) and info["crashed"] == terminated and not truncated
    assert drops[-2] <= 1.0 < drops[-1]


def test_a_crash_is_predicted_by_termination_fn_and_charged_per_step_left():
    task = make_task("quadrotor_hover", crash_distance=1.0)
    assert task.spec.termination_reward == -5.0 and task.config.bounded_cost_at_fence() == pytest.approx(1.21)
    task.reset(seed=0)
    task.set_observation(_level_obs(task.config.hover_point))
    obs = task._obs.copy()  # noqa: SLF001 - the start of the transition
    steps = 0
    while True:
        nxt, _, terminated, _, info = task.step(np.zeros(4))
        steps += 1
        predicted = task.termination_fn(torch.as_tensor(obs), torch.zeros(4, dtype=torch.float64),
                                        torch.as_tensor(nxt))
        assert bool(predicted) == terminated == info["crashed"]
        obs = nxt
        if terminated:
            break
    assert task.spec.termination_charge(steps) == -5.0 * (task.spec.episode_length - steps)
    # The charge per step beats the worst bounded cost inside the fence; a config that does not is refused.
    with pytest.raises(ConfigError, match="termination_reward <= -9.21"):
        make_task("quadrotor_hover", crash_distance=3.0)
    assert make_task("quadrotor_hover", crash_distance=3.0, termination_reward=-20.0).spec.termination_reward == -20.0
    assert make_task("quadrotor_waypoints", crash_distance=1.0).termination_fn is not None


def test_no_crash_distance_never_terminates():
    task = make_task("quadrotor_hover")
    task.reset(seed=0)
    for _ in range(task.spec.episode_length):
        _, _, terminated, truncated, info = task.step(np.zeros(4))
        assert not terminated and "crashed" not in info
    assert truncated


# -- mixer -----------------------------------------------------------------------
def test_mixer_collective_thrust_and_yaw_patterns():
    task = make_task("quadrotor_hover", action_mode="thrust_torques")
    thrust = task.mass * task.gravity
    np.testing.assert_allclose(task.rotor_thrusts([thrust, 0, 0, 0]), [thrust / 4] * 4, rtol=1e-12)
    # Pure yaw on top of hover: rotors 1 and 3 (+yaw) speed up, 2 and 4 slow down, equally.
    tau = 1e-4
    delta = task.rotor_thrusts([thrust, 0, 0, tau]) - thrust / 4
    step = tau / (4 * task.config.yaw_torque_ratio)
    np.testing.assert_allclose(delta, [step, -step, step, -step], rtol=1e-9)
    # Pure roll: the left rotors (3, 4 at +y) push harder; pure pitch: the back rotors (2, 3).
    roll = task.rotor_thrusts([thrust, 1e-4, 0, 0]) - thrust / 4
    assert roll[2] > 0 and roll[3] > 0 and roll[0] < 0 and roll[1] < 0
    pitch = task.rotor_thrusts([thrust, 0, 1e-4, 0]) - thrust / 4
    assert pitch[1] > 0 and pitch[2] > 0 and pitch[0] < 0 and pitch[3] < 0
    # Rotor limits: an out-of-reach wrench saturates the rotors.
    saturated = task.rotor_thrusts([0.0, task.spec.action_high[1], 0, 0])
    assert saturated.min() == 0.0 and saturated.max() <= task.max_rotor_thrust


def test_mixer_matches_mujoco_wrench():
    task = make_task("quadrotor_hover")
    task.reset(seed=0)
    task.set_observation(_level_obs([0.0, 0.0, 1.0]))
    thrusts = np.array([0.02, 0.05, 0.11, 0.07])
    physics = task.physics
    physics.data.ctrl[:] = thrusts
    mujoco.mj_forward(physics.model, physics.data)
    # Level attitude: the free joint's force is along world z; its torque dofs are in the body frame.
    wrench = np.concatenate([[physics.data.qfrc_actuator[2]], physics.data.qfrc_actuator[3:6]])
    np.testing.assert_allclose(task.mixer @ thrusts, wrench, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(physics.data.qfrc_actuator[:2], 0.0, atol=1e-15)


def test_body_torque_spins_the_right_way():
    task = make_task("quadrotor_hover", action_mode="thrust_torques")
    task.reset(seed=0)
    weight = task.mass * task.gravity
    inertia = task.config.inertia
    for axis in range(3):
        task.set_observation(_level_obs([0.0, 0.0, 1.0]))
        tau = np.zeros(3)
        tau[axis] = 1e-4
        obs, *_ = task.step(np.concatenate([[weight], tau]))
        rates = obs[10:13]
        # Angular rate after 0.02 s is about tau / I (still nearly level, gyroscopic terms vanish).
        assert rates[axis] == pytest.approx(1e-4 / inertia[axis] * 0.02, rel=1e-3)
        assert np.abs(np.delete(rates, axis)).max() < 1e-6


# -- observation <-> physics state ------------------------------------------------
def test_observation_state_round_trip():
    task = make_task("quadrotor_waypoints")
    task.reset(seed=0)
    rng = np.random.default_rng(3)
    for _ in range(5):
        quat = rng.normal(size=4)
        quat /= np.linalg.norm(quat)
        quat *= np.sign(quat[0])
        obs = np.concatenate([rng.uniform(-1, 1, 3), quat, rng.uniform(-2, 2, 6), rng.uniform(-1, 1, 3)])
        qpos, qvel = task.physics.split_states(task.physics_state_from_obs(obs))
        np.testing.assert_array_equal(np.concatenate([qpos, qvel]), obs[:13])
        task.set_observation(obs)
        np.testing.assert_array_equal(task.physics.qpos, obs[:7])
        np.testing.assert_array_equal(task.physics.qvel, obs[7:13])
        np.testing.assert_array_equal(task.physics.data.mocap_pos[0], obs[13:])  # the marker follows
        rolled = task.rollout(obs, np.zeros((1, 1, 4)))
        np.testing.assert_array_equal(rolled[0, 0, 13:], obs[13:])


def test_free_joint_velocity_frames():
    """qvel is [linear velocity in the world frame, angular velocity in the body frame]."""
    task = make_task("quadrotor_hover")
    task.reset(seed=0)
    yawed = quat_from_euler(0.0, 0.0, np.pi / 2)  # body x axis points along world y
    task.set_observation(_level_obs([0.0, 0.0, 1.0], velocity=(1.0, 0.0, 0.0), rates=(1.0, 0.0, 0.0),
                                    quat=yawed))
    obs, *_ = task.step(task.hover_action)
    # Moved 0.02 m along world x (the slowly tilting thrust adds ~2e-5 m).
    assert obs[0] == pytest.approx(0.02, abs=1e-4) and abs(obs[1]) < 1e-9
    # A roll rate about the body x axis (= world y here) turns about world y, and a rotation about a
    # principal axis keeps its body-frame rate.
    np.testing.assert_allclose(obs[10:13], [1.0, 0.0, 0.0], atol=1e-9)
    rotation = np.zeros(9)
    mujoco.mju_quat2Mat(rotation, obs[3:7])
    body_z = rotation.reshape(3, 3)[:, 2]
    assert body_z[0] == pytest.approx(np.sin(0.02), abs=1e-9)  # rotation about world +y tips z to +x
    assert abs(body_z[1]) < 1e-9


def test_quaternion_stays_canonical_while_spinning():
    task = make_task("quadrotor_hover")
    task.reset(seed=0)
    start = _level_obs([0.0, 0.0, 1.0], rates=(0.0, 0.0, 40.0))  # half a turn in about 0.08 s
    task.set_observation(start)
    actions = np.tile(task.hover_action, (1, 20, 1))
    predicted = task.rollout(start, actions)
    stepped = np.array([task.step(task.hover_action)[0] for _ in range(20)])
    assert np.all(stepped[:, 3] >= 0) and np.all(predicted[..., 3] >= 0)
    # The raw yaw passed 180 degrees, so MuJoCo's own quaternion has qw < 0 by now.
    assert task.physics.qpos[3] < 0
    np.testing.assert_allclose(predicted[0], stepped, atol=1e-9, rtol=0)
    # A flipped quaternion is the same state: setting -q gives the same future.
    flipped = stepped[-1].copy()
    flipped[3:7] *= -1
    a = task.rollout(stepped[-1], actions[:, :5])
    b = task.rollout(flipped, actions[:, :5])
    np.testing.assert_array_equal(a, b)


# -- costs ---------------------------------------------------------------------------
def test_cost_terms_known_answers():
    task = make_task("quadrotor_hover")
    hover = task.hover_action
    at_target = _level_obs(task.config.hover_point)
    assert all(v == pytest.approx(0.0, abs=1e-15) for v in _costs(task, at_target, hover, at_target).values())
    off = _level_obs(np.array(task.config.hover_point) + [0.0, 0.6, -0.8], velocity=(1.0, 2.0, 2.0),
                     rates=(0.0, 3.0, 4.0), quat=quat_from_euler(np.pi / 2, 0.0, 0.7))
    costs = _costs(task, at_target, np.zeros(4), off)
    assert costs["position"] == pytest.approx(1.0)
    assert costs["velocity"] == pytest.approx(9.0)
    assert costs["angular_velocity"] == pytest.approx(25.0)
    assert costs["attitude"] == pytest.approx(1.0)  # on its side (yaw does not count)
    assert costs["action"] == pytest.approx(4 * (task.hover_thrust / task.max_rotor_thrust) ** 2)
    upside_down = _level_obs(task.config.hover_point, quat=quat_from_euler(np.pi, 0.0, 0.0))
    assert _costs(task, at_target, hover, upside_down)["attitude"] == pytest.approx(2.0)
    # A non-unit quaternion (as a learned model may predict) reads as the same tilt.
    scaled = off.copy()
    scaled[3:7] *= 1.1
    assert _costs(task, at_target, hover, scaled)["attitude"] == pytest.approx(1.0)


def test_action_cost_is_the_same_in_both_modes():
    rotors = make_task("quadrotor_hover")
    wrench = make_task("quadrotor_hover", action_mode="thrust_torques")
    obs = _level_obs([0.0, 0.0, 1.0])
    thrusts = np.array([0.05, 0.08, 0.06, 0.07])
    as_wrench = wrench.mixer @ thrusts
    np.testing.assert_allclose(wrench.rotor_thrusts(as_wrench), thrusts, rtol=1e-12)
    assert (_costs(wrench, obs, as_wrench, obs)["action"]
            == pytest.approx(_costs(rotors, obs, thrusts, obs)["action"], rel=1e-12))


# -- the thrust_torques mode passes the conformance identities ---------------------------
def test_thrust_torques_rollout_and_reward_match_stepping():
    task = make_task("quadrotor_waypoints", action_mode="thrust_torques")
    rng = np.random.default_rng(0)
    low, high = np.array(task.spec.action_low), np.array(task.spec.action_high)
    actions = rng.uniform(low - 0.2 * (high - low), high + 0.2 * (high - low), size=(3, 8, 4))
    start, _ = task.reset(seed=2)
    predicted = task.rollout(start, actions)
    for k in range(3):
        task.reset(seed=2)
        obs = start
        for h in range(8):
            next_obs, reward, *_ = task.step(actions[k, h])
            np.testing.assert_allclose(next_obs, predicted[k, h], atol=1e-9, rtol=0)
            with torch.no_grad():
                batched = task.reward(torch.from_numpy(obs),
                                      torch.from_numpy(task.clip_action(actions[k, h])),
                                      torch.from_numpy(next_obs))
            assert float(batched) == pytest.approx(reward, abs=1e-12)
            obs = next_obs


# -- resets and waypoints --------------------------------------------------------------
def test_hover_start_is_a_bounded_perturbation():
    task = make_task("quadrotor_hover")
    cfg = task.config
    starts = np.array([task.reset(seed=s)[0] for s in range(20)])
    offset = starts[:, :3] - np.array(cfg.hover_point)
    assert np.all(np.abs(offset) <= cfg.init_position)
    assert np.all(np.abs(starts[:, 7:10]) <= cfg.init_velocity)
    assert np.all(np.abs(starts[:, 10:13]) <= cfg.init_angular_velocity)
    np.testing.assert_allclose(np.linalg.norm(starts[:, 3:7], axis=1), 1.0, atol=1e-12)
    assert np.all(starts[:, 3] >= np.cos(3 * cfg.init_angle / 2))
    assert np.abs(offset).max() > cfg.init_position / 2  # the noise is really there


def test_waypoints_switch_every_period():
    task = make_task("quadrotor_waypoints", waypoint_period=10, episode_length=35)
    obs, _ = task.reset(seed=5)
    waypoints = task.waypoints
    assert waypoints.shape == (4, 3)
    half = np.array(task.config.waypoint_range)
    assert np.all(np.abs(waypoints - np.array(task.config.hover_point)) <= half)
    np.testing.assert_array_equal(obs[13:], waypoints[0])
    np.testing.assert_array_equal(task.physics.data.mocap_pos[0], waypoints[0])
    targets = [obs[13:]]
    for step in range(1, 36):
        next_obs, reward, _, truncated, info = task.step(task.hover_action)
        # The transition is scored against the target in force when the action was chosen.
        expected = np.sum((next_obs[:3] - obs[13:]) ** 2)
        assert info["costs"]["position"] == pytest.approx(expected, rel=1e-12)
        targets.append(next_obs[13:])
        obs = next_obs
    targets = np.array(targets)
    for step, target in enumerate(targets):
        np.testing.assert_array_equal(target, waypoints[min(step // 10, 3)])
    assert truncated
    again, _ = task.reset(seed=5)
    np.testing.assert_array_equal(task.waypoints, waypoints)
    task.reset(seed=6)
    assert not np.array_equal(task.waypoints, waypoints)
