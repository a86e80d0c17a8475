"""``sim_bridge``: runs a MuJoCo task and speaks the topics of a ros2_control robot.

Publishes:
    /joint_states (sensor_msgs/JointState): measured positions and velocities, named after the
        MJCF joints, once per control period, through a sensor profile (mbrl_ros.sensors: noise,
        quantization, position-only encoders, dropouts, latency in whole control periods);
        header stamp = simulated time of the measurement. Commands can act
        ``actuation_delay_steps`` control periods late.
    ~/ground_truth (sensor_msgs/JointState): the same without noise or latency.
    /clock (rosgraph_msgs/Clock): simulated time; other nodes set ``use_sim_time: true``.
    ~/reward (std_msgs/Float64): reward of each step.
    ~/episode_return (std_msgs/Float64, reliable, transient-local, one sample per episode kept):
        the return of each finished episode.
    ~/observation_extra (std_msgs/Float64MultiArray, latched): per-episode observation constants
        (the reacher's target), published at every reset; absent for tasks without any.
    ~/applied_command (std_msgs/Float64MultiArray): the action the actuator applied at each step
        (after the watchdog and the actuation delay).
    /diagnostics: steps, episodes, missed steps, stale and rejected commands, watchdog trips.
Subscribes:
    /<controller>/commands (std_msgs/Float64MultiArray): actuator commands (clamped to the limits).
    /mbrl/reset (std_msgs/Empty): end the current episode now and start the next one.
    /mbrl/reset (service std_srvs/Trigger): the same, for ``ros2 service call``.
    <learner_topic> (std_msgs/Int32, latched; lockstep only, optional): episodes the learner is done with.

Modes:
    realtime: a step every control period of wall time with the newest command (zero-order
        hold); a step without a new command counts as a miss. The command watchdog: a step
        whose last valid command arrived more than ``command_timeout_periods`` control periods
        ago applies the task's safe action instead (``watchdog_steps``, ``watchdog_trips``), so
        with the default of 1 the safe action acts within 2 control periods of the last valid
        command (a planner or estimator that died, a flood that starves the planner).
    lockstep: a step happens as soon as the command for the last published state arrives
        (a command tagged with another state's stamp is stale and dropped; an untagged one is
        taken as is), or after ``step_timeout`` with the held command (a miss). Use it to run
        faster (or slower) than real time with the same planner and learner nodes.

Action repeat (``learning.action_repeat``, from the task's run file, as ``mbrl-ros train``): each
command is held for ``action_repeat`` physics steps of the task's control period, and a state is
published after each hold, so states and commands come every ``action_repeat`` control periods
(the held period, which mpc_planner plans in and model_learner pairs with: one transition per held
action, as the in-process loop learns it). Sensors measure once per hold, and their latency, the
actuation delay, ``command_timeout_periods`` and ``realtime``'s tick count held periods; the
simulated clock, ``~/reward``, ``~/applied_command`` and the episode's steps count physics steps
(``episode_length``; ``env_steps`` in progress.csv). A hold that the episode's end cuts short
publishes no final state (the in-process loop does not learn it either); one cut short by a
termination does.

Physics profiles (``physics_profile``): ``randomized`` re-samples masses, inertias, damping,
friction, actuator gains, delays and sensor noise every episode from
``config/randomization/<task>.yaml``; ``stand_in`` runs the task's "real robot" stand-in
(``config/randomization/stand_in/<task>.yaml``); or a YAML file path
(:mod:`mbrl_ros.tasks.randomization`). Each episode's values are logged, go to the
``physics.*`` columns of progress.csv, and are published on ``~/physics``
(std_msgs/String, JSON, latched) at every reset; ``~/ground_truth`` stays noise-free.

Simulated time keeps growing across episodes and jumps by ``reset_gap`` at every reset, so
downstream nodes see a reset as a gap in the stamps (no transition is learned across it).
After ``learning.episodes`` episodes the node exits with code 0. With ``output_dir`` it writes
``params.yaml`` at the start and ``progress.csv`` after every episode (before the episode's end goes
out); ``resume`` continues the run there, numbering episodes on from the episodes model_learner's
``transitions.npz`` has committed (:mod:`mbrl_ros.learning.run_directory`).

Scheduling: the simulation thread is the command watchdog (realtime: a step without a new
command holds the last one and counts a miss; lockstep: ``step_timeout``); ``main`` runs the
process under SCHED_FIFO priority 10 where permitted, else nice -10 (``scheduling.*``,
:mod:`mbrl_ros.nodes.scheduling`), so it keeps its period while planning and training load the CPU.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import sys
import threading
import time
from typing import Any

import numpy as np

from mbrl_ros.config import param
from mbrl_ros.nodes.conversions import (
    InvalidMessageError,
    clock_message,
    command_to_action,
    float64_array_message,
    float64_message,
    joint_state_message,
    seconds_to_ns,
)
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.nodes.joint_layout import joint_layout
from mbrl_ros.nodes.parameters import declare_config, warn_unused_parameters
from mbrl_ros.nodes.run_recorder import RunRecorder
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.nodes.scheduling import REALTIME_DEFAULTS
from mbrl_ros.nodes.shared_parameters import declare_learning, declare_task
from mbrl_ros.ros.compat import (
    Clock,
    ClockType,
    DurabilityPolicy,
    Node,
    QoSProfile,
    ReliabilityPolicy,
    msg,
    qos_profile_latched,
    rclpy_api,
    srv,
)
from mbrl_ros.sensors import ActuationDelay, JointSensor, JointSensorConfig
from mbrl_ros.tasks.physics import PhysicsError
from mbrl_ros.tasks.randomization import with_profile

RESET_TOPIC = "/mbrl/reset"
# Lockstep: longest wait for mpc_planner to report the model trained for the next episode.
_PLANNER_MODEL_WAIT_S = 20.0
JOINT_STATES_TOPIC = "/joint_states"


@dataclasses.dataclass(frozen=True)
class SimBridgeConfig(JointSensorConfig):
    """Parameters of the ``sim_bridge`` node (episodes come from ``learning.episodes``).

    The sensor fields (``position_noise_std`` ... ``latency_steps``, one sample per control
    period) are those of :class:`~mbrl_ros.sensors.JointSensorConfig`; a sensor profile in
    ``config/sensors/`` sets them.
    """

    task: str = param("pendulum_swingup", "Registered task to simulate; its own parameters are <task>.*.")
    seed: int = param(0, "Episode e starts from seed * 100003 + e (as mbrl-ros train); also seeds the "
                      "sensor noise.", low=0, high=2 ** 31 - 1)
    realtime: bool = param(False, "true: step every control period of wall time; false: lockstep "
                           "(step when the command for the published state arrives).")
    controller: str = param("effort_controller", "Commands are read from /<controller>/commands.")
    step_timeout: float = param(1.0, "Lockstep: wall seconds to wait for a command before stepping with "
                                "the held one (counted as a miss).", low=0.001, high=3600.0)
    reset_gap: float = param(1.0, "Simulated seconds added at every reset, so stamps show the reset as a "
                             "gap (realtime: also waited in wall time).", low=0.0, high=3600.0)
    actuation_delay_steps: int = param(0, "Commands act this many control periods after they arrive (bus, "
                                       "driver and current-loop delay).", low=0, high=1000)
    start_timeout: float = param(30.0, "Wall seconds to wait at start for a command publisher, a "
                                 "/joint_states subscriber and (lockstep with learner_topic) the learner's first "
                                 "count before starting anyway (realtime too: the "
                                 "first episode does not run uncontrolled while the graph connects).",
                                 low=0.0, high=3600.0)
    start_delay: float = param(0.5, "Wall seconds to wait once they are there, so the rest of the graph "
                               "connects.", low=0.0, high=60.0)
    learner_topic: str = param("", "Lockstep: before episode e >= 1 wait until this std_msgs/Int32 topic "
                               "(model_learner's ~/processed_episodes) reports >= e, so training never "
                               "overlaps an episode, and until mpc_planner's /diagnostics report the "
                               "learner's newest model version; empty: do not wait.")
    learner_timeout: float = param(300.0, "Lockstep: longest wall wait for the learner (then go on with a "
                                   "warning).", low=0.0, high=86400.0)
    linger: float = param(1.0, "Wall seconds to stay up after the last episode so its messages are "
                          "delivered.", low=0.0, high=60.0)
    diagnostics_period: float = param(1.0, "Seconds between two /diagnostics messages.", low=0.01, high=3600.0)
    physics_profile: str = param("", "Physics of the simulated robot: empty (the task as configured), "
                                 "randomized (re-sampled every episode), stand_in (the task's 'real robot' "
                                 "stand-in) or a profile YAML path.")
    progress_period: float = param(1.0, "Wall seconds between two progress lines (episode, step, return so "
                                   "far, plan p99, model version); 0: none.", low=0.0, high=3600.0)
    output_dir: str = param("", "After the last episode write the run directory here, as mbrl-ros train "
                            "does: progress.csv, learning_curve.png, params.yaml, summary.json "
                            "(model_learner writes model.npz) "
                            "(empty: write nothing); progress.csv is rewritten after every episode and "
                            "params.yaml at the start, replacing those of an earlier run unless resume.")
    resume: bool = param(False, "Continue the run in output_dir (mbrl_ros.learning.run_directory): its "
                         "progress.csv rows and episode numbering, from the episodes model_learner's "
                         "transitions.npz there has ended, up to learning.episodes; refused (exit code 2) "
                         "without a run there or with another task/model configuration.")
    command_timeout_periods: float = param(1.0, "Realtime: a step applies the task's safe action when the "
                                           "last valid command arrived more than this many control periods "
                                           "ago (the safe action then acts within this + 1 periods of it); "
                                           "0: hold the last command forever.", low=0.0, high=1000.0)


class SimBridgeNode(Node):
    """Simulates a task and exchanges joint states and commands like a ros2_control robot."""

    def __init__(self, **node_kwargs: Any):
        super().__init__("sim_bridge", **node_kwargs)
        self.config = declare_config(self, SimBridgeConfig)
        self.learning = declare_learning(self)
        self.task = declare_task(self, self.config.task)
        warn_unused_parameters(self, ["", self.config.task])
        self.task = with_profile(self.task, self.config.physics_profile, seed=self.config.seed)
        spec = self.task.spec
        self.layout = joint_layout(self.task)
        self.exit_code = 0
        self.health = NodeHealth(self, hardware_id=f"mujoco:{spec.name}")
        self.command_topic = f"/{self.config.controller}/commands"
        self._period_ns = seconds_to_ns(spec.control_period)
        self._sim_ns = 0
        self._rng = np.random.default_rng(self.config.seed + 1)
        self._safe_action = np.asarray(spec.safe_action(), dtype=np.float64)
        self._repeat = self.learning.action_repeat
        self._hold_s = self.learning.action_period(spec.control_period)  # one command, held
        self._command_timeout_s = self.config.command_timeout_periods * self._hold_s
        self._last_command_wall: float | None = None
        self._watchdog_tripped = False
        self._held = self._safe_action.copy()
        sensor_fields = {f.name: getattr(self.config, f.name) for f in dataclasses.fields(JointSensorConfig)}
        self._sensor = JointSensor(JointSensorConfig(**sensor_fields), len(self.layout.joint_names), self._rng)
        self._actuation = ActuationDelay(self.config.actuation_delay_steps, self._safe_action)
        self._returns: list[float] = []
        self._episode_rows: list[dict] = []
        self._recorder = RunRecorder(self, self.learning.episodes, spec.episode_length)
        self._first_episode, self._steps_before, self._missed_before = self._start_run_directory()

        # Commands wait in an inbox that the simulation thread drains.
        self._cv = threading.Condition()
        self._inbox: collections.deque[tuple[np.ndarray, int | None]] = collections.deque()
        self._fresh_command = False
        self._reset_requested = False
        self._stopping = threading.Event()
        self._learner_done = -1

        self._joint_pub = self.create_publisher(msg("sensor_msgs/msg/JointState"), JOINT_STATES_TOPIC, 10)
        self._truth_pub = self.create_publisher(msg("sensor_msgs/msg/JointState"), "~/ground_truth", 10)
        self._clock_pub = self.create_publisher(msg("rosgraph_msgs/msg/Clock"), "/clock", 10)
        self._reward_pub = self.create_publisher(msg("std_msgs/msg/Float64"), "~/reward", 10)
        self._applied_pub = self.create_publisher(msg("std_msgs/msg/Float64MultiArray"), "~/applied_command", 10)
        returns_qos = QoSProfile(depth=min(max(self.learning.episodes, 1), 1000),
                                 reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._return_pub = self.create_publisher(msg("std_msgs/msg/Float64"), "~/episode_return", returns_qos)
        self._physics_pub = None
        if self.config.physics_profile:
            self._physics_pub = self.create_publisher(msg("std_msgs/msg/String"), "~/physics", qos_profile_latched)
        self._extra_pub = None
        if self.layout.extra_dim:
            self._extra_pub = self.create_publisher(msg("std_msgs/msg/Float64MultiArray"), "~/observation_extra",
                                                    qos_profile_latched)
        self.create_subscription(msg("std_msgs/msg/Float64MultiArray"), self.command_topic, self._on_command, 10)
        self.create_subscription(msg("std_msgs/msg/Empty"), RESET_TOPIC, self._on_reset, 10)
        self.create_service(srv("std_srvs/srv/Trigger"), RESET_TOPIC, self._on_reset_service)
        if self.config.learner_topic and not self.config.realtime:
            self.create_subscription(msg("std_msgs/msg/Int32"), self.config.learner_topic, self._on_learner,
                                     qos_profile_latched)
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(self.config.diagnostics_period, self._publish_diagnostics, clock=steady)
        if self.config.progress_period > 0:
            self.create_timer(self.config.progress_period, self._log_progress, clock=steady)

        mode = "realtime" if self.config.realtime else "lockstep"
        self.get_logger().info(
            f"{spec.name}: {self.learning.episodes} episode(s) of {spec.episode_length} steps, {mode}, "
            + (f"each command held {self._repeat} steps ({self._hold_s:g} s), " if self._repeat > 1 else "")
            + f"joints {list(self.layout.joint_names)}, commands on {self.command_topic} "
            f"({spec.act_dim} values, limits {list(spec.action_low)}..{list(spec.action_high)})")
        self.context.on_shutdown(self._on_context_shutdown)
        self._thread = threading.Thread(target=self._run, name="simulation", daemon=True)
        self._thread.start()

    # -- callbacks (executor threads) ----------------------------------------------------
    def _on_command(self, message: Any) -> None:
        try:
            action, tag = command_to_action(message, self.task.spec.act_dim)
        except InvalidMessageError as exc:
            self.health.reject("command", exc.reason, str(exc))
            return
        with self._cv:
            self._inbox.append((action, tag))
            self._fresh_command = True
            self._last_command_wall = time.monotonic()
            self._cv.notify_all()

    def _on_reset(self, _message: Any) -> None:
        with self._cv:
            self._reset_requested = True
            self._cv.notify_all()
        self.get_logger().info("reset requested")

    def _on_reset_service(self, _request: Any, response: Any) -> Any:
        self._on_reset(None)
        response.success = True
        response.message = "the current episode ends now; the next one starts"
        return response

    def _on_learner(self, message: Any) -> None:
        with self._cv:
            self._learner_done = max(self._learner_done, int(message.data))
            self._cv.notify_all()

    def _on_context_shutdown(self) -> None:
        self._stopping.set()
        with self._cv:
            self._cv.notify_all()

    def _log_progress(self) -> None:
        if self._recorder.episode >= 0 and not self._stopping.is_set():
            self.get_logger().info(self._recorder.progress_line())

    def _publish_diagnostics(self) -> None:
        misses = self.health.get("missed_steps")
        self.health.set("sim_time", self._sim_ns / 1e9)
        level = "warn" if misses or self.health.rejected_total() else "ok"
        self.health.publish(level, f"{'realtime' if self.config.realtime else 'lockstep'}, "
                                   f"{self.health.get('episodes')} episode(s) done, {misses} missed step(s)")

    # -- simulation thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._wait_for_peers()
            for episode in range(self._first_episode, self.learning.episodes):
                if self._stopping.is_set():
                    break
                if episode > 0 and self.config.realtime:
                    # A reset takes reset_gap of simulated time; in real time it takes as much wall
                    # time, so messages still in flight never look older than they are.
                    self._stopping.wait(self.config.reset_gap)
                elif episode > 0 and self.config.learner_topic:
                    self._wait_for_learner(episode)
                self._run_episode(episode)
            self._recorder.episode = -1  # no more progress lines
            if not self._stopping.is_set():
                self.get_logger().info(
                    f"done: {len(self._returns)} episode(s), returns {[round(r, 3) for r in self._returns]}, "
                    f"{self.health.get('missed_steps')} missed step(s)")
                self._write_outputs()
                self._stopping.wait(self.config.linger)
        except Exception as exc:  # the simulation thread must never die silently
            if self._stopping.is_set() or not self.context.ok():
                return  # shut down while publishing (Ctrl-C): not a failure
            self.exit_code = 1
            self.get_logger().fatal(f"simulation failed: {type(exc).__name__}: {exc}")
        finally:
            if not self._stopping.is_set():
                rclpy_api.try_shutdown(context=self.context)

    def _start_run_directory(self) -> tuple[int, int, int]:
        """Resume the run in output_dir (or replace an earlier one); returns the first episode and the
        environment steps and missed steps before it."""
        from mbrl_ros.learning.report import write_params_yaml
        from mbrl_ros.learning.run_directory import RunDirectoryError, check_resumable, clear_reports, load_resume_point

        out = self.config.output_dir
        values = self._recorder.run_parameters(self.config.task) if out else {}
        if self.config.resume:
            if not out:
                raise RunDirectoryError("resume: true needs an output_dir (the run directory to continue)")
            spec = self.task.spec
            point = load_resume_point(out, spec.obs_dim, spec.act_dim)
            check_resumable(out, point.params, values)
            self._episode_rows = [dict(row) for row in point.rows]
            self._returns = [float(row["episode_return"]) for row in point.rows]
            last = point.rows[-1] if point.rows else {}
            self.get_logger().info(f"resuming {out}: {point.episodes} episode(s) done, "
                                   f"{point.obs.shape[0]} transitions")
            first = (point.episodes, point.env_steps, int(last.get("missed_steps_total") or 0))
        else:
            first = (0, 0, 0)
            removed = clear_reports(out) if out else []
            if removed:
                self.get_logger().info(f"replacing the run in {out} ({', '.join(removed)}); resume:=true "
                                       "continues one instead")
        if out:
            write_params_yaml(out, values)
        return first

    def _write_outputs(self) -> None:
        if not self.config.output_dir or not self._episode_rows:
            return
        mode = "realtime" if self.config.realtime else "lockstep"
        paths = self._recorder.write(
            self.config.output_dir, self._episode_rows,
            f"{self.task.spec.name} over ROS 2 topics ({mode}, seed {self.config.seed})",
            task=self.config.task, seed=self.config.seed,
            extra={"source": "sim_bridge", "mode": mode, "missed_steps": int(self.health.get("missed_steps"))})
        self.get_logger().info(f"wrote {', '.join(str(p) for p in paths)}")

    def _wait_for_peers(self) -> None:
        deadline = time.monotonic() + self.config.start_timeout
        wants_learner = bool(self.config.learner_topic) and not self.config.realtime
        while not self._stopping.is_set():
            have_commander = self.count_publishers(self.command_topic) > 0
            have_listener = self.count_subscribers(JOINT_STATES_TOPIC) > 0
            # Lockstep with a learner: its first (latched) count says it is subscribed, so a short
            # first episode is never over before it listens (it would never see that episode end).
            with self._cv:
                have_learner = not wants_learner or self._learner_done >= 0
            if have_commander and have_listener and have_learner:
                self._stopping.wait(self.config.start_delay)
                return
            if time.monotonic() >= deadline:
                missing = [what for what, there in (
                    (f"a publisher on {self.command_topic}", have_commander),
                    (f"a subscriber on {JOINT_STATES_TOPIC}", have_listener),
                    (f"a count on {self.config.learner_topic}", have_learner)) if not there]
                self.get_logger().warning(f"starting without {' and '.join(missing)} after "
                                          f"{self.config.start_timeout} s")
                return
            self._stopping.wait(0.05)

    def _wait_for_learner(self, episode: int) -> None:
        deadline = time.monotonic() + self.config.learner_timeout
        self._recorder.waiting_for_learner = True
        try:
            self._wait_for_learner_until(episode, deadline)
        finally:
            self._recorder.waiting_for_learner = False

    def _wait_for_learner_until(self, episode: int, deadline: float) -> None:
        planner_deadline = None
        with self._cv:
            while self._learner_done < episode or not self._recorder.planner_has_newest_model():
                if self._stopping.is_set():
                    return
                if self._learner_done >= episode:
                    # Trained: give mpc_planner a while to swap the new model in (its /diagnostics
                    # say when), so the episode starts on it as in `mbrl-ros train`.
                    planner_deadline = planner_deadline or time.monotonic() + _PLANNER_MODEL_WAIT_S
                    if time.monotonic() >= planner_deadline:
                        self.get_logger().info(f"episode {episode}: mpc_planner has not reported the newest "
                                               f"model after {_PLANNER_MODEL_WAIT_S:g} s; starting anyway")
                        return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.health.count("learner_timeouts")
                    self.get_logger().warning(f"episode {episode}: no word from {self.config.learner_topic} "
                                              f"after {self.config.learner_timeout} s; going on")
                    return
                self._cv.wait(min(remaining, 0.1))

    def _run_episode(self, episode: int) -> None:
        spec = self.task.spec
        obs, reset_info = self.task.reset(seed=self.config.seed * 100003 + episode)
        start_obs = obs.copy()
        physics = reset_info.get("physics", {})
        if self._physics_pub is not None:
            self._physics_pub.publish(msg("std_msgs/msg/String")(data=json.dumps({"episode": episode, **physics})))
            self.get_logger().info(f"episode {episode} physics: "
                                   + ", ".join(f"{k} {v:.4g}" for k, v in physics.items()))
        with self._cv:
            self._inbox.clear()
            self._reset_requested = False
            self._fresh_command = False
        self._held = self._safe_action.copy()
        self._sensor.reset()
        self._actuation.reset()
        self._sim_ns += seconds_to_ns(self.config.reset_gap)
        if self._extra_pub is not None:
            self._extra_pub.publish(float64_array_message(self.layout.split(obs)[2]))
        tag = self._publish_observation(obs)
        total, steps, terminated = 0.0, 0, False
        started = time.perf_counter()
        recorder = self._recorder
        recorder.episode, recorder.step, recorder.episode_return = episode, 0, 0.0
        hold_s = self._hold_s
        next_tick = time.monotonic() + hold_s
        failed = False
        while steps < spec.episode_length and not failed:
            if self._stopping.is_set():
                return
            if self.config.realtime:
                action = self._realtime_action(next_tick)
                next_tick += hold_s
                if time.monotonic() - next_tick > hold_s:
                    self.health.count("overruns")
                    next_tick = time.monotonic() + hold_s
            else:
                action = self._lockstep_action(tag)
            applied = self._actuation(action)
            held, terminated, truncated = 0, False, False
            while held < self._repeat and steps < spec.episode_length and not (terminated or truncated):
                self._applied_pub.publish(float64_array_message(self.task.clip_action(applied)))
                try:
                    obs, reward, terminated, truncated, info = self.task.step(applied)
                except PhysicsError as exc:
                    self.health.count("physics_errors")
                    self.get_logger().error(f"episode {episode}: {exc}; ending the episode")
                    failed = True
                    break
                held += 1
                steps += 1
                self._sim_ns += self._period_ns
                total += reward
                recorder.step, recorder.episode_return = steps, total
                self._reward_pub.publish(float64_message(reward))
                self.health.count("steps")
            if failed:
                break
            self._held = self.task.clip_action(action)   # the last command (acting or still delayed)
            cut_short = held < self._repeat and not terminated  # by the episode's end: no held transition
            if not cut_short:
                tag = self._publish_observation(obs)
            with self._cv:
                reset = self._reset_requested
            if terminated or truncated or reset or cut_short:
                break
        if terminated:  # the steps left count the task's crash charge, as in mbrl_ros.learning.loop
            total += spec.termination_charge(steps)
            recorder.episode_return = total
        self._returns.append(total)
        self._episode_rows.append({
            **recorder.episode_row(episode, "random" if episode < self.learning.seed_episodes else "mpc",
                                   self._steps_before + int(self.health.get("steps")), total,
                                   time.perf_counter() - started, start_obs=start_obs),
            "missed_steps_total": self._missed_before + int(self.health.get("missed_steps")),
            **{f"physics.{k}": v for k, v in physics.items()}})
        if self.config.output_dir:  # before the episode's end goes out: the learner's count never leads
            from mbrl_ros.learning.report import write_progress_csv

            write_progress_csv(recorder.rows(self._episode_rows), self.config.output_dir)
        self.health.count("episodes")
        self.health.set("last_return", total)
        self._return_pub.publish(float64_message(total))
        self.get_logger().info(f"episode {episode}: return {total:.3f} after {steps} steps "
                               f"({self.health.get('missed_steps')} missed so far)")

    def _realtime_action(self, tick: float) -> np.ndarray:
        self._stopping.wait(max(0.0, tick - time.monotonic()))
        with self._cv:
            if self._inbox:
                self._held = self._inbox[-1][0]
                self._inbox.clear()
            if not self._fresh_command:
                self.health.count("missed_steps")
            self._fresh_command = False
            last = self._last_command_wall
        age = None if last is None else time.monotonic() - last
        if self._command_timeout_s > 0 and age is not None and age > self._command_timeout_s:
            if not self._watchdog_tripped:
                self._watchdog_tripped = True
                trips = self.health.count("watchdog_trips")
                # Last valid command -> this step, the one that applies the safe action (wall s).
                self.health.set("watchdog_latency_s", age)
                self.health.log_throttled("watchdog", f"no valid command for {age:.3f} s: "
                                                      f"applying the safe action {self._safe_action.tolist()} "
                                                      f"[{trips} trip(s) so far]")
            self.health.count("watchdog_steps")
            return self._safe_action
        self._watchdog_tripped = False
        return self._held

    def _lockstep_action(self, tag: int | None) -> np.ndarray:
        """The command for the state stamped ``tag`` (None: nothing published, step at once)."""
        if tag is None:
            return self._held
        deadline = time.monotonic() + self.config.step_timeout
        with self._cv:
            while True:
                while self._inbox:
                    action, command_tag = self._inbox.popleft()
                    if command_tag is None or command_tag == tag:
                        return action
                    self.health.count("stale_commands")
                if self._stopping.is_set() or self._reset_requested:
                    return self._held
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    misses = self.health.count("missed_steps")
                    self.health.log_throttled("miss", f"no command for the state at t={tag / 1e9:.3f} s within "
                                                      f"{self.config.step_timeout} s; holding the last one "
                                                      f"[{misses} missed so far]")
                    return self._held
                self._cv.wait(remaining)

    def _publish_observation(self, obs: np.ndarray) -> int | None:
        """Publish clock, ground truth and the (delayed) measurement; returns the published stamp."""
        positions, velocities, _ = self.layout.split(obs)
        names = self.layout.joint_names
        self._clock_pub.publish(clock_message(self._sim_ns))
        truth = getattr(self.task, "true_observation", None)  # a physics profile's noise-free state
        true_pos, true_vel = (positions, velocities) if truth is None else self.layout.split(truth)[:2]
        self._truth_pub.publish(joint_state_message(self._sim_ns, names, true_pos, true_vel))
        reading = self._sensor.measure(self._sim_ns, positions, velocities)
        self.health.set("dropped_measurements", self._sensor.dropped)
        if reading is None:
            return None
        self._joint_pub.publish(joint_state_message(reading.stamp_ns, names, reading.positions, reading.velocities))
        return reading.stamp_ns

    # -- shutdown ------------------------------------------------------------------------
    @property
    def episode_returns(self) -> list[float]:
        """Returns of the episodes finished so far."""
        return list(self._returns)

    def stop(self) -> None:
        """Stop the simulation thread (called before the node is destroyed)."""
        self._stopping.set()
        with self._cv:
            self._cv.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)


def main(args: list[str] | None = None) -> int:
    return run_node(SimBridgeNode, args, name="sim_bridge", scheduling=REALTIME_DEFAULTS)


if __name__ == "__main__":
    sys.exit(main())
