"""``mpc_planner``: sampling MPC on the newest learned model, as a ROS node.

Planning (the optimizer) runs in its own thread; with ``trigger: timer`` or ``state_async`` the
control side only reads the newest plan under a short lock, so sending a command never waits on
planning (as in mujoco_mpc); with ``trigger: state`` each command waits for its plan (lockstep).

Subscribes:
    state_topic (sensor_msgs/JointState, default /mbrl/state): positions and velocities of the
        task's joints (names: the MJCF joints, or ``joint_names``).
    model_topic (std_msgs/UInt8MultiArray, latched, default /mbrl/model): new models, checked by
        :func:`~mbrl_ros.learning.model_payload.decode_model` and swapped in between two plans;
        a model that fails a check is rejected with a log and a counter.
    episode_end_topic (std_msgs/Float64): each message ends an episode (the warm start is reset).
    observation_extra_topic (std_msgs/Float64MultiArray, latched): per-episode observation
        constants, for tasks that have some (the reacher's target).
Publishes:
    /<controller>/commands (std_msgs/Float64MultiArray): always finite, clamped to the actuator
        limits; with ``trigger: state`` and ``state_async`` tagged with the answered state's
        stamp (see :mod:`mbrl_ros.nodes.conversions`).
    ~/plan (nav_msgs/Path): the predicted trajectory (mean over particles) of the chosen plan;
        pose h is stamped state stamp + (h + 1) control periods and its position x, y, z holds
        the predicted observation entries ``path_indices`` (by default the first three joint
        positions, in rad or m; missing ones are 0). Orientation is the identity.
    ~/plan_spread (std_msgs/Float64MultiArray): with ~/plan, the standard deviation over the
        particles (ensemble members) of the same entries, row-major (H, len(path_indices)); the
        layout's two dims say so. Shown by the ``viz`` node as the ensemble's spread.
    /diagnostics: plan time, deadline misses (plans cut short by the deadline), model version,
        rejected inputs and models, safe commands; with ``state_async`` also ``plan_index``
        (control periods between the answered state and the start state of the plan that
        answered it: how stale the plan was) and ``commands.plan_exhausted``.

Triggers:
    state: plan when a state arrives, then publish one command for it (lockstep simulation,
        and event-driven control on a robot). The command waits for the plan: its latency is
        the plan time.
    timer: a control timer at the task's control rate sends the plan's next action; planning
        restarts from each new state. For sensors faster than the control rate. Commands are
        untagged and not aligned with state arrivals.
    state_async: each state is answered at once, in the state callback, from the newest plan
        (mujoco_mpc's ActionFromPolicy): the action at index round((state stamp - plan's start
        stamp) / control period), i.e. the plan's action for the current time; past the
        horizon, the safe command (counted as ``commands.plan_exhausted``). Meanwhile the
        planning thread plans from the newest state (skipping states that arrived while it was
        busy) and swaps its result in. Commands are tagged like ``state``'s. Use it in real
        time when a plan takes longer than the latency the control loop can accept; in
        lockstep it lets the simulation run ahead of planning, so use ``state`` there. Before
        the first plan on a model, states are answered with exploration (or the safe command
        when ``explore: false``), drawn in the state callback.

A model whose payload carries a critic (``model_learner`` with ``learning.terminal_value``, see
:mod:`mbrl_ros.learning.model_payload`) is planned with as the in-process loop plans with it
(:func:`~mbrl_ros.learning.value.plan_with_values`): the critic is the discounted terminal value and
the actor's plans are proposals; ``/diagnostics`` then report its ``value_version`` (-1: planning
without one). A model without a critic is planned with as before.

With ``learning.action_repeat`` > 1 a control period is ``action_repeat`` task control periods:
``sim_bridge`` holds each command that long, states come that often, and the plan's steps, the
deadline (``deadline_fraction`` of it) and the ``timer`` trigger use it, as ``mbrl-ros train``'s
planner plans held actions.

``initial_model`` (a ``model.npz``) is planned with from the first state, before any model
arrives on ``model_topic`` (refused with exit code 2 if it is for another task); newer models
from the learner replace it as usual.

Before the first model arrives the node explores with random actions (the PETS seed episode:
uniform, or around the task's nominal action with ``learning.seed_action_std`` > 0, as
``mbrl-ros train``; ``explore: false`` sends the safe command instead). If no state arrived for
``state_timeout`` wall seconds, it sends the safe command (``TaskSpec.safe_action``: the task's
declared nominal action such as a quadrotor's hover thrust, else zeros; clamped to the limits) and
keeps sending it every ``state_timeout``; it also sends it once when the process is shut down
(Ctrl-C, SIGTERM).
"""
from __future__ import annotations

