"""Rigid-body error-state EKF: bias convergence, attitude integration, a simulated flight, latency."""
import numpy as np
import pytest

from mbrl_ros.estimation import ESTIMATORS, EstimatorInputError, make_estimator
from mbrl_ros.estimation import quaternion as quat
from mbrl_ros.estimation.rigid_body_ekf import RigidBodyEKF, simulate_flight

G = 9.80665
IMU_RATE = 200.0


def specific_force(q):
    """Accelerometer reading (body) of a body at rest with attitude ``q``."""
    return quat.to_rotation_matrix(q).T @ np.array([0.0, 0.0, G])


def fly(ekf, flight, pose_delay_samples=0, every=1):
    """Feed a :class:`SyntheticFlight` in arrival order; returns estimates at every ``every``-th IMU sample.

    With ``pose_delay_samples`` > 0 each pose arrives after that many newer IMU samples.
    """
    pending = []
    poses = dict(zip(flight.pose_index.tolist(), range(flight.pose_index.size)))
    out = {}
    for k, t in enumerate(flight.imu_stamps):
        ekf.predict_imu(t, flight.gyro[k], flight.accel[k])
        if k in poses:
            pending.append((k + pose_delay_samples, poses[k]))
        while pending and pending[0][0] <= k:
            j = pending.pop(0)[1]
            ekf.update_pose(flight.pose_stamps[j], flight.pose_position[j], flight.pose_quaternion[j])
        if ekf.initialized and k % every == 0:
            out[k] = ekf.estimate()
    for _, j in pending:    # what is still in flight when the IMU stream ends
        ekf.update_pose(flight.pose_stamps[j], flight.pose_position[j], flight.pose_quaternion[j])
    return out


# -- quaternion helpers --------------------------------------------------------------------

def test_quaternion_maps_agree():
    rng = np.random.default_rng(0)
    phi = rng.normal(0.0, 1.0, size=(50, 3))
    q = quat.from_rotation_vector(phi)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0)
    r = quat.from_rotation_vector(rng.normal(size=(50, 3)))
    # R(q r) = R(q) R(r), single and batched paths agree.
    np.testing.assert_allclose(quat.to_rotation_matrix(quat.multiply(q, r)),
                               quat.to_rotation_matrix(q) @ quat.to_rotation_matrix(r), atol=1e-12)
    np.testing.assert_allclose(quat.multiply(q[3], r[3]), quat.multiply(q, r)[3])
    np.testing.assert_allclose(quat.to_rotation_matrix(q[3]), quat.to_rotation_matrix(q)[3])
    np.testing.assert_allclose(quat.from_rotation_vector(phi[3]), q[3])
    rpy = np.array([0.3, -0.4, 2.5])
    np.testing.assert_allclose(quat.to_rpy(quat.from_rpy(rpy)), rpy)
    # ZYX: yaw of 90 deg maps body x onto world y.
    np.testing.assert_allclose(quat.rotate(quat.from_rpy([0, 0, np.pi / 2]), [1.0, 0, 0]), [0, 1, 0], atol=1e-12)
    assert quat.angle_between(quat.IDENTITY, quat.from_rotation_vector([0.0, 0.0, 0.3])) == pytest.approx(0.3)
    np.testing.assert_allclose(quat.from_rotation_vector([1e-9, 0, 0]), [1, 5e-10, 0, 0])


def test_quaternion_maps_roundtrip_below_pi():
    rng = np.random.default_rng(1)
    phi = rng.normal(0.0, 0.8, size=(100, 3))
    phi = phi[np.linalg.norm(phi, axis=-1) < np.pi - 1e-6]
    np.testing.assert_allclose(quat.to_rotation_vector(quat.from_rotation_vector(phi)), phi, atol=1e-12)


# -- the filter ----------------------------------------------------------------------------------

