"""Joint Kalman filter: known answers on quantized, noisy, irregular and out-of-order encoder streams."""
import numpy as np
import pytest

from mbrl_ros.config import ConfigError
from mbrl_ros.estimation import ESTIMATORS, EstimatorInputError, make_estimator
from mbrl_ros.estimation.joint_kalman import JointKalmanFilter, process_noise_matrix, transition_matrix

COUNTS_PER_REV = 4096
STEP = 2 * np.pi / COUNTS_PER_REV


def quantize(x, step):
    return np.round(np.asarray(x) / step) * step


def run(est, stamps, positions, velocities=None):
    """States (N, 2J) of ``est`` over a stream; positions (N, J)."""
    out = []
    for k, t in enumerate(stamps):
        out.append(est.update(t, positions[k], None if velocities is None else velocities[k]))
    return np.array(out)


def rmse(error):
    return float(np.sqrt(np.mean(np.square(error))))


def test_registered_and_returns_positions_velocities_and_covariance():
    assert ESTIMATORS.get("joint_kf") is JointKalmanFilter
    kf = make_estimator("joint_kf", {}, num_joints=2)
    assert kf.covariance is None
    state = kf.update(0.0, [0.1, 0.2])
    np.testing.assert_allclose(state, [0.1, 0.2, 0.0, 0.0])   # starts at rest
    state = kf.update(0.01, [0.11, 0.2])
    cov = kf.covariance
    assert state.shape == (4,) and cov.shape == (4, 4)
    np.testing.assert_allclose(cov, cov.T)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    assert cov[0, 1] == 0.0 and cov[0, 3] == 0.0             # joints are independent
    assert cov[0, 2] != 0.0                                  # position-velocity of joint 0 correlate


def test_constant_velocity_through_a_4096_count_encoder_converges_to_the_true_velocity():
    # Noise-free but quantized: the measurement is a staircase; the filter averages the steps away.
    v, p0 = 0.37, 0.2
    stamps = np.arange(0.0, 10.0, 0.01)
    kf = make_estimator("joint_kf", {"process_noise": 1e-3, "position_noise": 0.0,
                                     "quantization_step": STEP}, num_joints=1)
    states = run(kf, stamps, quantize(p0 + v * stamps, STEP)[:, None])
    fd = make_estimator("finite_difference", {}, num_joints=1)
    fd_states = run(fd, stamps, quantize(p0 + v * stamps, STEP)[:, None])
    last = stamps > 8.0
    assert np.max(np.abs(states[last, 1] - v)) < 0.005                   # 1.4 % of v
    assert np.max(np.abs(states[last, 0] - (p0 + v * stamps[last]))) < STEP / 2
    # Finite differences see 2 or 3 counts per step: 0.31 or 0.46 rad/s.
    assert np.max(np.abs(fd_states[last, 1] - v)) > 10 * 0.005


@pytest.mark.parametrize("model, rate, process_noise", [
    ("constant_velocity", 500.0, 1.0),
    ("constant_acceleration", 100.0, 100.0),
])
def test_velocity_rmse_is_at_least_3x_below_finite_differences_on_a_noisy_sinusoid(model, rate, process_noise):
    # q(t) = sin(pi t) rad (a 2 s swing, up to 9.9 rad/s^2) through a 4096-count encoder with 1 mrad noise.
    # Measured: 9.2x (constant_velocity at 500 Hz), 3.8x (constant_acceleration at 100 Hz); the
    # constant-velocity model at 100 Hz only reaches about 1.6x, since it lags the acceleration.
    rng = np.random.default_rng(0)
    stamps = np.arange(0.0, 10.0, 1.0 / rate)
    w, noise = np.pi, 1e-3
    measured = quantize(np.sin(w * stamps) + rng.normal(0.0, noise, stamps.size), STEP)[:, None]
    true_velocity = w * np.cos(w * stamps)
    kf = make_estimator("joint_kf", {"model": model, "process_noise": process_noise, "position_noise": noise,
                                     "quantization_step": STEP}, num_joints=1)
    fd = make_estimator("finite_difference", {}, num_joints=1)
    settled = stamps >= 1.0
    kf_rmse = rmse(run(kf, stamps, measured)[settled, 1] - true_velocity[settled])
    fd_rmse = rmse(run(fd, stamps, measured)[settled, 1] - true_velocity[settled])
    print(f"{model} at {rate:.0f} Hz: velocity RMSE kf {kf_rmse:.4f} fd {fd_rmse:.4f} rad/s, "
          f"ratio {fd_rmse / kf_rmse:.2f}")
    assert fd_rmse / kf_rmse >= 3.0