import collections
import dataclasses
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mbrl_ros.config import ConfigError, param
from mbrl_ros.nodes.command_node import CommandNodeMixin, median_p99
from mbrl_ros.nodes.conversions import (float64_matrix_message, labelled_values_message, message_bytes,
                                        path_message, seconds_to_ns)
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.nodes.joint_layout import state_layout
from mbrl_ros.learning.model_payload import ModelRejectedError, decode_model, decode_value, model_version
from mbrl_ros.learning.value import plan_with_values
from mbrl_ros.nodes.parameters import declare_config, warn_unused_parameters
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.nodes.scheduling import CONTROL_PATH_DEFAULTS
from mbrl_ros.models.onnx_backend import (OnnxEnsembleModel, TrainableOnnxEnsemble, for_planning,
                                          resolve_planning_backend)
from mbrl_ros.learning.initial_model import InitialModelError, load_initial_model
from mbrl_ros.learning.loop import seed_action
from mbrl_ros.nodes.shared_parameters import declare_learning, declare_task
from mbrl_ros.planning import PLANNERS, TrajectoryObjective, make_planner
from mbrl_ros.planning.timed_plan import TimedPlan
from mbrl_ros.ros.compat import MutuallyExclusiveCallbackGroup, Node, msg, qos_profile_latched


