"""Sensor and actuator models: known answers for noise, quantization, dropouts, latency, delay."""
import numpy as np
import pytest

from mbrl_ros.config import ConfigError
from mbrl_ros.sensors import ActuationDelay, JointSensor, JointSensorConfig


def test_per_joint_quantization_and_noise():
    cfg = JointSensorConfig(position_quantization=[0.01, 0.5], position_noise_std=[0.0, 0.0],
                            velocity_noise_std=0.2)
    sensor = JointSensor(cfg, num_joints=2, rng=np.random.default_rng(0))
    reading = sensor.measure(10, [0.123, 1.3], [1.0, -1.0])
    assert reading.stamp_ns == 10
    np.testing.assert_allclose(reading.positions, [0.12, 1.5])
    errors = np.array([sensor.measure(k, [0.0, 0.0], [1.0, -1.0]).velocities - [1.0, -1.0]
                       for k in range(2000)])
    np.testing.assert_allclose(errors.std(axis=0), [0.2, 0.2], rtol=0.1)
    np.testing.assert_allclose(errors.mean(axis=0), [0.0, 0.0], atol=0.02)


def test_position_only_encoders_have_no_velocity():
    sensor = JointSensor(JointSensorConfig(publish_velocity=False), 1, np.random.default_rng(0))
    assert sensor.measure(0, [1.0], [2.0]).velocities is None


def test_latency_delivers_old_readings_with_their_stamps():
    sensor = JointSensor(JointSensorConfig(latency_steps=2), 1, np.random.default_rng(0))
    out = [sensor.measure(k, [float(k)], [0.0]) for k in range(5)]
    assert out[:2] == [None, None]
    assert [(r.stamp_ns, r.positions[0]) for r in out[2:]] == [(0, 0.0), (1, 1.0), (2, 2.0)]
    sensor.reset()
    assert sensor.measure(9, [9.0], [0.0]) is None       # a new episode: nothing in flight


def test_dropouts_lose_about_the_configured_share():
    sensor = JointSensor(JointSensorConfig(dropout_probability=0.1), 1, np.random.default_rng(1))
    delivered = sum(sensor.measure(k, [0.0], [0.0]) is not None for k in range(5000))
    assert sensor.dropped == 5000 - delivered
    assert 0.08 < sensor.dropped / 5000 < 0.12


def test_wrong_per_joint_length_and_shapes_are_rejected():
    with pytest.raises(ConfigError, match="one per joint"):
        JointSensor(JointSensorConfig(position_quantization=[0.1, 0.2, 0.3]), 2, np.random.default_rng(0))
    sensor = JointSensor(JointSensorConfig(), 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="expected 2"):
        sensor.measure(0, [0.0], [0.0])


def test_actuation_delay():
    delay = ActuationDelay(2, initial=[0.0])
    assert [delay([float(k)])[0] for k in range(1, 6)] == [0.0, 0.0, 1.0, 2.0, 3.0]
    delay.reset()
    assert delay([7.0])[0] == 0.0
    assert ActuationDelay(0, [0.0])([5.0])[0] == 5.0
    with pytest.raises(ValueError):
        ActuationDelay(-1, [0.0])