def reference_filter(stamps, z, q, r, p0_var, v0_var):
    """A textbook single-joint constant-velocity KF with explicit matrices (the known answer)."""
    x = np.array([z[0], 0.0])
    p = np.diag([r, v0_var])
    out = [x.copy()]
    for k in range(1, len(stamps)):
        dt = stamps[k] - stamps[k - 1]
        f = np.array([[1.0, dt], [0.0, 1.0]])
        qm = q * np.array([[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]])
        x = f @ x
        p = f @ p @ f.T + qm
        h = np.array([[1.0, 0.0]])
        s = h @ p @ h.T + r
        k_gain = p @ h.T / s
        x = x + (k_gain * (z[k] - x[0])).ravel()
        p = (np.eye(2) - k_gain @ h) @ p
        out.append(x.copy())
    return np.array(out)


def test_irregular_stamps_and_dropped_samples_match_a_per_joint_reference_filter():
    rng = np.random.default_rng(1)
    dt = rng.uniform(0.004, 0.016, size=400)            # jittery 100 Hz
    dt[rng.random(400) < 0.2] *= 3.0                    # ~20 % of the gaps hide dropped messages
    dt[200] = 0.3                                       # and one long dropout
    stamps = 5.0 + np.concatenate([[0.0], np.cumsum(dt)])
    velocity = np.array([1.5, -0.4])
    truth = np.array([0.1, 0.02]) + np.outer(stamps - 5.0, velocity)
    noise, step, q = np.array([1e-3, 5e-5]), np.array([STEP, 1e-4]), np.array([5.0, 0.5])
    measured = quantize(truth + rng.normal(0.0, noise, truth.shape), step)
    kf = make_estimator("joint_kf", {"process_noise": q.tolist(), "position_noise": noise.tolist(),
                                     "quantization_step": step.tolist(), "initial_velocity_std": 2.0},
                        num_joints=2)
    states = run(kf, stamps, measured)
    for j in range(2):
        r = noise[j] ** 2 + step[j] ** 2 / 12
        ref = reference_filter(stamps, measured[:, j], q[j], r, r, 4.0)
        np.testing.assert_allclose(states[:, j], ref[:, 0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(states[:, 2 + j], ref[:, 1], rtol=0, atol=1e-8)
    settled = stamps > 6.0
    # Measured 0.033 rad/s and 0.011 m/s.
    assert rmse(states[settled, 2] - velocity[0]) < 0.1
    assert rmse(states[settled, 3] - velocity[1]) < 0.03


def test_a_dropout_is_one_longer_prediction_step():
    q, r = 2.0, 1e-3 ** 2
    kf = make_estimator("joint_kf", {"process_noise": q, "position_noise": 1e-3}, num_joints=1)
    for t in np.arange(0.0, 1.0, 0.01):
        kf.update(t, [0.0])
    before = kf.joint_covariance[0]
    kf.update(1.29, [0.0])     # 0.3 s without messages
    # Known answer: predict over 0.3 s (P_vv grows by q dt = 0.6), then one position correction.
    f = transition_matrix(0.3, 2)
    predicted = f @ before @ f.T + q * process_noise_matrix(0.3, 2)
    assert predicted[1, 1] == pytest.approx(before[1, 1] + 0.6)
    gain = predicted[:, 0] / (predicted[0, 0] + r)
    expected = predicted - np.outer(gain, predicted[0])
    np.testing.assert_allclose(kf.joint_covariance[0], expected, rtol=1e-9)
    assert expected[1, 1] > 5 * before[1, 1]


def test_out_of_order_and_duplicate_stamps_are_rejected_counted_and_leave_the_state_unchanged():
    kf = make_estimator("joint_kf", {}, num_joints=2)
    twin = make_estimator("joint_kf", {}, num_joints=2)
    for t in (0.0, 0.01, 0.02):
        kf.update(t, [t, -t])
        twin.update(t, [t, -t])
    state_cov = kf.covariance.copy()
    with pytest.raises(EstimatorInputError) as old:
        kf.update(0.015, [9.0, 9.0])
    assert old.value.reason == "out_of_order"
    with pytest.raises(EstimatorInputError) as dup:
        kf.update(0.02, [9.0, 9.0])
    assert dup.value.reason == "duplicate_stamp"
    with pytest.raises(EstimatorInputError):
        kf.update(0.03, [np.nan, 0.0])
    assert kf.rejected == {"out_of_order": 1, "duplicate_stamp": 1, "non_finite": 1}
    np.testing.assert_array_equal(kf.covariance, state_cov)
    assert kf.last_stamp == 0.02
    np.testing.assert_array_equal(kf.update(0.03, [0.03, -0.03]), twin.update(0.03, [0.03, -0.03]))


def test_measured_velocities_are_fused_and_can_be_ignored():
    rng = np.random.default_rng(2)
    stamps = np.arange(0.0, 4.0, 0.01)
    truth, velocity = np.sin(2 * stamps), 2 * np.cos(2 * stamps)
    measured = truth + rng.normal(0.0, 2e-3, stamps.size)
    measured_velocity = velocity + rng.normal(0.0, 0.02, stamps.size)
    config = {"position_noise": 2e-3, "velocity_noise": 0.02, "process_noise": 20.0}
    fused = run(make_estimator("joint_kf", config, 1), stamps, measured[:, None], measured_velocity[:, None])
    alone = run(make_estimator("joint_kf", config, 1), stamps, measured[:, None])
    ignored = run(make_estimator("joint_kf", {**config, "use_measured_velocity": False}, 1),
                  stamps, measured[:, None], measured_velocity[:, None])
    settled = stamps > 0.5
    fused_rmse = rmse(fused[settled, 1] - velocity[settled])
    assert fused_rmse < 0.02                                   # better than the velocity sensor itself
    assert fused_rmse < 0.5 * rmse(alone[settled, 1] - velocity[settled])
    np.testing.assert_array_equal(ignored, alone)


def test_constant_acceleration_model_estimates_acceleration_without_velocity_lag():
    a, stamps = 3.0, np.arange(0.0, 3.0, 0.01)
    rng = np.random.default_rng(3)
    measured = (0.5 * a * stamps ** 2 + rng.normal(0.0, 1e-4, stamps.size))[:, None]
    ca = make_estimator("joint_kf", {"model": "constant_acceleration", "process_noise": 0.1,
                                     "position_noise": 1e-4}, 1)
    cv = make_estimator("joint_kf", {"model": "constant_velocity", "process_noise": 1.0,
                                     "position_noise": 1e-4}, 1)
    ca_states, cv_states = run(ca, stamps, measured), run(cv, stamps, measured)
    assert ca.acceleration[0] == pytest.approx(a, abs=0.15)       # measured within 0.07 after 2 s
    assert cv.acceleration is None
    settled = stamps > 1.0
    ca_lag = np.mean(a * stamps[settled] - ca_states[settled, 1])
    cv_lag = np.mean(a * stamps[settled] - cv_states[settled, 1])
    print(f"mean velocity lag under {a} rad/s^2: constant_acceleration {ca_lag:.5f}, "
          f"constant_velocity {cv_lag:.5f} rad/s")
    assert abs(ca_lag) < 0.002
    assert cv_lag > 5 * abs(ca_lag) and cv_lag > 0.005


def test_a_gap_longer_than_max_dt_restarts_from_the_new_position():
    kf = make_estimator("joint_kf", {"max_dt": 0.5}, 1)
    for t in np.arange(0.0, 1.0, 0.01):
        kf.update(t, [2.0 * t])
    np.testing.assert_allclose(kf.update(6.0, [-1.0]), [-1.0, 0.0])    # a reset teleported the joint
    assert kf.restarts == 1
    kf.reset()
    np.testing.assert_allclose(kf.update(0.5, [3.0]), [3.0, 0.0])     # an earlier stamp is fine after reset


def test_config_validation():
    with pytest.raises(ConfigError, match="one per joint"):
        make_estimator("joint_kf", {"process_noise": [1.0, 2.0, 3.0]}, num_joints=2)
    with pytest.raises(ConfigError, match="both 0"):
        make_estimator("joint_kf", {"position_noise": 0.0, "quantization_step": 0.0}, num_joints=1)
    with pytest.raises(ConfigError, match="model"):
        make_estimator("joint_kf", {"model": "constant_jerk"}, num_joints=1)
    with pytest.raises(ConfigError, match="process_noise"):
        make_estimator("joint_kf", {"process_noise": -1.0}, num_joints=1)
    kf = make_estimator("joint_kf", {"quantization_step": [0.0, STEP], "position_noise": 1e-3}, num_joints=2)
    np.testing.assert_allclose(kf.position_variance, [1e-6, 1e-6 + STEP ** 2 / 12])


def test_process_noise_matrices_are_the_integrated_white_noise():
    dt = 0.02
    np.testing.assert_allclose(process_noise_matrix(dt, 2), [[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]])
    np.testing.assert_allclose(process_noise_matrix(dt, 3)[0], [dt ** 5 / 20, dt ** 4 / 8, dt ** 3 / 6])
    np.testing.assert_allclose(transition_matrix(dt, 3), [[1, dt, dt ** 2 / 2], [0, 1, dt], [0, 0, 1]])


def test_commands_let_the_filter_follow_acceleration_steps():
    """Force steps at known times: told of them, a smooth filter tracks the velocity far better."""
    rng = np.random.default_rng(3)
    dt, period = 0.05, 0.05
    accel_levels = rng.uniform(-10.0, 10.0, 60)              # one acceleration per control period
    stamps = np.arange(1, 60 * round(period / dt) + 1) * dt
    q, v, positions, velocities = 0.0, 0.0, [], []
    for level in accel_levels:                 # exact integration of piecewise-constant a
        q, v = q + v * period + 0.5 * level * period ** 2, v + level * period
        positions.append(q)
        velocities.append(v)
    positions, velocities = np.array(positions)[:, None], np.array(velocities)
    measured = quantize(positions + rng.normal(0.0, 1e-4, positions.shape), 1e-4)
    base = {"model": "constant_acceleration", "process_noise": 10.0, "position_noise": 1e-4,
            "quantization_step": 1e-4}
    errors = {}
    for gain in (0.0, 1.0):
        kf = make_estimator("joint_kf", {**base, "input_gain": gain}, num_joints=1)
        kf.update(0.0, [0.0])
        out = []
        for k, stamp in enumerate(stamps):
            kf.note_input(stamp - period, [accel_levels[k]])     # the command acting over this period
            out.append(kf.update(stamp, measured[k])[1])
        errors[gain] = rmse(np.array(out[5:]) - velocities[5:])
    assert errors[1.0] < 0.3 * errors[0.0]
    # The first command only sets the reference (a change needs a previous command).
    kf = make_estimator("joint_kf", {**base, "input_gain": 1.0}, num_joints=1)
    kf.update(0.0, [0.0])
    kf.note_input(0.0, [5.0])
    assert kf._input_jumps == []


def test_note_input_rejects_non_finite_commands():
    kf = make_estimator("joint_kf", {"input_gain": 1.0}, num_joints=1)
    with pytest.raises(EstimatorInputError, match="not finite"):
        kf.note_input(0.0, [np.nan])
    assert kf.rejected["non_finite"] == 1
