"""PX4 NED/FRD <-> ROS ENU/FLU conversions with known answers."""
import math

import numpy as np
import pytest

from mbrl_ros.estimation import quaternion
from mbrl_ros.robots import frames
from mbrl_ros.ros.messages import from_dict, to_dict

DEG = math.pi / 180.0


def ros_yaw(q_wxyz):
    return float(quaternion.to_rpy(q_wxyz)[2])


def same_rotation(q, r, tol=1e-12):
    return np.allclose(quaternion.normalize(q), quaternion.normalize(r), atol=tol, rtol=0.0)


def test_level_facing_north_is_ros_yaw_plus_90_degrees():
    q_ros = frames.quaternion_ned_frd_to_enu_flu([1.0, 0.0, 0.0, 0.0])
    assert ros_yaw(q_ros) == pytest.approx(math.pi / 2, abs=1e-12)
    assert np.allclose(quaternion.to_rpy(q_ros)[:2], 0.0, atol=1e-12)
    # Body forward (FLU +x) points north = ENU +y; body left points west = ENU -x.
    assert np.allclose(quaternion.rotate(q_ros, [1.0, 0.0, 0.0]), [0.0, 1.0, 0.0], atol=1e-12)
    assert np.allclose(quaternion.rotate(q_ros, [0.0, 1.0, 0.0]), [-1.0, 0.0, 0.0], atol=1e-12)
    assert np.allclose(frames.wxyz_to_xyzw(q_ros), [0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5)], atol=1e-12)


def test_facing_east_in_ned_is_ros_yaw_zero():
    q_ned = quaternion.from_rpy([0.0, 0.0, math.pi / 2])  # PX4 yaw 90 deg: nose east
    q_ros = frames.quaternion_ned_frd_to_enu_flu(q_ned)
    assert ros_yaw(q_ros) == pytest.approx(0.0, abs=1e-12)
    assert same_rotation(q_ros, [1.0, 0.0, 0.0, 0.0])


def test_roll_pitch_yaw_relationship():
    """Roll keeps its sign, pitch flips (nose-up is +pitch in FRD, -pitch in FLU), yaw_enu = 90 deg - yaw_ned."""
    rpy_ned = np.array([10.0, 20.0, 30.0]) * DEG
    rpy_ros = quaternion.to_rpy(frames.quaternion_ned_frd_to_enu_flu(quaternion.from_rpy(rpy_ned)))
    assert np.allclose(rpy_ros, np.array([10.0, -20.0, 60.0]) * DEG, atol=1e-12)
    assert frames.yaw_ned_to_enu(30.0 * DEG) == pytest.approx(60.0 * DEG, abs=1e-12)
    assert frames.yaw_ned_to_enu(-135.0 * DEG) == pytest.approx(-135.0 * DEG, abs=1e-12)  # south-west in both
    assert frames.yaw_enu_to_ned(0.0) == pytest.approx(math.pi / 2, abs=1e-12)
    assert frames.yaw_ned_to_enu(math.pi / 2) == pytest.approx(0.0, abs=1e-12)


def test_quaternion_agrees_with_rotating_vectors():
    """q_enu_flu applied to a FLU vector equals converting, rotating in NED/FRD, converting back."""
    rng = np.random.default_rng(0)
    q_ned = quaternion.normalize(rng.normal(size=(50, 4)))
    v_flu = rng.normal(size=(50, 3))
    q_ros = frames.quaternion_ned_frd_to_enu_flu(q_ned)
    via_px4 = frames.ned_to_enu(quaternion.rotate(q_ned, frames.flu_to_frd(v_flu)))
    assert np.allclose(quaternion.rotate(q_ros, v_flu), via_px4, atol=1e-12)


def test_round_trips_to_1e_12():
    rng = np.random.default_rng(1)
    q = quaternion.normalize(rng.normal(size=(100, 4)))
    assert np.allclose(frames.quaternion_enu_flu_to_ned_frd(frames.quaternion_ned_frd_to_enu_flu(q)), q, atol=1e-12)
    assert np.allclose(frames.quaternion_ned_frd_to_enu_flu(frames.quaternion_enu_flu_to_ned_frd(q)), q, atol=1e-12)
    v = rng.normal(size=(100, 3))
    assert np.allclose(frames.enu_to_ned(frames.ned_to_enu(v)), v, atol=1e-12)
    assert np.allclose(frames.flu_to_frd(frames.frd_to_flu(v)), v, atol=1e-12)
    assert np.allclose(frames.body_rates_flu_to_frd(frames.body_rates_frd_to_flu(v)), v, atol=1e-12)
    assert np.allclose(frames.xyzw_to_wxyz(frames.wxyz_to_xyzw(q)), q, atol=0.0)
    yaw = rng.uniform(-math.pi, math.pi, size=100)
    back = frames.yaw_enu_to_ned(frames.yaw_ned_to_enu(yaw))
    assert np.allclose(np.angle(np.exp(1j * (back - yaw))), 0.0, atol=1e-12)


