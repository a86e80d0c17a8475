"""Accuracy of the state estimators against known ground truth.

(a) Joint velocities on the ``cartpole_swingup`` simulation: the MuJoCo task runs
(1 ms physics step) with random or sinusoidal forces; at the joint_states rate
(``--rate``, optionally with jitter and drops) the true joint positions get Gaussian noise of
``--noise-counts`` counts and are quantized to an encoder of
``--counts-per-rev`` counts (the slider's encoder sits on a motor driving a
belt over a pulley of ``--pulley-radius``). Each estimator's velocity RMSE is
measured against MuJoCo's ``qvel``. The Kalman filters' process noise is
picked per joint from a grid on separate tuning episodes (seeds from 1000),
then evaluated on the evaluation episodes, so the ratio is not fitted to the
data it reports.

(b) The rigid-body EKF on a synthetic quadrotor flight (``rigid_body``) and on the
MuJoCo quadrotor flown by a geometric controller (``quadrotor``, :func:`mujoco_flight`)
(:func:`mbrl_ros.estimation.rigid_body_ekf.simulate_flight`: IMU at 200 Hz with
noise and bias random walk, motion-capture poses at 50 Hz): position, velocity
and attitude RMSE after a 3 s settling time, the normalized estimation error
squared (NEES; about 3 per 3-dof block when the covariance is consistent), and
the same flight with every pose arriving ``--pose-delay`` late (fused in stamp
order by re-propagation). Errors are those of the real-time estimate a
controller reads at the IMU rate (every 4th sample).

Example (the numbers in the issue's closing note):
    python bench/estimator_accuracy.py --episodes 10 --flights 5
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_header  # noqa: E402

from mbrl_ros.estimation import make_estimator  # noqa: E402
from mbrl_ros.estimation import quaternion as quat  # noqa: E402
import mbrl_ros.estimation.joint_kalman  # noqa: E402,F401  (registers joint_kf)
from mbrl_ros.estimation.rigid_body_ekf import (  # noqa: E402
    RigidBodyEKF,
    sample_imu_and_poses,
    simulate_flight,
)
from mbrl_ros.tasks import make_task  # noqa: E402

#: Input gains tried per joint (acceleration jump per unit force change, (m/s^2 or rad/s^2) / N).
INPUT_GAIN_GRID = np.logspace(-2, 1, 7).tolist()
#: Process-noise densities tried per joint (half-decade steps).
Q_GRID = {"constant_velocity": np.logspace(-2, 10, 25).tolist(),
          "constant_acceleration": np.logspace(0, 11, 23).tolist()}


# -- (a) joint velocities on the cart-pole -------------------------------------------------------

def cartpole_episode(task, seed: int, actions: str, rate: float, jitter: float, drop: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Stamps (N,), true positions (N, 2) and velocities (N, 2) sampled at ``rate`` Hz over one episode,
    and the commands: ``(time it acts from, force (1,))`` per control step.

    The physics runs at a finer step than the samples: MuJoCo's semi-implicit Euler makes
    ``(qpos[k+1] - qpos[k]) / dt`` equal ``qvel[k+1]`` exactly, so sampling every physics step would
    hand finite differences the true velocity. Sample periods vary by +-``jitter`` (a fraction of
    the period) and each sample is lost with probability ``drop``.
    """
    rng = np.random.default_rng(seed)
    task.reset(seed=seed)
    physics, limit = task.physics, task.spec.action_high[0]
    steps_per_sample = 1.0 / (rate * physics.timestep)
    stamps, positions, velocities = [physics.time], [physics.qpos], [physics.qvel]
    frequency, phase = rng.uniform(0.3, 1.5), rng.uniform(0.0, 2 * np.pi)
    next_sample = steps_per_sample
    commands = []
    for step in range(task.spec.episode_length):
        t = step * task.spec.control_period
        if actions == "random":
            force = rng.uniform(-limit, limit)
        elif actions == "centered":
            # Random force steps plus a spring-damper towards the rail's middle, so the cart never
            # hits the end stops (whose impacts no smooth motion model, and no controller, sees).
            force = float(np.clip(rng.uniform(-limit, limit) - 6.0 * physics.qpos[0] - 3.0 * physics.qvel[0],
                                  -limit, limit))
        else:
            force = limit * np.sin(2 * np.pi * frequency * t + phase)
        commands.append((physics.time, np.array([force])))
        for sub in range(task.frame_skip):
            physics.step([force])
            if step * task.frame_skip + sub + 1 >= next_sample:
                next_sample += steps_per_sample * rng.uniform(1.0 - jitter, 1.0 + jitter)
                if rng.random() >= drop:
                    stamps.append(physics.time)
                    positions.append(physics.qpos)
                    velocities.append(physics.qvel)
    return np.array(stamps), np.array(positions), np.array(velocities), commands