@dataclasses.dataclass(frozen=True)
class PlannerNodeConfig:
    """Parameters of the planner node (the planner's own are ``<planner>.*``, the horizon is
    ``learning.horizon``; ``learning.plan_deadline`` is not used, the deadline is
    ``deadline_fraction`` of the control period)."""

    task: str = param("pendulum_swingup", "Registered task: its reward is optimized, its limits clamp the "
                      "commands; its own parameters are <task>.*.")
    planner: str = param("icem", "Registered planner (icem, cem, mppi, random_shooting); its parameters are "
                         "<planner>.*.")
    seed: int = param(0, "Seed of the planner's sampling and of the exploration actions.", low=0, high=2 ** 31 - 1)
    controller: str = param("effort_controller", "Commands go to /<controller>/commands.")
    trigger: str = param("state", "state: one plan and one command per received state; timer: commands at "
                         "the control rate from the newest plan; state_async: each state answered at once "
                         "from the newest plan while planning runs on the newest state.",
                         choices=("state", "timer", "state_async"))
    deadline_fraction: float = param(0.8, "Each plan returns its best so far after this fraction of the "
                                     "control period.", low=0.01, high=100.0)
    state_timeout: float = param(0.5, "Wall seconds without a state before the safe command is sent "
                                 "(and re-sent as often).", low=0.01, high=3600.0)
    lockstep_pauses: bool = param(False, "States are expected to stop between episodes (a lockstep "
                                  "simulator waiting for training): the first state timeout is said once "
                                  "at INFO instead of a warning each time; the safe command is sent alike.")
    max_state_age: float = param(0.5, "Reject states older than this on the node's clock (s; 0: off).",
                                 low=0.0, high=3600.0)
    explore: bool = param(True, "Before the first model: uniformly random actions (true, the PETS seed "
                          "episode) or the safe command (false).")
    joint_names: list[str] = param([], "ROS names of the task's joints in observation order; empty: the "
                                   "MJCF joint names.")
    state_topic: str = param("/mbrl/state", "sensor_msgs/JointState with positions and velocities.")
    model_topic: str = param("/mbrl/model", "Latched std_msgs/UInt8MultiArray models from model_learner.")
    episode_end_topic: str = param("/sim_bridge/episode_return", "std_msgs/Float64 topic whose messages end "
                                   "an episode; empty: none.")
    observation_extra_topic: str = param("/sim_bridge/observation_extra", "Latched std_msgs/Float64MultiArray "
                                         "with per-episode observation constants (tasks that have some).")
    publish_path: bool = param(True, "Publish the predicted trajectory on ~/plan.")
    path_indices: list[int] = param([], "Observation entries shown as x, y, z of ~/plan; empty: the first "
                                    "three joint positions.")
    path_frame: str = param("world", "frame_id of ~/plan.")
    initial_model: str = param("", "Plan with this model.npz (mbrl-ros train, train-from-bag) from the start "
                               "until the learner sends one (with planning_process too: the child plans "
                               "with it); empty: explore until then.")
    model_probe_sequences: int = param(16, "Random action sequences rolled out to check a new model.",
                                       low=1, high=100000)
    diagnostics_period: float = param(1.0, "Seconds between two /diagnostics messages.", low=0.01, high=3600.0)
    planning_process: bool = param(False, "trigger state_async only: run the optimizer in a child process "
                                   "(mbrl_ros.planning.process) and read its plans from shared memory, so "
                                   "the state callback never shares the interpreter lock with planning; "
                                   "~/plan is not published then.")
    planning_nice: int = param(0, "planning_process: nice increment of the planning process (0: as the node).",
                               low=0, high=19)