def test_position_and_velocity_axes():
    assert np.array_equal(frames.ned_to_enu([1.0, 2.0, 3.0]), [2.0, 1.0, -3.0])  # 1 m north, 2 m east, 3 m down
    assert np.array_equal(frames.enu_to_ned([0.0, 0.0, 10.0]), [0.0, 0.0, -10.0])  # 10 m up is z = -10 in NED
    assert frames.ned_to_enu(np.zeros((2, 5, 3))).shape == (2, 5, 3)


def test_body_rates_flip_pitch_and_yaw():
    # Yawing right (clockwise seen from above) is +r in FRD and -yaw rate in FLU.
    assert np.array_equal(frames.body_rates_frd_to_flu([0.1, 0.2, 0.3]), [0.1, -0.2, -0.3])
    assert np.array_equal(frames.body_rates_flu_to_frd([0.0, 0.0, 1.0]), [0.0, 0.0, -1.0])


def test_hover_thrust_is_negative_z_in_frd():
    assert np.array_equal(frames.thrust_setpoint_flu_to_frd([0.0, 0.0, 0.5]), [0.0, 0.0, -0.5])
    assert np.array_equal(frames.collective_thrust_to_frd(0.5), [0.0, 0.0, -0.5])
    batch = frames.collective_thrust_to_frd([0.0, 1.0])
    assert batch.shape == (2, 3) and np.all(batch[:, 2] <= 0.0) and batch[1, 2] == -1.0
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            frames.collective_thrust_to_frd(bad)
    assert np.array_equal(frames.torque_setpoint_flu_to_frd([0.1, 0.2, 0.3]), [0.1, -0.2, -0.3])


def _odometry(**overrides):
    base = {
        "timestamp": 10,
        "timestamp_sample": 9,
        "pose_frame": frames.POSE_FRAME_NED,
        "position": [1.0, 2.0, -3.0],
        "q": [1.0, 0.0, 0.0, 0.0],
        "velocity_frame": frames.VELOCITY_FRAME_NED,
        "velocity": [1.0, 0.0, 0.0],
        "angular_velocity": [0.1, 0.2, 0.3],
        "position_variance": [0.01, 0.02, 0.03],
        "orientation_variance": [0.001, 0.002, 0.003],
        "velocity_variance": [0.1, 0.2, 0.3],
        "reset_counter": 4,
        "quality": 0,
    }
    base.update(overrides)
    return base


def test_vehicle_odometry_level_north_ned():
    odom = frames.vehicle_odometry_to_odometry(_odometry())
    assert odom.world_frame == "enu" and odom.timestamp_sample_us == 9 and odom.reset_counter == 4
    assert np.array_equal(odom.position, [2.0, 1.0, 3.0])  # 3 m above the origin
    assert ros_yaw(odom.orientation_wxyz) == pytest.approx(math.pi / 2, abs=1e-12)
    assert np.allclose(odom.orientation_xyzw, frames.wxyz_to_xyzw(odom.orientation_wxyz))
    assert np.allclose(odom.velocity_world, [0.0, 1.0, 0.0])  # flying north
    assert np.allclose(odom.velocity_body, [1.0, 0.0, 0.0], atol=1e-12)  # ... nose first
    assert np.allclose(odom.angular_velocity, [0.1, -0.2, -0.3])
    assert np.allclose(np.diag(odom.pose_covariance), [0.02, 0.01, 0.03, 0.001, 0.002, 0.003])
    # North variance 0.1 is the body-x (forward) variance when facing north.
    assert np.allclose(np.diag(odom.twist_covariance)[:3], [0.1, 0.2, 0.3], atol=1e-12)
    assert np.array_equal(odom.twist_covariance[3:, 3:], np.zeros((3, 3)))
    assert odom.position_valid and odom.orientation_valid and odom.velocity_valid and odom.angular_velocity_valid


