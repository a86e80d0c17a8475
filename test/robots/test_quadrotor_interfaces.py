"""Known answers for the quadrotor <-> PX4 / Crazyswarm2 mappings and the observation JointState layout."""
from __future__ import annotations

import numpy as np
import pytest

from mbrl_ros.nodes.joint_layout import ObservationLayout, state_layout
from mbrl_ros.robots import frames
from mbrl_ros.robots.quadrotor.interfaces import (
    QuadrotorParameters,
    QuadrotorStateError,
    full_state_setpoint,
    observation_from_odometry,
    observation_from_px4_odometry,
    px4_motor_setpoint,
    px4_odometry_fields,
    px4_thrust_torque_setpoint,
    rotor_thrusts_from_px4_motors,
    wrench_from_px4_setpoint,
    wrench_tracking_full_state,
)
from mbrl_ros.tasks import make_task

LEVEL_FACING_EAST = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0.01, 0.02, 0.03])


@pytest.fixture(scope="module")
def quad():
    return QuadrotorParameters.from_task(make_task("quadrotor_hover"))


def px4_message(**fields):
    base = {"timestamp_sample": 1, "reset_counter": 0, "position_variance": [0.0] * 3,
            "orientation_variance": [0.0] * 3, "velocity_variance": [0.0] * 3}
    return {**base, **fields}


def test_hover_one_metre_up_facing_east_is_this_ned_odometry():
    fields = px4_odometry_fields(LEVEL_FACING_EAST)
    assert fields["position"] == pytest.approx([0.0, 0.0, -1.0])  # 1 m up is d = -1
    # ROS yaw 0 (east) is PX4 yaw +pi/2: q = (cos pi/4, 0, 0, sin pi/4).
    assert np.abs(fields["q"]) == pytest.approx([np.sqrt(0.5), 0.0, 0.0, np.sqrt(0.5)])
    assert fields["velocity"] == pytest.approx([0.2, 0.1, -0.3])
    assert fields["angular_velocity"] == pytest.approx([0.01, -0.02, -0.03])
    back = observation_from_px4_odometry(px4_message(**fields))
    np.testing.assert_allclose(back, LEVEL_FACING_EAST, atol=1e-12)


def test_px4_odometry_with_offset_and_invalid_fields():
    fields = px4_odometry_fields(LEVEL_FACING_EAST)
    shifted = observation_from_px4_odometry(px4_message(**fields), position_offset=(1.0, 0.0, 0.0))
    assert shifted[0:3] == pytest.approx([1.0, 0.0, 1.0])
    with pytest.raises(QuadrotorStateError, match="velocity"):
        observation_from_px4_odometry(px4_message(**{**fields, "velocity": [np.nan] * 3}))
    with pytest.raises(QuadrotorStateError, match="UNKNOWN"):
        observation_from_px4_odometry(px4_message(**{**fields, "pose_frame": 0}))


def test_hover_wrench_is_half_thrust_up_in_frd(quad):
    hover = make_task("quadrotor_hover").hover_action
    thrust, torque = px4_thrust_torque_setpoint(quad.wrench(hover), quad.max_collective_thrust, quad.max_body_torque)
    assert thrust == pytest.approx([0.0, 0.0, -0.5])  # thrust_to_weight 2: hover at half thrust, up = -z
    assert torque == pytest.approx([0.0, 0.0, 0.0])
    # A positive FLU pitch torque is a negative FRD one; the round trip gives the wrench back.
    wrench = np.array([0.3, 0.001, 0.002, -0.0005])
    thrust, torque = px4_thrust_torque_setpoint(wrench, quad.max_collective_thrust, quad.max_body_torque)
    assert torque[1] < 0 and torque[2] > 0
    np.testing.assert_allclose(wrench_from_px4_setpoint(thrust, torque, quad.max_collective_thrust,
                                                        quad.max_body_torque), wrench, rtol=1e-12)
    with pytest.raises(ValueError, match="non-finite"):
        px4_thrust_torque_setpoint([np.nan, 0, 0, 0], 1.0, [1.0, 1.0, 1.0])


def test_motor_order_maps_task_rotors_to_px4_quad_x(quad):
    thrusts = np.array([0.1, 0.2, 0.3, 0.4]) * quad.max_rotor_thrust  # FR, BR, BL, FL
    control = px4_motor_setpoint(thrusts, quad.max_rotor_thrust, (0, 2, 3, 1))
    assert control[:4] == pytest.approx([0.1, 0.3, 0.4, 0.2])  # PX4: FR, BL, FL, BR
    assert np.all(np.isnan(control[4:]))
    np.testing.assert_allclose(rotor_thrusts_from_px4_motors(control, quad.max_rotor_thrust, (0, 2, 3, 1)), thrusts)
    with pytest.raises(ValueError, match="motor_order"):
        px4_motor_setpoint(thrusts, quad.max_rotor_thrust, (0, 0, 1, 2))


def test_full_state_setpoint_at_hover_holds_still_and_tracking_recovers_the_wrench(quad):
    still = np.array([0.0, 0.0, 1.0, 1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    hover = quad.wrench(make_task("quadrotor_hover").hover_action)
    sp = full_state_setpoint(still, hover, quad)
    np.testing.assert_allclose(sp.position, [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(sp.acceleration, 0.0, atol=1e-12)
    wrench = hover + np.array([0.02, 1e-4, -2e-4, 5e-5])
    sp = full_state_setpoint(LEVEL_FACING_EAST, wrench, quad)
    assert sp.acceleration[2] == pytest.approx(0.02 / quad.mass)  # level: the extra thrust goes up
    np.testing.assert_allclose(wrench_tracking_full_state(LEVEL_FACING_EAST, sp, quad), wrench, rtol=1e-9)


def test_odometry_twist_frames_agree():
    yaw90 = frames.wxyz_to_xyzw(np.array([np.sqrt(0.5), 0, 0, np.sqrt(0.5)]))
    body = observation_from_odometry([0, 0, 1], yaw90, [1.0, 0, 0], [0, 0, 0], twist_frame="body")
    world = observation_from_odometry([0, 0, 1], yaw90, [0, 1.0, 0], [0, 0, 0], twist_frame="world")
    np.testing.assert_allclose(body, world, atol=1e-12)  # facing +y, forward is world +y


def test_quadrotor_state_travels_as_an_observation_joint_state():
    layout = state_layout(make_task("quadrotor_hover"))
    assert isinstance(layout, ObservationLayout) and not layout.requires_velocity
    assert layout.joint_names[:4] == ("x", "y", "z", "qw") and layout.extra_dim == 0
    np.testing.assert_array_equal(layout.observation(LEVEL_FACING_EAST), LEVEL_FACING_EAST)
    assert state_layout(make_task("quadrotor_waypoints")).extra_dim == 3
    assert state_layout(make_task("pendulum_swingup")).requires_velocity