def encoder(positions: np.ndarray, steps: np.ndarray, noise_counts: float, rng) -> np.ndarray:
    noisy = positions + rng.normal(0.0, 1.0, positions.shape) * noise_counts * steps
    return np.round(noisy / steps) * steps


def velocity_errors(name: str, config: dict, episodes) -> np.ndarray:
    """Velocity errors (N, J) of one estimator over all episodes (first sample of each left out)."""
    errors = []
    for stamps, measured, true_velocity, commands in episodes:
        est = make_estimator(name, config, num_joints=measured.shape[1])
        pending = list(commands)
        estimates = []
        for t, z in zip(stamps, measured):
            while pending and pending[0][0] <= t:     # commands reach the estimator as they are sent
                est.note_input(*pending.pop(0))
            estimates.append(est.update(t, z)[measured.shape[1]:])
        estimates = np.array(estimates)
        errors.append(estimates[1:] - true_velocity[1:])
    return np.concatenate(errors)


def rmse(errors: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(np.square(errors), axis=0))


def joint_benchmark(args) -> dict:
    task = make_task("cartpole_swingup", timestep=args.physics_timestep)
    steps = np.array([2 * np.pi * args.pulley_radius / args.counts_per_rev, 2 * np.pi / args.counts_per_rev])
    noise = args.noise_counts * steps
    rng = np.random.default_rng(12345)

    def episodes(seeds):
        out = []
        for seed in seeds:
            stamps, positions, velocities, commands = cartpole_episode(task, seed, args.actions, args.rate,
                                                                       args.jitter, args.drop)
            out.append((stamps, encoder(positions, steps, args.noise_counts, rng), velocities, commands))
        return out

    tuning = episodes(range(1000, 1000 + args.tuning_episodes))
    evaluation = episodes(range(args.episodes))
    samples = sum(len(e[0]) for e in evaluation)
    span = np.concatenate([e[2] for e in evaluation])
    print(f"# (a) cartpole_swingup: {args.episodes} evaluation + {args.tuning_episodes} tuning episodes of "
          f"{task.spec.episode_length * task.spec.control_period:.0f} s, {args.actions} forces (limit "
          f"{task.spec.action_high[0]:.0f} N), physics step {args.physics_timestep * 1000:g} ms, joint_states at "
          f"{args.rate:g} Hz (period jitter +-{args.jitter:.0%}, {args.drop:.0%} dropped), {samples} samples")
    print(f"#     encoder {args.counts_per_rev} counts/rev (hinge {steps[1]:.3e} rad, slider {steps[0]:.3e} m "
          f"over a {args.pulley_radius * 1000:.0f} mm pulley), noise {args.noise_counts} counts std; "
          f"true speed RMS x_dot {rmse(span)[0]:.2f} m/s, theta_dot {rmse(span)[1]:.2f} rad/s")
    base = {"position_noise": noise.tolist(), "quantization_step": steps.tolist()}
    rows = {}
    for order in (1, 2):
        rows[f"finite_difference order {order}"] = ("finite_difference", {"order": order})
    for model, grid in Q_GRID.items():
        scores = np.array([rmse(velocity_errors("joint_kf", {**base, "model": model, "process_noise": q}, tuning))
                           for q in grid])
        best = [float(f"{grid[i]:.3g}") for i in scores.argmin(axis=0)]
        if any(i in (0, len(grid) - 1) for i in scores.argmin(axis=0)):
            print(f"# warning: the best process_noise of {model} is at the edge of the grid: {best}")
        rows[f"joint_kf {model}"] = ("joint_kf", {**base, "model": model, "process_noise": best})
    if args.input_aware:
        # The same filters told when the force changes (the command the estimator node reads from
        # /<controller>/commands): process_noise and input_gain picked per joint on a joint grid.
        for model, grid in Q_GRID.items():
            pairs = [(q, g) for q in grid[::2] for g in INPUT_GAIN_GRID]
            scores = np.array([rmse(velocity_errors(
                "joint_kf", {**base, "model": model, "process_noise": q, "input_gain": g}, tuning)) for q, g in pairs])
            best = [pairs[i] for i in scores.argmin(axis=0)]
            rows[f"joint_kf {model} + commands"] = ("joint_kf", {
                **base, "model": model, "process_noise": [float(f"{q:.3g}") for q, _ in best],
                "input_gain": [float(f"{g:.3g}") for _, g in best]})
    results = {}
    print(f"{'estimator':38s} {'x_dot RMSE m/s':>15s} {'theta_dot RMSE rad/s':>21s} {'us/update':>10s}  "
          "process_noise (x, theta)")
    for label, (name, config) in rows.items():
        t = time.perf_counter()
        errors = velocity_errors(name, config, evaluation)
        per_update = (time.perf_counter() - t) / samples * 1e6
        results[label] = {"estimator": name, "config": config, "rmse": rmse(errors).tolist(),
                          "us_per_update": per_update}
        print(f"{label:38s} {results[label]['rmse'][0]:15.4f} {results[label]['rmse'][1]:21.4f} "
              f"{per_update:10.1f}  {config.get('process_noise', '')}")
    fd = np.array(results["finite_difference order 1"]["rmse"])
    for label in [k for k in results if k.startswith("joint_kf")]:
        ratio = fd / np.array(results[label]["rmse"])
        results[label]["ratio_vs_finite_difference"] = ratio.tolist()
        print(f"ratio finite_difference(order 1) / {label}: x_dot {ratio[0]:.2f}x, "
              f"theta_dot {ratio[1]:.2f}x")
    return {"config": vars(args), "estimators": results}


