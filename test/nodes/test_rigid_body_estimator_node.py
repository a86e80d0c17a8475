"""rigid_body_estimator on the runtime: tracks a synthetic flight, rejects bad input, resets; and end to
end behind the crazyflie_sim stand-in with the mocap_imu sensor profile."""
import math
import time
from pathlib import Path

import numpy as np
import pytest

import mbrl_ros.robots.crazyflie.msgs  # noqa: F401  (registers crazyflie_interfaces/FullState)
from mbrl_ros.estimation import quaternion as quat
from mbrl_ros.estimation.rigid_body_ekf import simulate_flight
from mbrl_ros.nodes.conversions import ns_to_stamp, stamp_to_ns
from mbrl_ros.robots.crazyflie.sim import CrazyflieSimNode
from mbrl_ros.nodes.rigid_body_estimator import RigidBodyEstimatorNode
from mbrl_ros.robots.frames import wxyz_to_xyzw, xyzw_to_wxyz
from mbrl_ros.ros.compat import msg
from mbrl_ros.ros.runtime.arguments import load_params_file

ROOT = Path(__file__).resolve().parents[2]
IMU_STEP_NS = 5_000_000          # 200 Hz


def imu_message(stamp_ns, gyro, accel):
    message = msg("sensor_msgs/msg/Imu")()
    message.header.stamp, message.header.frame_id = ns_to_stamp(stamp_ns), "base_link"
    message.orientation_covariance = [-1.0] + [0.0] * 8
    w, a = message.angular_velocity, message.linear_acceleration
    w.x, w.y, w.z = (float(v) for v in gyro)
    a.x, a.y, a.z = (float(v) for v in accel)
    return message


def pose_message(stamp_ns, position, q_wxyz, frame="world"):
    message = msg("geometry_msgs/msg/PoseStamped")()
    message.header.stamp, message.header.frame_id = ns_to_stamp(stamp_ns), frame
    p, o = message.pose.position, message.pose.orientation
    p.x, p.y, p.z = (float(v) for v in position)
    o.x, o.y, o.z, o.w = (float(v) for v in wxyz_to_xyzw(q_wxyz))
    return message


def odometry_arrays(messages):
    """Stamps (ns), positions (N, 3), quaternions (N, 4) wxyz, body velocities (N, 3) of Odometry messages."""
    stamps = np.array([stamp_to_ns(m.header.stamp) for m in messages])
    position = np.array([[m.pose.pose.position.x, m.pose.pose.position.y, m.pose.pose.position.z] for m in messages])
    q = xyzw_to_wxyz(np.array([[m.pose.pose.orientation.x, m.pose.pose.orientation.y, m.pose.pose.orientation.z,
                                m.pose.pose.orientation.w] for m in messages]))
    velocity = np.array([[m.twist.twist.linear.x, m.twist.twist.linear.y, m.twist.twist.linear.z] for m in messages])
    return stamps, position, q, velocity


def assert_covariances_valid(messages):
    for m in messages:
        for flat in (m.pose.covariance, m.twist.covariance):
            cov = np.asarray(flat).reshape(6, 6)
            assert np.allclose(cov, cov.T, atol=1e-15)
            assert np.linalg.eigvalsh(cov).min() > 0.0