class PlannerNode(CommandNodeMixin, Node):
    """Sampling MPC on a learned (or, before one exists, no) model; see the module docstring."""

    def __init__(self, **node_kwargs: Any):
        super().__init__("mpc_planner", **node_kwargs)
        cfg = self.config = declare_config(self, PlannerNodeConfig)
        self.learning = declare_learning(self)
        self.task = declare_task(self, cfg.task)
        planner_cls = PLANNERS.get(cfg.planner)
        planner_config = declare_config(self, planner_cls.Config, prefix=cfg.planner,
                                        on_change=self._on_planner_config)
        warn_unused_parameters(self, ["", cfg.task, cfg.planner])
        spec = self.spec = self.task.spec
        self.layout = state_layout(self.task, cfg.joint_names)
        self.horizon = self.learning.horizon
        self.health = NodeHealth(self)
        self._init_command_output(spec)  # limits and safe command
        self._period_s = self.learning.action_period(spec.control_period)  # one planned (held) action
        self._period_ns = seconds_to_ns(self._period_s)
        self._rng = np.random.default_rng(cfg.seed)
        self._device = torch.device(self.learning.device)
        self._backend = resolve_planning_backend(self.learning.planning_backend, device=self._device,
                                                 threads=self.learning.threads)  # fail fast on a bad pair
        if self.learning.planning_precision != "float32" and self._backend != "compiled":
            raise ConfigError(f"learning.planning_precision {self.learning.planning_precision} needs "
                              f"learning.planning_backend compiled (got {self._backend})")
        self._path_indices = list(cfg.path_indices) or list(range(min(3, self.layout.num_joints)))
        if any(not 0 <= i < spec.obs_dim for i in self._path_indices) or len(self._path_indices) > 3:
            raise ConfigError(f"path_indices {self._path_indices} must be at most 3 entries in [0, {spec.obs_dim})")
        if cfg.planning_process and cfg.trigger != "state_async":
            raise ConfigError(f"planning_process needs trigger state_async (each state answered from the newest "
                              f"plan); trigger {cfg.trigger} waits for plans in this process")
        self._process = None
        # With the optimizer in a child process, this process only answers states: it runs on the
        # control path's real-time priority (the child drops to normal scheduling).
        self.scheduling_defaults = dict(CONTROL_PATH_DEFAULTS) if cfg.planning_process else {}
        if cfg.planning_process:
            from mbrl_ros.config import to_dict
            from mbrl_ros.planning.process import PlanningProcess, PlanningSetup

            task_config = getattr(self.task, "config", None)
            setup = PlanningSetup(task=cfg.task, task_config=to_dict(task_config) if task_config is not None else {},
                                  planner=cfg.planner, planner_config=to_dict(planner_config),
                                  learning=to_dict(self.learning), seed=cfg.seed,
                                  deadline_s=cfg.deadline_fraction * self._period_s, period_ns=self._period_ns,
                                  backend=self._backend, threads=self.learning.threads, nice=cfg.planning_nice,
                                  publish_prediction=cfg.publish_path)
            self._process = PlanningProcess(setup, self.horizon, spec.act_dim)
            self._slot_seq = 0  # the newest plan taken from the slot
            self._dropped_seq = 0  # the watchdog dropped plans up to this one
            self._plans_seen = 0

        # The optimizer and its objective belong to the planning thread.
        self.objective = TrajectoryObjective(None, self.task.reward,
                                             generator=torch.Generator(device=self._device).manual_seed(cfg.seed),
                                             termination_fn=self.task.termination_fn,
                                             termination_reward=spec.termination_reward,
                                             term_costs_fn=self.task.weighted_cost_terms)
        self.model = None
        self.values = None  # the critic and actor that came with the model, if any
        self.planner = self._new_planner(planner_config)
        self.model_version = -1
        if cfg.initial_model:
            carried = load_initial_model(cfg.initial_model, spec, device=self._device)  # checked here
            carried_bytes = Path(cfg.initial_model).read_bytes()
            try:
                values = self._decode_value(carried_bytes, carried, None)  # a learner's model.npz may carry one
            except ModelRejectedError as exc:
                raise InitialModelError(f"initial_model {cfg.initial_model}: refused ({exc.reason}): {exc}") from None
            self.model_version = max(model_version(carried), 0)
            self.health.set("model_version", self.model_version)
            self._report_values(values)
        if cfg.initial_model and self._process is not None:
            self._process.submit_model(carried_bytes)  # planned with there
        elif cfg.initial_model:
            self.model = for_planning(carried, self._backend, device=self._device,
                                      threads=self.learning.threads, precision=self.learning.planning_precision)
            if isinstance(self.model, TrainableOnnxEnsemble):
                self.model.prepare_returns(self.task.reward, self.horizon)  # before the first state
            self.objective.model = self.model
            self.values = values
            plan_with_values(self.objective, self.planner, values, self.model, self.horizon)
        self._last_planned_ns: int | None = None

        # Shared between threads; every lock is held only to copy a reference.
        self._lock = threading.Lock()
        self._plan: TimedPlan | None = None
        self._planned_on_model = False  # state_async: explore until the first plan on a model
        self._pending_model = None
        self._episode_ended = False
        self._extra: np.ndarray | None = None
        self._last_state_wall: float | None = None
        self._last_state_ns: int | None = None
        self._last_obs: np.ndarray | None = None  # probe state for checking new models
        self._state_cv = threading.Condition()
        self._latest_state: tuple[np.ndarray, int] | None = None
        self._plan_times: collections.deque[float] = collections.deque(maxlen=200)
        self._plan_indices: collections.deque[int] = collections.deque(maxlen=200)  # state_async only
        self._stopping = threading.Event()

        inputs = MutuallyExclusiveCallbackGroup()
        models = MutuallyExclusiveCallbackGroup()
        control = MutuallyExclusiveCallbackGroup()
        self._create_command_publisher()
        self._path_pub = self.create_publisher(msg("nav_msgs/msg/Path"), "~/plan", 10) if cfg.publish_path else None
        self._spread_pub = (self.create_publisher(msg("std_msgs/msg/Float64MultiArray"), "~/plan_spread", 10)
                            if cfg.publish_path else None)
        self._cost_terms_pub = (self.create_publisher(msg("std_msgs/msg/Float64MultiArray"), "~/cost_terms", 10)
                                if cfg.publish_path else None)
        if self._process is not None and cfg.publish_path:
            self._process.start_predictions(self._publish_predicted)  # the child rolls the plan out
        self._subscribe_state(inputs)  # the observation extra's subscription first
        self.create_subscription(msg("std_msgs/msg/UInt8MultiArray"), cfg.model_topic, self._on_model,
                                 qos_profile_latched, callback_group=models)
        if cfg.episode_end_topic:
            self.create_subscription(msg("std_msgs/msg/Float64"), cfg.episode_end_topic, self._on_episode_end, 10,
                                     callback_group=inputs)
        if cfg.trigger == "timer":
            self.create_timer(self._period_s, self._on_control_tick, callback_group=control)
        self._create_watchdog(control)
        self._thread = threading.Thread(target=self._planning_loop, name="planning", daemon=True)
        if self._process is None:
            self._thread.start()
        self.get_logger().info(
            f"{cfg.planner} on {spec.name} ({self._backend} ensemble backend), horizon {self.horizon}, "
            f"trigger {cfg.trigger}, deadline "
            f"{cfg.deadline_fraction * self._period_s * 1e3:.1f} ms; waiting for a model on {cfg.model_topic} "
            f"({'exploring' if cfg.explore else 'safe command'} until then)")

    def _new_planner(self, config: Any) -> Any:
        spec = self.spec
        planner = make_planner(self.config.planner, config, action_low=spec.action_low,
                               action_high=spec.action_high, horizon=self.horizon,
                               objective=self.objective, device=self._device, seed=self.config.seed,
                               nominal_action=spec.nominal_action)
        if self.values is not None:
            plan_with_values(self.objective, planner, self.values, self.model, self.horizon)
        return planner

    def _decode_value(self, payload: bytes, model: Any, probe: np.ndarray | None) -> Any:
        """The critic in a model's payload (None: none). Raises ModelRejectedError (reason ``value``)."""
        return decode_value(payload, model, self.spec, reward_fn=self.task.reward,
                            termination_fn=self.task.termination_fn, probe_obs=probe, device=self._device)

    def _report_values(self, values: Any) -> None:
        """/diagnostics: the version of the critic planned with (-1: none)."""
        self.health.set("value_version", values.version if values is not None else -1)

    def _on_planner_config(self, config: Any) -> None:
        """New ``<planner>.*`` parameters (ros2 param set): the planning thread's next plan uses them.

        Raises:
            ValueError: the planner refuses the combination (the set is refused with its message).
        """
        self.planner = self._new_planner(config)  # one reference swap; the old plan's warm start is dropped
        self.get_logger().info(f"{self.config.planner} parameters changed: {config}")

    # -- inputs (executor threads) --------------------------------------------------------
    def _on_state(self, message: Any) -> None:
        sample = self._accept_state(message, require_velocity=self.layout.requires_velocity)
        if sample is None:
            return
        with self._lock:
            extra = self._extra
        obs = self._observation(sample, extra)
        if obs is None:
            return
        with self._lock:
            self._last_state_wall = time.monotonic()
            self._last_obs = obs
        if self.config.trigger == "state_async":
            if self._process is not None:
                self._take_process_plan()
            self._answer_state(sample.stamp_ns)  # before handing the state on: it never waits on planning
        if self._process is not None:
            try:
                self._process.submit_state(obs, sample.stamp_ns)
            except RuntimeError as exc:  # the child died: states are answered from the last plan, then safely
                self.health.count("planning_errors")
                self.health.log_throttled("planning_process", f"{exc}; commands fall back to the safe command "
                                                              f"once the last plan runs out", "error")
            self.health.count("states")
            return
        with self._state_cv:
            if self._latest_state is not None:
                self.health.count("states_skipped")  # the planner was busy: plan on the newest only
            self._latest_state = (obs, sample.stamp_ns)
            self._state_cv.notify()
        self.health.count("states")

    def _on_episode_end(self, _message: Any) -> None:
        if self._process is not None:
            self._process.end_episode()
            return
        with self._lock:
            self._episode_ended = True

    def _take_process_plan(self) -> None:
        """planning_process: adopt the slot's newest plan (a non-blocking shared-memory copy)."""
        plan = self._process.latest()
        if plan is None or plan.seq == self._slot_seq:
            return
        self._slot_seq = plan.seq
        if plan.seq <= self._dropped_seq:
            return
        self._plan_times.append(plan.plan_seconds)
        self.health.set("plan_ms", plan.plan_seconds * 1e3)
        self.health.set("plan_iterations", plan.iterations)
        self.health.set("predicted_return", plan.predicted_return)
        self.health.count("plans", plan.plans - self._plans_seen)  # the child's count: plans made
        self._plans_seen = plan.plans
        if plan.deadline_hit:
            self.health.count("deadline_misses")
        with self._lock:
            self._plan = TimedPlan(plan.actions, plan.stamp_ns, self._period_ns)
        self._planned_on_model = True

    def _on_model(self, message: Any) -> None:
        with self._lock:
            probe = self._last_obs
        payload = message_bytes(message)  # once: checked here, and with planning_process sent on as it is
        try:
            model = decode_model(payload, self.spec, probe, device=self._device,
                                 probe_sequences=self.config.model_probe_sequences, seed=self.config.seed)
            values = self._decode_value(payload, model, probe)
        except ModelRejectedError as exc:
            self.health.reject("model", exc.reason, str(exc))
            return
        critic = "" if values is None else (f" with critic {values.name} version {values.version} (terminal "
                                            f"value, {values.config.num_proposals} actor proposals)")
        if self._process is not None:  # checked here, planned there
            self._process.submit_model(payload)
            self.model_version = model_version(model)
            self.health.set("model_version", self.model_version)
            self.health.set("model_version_ready", self.model_version)
            self._report_values(values)
            self.health.count("models_swapped")
            self.get_logger().info(f"model version {self.model_version}{critic} accepted; sent to the planning "
                                   f"process")
            return
        # Exported to ONNX Runtime here, in the model callback, when that plans faster; the fused
        # graph of this task's reward too (about a second), so the planning thread never waits for it.
        model = for_planning(model, self._backend, device=self._device, threads=self.learning.threads,
                             precision=self.learning.planning_precision)
        if isinstance(model, TrainableOnnxEnsemble):
            model.prepare_returns(self.task.reward, self.horizon)
        with self._lock:
            self._pending_model = (model, values)
        self.health.set("model_version_ready", model_version(model))  # swapped in at the next plan
        self.get_logger().info(f"model version {model_version(model)}{critic} accepted "
                               f"(trained on {model.extra_metadata.get('transitions', '?')} transitions; "
                               f"planning with {'ONNX Runtime' if isinstance(model, OnnxEnsembleModel) else 'torch'})")

    # -- planning thread -----------------------------------------------------------------
    def _planning_loop(self) -> None:
        while not self._stopping.is_set():
            with self._state_cv:
                if self._latest_state is None:
                    self._state_cv.wait(timeout=0.1)
                state, self._latest_state = self._latest_state, None
            if state is None:
                continue
            try:
                self._plan_for(*state)
            except Exception as exc:  # never leave the robot without commands because of a planner bug
                if self._stopping.is_set() or not self.context.ok():
                    return
                self.health.count("planning_errors")
                self.health.log_throttled("planning_error", f"planning failed ({type(exc).__name__}: {exc}); "
                                                            f"sending the safe command", "error")
                self.planner.reset()
                self._store_plan(self.safe_action[None], state[1])

    def _adopt_pending_model(self) -> None:
        with self._lock:
            model, self._pending_model = self._pending_model, None
            episode_ended, self._episode_ended = self._episode_ended, False
        if model is not None:
            model, values = model
            if hasattr(model, "adopt_compiled_planning"):  # planning_backend compiled: no re-trace
                model.adopt_compiled_planning(self.model)
            self.model = model
            self.objective.model = model
            self.values = values
            plan_with_values(self.objective, self.planner, values, model, self.horizon)
            self.model_version = model_version(model)
            self.health.set("model_version", self.model_version)
            self._report_values(values)
            self.health.count("models_swapped")
            if values is not None:
                self.get_logger().info(f"planning with model version {self.model_version} and critic "
                                       f"{values.name} version {values.version}")
        if episode_ended:
            self.planner.reset()
            self._last_planned_ns = None

    def _plan_for(self, obs: np.ndarray, stamp_ns: int) -> None:
        self._adopt_pending_model()
        if self.model is None:
            if self.config.trigger == "state_async":
                return  # the state callback explores until a plan on a model exists
            if self.config.explore:
                actions = seed_action(self._rng, self.task.spec, self.learning.seed_action_std)[None]
                self.health.count("commands.explore")
            else:
                actions = self.safe_action[None]
                self.health.count("commands.no_model")
            self._store_plan(actions, stamp_ns)
            return
        if self._last_planned_ns is not None:
            steps = round((stamp_ns - self._last_planned_ns) / self._period_ns)
            if steps > self.horizon:
                self.planner.reset()  # a long gap (a reset, a pause): the old plan says nothing now
            elif steps > 0:
                self.planner.shift(steps)
        deadline = time.perf_counter() + self.config.deadline_fraction * self._period_s
        result = self.planner.plan(obs, deadline)
        self._last_planned_ns = stamp_ns
        self._plan_times.append(result.seconds)
        self.health.set("plan_ms", result.seconds * 1e3)
        self.health.set("plan_iterations", result.iterations)
        self.health.set("predicted_return", result.predicted_return)
        if result.deadline_hit:
            self.health.count("deadline_misses")
        actions = result.actions.detach().cpu().numpy().astype(np.float64)
        if not np.all(np.isfinite(actions)):
            self.health.count("non_finite_plans")
            self.health.log_throttled("non_finite_plan", "the planner returned NaN or inf; sending the safe "
                                                         "command and resetting its warm start", "error")
            self.planner.reset()
            actions = self.safe_action[None]
        self._store_plan(actions, stamp_ns)
        self._planned_on_model = True
        self.health.count("plans")
        if self.config.trigger != "state_async":  # there the state callback counts commands
            self.health.count("commands.plan")
        if self._path_pub is not None and actions.shape[0] == self.horizon:
            self._publish_prediction(obs, actions, stamp_ns)

    def _store_plan(self, actions: np.ndarray, stamp_ns: int) -> None:
        plan = TimedPlan(np.clip(actions, self._low, self._high), stamp_ns, self._period_ns)
        if self.config.trigger == "state":
            plan.next_index = 1
        with self._lock:
            self._plan = plan
        if self.config.trigger == "state":
            self._publish_command(plan.actions[0], tag_ns=stamp_ns)

    def _publish_prediction(self, obs: np.ndarray, actions: np.ndarray, stamp_ns: int) -> None:
        """~/plan, ~/plan_spread and ~/cost_terms of the chosen plan, from one rollout of it."""
        particles, costs = self.objective.predicted_plan(obs, actions)
        self._publish_predicted(stamp_ns, particles.cpu().numpy(), costs)

    def _publish_predicted(self, stamp_ns: int, particles: np.ndarray, costs: dict[str, float]) -> None:
        """Publish a plan's predicted ``particles (P, H, O)`` and its weighted cost terms (this
        process's planning thread, or with planning_process the thread that reads the child's)."""
        if costs and all(np.isfinite(v) for v in costs.values()):
            self._cost_terms_pub.publish(labelled_values_message(costs))
        mean = particles.mean(0)  # (H, O)
        points = np.zeros((mean.shape[0], 3))
        points[:, :len(self._path_indices)] = mean[:, self._path_indices]
        if np.all(np.isfinite(points)):
            self._path_pub.publish(path_message(stamp_ns, self._period_ns, points, self.config.path_frame))
        spread = particles.std(0)[:, self._path_indices]  # (H, K), population std as torch's correction=0
        if np.all(np.isfinite(spread)):
            self._spread_pub.publish(float64_matrix_message(spread, ("horizon", "entry")))

    # -- control side (executor threads; publishing, watchdog: CommandNodeMixin) --------------
    def _answer_state(self, stamp_ns: int) -> None:
        """``state_async``: publish the newest plan's action for the state stamped ``stamp_ns`` now."""
        with self._lock:
            plan = self._plan
        if plan is None:
            if self._planned_on_model:  # the watchdog dropped the plan: wait for a new one safely
                self._publish_command(self.safe_action, tag_ns=stamp_ns, kind="no_plan")
            elif self.config.explore:
                self._publish_command(seed_action(self._rng, self.task.spec, self.learning.seed_action_std),
                                      tag_ns=stamp_ns, kind="explore")
            else:
                self._publish_command(self.safe_action, tag_ns=stamp_ns, kind="no_model")
            return
        index, action = plan.action_at(stamp_ns)
        self._plan_indices.append(index)
        if action is not None:
            self._publish_command(action, tag_ns=stamp_ns, kind="plan")
        else:
            self._publish_command(self.safe_action, tag_ns=stamp_ns, kind="plan_exhausted")
        self.health.set("plan_index", index)

    def _on_control_tick(self) -> None:
        if self._state_is_stale():
            return  # the watchdog sends the safe command
        with self._lock:
            plan = self._plan
            if plan is None:
                return
            action = plan.take_next()
        if action is not None:
            self._publish_command(action)
        else:
            self._publish_command(self.safe_action, kind="plan_exhausted")

    def _on_state_timeout(self) -> int | None:
        """The watchdog is about to send the safe command: drop the plan. The command is tagged
        with the last state when commands answer states, so a lockstep simulator that is between
        episodes drops it as stale instead of applying it to its next state."""
        with self._lock:
            self._plan = None
            if self._process is not None:
                self._dropped_seq = self._slot_seq
        return self._last_state_ns if self.config.trigger in ("state", "state_async") else None

    def _publish_diagnostics(self) -> None:
        extra = median_p99(self._plan_times, "plan_ms", scale=1e3)
        # list(): a C-level copy under the GIL, so another thread's append cannot interleave.
        indices = np.asarray(list(self._plan_indices))
        if indices.size:
            extra["plan_index_median"] = float(np.median(indices))
            extra["plan_index_max"] = int(indices.max())
        self._publish_health(f"model version {self.model_version}", self.health.get("deadline_misses"), extra)

    def _on_shutdown(self) -> None:
        """Ctrl-C or SIGTERM: stop planning and leave the actuators with the safe command."""
        self._stopping.set()
        super()._on_shutdown()

    def stop(self) -> None:
        """Stop the planning thread (called before the node is destroyed)."""
        self._stopping.set()
        with self._state_cv:
            self._state_cv.notify_all()
        if self._process is not None:
            self._process.stop()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)


def main(args: list[str] | None = None) -> int:
    return run_node(PlannerNode, args, name="mpc_planner", num_threads=3)


if __name__ == "__main__":
    sys.exit(main())