# -- (b) rigid body on a synthetic flight -------------------------------------------------------------

def run_flight(flight, config: dict, delay_samples: int = 0):
    """Real-time estimates (what a controller reads) every 4th IMU sample, and the wall time per sample.

    Each pose reaches the filter ``delay_samples`` IMU samples after its stamp; the estimate at IMU
    sample k includes every pose that arrived by then.
    """
    ekf = RigidBodyEKF(config)
    poses = dict(zip(flight.pose_index.tolist(), range(flight.pose_index.size)))
    pending, out = [], {}
    start = time.perf_counter()
    for k, t in enumerate(flight.imu_stamps):
        ekf.predict_imu(t, flight.gyro[k], flight.accel[k])
        if k in poses:
            pending.append((k + delay_samples, poses[k]))
        while pending and pending[0][0] <= k:
            j = pending.pop(0)[1]
            ekf.update_pose(flight.pose_stamps[j], flight.pose_position[j], flight.pose_quaternion[j])
        if ekf.initialized and k % 4 == 0:
            out[k] = ekf.estimate()
    elapsed = time.perf_counter() - start
    return out, elapsed / flight.imu_stamps.size, ekf


def flight_metrics(flight, estimates, settle: float) -> dict:
    index = np.array(sorted(k for k in estimates if flight.imu_stamps[k] >= settle))
    est = [estimates[k] for k in index]
    dp = np.array([e.position for e in est]) - flight.position[index]
    dv = np.array([e.velocity for e in est]) - flight.velocity[index]
    q = np.array([e.quaternion for e in est])
    dtheta = quat.to_rotation_vector(quat.multiply(quat.conjugate(q), flight.quaternion[index]))  # body axes
    cov = np.array([e.error_covariance for e in est])

    def nees(err, block):
        return float(np.mean(np.einsum("ni,nij,nj->n", err, np.linalg.inv(cov[:, block, block]), err)))

    return {"position_rmse_m": float(np.sqrt(np.mean(np.sum(dp ** 2, 1)))),
            "velocity_rmse_mps": float(np.sqrt(np.mean(np.sum(dv ** 2, 1)))),
            "attitude_rmse_deg": float(np.degrees(np.sqrt(np.mean(np.sum(dtheta ** 2, 1))))),
            "position_nees": nees(dp, slice(0, 3)), "attitude_nees": nees(dtheta, slice(6, 9))}