def test_tracks_a_synthetic_flight_and_rejects_bad_input(graph, wait_for):
    """A 4 s flight (IMU 200 Hz, poses 50 Hz arriving 10 ms late): the odometry follows the truth."""
    flight = simulate_flight(duration=4.0, imu_rate=200.0, pose_rate=50.0, seed=3)
    node = graph.start(RigidBodyEstimatorNode, max_age=5.0, publish_every=2,
                       **{"rigid_body_ekf.gravity": 9.80665})
    odometry = graph.collect("nav_msgs/msg/Odometry", "/mbrl/odom")
    imu_pub = graph.publisher("sensor_msgs/msg/Imu", "/imu", 100)
    pose_pub = graph.publisher("geometry_msgs/msg/PoseStamped", "/mocap/pose", 100)
    wait_for(lambda: imu_pub.get_subscription_count() > 0 and pose_pub.get_subscription_count() > 0,
             what="the estimator to subscribe")
    base_ns = graph.probe.get_clock().now().nanoseconds
    pose_at = dict(zip(flight.pose_index.tolist(), range(flight.pose_index.size)))
    sent = {"imu": 0, "pose": 0}
    for k in range(flight.imu_stamps.size):
        imu_pub.publish(imu_message(base_ns + k * IMU_STEP_NS, flight.gyro[k], flight.accel[k]))
        sent["imu"] += 1
        late = k - 2                                     # each pose arrives two IMU samples (10 ms) late
        if late in pose_at:
            j = pose_at[late]
            pose_pub.publish(pose_message(base_ns + late * IMU_STEP_NS, flight.pose_position[j],
                                          flight.pose_quaternion[j]))
            sent["pose"] += 1
        if k % 25 == 24:                                 # best effort: never run far ahead of the node
            wait_for(lambda: node.health.get("received.imu") == sent["imu"]
                     and node.health.get("received.pose") == sent["pose"], what="the estimator to catch up")
    wait_for(lambda: node.health.get("received.imu") == sent["imu"], what="the last IMU samples")
    assert node.health.rejected_total() == 0 and node.ekf.replays > 0

    stamps, position, q, body_velocity = odometry_arrays(odometry)
    index = np.round((stamps - base_ns) / IMU_STEP_NS).astype(int)
    # publish_every: 2: one message per two IMU samples, stamped on the IMU grid, in order (which
    # samples depends on whether the first pose is taken before or after the queued IMU samples).
    assert np.all(np.abs(stamps - base_ns - index * IMU_STEP_NS) < 1000)
    assert np.all(np.diff(index) >= 1)
    assert abs(index.size - (sent["imu"] - index[0]) / 2) <= 2
    settled = flight.imu_stamps[index] >= 1.0
    assert settled.sum() > 250
    dp = position[settled] - flight.position[index[settled]]
    dtheta = quat.to_rotation_vector(quat.multiply(quat.conjugate(q[settled]), flight.quaternion[index[settled]]))
    position_error = np.linalg.norm(dp, axis=1)
    attitude_error_deg = np.degrees(np.linalg.norm(dtheta, axis=1))
    print(f"synthetic flight: position RMSE {1000 * np.sqrt(np.mean(position_error ** 2)):.2f} mm "
          f"(max {1000 * position_error.max():.2f}), attitude RMSE {np.sqrt(np.mean(attitude_error_deg ** 2)):.3f} "
          f"deg (max {attitude_error_deg.max():.3f})")
    # Measured: RMSE 7.6 mm (max 14.9 mm), 0.18 deg (max 0.46 deg).
    assert position_error.max() < 0.02 and attitude_error_deg.max() < 1.0
    assert np.sqrt(np.mean(position_error ** 2)) < 0.015
    # The twist is in the body frame (REP 105).
    rot = quat.to_rotation_matrix(flight.quaternion[index[settled]])
    true_body_velocity = np.einsum("nji,nj->ni", rot, flight.velocity[index[settled]])
    assert np.abs(body_velocity[settled] - true_body_velocity).max() < 0.1
    assert all(m.header.frame_id == "world" and m.child_frame_id == "base_link" for m in odometry)
    assert_covariances_valid(odometry)

    last_ns = base_ns + (flight.imu_stamps.size - 1) * IMU_STEP_NS
    published = len(odometry)
    imu_pub.publish(imu_message(last_ns + IMU_STEP_NS, [math.nan, 0.0, 0.0], [0.0, 0.0, 9.8]))   # non_finite
    imu_pub.publish(imu_message(last_ns - IMU_STEP_NS, [0.0, 0.0, 0.0], [0.0, 0.0, 9.8]))       # out_of_order
    no_gyro = imu_message(last_ns + 2 * IMU_STEP_NS, [0.0, 0.0, 0.0], [0.0, 0.0, 9.8])
    no_gyro.angular_velocity_covariance = [-1.0] + [0.0] * 8
    imu_pub.publish(no_gyro)                                                                      # not_measured
    imu_pub.publish(imu_message(base_ns - 10 * 10 ** 9, [0.0, 0.0, 0.0], [0.0, 0.0, 9.8]))     # stale
    pose_pub.publish(pose_message(last_ns, [0.0, 0.0, 1.0], quat.IDENTITY, frame="map"))         # wrong_frame
    pose_pub.publish(pose_message(last_ns - 10 ** 9, [0.0, 0.0, 1.0], quat.IDENTITY))            # too_late
    expected = {"imu": ("non_finite", "out_of_order", "not_measured", "stale"), "pose": ("wrong_frame", "too_late")}
    wait_for(lambda: node.health.rejected_total() == 6, what="six rejections")
    for source, reasons in expected.items():
        for reason in reasons:
            assert node.health.get(f"rejected.{source}.{reason}") == 1, (source, reason)
    assert len(odometry) == published

    reset = graph.publisher("std_msgs/msg/Empty", "/mbrl/reset")
    wait_for(lambda: reset.get_subscription_count() > 0, what="the reset subscription")
    reset.publish(msg("std_msgs/msg/Empty")())
    wait_for(lambda: node.health.get("resets") == 1, what="the reset")
    assert not node.ekf.initialized
    start_ns = base_ns + 10 ** 9                         # older than before the reset: fine now
    pose_pub.publish(pose_message(start_ns, [5.0, 0.0, 1.0], quat.IDENTITY))
    wait_for(lambda: node.ekf.initialized, what="the pose that restarts the filter")
    for k in range(1, 5):
        imu_pub.publish(imu_message(start_ns + k * IMU_STEP_NS, [0.0, 0.0, 0.0], [0.0, 0.0, 9.80665]))
    wait_for(lambda: len(odometry) >= published + 2, what="odometry after the reset")
    assert odometry[-1].pose.pose.position.x == pytest.approx(5.0, abs=0.01)