def test_static_body_with_biased_imu_converges_the_biases():
    rng = np.random.default_rng(0)
    q_true, p_true = quat.from_rpy([0.2, -0.1, 1.0]), np.array([1.0, 2.0, 0.5])
    gyro_bias, accel_bias = np.array([0.03, -0.02, 0.01]), np.array([0.15, -0.1, 0.2])
    dt = 1.0 / IMU_RATE
    ekf = RigidBodyEKF({"position_noise": 0.005, "attitude_noise": 0.01})
    for k in range(int(10 * IMU_RATE) + 1):
        t = k * dt
        ekf.predict_imu(t, gyro_bias + rng.normal(0.0, 1e-3 / np.sqrt(dt), 3),
                        specific_force(q_true) + accel_bias + rng.normal(0.0, 2e-2 / np.sqrt(dt), 3))
        if k % 4 == 0:   # 50 Hz motion capture
            ekf.update_pose(t, p_true + rng.normal(0.0, 0.005, 3),
                            quat.multiply(q_true, quat.from_rotation_vector(rng.normal(0.0, 0.01, 3))))
    out = ekf.estimate()
    # Measured after 10 s: gyro bias within 5e-4 rad/s, accel bias within 6e-3 m/s^2.
    np.testing.assert_allclose(out.gyro_bias, gyro_bias, atol=0.0015)
    np.testing.assert_allclose(out.accel_bias, accel_bias, atol=0.02)
    np.testing.assert_allclose(out.velocity, 0.0, atol=0.02)
    np.testing.assert_allclose(out.angular_velocity, 0.0, atol=0.05)   # one gyro sample, bias removed
    assert quat.angle_between(out.quaternion, q_true) < 0.005
    bias_std = np.sqrt(np.diag(out.error_covariance)[9:])
    assert np.all(bias_std[:3] < 0.002) and np.all(bias_std[3:] < 0.02)   # it knows it converged


def test_constant_rotation_integrates_exactly_and_keeps_a_unit_quaternion():
    omega = np.array([0.3, -0.5, 1.2])           # rad/s, body
    q0 = quat.from_rpy([0.1, 0.2, -0.3])
    ekf = RigidBodyEKF({"initial_gyro_bias_std": 1e-9})
    ekf.update_pose(0.0, [0.0, 0.0, 1.0], q0)
    dt = 1.0 / IMU_RATE
    worst_norm_error = 0.0
    for k in range(int(10 * IMU_RATE) + 1):
        t = k * dt
        q_true = quat.multiply(q0, quat.from_rotation_vector(omega * t))
        ekf.predict_imu(t, omega, specific_force(q_true))
        worst_norm_error = max(worst_norm_error, abs(np.linalg.norm(ekf.estimate().quaternion) - 1.0))
    out = ekf.estimate()
    assert worst_norm_error < 1e-12
    # 2000 steps of exp(omega dt) compose to exp(omega t): only rounding error remains.
    assert quat.angle_between(out.quaternion, q_true) < 1e-9
    np.testing.assert_allclose(out.angular_velocity, omega, atol=1e-12)
    # The midpoint integration of a gravity vector turning at 1.3 rad/s leaves ~g (w dt)^2 / 8 per step.
    np.testing.assert_allclose(out.position, [0.0, 0.0, 1.0], atol=5e-3)


def test_constant_rotation_with_noisy_gyro_and_pose_updates_tracks_the_attitude():
    rng = np.random.default_rng(4)
    omega, q0 = np.array([0.0, 0.4, 2.0]), quat.IDENTITY
    ekf = RigidBodyEKF({})
    dt = 1.0 / IMU_RATE
    errors, norms = [], []
    for k in range(int(8 * IMU_RATE) + 1):
        t = k * dt
        q_true = quat.multiply(q0, quat.from_rotation_vector(omega * t))
        ekf.predict_imu(t, omega + [0.02, -0.01, 0.015] + rng.normal(0.0, 1e-3 / np.sqrt(dt), 3),
                        specific_force(q_true) + rng.normal(0.0, 2e-2 / np.sqrt(dt), 3))
        if k % 4 == 0:
            ekf.update_pose(t, rng.normal(0.0, 0.01, 3),
                            quat.multiply(q_true, quat.from_rotation_vector(rng.normal(0.0, 0.01, 3))))
        out = ekf.estimate()
        errors.append(quat.angle_between(out.quaternion, q_true))
        norms.append(np.linalg.norm(out.quaternion))
    settled = np.array(errors[int(2 * IMU_RATE):])
    # Measured RMS 0.0022 rad (pose noise 0.01 rad per axis).
    assert np.sqrt(np.mean(settled ** 2)) < 0.006
    np.testing.assert_allclose(norms, 1.0, atol=1e-12)