def mujoco_flight(duration: float, seed: int, imu_rate: float = 200.0, pose_rate: float = 50.0):
    """The MuJoCo quadrotor (``quadrotor_hover``, thrust + body torques) flying a smooth 3D path.

    A geometric controller (position PD -> thrust vector, attitude error on SO(3) -> torques; Lee
    et al. 2010) at ``imu_rate`` tracks ``hover point + (0.5 sin 0.5t, 0.4 sin(0.7t+1), 0.2 sin 0.9t)``
    m from a seeded random start. The true state is taken at every control step; the specific force
    is ``R^T ((v_k - v_{k-1}) / dt - g)`` (the integrator's mean acceleration over the step). The
    sensors are sampled by :func:`sample_imu_and_poses` with the default profile of
    :func:`simulate_flight` (IMU noise and bias random walk, 50 Hz poses with 1 cm / 0.01 rad noise).
    """
    dt = 1.0 / imu_rate
    task = make_task("quadrotor_hover", action_mode="thrust_torques", control_period=dt, timestep=dt,
                     episode_length=int(round(duration / dt)))
    cfg = task.config
    mass, inertia, g = cfg.mass, np.asarray(cfg.inertia), 9.81
    hover = np.asarray(cfg.hover_point)
    obs, _ = task.reset(seed=seed)
    low, high = np.asarray(task.spec.action_low), np.asarray(task.spec.action_high)
    stamps, pos, vel, quats, rates, force = [], [], [], [], [], []
    prev_v = obs[7:10].copy()
    for k in range(task.spec.episode_length):
        t = k * dt
        p, q, v, w = obs[0:3], obs[3:7], obs[7:10], obs[10:13]
        rot = quat.to_rotation_matrix(q)
        target = hover + np.array([0.5 * np.sin(0.5 * t), 0.4 * np.sin(0.7 * t + 1.0), 0.2 * np.sin(0.9 * t)])
        target_v = np.array([0.25 * np.cos(0.5 * t), 0.28 * np.cos(0.7 * t + 1.0), 0.18 * np.cos(0.9 * t)])
        a_des = 6.0 * (target - p) + 4.0 * (target_v - v) + np.array([0.0, 0.0, g])
        z_des = a_des / np.linalg.norm(a_des)
        y_des = np.cross(z_des, [1.0, 0.0, 0.0])
        y_des /= np.linalg.norm(y_des)
        r_des = np.stack([np.cross(y_des, z_des), y_des, z_des], axis=1)
        e = r_des.T @ rot - rot.T @ r_des
        e_rot = 0.5 * np.array([e[2, 1], e[0, 2], e[1, 0]])
        torque = inertia * (-400.0 * e_rot - 40.0 * w)
        action = np.clip(np.concatenate([[mass * a_des @ rot[:, 2]], torque]), low, high)
        stamps.append(t)
        pos.append(p.copy()), vel.append(v.copy()), quats.append(q.copy()), rates.append(w.copy())
        force.append(rot.T @ ((v - prev_v) / dt - np.array([0.0, 0.0, -g])))
        prev_v = v.copy()
        obs = task.step(action)[0]
    force[0] = quat.to_rotation_matrix(quats[0]).T @ np.array([0.0, 0.0, g])  # no previous step: at rest
    rng = np.random.default_rng(10_000 + seed)
    return sample_imu_and_poses(np.array(stamps), np.array(pos), np.array(vel), np.array(quats), np.array(rates),
                                np.array(force), rng, imu_rate=imu_rate, pose_rate=pose_rate)