def hover_setpoint(position):
    message = msg("crazyflie_interfaces/msg/FullState")()
    message.header.frame_id = "world"
    message.pose.position.x, message.pose.position.y, message.pose.position.z = (float(v) for v in position)
    return message


def test_end_to_end_behind_the_crazyflie_stand_in_with_the_mocap_imu_profile(graph, wait_for):
    """crazyflie_sim publishes /imu and /mocap/pose (profile mocap_imu); the estimator's odometry is
    compared with the stand-in's ~/ground_truth at the same stamps."""
    profile = load_params_file(str(ROOT / "config/sensors/mocap_imu/quadrotor_hover.yaml"))
    estimator = graph.start(RigidBodyEstimatorNode, **profile["/rigid_body_estimator"])
    odometry = graph.collect("nav_msgs/msg/Odometry", "/mbrl/odom")
    truth = graph.collect("nav_msgs/msg/Odometry", "/crazyflie_sim/ground_truth")
    # A fake controller: the hover point as a full-state setpoint at 50 Hz (the stand-in's onboard
    # controller tracks its rates and thrust; the start offset, velocity and tilt make it drift).
    commands = graph.publisher("crazyflie_interfaces/msg/FullState", "/cf231/cmd_full_state")
    graph.probe.create_timer(0.02, lambda: commands.publish(hover_setpoint([0.0, 0.0, 1.0])))
    stand_in = graph.start(CrazyflieSimNode, episodes=2, episode_length=125, reset_gap=0.5, start_delay=0.2,
                           linger=0.3, **profile["/crazyflie_sim"],
                           **{"quadrotor_hover.init_angle": 0.05, "quadrotor_hover.init_angular_velocity": 0.2})
    started = time.monotonic()
    wait_for(lambda: not graph.context.ok(), timeout=25.0, what="the stand-in to finish two episodes")
    assert stand_in.exit_code == 0 and stand_in.counters["imu_samples"] == 2 * 126
    assert stand_in.counters["poses"] >= 2 * 124 and estimator.health.get("restarts") == 1   # one per new episode
    assert estimator.health.rejected_total() == 0

    truth_at = {stamp_to_ns(m.header.stamp): m for m in truth}
    matched = [m for m in odometry if stamp_to_ns(m.header.stamp) in truth_at]
    assert len(matched) >= 0.9 * len(odometry) and len(odometry) > 200
    stamps, position, q, body_velocity = odometry_arrays(matched)
    _, true_position, true_q, true_body_velocity = odometry_arrays([truth_at[s] for s in stamps])
    # Leave out each episode's first 0.5 s (the filter starts from one pose and unknown velocity).
    episode_start = {}
    for s in sorted(truth_at):
        if not episode_start or s - max(episode_start.values()) > 3 * 10 ** 9:
            episode_start[len(episode_start)] = s
    starts = np.array(sorted(episode_start.values()))
    since_start = stamps - starts[np.searchsorted(starts, stamps, side="right") - 1]
    settled = since_start >= 5 * 10 ** 8
    position_rmse = np.sqrt(np.mean(np.sum((position - true_position)[settled] ** 2, axis=1)))
    dtheta = quat.to_rotation_vector(quat.multiply(quat.conjugate(q[settled]), true_q[settled]))
    attitude_rmse_deg = np.degrees(np.sqrt(np.mean(np.sum(dtheta ** 2, axis=1))))
    velocity_rmse = np.sqrt(np.mean(np.sum((body_velocity - true_body_velocity)[settled] ** 2, axis=1)))
    travelled = np.ptp(true_position, axis=0).max()
    print(f"stand-in end to end ({time.monotonic() - started:.1f} s, {settled.sum()} settled estimates, "
          f"drone moved {travelled:.2f} m): position RMSE {1000 * position_rmse:.2f} mm, attitude RMSE "
          f"{attitude_rmse_deg:.3f} deg, body velocity RMSE {velocity_rmse:.3f} m/s")
    assert travelled > 0.05
    # Measured 8.2 mm, 0.31 deg, 0.04 m/s (1 cm / 0.01 rad mocap noise); bounds 2-3x above.
    assert position_rmse < 0.02 and attitude_rmse_deg < 1.0 and velocity_rmse < 0.1
    assert_covariances_valid(matched)
