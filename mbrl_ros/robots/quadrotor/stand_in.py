"""Shared base of the quadrotor robot stand-ins (``px4_sim``, ``crazyflie_sim``).

A stand-in simulates a quadrotor task (``quadrotor_hover`` by default) in real time and
speaks exactly one robot's topics, types and QoS, so the robot's launch file runs end to
end here. Subclasses publish the state in the robot's message (:meth:`publish_state`) and
turn the newest commands they received into a task action (:meth:`action_for`; None:
no valid command, the robot's own failsafe applies: the stand-in holds the hover thrust).

Each episode starts from a seeded perturbed hover state and runs ``episode_length`` steps
(or until the task ends it), then the stand-in pauses ``reset_gap`` wall seconds (the
robot's states stop, as when a pilot lands and takes off again). After ``episodes``
episodes it logs ``<name> summary: {json}`` (the counters of what it received) and exits
with code 0, which ends the launch (``on_exit: shutdown``).

Optional onboard sensors (off by default; a sensor profile such as
``config/sensors/mocap_imu/quadrotor_hover.yaml`` turns them on), through the models of
:mod:`mbrl_ros.sensors`:

* ``imu_topic`` (sensor_msgs/Imu, frame ``imu_frame_id``, body FLU): gyro and specific force
  once per control step, with ``imu.*`` noise densities and bias random walks; the specific
  force is taken from the step's mean acceleration ``(v_k - v_{k-1}) / dt`` (what the
  integrator applied). The orientation field is not measured (covariance[0] = -1, REP 145).
* ``pose_topic`` (geometry_msgs/PoseStamped, frame ``pose_frame_id``, world ENU): a
  motion-capture-like pose every ``pose.rate_divider`` steps with ``pose.*`` noise, latency
  (stamped at capture, published late) and dropouts.
* ``~/ground_truth`` (nav_msgs/Odometry, twist in the body frame as REP 105), published
  whenever a sensor is on, for tests and benchmarks.

Sensor stamps follow the simulation: step k of an episode is stamped ``t0 + k * dt`` with
``t0`` the episode's start on the node clock, so IMU intervals are exactly the integrator's
(on a loaded machine wall-clock stamps would jitter by milliseconds). If the simulation falls
behind by more than ``sensor_resync`` s the stamps jump to the clock (counted as
``sensor_resyncs``).
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import Any

import numpy as np

from mbrl_ros.config import param
from mbrl_ros.estimation import quaternion
from mbrl_ros.nodes.conversions import ns_to_stamp
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.nodes.parameters import declare_config, warn_unused_parameters
from mbrl_ros.nodes.shared_parameters import declare_task
from mbrl_ros.robots.quadrotor.interfaces import QuadrotorParameters
from mbrl_ros.robots.frames import wxyz_to_xyzw
from mbrl_ros.ros.compat import Clock, ClockType, Node, msg, rclpy_api
from mbrl_ros.sensors import ImuSensor, ImuSensorConfig, PoseSensor, PoseSensorConfig
from mbrl_ros.tasks.physics import PhysicsError


@dataclasses.dataclass(frozen=True)
class QuadrotorStandInConfig:
    """Parameters shared by the quadrotor stand-ins."""

    task: str = param("quadrotor_hover", "Quadrotor task to simulate (quadrotor_hover or quadrotor_waypoints "
                      "without its waypoints); its own parameters are <task>.*.")
    seed: int = param(0, "Episode e starts from seed * 100003 + e.", low=0, high=2 ** 31 - 1)
    episodes: int = param(3, "Episodes before the stand-in exits (0: run until shut down).", low=0, high=10 ** 6)
    episode_length: int = param(0, "Control steps per episode; 0: the task's.", low=0, high=10 ** 7)
    reset_gap: float = param(0.5, "Wall seconds without states between two episodes.", low=0.0, high=3600.0)
    command_timeout: float = param(0.5, "A command older than this (wall s) is no longer applied (the "
                                   "robot's failsafe: hover thrust).", low=0.001, high=3600.0)
    start_timeout: float = param(60.0, "Wall seconds to stream the start state while waiting for a "
                                 "controller before starting anyway.", low=0.0, high=3600.0)
    start_delay: float = param(0.5, "Wall seconds to wait once they are there.", low=0.0, high=60.0)
    linger: float = param(0.5, "Wall seconds to stay up after the last episode.", low=0.0, high=60.0)
    diagnostics_period: float = param(1.0, "Seconds between two /diagnostics messages.", low=0.01, high=3600.0)
    imu_topic: str = param("", "sensor_msgs/Imu output through the imu.* sensor model, once per control step "
                           "(e.g. /imu); empty: no IMU.")
    pose_topic: str = param("", "geometry_msgs/PoseStamped output through the pose.* sensor model (e.g. "
                            "/mocap/pose); empty: no pose.")
    imu_frame_id: str = param("base_link", "frame_id of the IMU messages (the body, FLU) and child_frame_id "
                              "of ~/ground_truth.")
    pose_frame_id: str = param("world", "frame_id of the poses and of ~/ground_truth (ENU, z up).")
    sensor_resync: float = param(0.1, "Sensor stamps jump to the clock when the simulation lags it by more "
                                 "than this (s).", low=0.001, high=3600.0)


class QuadrotorStandIn(Node):
    """Real-time quadrotor simulation behind a robot's topics (see the module docstring).

    Subclasses set :attr:`state_topic` and :attr:`command_topics` (for the start-up wait) in
    :meth:`setup` and implement :meth:`publish_state` and :meth:`action_for`.
    """

    config_class: type = QuadrotorStandInConfig

    def __init__(self, name: str, **node_kwargs: Any):
        super().__init__(name, **node_kwargs)
        self.config = declare_config(self, self.config_class)
        self.task = declare_task(self, self.config.task)
        self.imu_config = declare_config(self, ImuSensorConfig, prefix="imu")
        self.pose_config = declare_config(self, PoseSensorConfig, prefix="pose")
        warn_unused_parameters(self, ["", self.config.task, "imu", "pose"])
        self.quad = QuadrotorParameters.from_task(self.task)
        self.spec = self.task.spec
        self.exit_code = 0
        self.health = NodeHealth(self, hardware_id=f"stand_in:{name}")
        self.hover_action = np.asarray(self.task.hover_action, dtype=np.float64)
        self.returns: list[float] = []
        self.counters: dict[str, Any] = {"steps": 0, "failsafe_steps": 0, "commanded_steps": 0}
        self.state_topic = ""  # for logs
        self.command_topics: list[str] = []
        self.in_episode = False  # True from an episode's first state to its last
        self._start_wall = time.monotonic()
        self._stopping = threading.Event()
        self.setup()
        self._setup_sensors()
        self.create_timer(self.config.diagnostics_period, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.context.on_shutdown(self._stopping.set)
        self._thread = threading.Thread(target=self._run, name="simulation", daemon=True)
        self._thread.start()

    # -- subclass hooks ---------------------------------------------------------------------
    def setup(self) -> None:
        """Create the robot's publishers and subscriptions."""
        raise NotImplementedError

    def publish_state(self, obs: np.ndarray, now_ns: int) -> None:
        """Publish ``obs (O,)`` as the robot does."""
        raise NotImplementedError

    def action_for(self, obs: np.ndarray) -> np.ndarray | None:
        """The task action the robot applies now, or None (failsafe)."""
        raise NotImplementedError

    def on_episode_start(self, episode: int) -> None:
        """Called after each reset, before the episode's first state is published."""

    def controller_ready(self) -> bool:
        """Whether a controller is commanding (the episodes start then); default: a command publisher."""
        return any(self.count_publishers(t) > 0 for t in self.command_topics)

    # -- helpers ------------------------------------------------------------------------------
    def boot_us(self) -> int:
        """Microseconds since this stand-in started (PX4-style 'time since system start')."""
        return int((time.monotonic() - self._start_wall) * 1e6)

    def fresh(self, wall_time: float | None) -> bool:
        """Whether something received at monotonic ``wall_time`` is newer than ``command_timeout``."""
        return wall_time is not None and time.monotonic() - wall_time <= self.config.command_timeout

    def count(self, key: str, increment: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + increment

    # -- onboard sensors (see the module docstring) -------------------------------------------
    def _setup_sensors(self) -> None:
        cfg = self.config
        self.sensors_on = bool(cfg.imu_topic or cfg.pose_topic)
        if not self.sensors_on:
            return
        # Their own stream: turning a sensor on leaves the episodes' start states as they were.
        rng = np.random.default_rng([cfg.seed, 0x5E4])
        gravity = np.array(self.task.physics.model.opt.gravity, dtype=np.float64)
        self._imu = ImuSensor(self.imu_config, 1.0 / self.spec.control_period, rng, gravity=gravity)
        self._pose = PoseSensor(self.pose_config, rng)
        self._imu_pub = self.create_publisher(msg("sensor_msgs/msg/Imu"), cfg.imu_topic, 50) if cfg.imu_topic else None
        self._pose_pub = (self.create_publisher(msg("geometry_msgs/msg/PoseStamped"), cfg.pose_topic, 10)
                          if cfg.pose_topic else None)
        self._truth_pub = self.create_publisher(msg("nav_msgs/msg/Odometry"), "~/ground_truth", 50)
        self._sensor_t0_ns = 0
        self._sensor_step = 0
        self._previous_velocity: np.ndarray | None = None
        self.counters.update({"imu_samples": 0, "poses": 0, "poses_dropped": 0, "sensor_resyncs": 0})
        self.get_logger().info(f"sensors: imu {cfg.imu_topic or 'off'}, pose {cfg.pose_topic or 'off'}")

    def _start_sensors(self, now_ns: int) -> None:
        self._imu.reset()
        self._pose.reset()
        self._sensor_t0_ns = now_ns
        self._sensor_step = 0
        self._previous_velocity = None

    def _sample_sensors(self, obs: np.ndarray) -> None:
        """Measure ``obs`` (after step ``_sensor_step`` of the episode) and publish what is due."""
        period_ns = round(self.spec.control_period * 1e9)
        stamp_ns = self._sensor_t0_ns + self._sensor_step * period_ns
        now_ns = self.get_clock().now().nanoseconds
        if now_ns - stamp_ns > self.config.sensor_resync * 1e9:
            self.count("sensor_resyncs")
            self._sensor_t0_ns += now_ns - stamp_ns
            stamp_ns = now_ns
        self._sensor_step += 1
        position, q, velocity, rates = obs[0:3], obs[3:7], obs[7:10], obs[10:13]
        # The first sample of an episode has no previous velocity: it reads as unaccelerated.
        acceleration = (np.zeros(3) if self._previous_velocity is None
                        else (velocity - self._previous_velocity) / self.spec.control_period)
        self._previous_velocity = velocity.copy()
        stamp = ns_to_stamp(stamp_ns)
        if self._imu_pub is not None:
            reading = self._imu.measure(stamp_ns, rates, acceleration, q)
            message = msg("sensor_msgs/msg/Imu")()
            message.header.stamp, message.header.frame_id = stamp, self.config.imu_frame_id
            message.orientation_covariance = [-1.0] + [0.0] * 8
            w, a = message.angular_velocity, message.linear_acceleration
            w.x, w.y, w.z = (float(v) for v in reading.gyro)
            a.x, a.y, a.z = (float(v) for v in reading.accel)
            gyro_var = (self.imu_config.gyro_noise_density ** 2) / self.spec.control_period
            accel_var = (self.imu_config.accel_noise_density ** 2) / self.spec.control_period
            message.angular_velocity_covariance = [gyro_var, 0.0, 0.0, 0.0, gyro_var, 0.0, 0.0, 0.0, gyro_var]
            message.linear_acceleration_covariance = [accel_var, 0.0, 0.0, 0.0, accel_var, 0.0, 0.0, 0.0, accel_var]
            self._imu_pub.publish(message)
            self.count("imu_samples")
        if self._pose_pub is not None:
            for pose in self._pose.measure(stamp_ns, position, q):
                message = msg("geometry_msgs/msg/PoseStamped")()
                message.header.stamp, message.header.frame_id = ns_to_stamp(pose.stamp_ns), self.config.pose_frame_id
                p, o = message.pose.position, message.pose.orientation
                p.x, p.y, p.z = (float(v) for v in pose.position)
                o.x, o.y, o.z, o.w = (float(v) for v in wxyz_to_xyzw(pose.quaternion))
                self._pose_pub.publish(message)
                self.count("poses")
            self.counters["poses_dropped"] = self._pose.dropped
        truth = msg("nav_msgs/msg/Odometry")()
        truth.header.stamp, truth.header.frame_id = stamp, self.config.pose_frame_id
        truth.child_frame_id = self.config.imu_frame_id
        p, o = truth.pose.pose.position, truth.pose.pose.orientation
        p.x, p.y, p.z = (float(v) for v in position)
        o.x, o.y, o.z, o.w = (float(v) for v in wxyz_to_xyzw(q))
        v, w = truth.twist.twist.linear, truth.twist.twist.angular
        v.x, v.y, v.z = (float(x) for x in quaternion.to_rotation_matrix(q).T @ velocity)
        w.x, w.y, w.z = (float(x) for x in rates)
        self._truth_pub.publish(truth)

    # -- simulation thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._wait_for_peers()
            episode = 0
            while not self._stopping.is_set() and (self.config.episodes == 0 or episode < self.config.episodes):
                if episode > 0:
                    self._stopping.wait(self.config.reset_gap)
                self._run_episode(episode)
                episode += 1
            if not self._stopping.is_set():
                summary = {**self.counters, "episodes": len(self.returns),
                           "returns": [round(r, 4) for r in self.returns]}
                self.get_logger().info(f"{self.get_name()} summary: {json.dumps(summary, sort_keys=True)}")
                self._stopping.wait(self.config.linger)
        except Exception as exc:  # the simulation thread must never die silently
            if self._stopping.is_set() or not self.context.ok():
                return
            self.exit_code = 1
            self.get_logger().fatal(f"simulation failed: {type(exc).__name__}: {exc}")
        finally:
            if not self._stopping.is_set():
                rclpy_api.try_shutdown(context=self.context)

    def _wait_for_peers(self) -> None:
        """Stream the first episode's start state (a vehicle waiting on the ground streams its state
        too) until :meth:`controller_ready` or ``start_timeout``."""
        obs, _ = self.task.reset(seed=self.config.seed * 100003)
        deadline = time.monotonic() + self.config.start_timeout
        while not self._stopping.is_set() and time.monotonic() < deadline:
            if self.controller_ready():
                self._stopping.wait(self.config.start_delay)
                return
            self.publish_state(obs, self.get_clock().now().nanoseconds)
            self._stopping.wait(self.spec.control_period)
        if not self._stopping.is_set():
            self.get_logger().warning(f"starting without a controller on {self.command_topics} after "
                                      f"{self.config.start_timeout} s")

    def _run_episode(self, episode: int) -> None:
        obs, _ = self.task.reset(seed=self.config.seed * 100003 + episode)
        length = self.config.episode_length or self.spec.episode_length
        period = self.spec.control_period
        total, steps = 0.0, 0
        self.on_episode_start(episode)
        self.in_episode = True
        self.publish_state(obs, self.get_clock().now().nanoseconds)
        if self.sensors_on:
            self._start_sensors(self.get_clock().now().nanoseconds)
            self._sample_sensors(obs)
        next_tick = time.monotonic() + period
        for _ in range(length):
            if self._stopping.wait(max(0.0, next_tick - time.monotonic())):
                return
            next_tick += period
            if time.monotonic() - next_tick > period:  # fell behind (a loaded machine): do not catch up
                self.count("overruns")
                next_tick = time.monotonic() + period
            action = self.action_for(obs)
            if action is None:
                self.count("failsafe_steps")
                action = self.hover_action
            else:
                self.count("commanded_steps")
            try:
                obs, reward, terminated, truncated, _ = self.task.step(action)
            except PhysicsError as exc:
                self.get_logger().error(f"episode {episode}: {exc}; ending the episode")
                break
            total += reward
            steps += 1
            self.count("steps")
            self.publish_state(obs, self.get_clock().now().nanoseconds)
            if self.sensors_on:
                self._sample_sensors(obs)
            if terminated:  # the crash charge of the steps left (TaskSpec.termination_reward)
                total += self.spec.termination_reward * max(length - steps, 0)
            if terminated or truncated:
                break
        self.in_episode = False
        self.returns.append(total)
        self.health.count("episodes")
        self.get_logger().info(f"episode {episode}: return {total:.3f}, {self.counters['commanded_steps']} "
                               f"commanded and {self.counters['failsafe_steps']} failsafe steps so far")

    def _publish_diagnostics(self) -> None:
        for key, value in self.counters.items():
            if isinstance(value, (int, float)):
                self.health.set(key, value)
        self.health.publish("ok", f"{len(self.returns)} episode(s) done")

    def stop(self) -> None:
        """Stop the simulation thread (called before the node is destroyed)."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