def test_vehicle_odometry_facing_east_body_velocity():
    q_east = quaternion.from_rpy([0.0, 0.0, math.pi / 2])
    odom = frames.vehicle_odometry_to_odometry(_odometry(q=q_east, velocity=[0.0, 2.0, -1.0]))
    assert ros_yaw(odom.orientation_wxyz) == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(odom.velocity_world, [2.0, 0.0, 1.0])  # east and climbing
    assert np.allclose(odom.velocity_body, [2.0, 0.0, 1.0], atol=1e-12)  # forward and up
    # East variance 0.2 is now the forward variance.
    assert np.allclose(np.diag(odom.twist_covariance)[:3], [0.2, 0.1, 0.3], atol=1e-12)


def test_vehicle_odometry_body_frd_velocity_and_frd_world():
    # Body-frame velocity: FRD forward/right/down -> FLU forward/left/up.
    odom = frames.vehicle_odometry_to_odometry(
        _odometry(velocity_frame=frames.VELOCITY_FRAME_BODY_FRD, velocity=[1.0, 0.5, 0.2])
    )
    assert np.allclose(odom.velocity_body, [1.0, -0.5, -0.2])
    assert np.allclose(odom.velocity_world, [0.5, 1.0, -0.2], atol=1e-12)  # nose north: right is east
    # World FRD (arbitrary heading, e.g. VIO): converted to a z-up FLU world, not to ENU.
    odom = frames.vehicle_odometry_to_odometry(
        _odometry(pose_frame=frames.POSE_FRAME_FRD, velocity_frame=frames.VELOCITY_FRAME_FRD)
    )
    assert odom.world_frame == "flu"
    assert np.array_equal(odom.position, [1.0, -2.0, 3.0])
    assert same_rotation(odom.orientation_wxyz, [1.0, 0.0, 0.0, 0.0])  # aligned with its own world
    assert np.allclose(odom.velocity_body, [1.0, 0.0, 0.0], atol=1e-12)


def test_vehicle_odometry_nan_and_unknown_entries_are_invalid():
    nan = math.nan
    odom = frames.vehicle_odometry_to_odometry(
        _odometry(position=[nan, nan, nan], q=[nan, 0.0, 0.0, 0.0], angular_velocity=[nan, nan, nan])
    )
    assert not odom.position_valid and np.all(np.isnan(odom.position))
    assert not odom.orientation_valid and np.all(np.isnan(odom.orientation_xyzw))
    assert not odom.angular_velocity_valid and np.all(np.isnan(odom.angular_velocity))
    # World velocity is known, but the body velocity needs the attitude.
    assert np.allclose(odom.velocity_world, [0.0, 1.0, 0.0]) and not odom.velocity_valid
    odom = frames.vehicle_odometry_to_odometry(
        _odometry(pose_frame=frames.POSE_FRAME_UNKNOWN, velocity_frame=frames.VELOCITY_FRAME_UNKNOWN)
    )
    assert odom.world_frame == "unknown"
    assert not (odom.position_valid or odom.orientation_valid or odom.velocity_valid)
    assert odom.angular_velocity_valid  # always body FRD
    # NED pose with FRD-world velocity: no common heading.
    odom = frames.vehicle_odometry_to_odometry(_odometry(velocity_frame=frames.VELOCITY_FRAME_FRD))
    assert not odom.velocity_valid and np.all(np.isnan(odom.velocity_world))
    with pytest.raises(ValueError, match="pose_frame=7"):
        frames.vehicle_odometry_to_odometry(_odometry(pose_frame=7))
    with pytest.raises(ValueError, match="velocity_frame=9"):
        frames.vehicle_odometry_to_odometry(_odometry(velocity_frame=9))
    with pytest.raises(ValueError, match="expected 4 values"):
        frames.vehicle_odometry_to_odometry(_odometry(q=[1.0, 0.0, 0.0]))


def test_vehicle_odometry_from_a_decoded_px4_message(robots_registry):
    """The generated px4_msgs class (float32 fields) converts like the plain mapping."""
    cls = robots_registry.message_class("px4_msgs/msg/VehicleOdometry")
    q_east = quaternion.from_rpy([0.0, 0.0, math.pi / 2])
    msg = from_dict(cls, _odometry(q=[float(np.float32(c)) for c in q_east]))
    odom = frames.vehicle_odometry_to_odometry(msg)
    assert ros_yaw(odom.orientation_wxyz) == pytest.approx(0.0, abs=1e-6)  # float32 on the wire
    assert np.linalg.norm(odom.orientation_wxyz) == pytest.approx(1.0, abs=1e-12)
    assert np.array_equal(frames.vehicle_odometry_to_odometry(to_dict(msg)).position, odom.position)