def test_simulated_flight_position_and_attitude_rmse():
    # 20 s of smooth 3D motion and rotation; IMU at 200 Hz with noise and bias random walk, mocap
    # poses at 50 Hz with 1 cm and 0.01 rad noise. Measured: position RMSE 5.65 mm, attitude
    # RMSE 0.133 deg, velocity 0.024 m/s (seed 0); thresholds are 2.3-2.5x that.
    flight = simulate_flight(20.0, IMU_RATE, 50.0, seed=0)
    estimates = fly(RigidBodyEKF({}), flight, every=4)
    index = np.array([k for k in estimates if flight.imu_stamps[k] >= 3.0])
    position = np.array([estimates[k].position for k in index])
    velocity = np.array([estimates[k].velocity for k in index])
    attitude = np.array([estimates[k].quaternion for k in index])
    position_rmse = np.sqrt(np.mean(np.sum((position - flight.position[index]) ** 2, axis=1)))
    velocity_rmse = np.sqrt(np.mean(np.sum((velocity - flight.velocity[index]) ** 2, axis=1)))
    attitude_rmse = np.degrees(np.sqrt(np.mean(quat.angle_between(attitude, flight.quaternion[index]) ** 2)))
    measured_rmse = np.sqrt(np.mean(np.sum((flight.pose_position - flight.position[flight.pose_index]) ** 2, 1)))
    print(f"flight: position RMSE {1000 * position_rmse:.2f} mm (measurements {1000 * measured_rmse:.1f} mm), "
          f"attitude RMSE {attitude_rmse:.3f} deg, velocity RMSE {velocity_rmse:.4f} m/s")
    assert position_rmse < 0.014
    assert attitude_rmse < 0.3
    assert velocity_rmse < 0.055
    final = estimates[max(estimates)]
    np.testing.assert_allclose(final.gyro_bias, flight.gyro_bias[-1], atol=0.003)
    np.testing.assert_allclose(final.accel_bias, flight.accel_bias[-1], atol=0.05)


def test_late_poses_give_exactly_the_in_order_result():
    flight = simulate_flight(4.0, IMU_RATE, 50.0, seed=1)
    in_order = RigidBodyEKF({})
    late = RigidBodyEKF({"max_delay": 0.1})
    fly(in_order, flight)
    fly(late, flight, pose_delay_samples=6)      # every pose arrives 30 ms late
    a, b = in_order.estimate(), late.estimate()
    assert late.replays > 150 and in_order.replays == 0
    for field in ("position", "velocity", "quaternion", "gyro_bias", "accel_bias", "error_covariance"):
        np.testing.assert_allclose(getattr(b, field), getattr(a, field), rtol=0, atol=1e-9, err_msg=field)