def ekf_benchmark(args, source: str) -> dict:
    """The EKF on ``source`` flights: ``synthetic`` (:func:`simulate_flight`) or ``mujoco`` (:func:`mujoco_flight`)."""
    if source == "mujoco":
        def make(seed):
            return mujoco_flight(args.flight_duration, seed)
        what = "the MuJoCo quadrotor (sim/quadrotor.xml) under a geometric controller (mujoco_flight)"
    else:
        def make(seed):
            return simulate_flight(duration=args.flight_duration, imu_rate=200.0, pose_rate=50.0, seed=seed)
        what = "simulate_flight (analytic motion)"
    flights = [make(seed) for seed in range(args.flights)]
    flight0 = flights[0]
    raw = np.sqrt(np.mean(np.sum((flight0.pose_position - flight0.position[flight0.pose_index]) ** 2, 1)))
    raw_att = np.degrees(np.sqrt(np.mean(quat.angle_between(flight0.pose_quaternion,
                                                             flight0.quaternion[flight0.pose_index]) ** 2)))
    speed = np.sqrt(np.mean(np.sum(np.concatenate([f.velocity for f in flights]) ** 2, 1)))
    rate = np.sqrt(np.mean(np.sum(np.concatenate([f.angular_velocity for f in flights]) ** 2, 1)))
    print(f"# rigid_body_ekf on {what}: {args.flights} flights of {args.flight_duration:.0f} s (speed RMS "
          f"{speed:.2f} m/s, body rate RMS {rate:.2f} rad/s), default sensor profile: IMU 200 Hz (gyro 1e-3 "
          f"rad/s/sqrt(Hz), accel 2e-2 m/s^2/sqrt(Hz), bias walks 1e-4 / 1e-3, start biases (0.02, -0.01, 0.015) "
          f"rad/s, (0.1, -0.05, 0.08) m/s^2), poses 50 Hz (1 cm, 0.01 rad per axis: RMS error {raw * 1000:.1f} "
          f"mm, {raw_att:.2f} deg); metrics after {args.settle:.0f} s; default config")
    delay = int(round(args.pose_delay * 200.0))
    results = {}
    for label, delay_samples in (("in order", 0), (f"poses {delay * 5} ms late", delay)):
        rows = []
        for flight in flights:
            estimates, per_sample, ekf = run_flight(flight, {"max_delay": max(0.25, 2 * args.pose_delay)},
                                                    delay_samples)
            rows.append({**flight_metrics(flight, estimates, args.settle), "us_per_imu_sample": per_sample * 1e6,
                         "replays": ekf.replays, "rejected": dict(ekf.rejected)})
        mean = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key not in ("rejected",)}
        results[label] = {"per_flight": rows, "mean": mean}
        print(f"{label:18s} position RMSE {mean['position_rmse_m'] * 1000:6.2f} mm  velocity RMSE "
              f"{mean['velocity_rmse_mps']:.4f} m/s  attitude RMSE {mean['attitude_rmse_deg']:.3f} deg  "
              f"NEES pos {mean['position_nees']:.2f} att {mean['attitude_nees']:.2f} (3 = consistent)  "
              f"{mean['us_per_imu_sample']:.0f} us/IMU sample  replays {mean['replays']:.0f}")
    return {"raw_position_rmse_m": float(raw), "raw_attitude_rmse_deg": float(raw_att), "results": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=10, help="cart-pole evaluation episodes")
    parser.add_argument("--tuning-episodes", type=int, default=3, help="cart-pole episodes to pick q on")
    parser.add_argument("--actions", choices=["centered", "random", "sinusoid"], default="centered",
                        help="centered: random force steps (uniform over the limits, new every control period) "
                             "plus a spring towards the middle of the rail; random: the same without the spring "
                             "(the cart hits the end stops); sinusoid: a slow sine force")
    parser.add_argument("--physics-timestep", type=float, default=0.001, help="MuJoCo step (s)")
    parser.add_argument("--rate", type=float, default=100.0, help="joint_states rate (Hz)")
    parser.add_argument("--jitter", type=float, default=0.0, help="sample period jitter (fraction)")
    parser.add_argument("--drop", type=float, default=0.0, help="probability that a sample is lost")
    parser.add_argument("--input-aware", action=argparse.BooleanOptionalAction, default=True,
                        help="also tune and report joint_kf told the command changes (input_gain)")
    parser.add_argument("--counts-per-rev", type=int, default=4096)
    parser.add_argument("--pulley-radius", type=float, default=0.01, help="slider belt pulley radius (m)")
    parser.add_argument("--noise-counts", type=float, default=1.0, help="encoder noise std in counts")
    parser.add_argument("--flights", type=int, default=5)
    parser.add_argument("--flight-duration", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--pose-delay", type=float, default=0.03, help="latency of the delayed-pose run (s)")
    parser.add_argument("--parts", nargs="+", choices=["joint", "rigid_body", "quadrotor"],
                        default=["joint", "rigid_body", "quadrotor"],
                        help="rigid_body: the EKF on analytic flights; quadrotor: on the MuJoCo quadrotor")
    parser.add_argument("--out", default="bench/results/estimator_accuracy.json")
    args = parser.parse_args()
    print(environment_header("numpy (float64, CPU, single thread)", 1))
    report = {}
    if "joint" in args.parts:
        report["joint"] = joint_benchmark(args)
    if "rigid_body" in args.parts:
        report["rigid_body"] = ekf_benchmark(args, "synthetic")
    if "quadrotor" in args.parts:
        report["quadrotor"] = ekf_benchmark(args, "mujoco")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
