"""ImuSensor and PoseSensor: known noise levels, bias walk growth, latency and dropout shares."""
import numpy as np
import pytest

from mbrl_ros.config import ConfigError
from mbrl_ros.estimation import quaternion as quat
from mbrl_ros.sensors import ImuSensor, ImuSensorConfig, PoseSensor, PoseSensorConfig

G = np.array([0.0, 0.0, -9.81])


def test_ideal_imu_reads_body_rate_and_specific_force():
    q = quat.from_rpy([0.3, -0.2, 1.0])
    imu = ImuSensor(ImuSensorConfig(), rate=100.0, rng=np.random.default_rng(0), gravity=G)
    still = imu.measure(5, [0.1, -0.2, 0.3], [0.0, 0.0, 0.0], quat.IDENTITY)
    assert still.stamp_ns == 5
    assert still.gyro == pytest.approx([0.1, -0.2, 0.3])
    assert still.accel == pytest.approx([0.0, 0.0, 9.81])          # level and still: +g along body z
    tilted = imu.measure(6, [0.0, 0.0, 0.0], [1.0, 2.0, 0.5], q)
    assert tilted.accel == pytest.approx(quat.to_rotation_matrix(q).T @ np.array([1.0, 2.0, 10.31]))
    falling = imu.measure(7, [0.0, 0.0, 0.0], G, q)                # free fall: the accelerometer reads 0
    assert falling.accel == pytest.approx(np.zeros(3), abs=1e-12)


def test_imu_white_noise_std_is_density_times_sqrt_rate():
    rate, n = 400.0, 20000
    cfg = ImuSensorConfig(gyro_noise_density=1e-3, accel_noise_density=2e-2, gyro_bias=[0.02, -0.01, 0.0])
    imu = ImuSensor(cfg, rate=rate, rng=np.random.default_rng(1), gravity=G)
    readings = [imu.measure(k, np.zeros(3), np.zeros(3), quat.IDENTITY) for k in range(n)]
    gyro = np.array([r.gyro for r in readings])
    accel = np.array([r.accel for r in readings])
    assert gyro.std(axis=0) == pytest.approx(np.full(3, 1e-3 * np.sqrt(rate)), rel=0.03)
    assert accel.std(axis=0) == pytest.approx(np.full(3, 2e-2 * np.sqrt(rate)), rel=0.03)
    assert gyro.mean(axis=0) == pytest.approx([0.02, -0.01, 0.0], abs=4 * 1e-3 * np.sqrt(rate / n))
    assert accel.mean(axis=0) == pytest.approx([0.0, 0.0, 9.81], abs=4 * 2e-2 * np.sqrt(rate / n))


def test_imu_bias_random_walk_grows_as_walk_times_sqrt_time():
    rate, seconds, runs = 100.0, 4.0, 400
    cfg = ImuSensorConfig(gyro_bias_random_walk=1e-4, accel_bias_random_walk=1e-3)
    rng = np.random.default_rng(2)
    final = []
    for _ in range(runs):
        imu = ImuSensor(cfg, rate=rate, rng=rng, gravity=G)
        for k in range(int(rate * seconds)):
            imu.measure(k, np.zeros(3), np.zeros(3), quat.IDENTITY)
        final.append(np.concatenate([imu.gyro_bias, imu.accel_bias]))
    spread = np.array(final).std(axis=0)
    # 1200 samples of each std: within 10% of walk * sqrt(t) at ~4 sigma.
    assert spread[:3].mean() == pytest.approx(1e-4 * np.sqrt(seconds), rel=0.1)
    assert spread[3:].mean() == pytest.approx(1e-3 * np.sqrt(seconds), rel=0.1)
    imu.reset()
    assert imu.gyro_bias == pytest.approx(np.zeros(3)) and imu.accel_bias == pytest.approx(np.zeros(3))


def test_imu_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="3 values"):
        ImuSensorConfig(gyro_bias=[0.0, 0.0])
    with pytest.raises(ConfigError, match="rate"):
        ImuSensor(ImuSensorConfig(), rate=0.0, rng=np.random.default_rng(0))


def test_pose_noise_levels():
    cfg = PoseSensorConfig(position_noise_std=0.01, attitude_noise_std=0.02)
    sensor = PoseSensor(cfg, np.random.default_rng(3))
    q = quat.from_rpy([0.1, 0.2, -0.5])
    readings = [r for k in range(5000) for r in sensor.measure(k, [1.0, 2.0, 3.0], q)]
    assert len(readings) == 5000
    position = np.array([r.position for r in readings])
    assert position.mean(axis=0) == pytest.approx([1.0, 2.0, 3.0], abs=1e-3)
    assert position.std(axis=0) == pytest.approx(np.full(3, 0.01), rel=0.05)
    error = quat.to_rotation_vector(quat.multiply(quat.conjugate(q), np.array([r.quaternion for r in readings])))
    assert error.std(axis=0) == pytest.approx(np.full(3, 0.02), rel=0.05)     # body axes
    assert np.linalg.norm([r.quaternion for r in readings], axis=1) == pytest.approx(np.ones(5000))


def test_pose_rate_divider_and_latency_in_steps_and_seconds():
    # 200 Hz calls, a pose every 4th (50 Hz), delivered 20 ms (4 calls) after its stamp.
    step_ns = 5_000_000
    sensor = PoseSensor(PoseSensorConfig(rate_divider=4, latency=0.02), np.random.default_rng(0))
    delivered = {}
    for k in range(40):
        for reading in sensor.measure(k * step_ns, [k, 0.0, 0.0], quat.IDENTITY):
            delivered[reading.stamp_ns // step_ns] = k
    assert delivered == {s: s + 4 for s in range(0, 36, 4)}
    # Latency in calls: one call late, whatever the stamps; readings come out oldest first.
    sensor = PoseSensor(PoseSensorConfig(latency_steps=2), np.random.default_rng(0))
    out = [[r.stamp_ns for r in sensor.measure(k, [0.0, 0.0, 0.0], quat.IDENTITY)] for k in range(6)]
    assert out == [[], [], [0], [1], [2], [3]]
    sensor.reset()
    assert sensor.measure(100, [0.0, 0.0, 0.0], quat.IDENTITY) == []        # in-flight poses forgotten


def test_pose_dropout_share():
    sensor = PoseSensor(PoseSensorConfig(dropout_probability=0.2), np.random.default_rng(4))
    delivered = sum(len(sensor.measure(k, [0.0, 0.0, 0.0], quat.IDENTITY)) for k in range(10000))
    assert sensor.dropped + delivered == 10000
    assert sensor.dropped / 10000 == pytest.approx(0.2, abs=0.012)          # ~3 sigma of a binomial share