def test_too_late_out_of_order_and_duplicate_inputs_are_rejected_counted_and_change_nothing():
    ekf = RigidBodyEKF({"max_delay": 0.05})
    q = quat.from_rpy([0.0, 0.0, 0.5])
    ekf.update_pose(0.0, [0.0, 0.0, 0.0], q)
    for k in range(41):
        ekf.predict_imu(k * 0.005, [0.0, 0.0, 0.0], specific_force(q))
    before = ekf.estimate()
    with pytest.raises(EstimatorInputError) as err:
        ekf.update_pose(0.1, [5.0, 5.0, 5.0], q)          # 0.1 s behind the newest input (0.2 s)
    assert err.value.reason == "too_late"
    with pytest.raises(EstimatorInputError) as err:
        ekf.predict_imu(0.1, [1.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    assert err.value.reason == "out_of_order"
    with pytest.raises(EstimatorInputError) as err:
        ekf.predict_imu(0.2, [1.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    assert err.value.reason == "duplicate_stamp"
    ekf.update_pose(0.18, [0.0, 0.0, 0.0], q)               # late but within max_delay: fused
    with pytest.raises(EstimatorInputError) as err:
        ekf.update_pose(0.18, [0.0, 0.0, 0.0], q)
    assert err.value.reason == "duplicate_stamp"
    with pytest.raises(EstimatorInputError) as err:
        ekf.update_pose(0.19, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0])
    assert err.value.reason == "non_unit_quaternion"
    assert ekf.rejected == {"too_late": 1, "out_of_order": 1, "duplicate_stamp": 2, "non_unit_quaternion": 1}
    assert ekf.replays == 1 and ekf.time == before.stamp
    np.testing.assert_allclose(ekf.estimate().position, before.position, atol=1e-3)


def test_outliers_are_gated():
    ekf = RigidBodyEKF({"innovation_gate": 22.5})
    ekf.update_pose(0.0, [0.0, 0.0, 0.0], quat.IDENTITY)
    for k in range(1, 21):
        ekf.predict_imu(k * 0.005, [0.0, 0.0, 0.0], [0.0, 0.0, G])
        ekf.update_position(k * 0.005, [0.0, 0.0, 0.0])
    before = ekf.estimate()
    with pytest.raises(EstimatorInputError) as err:
        ekf.update_position(0.101, [1.0, 0.0, 0.0])       # a mocap marker swap, 1 m off
    assert err.value.reason == "outlier" and ekf.rejected["outlier"] == 1
    after = ekf.estimate()
    np.testing.assert_array_equal(after.position, before.position)
    np.testing.assert_array_equal(after.error_covariance, before.error_covariance)
    ekf.update_position(0.102, [0.001, 0.0, 0.0])         # the next good one is fused
    assert ekf.time == 0.102


def test_odometry_outputs_and_covariance_frames():
    ekf = RigidBodyEKF({})
    q = quat.from_rpy([0.0, 0.0, np.pi / 2])               # body x points along world y
    ekf.update_pose(0.0, [1.0, 2.0, 3.0], q, covariance=np.diag([1e-4, 1e-4, 1e-4, 4e-4, 1e-6, 1e-6]))
    ekf.update_velocity(0.0, [0.0, 1.0, 0.0], covariance=np.eye(3) * 1e-4)
    ekf.predict_imu(0.0, [0.01, 0.02, 0.5], specific_force(q))
    ekf.predict_imu(0.005, [0.01, 0.02, 0.5], specific_force(q))
    out = ekf.estimate()
    assert out.pose_covariance.shape == (6, 6) and out.twist_covariance.shape == (6, 6)
    for cov in (out.pose_covariance, out.twist_covariance):
        np.testing.assert_allclose(cov, cov.T)
        assert np.all(np.linalg.eigvalsh(cov) > 0)
    # The roll uncertainty (about body x) appears about world y in the pose covariance.
    assert out.pose_covariance[4, 4] > 100 * out.pose_covariance[3, 3]
    np.testing.assert_allclose(out.body_velocity, quat.to_rotation_matrix(out.quaternion).T @ out.velocity)
    assert out.body_velocity[0] == pytest.approx(1.0, abs=1e-2)     # moving along body x
    np.testing.assert_allclose(out.angular_velocity, np.array([0.01, 0.02, 0.5]) - out.gyro_bias)
    # Prediction to a later stamp leaves the filter alone.
    ahead = ekf.estimate(0.105)
    assert ahead.stamp == 0.105 and ekf.time == 0.005
    assert ahead.position[1] == pytest.approx(out.position[1] + 0.1, abs=2e-3)


def test_position_only_start_takes_the_tilt_from_gravity():
    q_true = quat.from_rpy([0.15, -0.25, 0.0])
    ekf = RigidBodyEKF({})
    for k in range(20):
        ekf.predict_imu(k * 0.005, [0.0, 0.0, 0.0], specific_force(q_true))
    assert not ekf.initialized and ekf.estimate() is None
    ekf.update_position(0.1, [0.0, 0.0, 0.0])
    assert quat.angle_between(ekf.estimate().quaternion, q_true) < 1e-9


def test_joint_state_interface():
    assert ESTIMATORS.get("rigid_body_ekf") is RigidBodyEKF
    with pytest.raises(ValueError, match="3 joints"):
        make_estimator("rigid_body_ekf", {}, num_joints=2)
    # Position only, no IMU: a constant-velocity model.
    ekf = make_estimator("rigid_body_ekf", {"position_noise": 0.001}, num_joints=3)
    v = np.array([0.5, -0.2, 0.1])
    for t in np.arange(0.0, 2.0, 0.02):
        state = ekf.update(t, v * t)
    assert state.shape == (6,)
    np.testing.assert_allclose(state[3:], v, atol=1e-3)
    # Pose as x, y, z, roll, pitch, yaw with a yaw turning through the +-pi seam (unwrapped).
    ekf = make_estimator("rigid_body_ekf", {}, num_joints=6, continuous_joints=[5])
    for t in np.arange(0.0, 2.0, 0.02):
        yaw = 2.5 + 1.0 * t
        state = ekf.update(t, [t, 0.0, 1.0, 0.1, 0.0, (yaw + np.pi) % (2 * np.pi) - np.pi],
                           [1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    assert state.shape == (12,)
    assert state[5] == pytest.approx(2.5 + 1.0 * 1.98, abs=0.02)      # continuous past pi
    np.testing.assert_allclose(state[6:9], [1.0, 0.0, 0.0], atol=0.02)
    np.testing.assert_allclose(state[9:], [0.0, 0.0, 1.0])            # the measured rate, held
    with pytest.raises(EstimatorInputError):
        ekf.update(1.0, [0.0] * 6)
    assert ekf.rejected["out_of_order"] == 1
