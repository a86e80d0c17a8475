"""``model_learner``: learns the dynamics ensemble from the state and command topics.

Pairs state k, the command applied after it and state k+1 into a transition
(:class:`~mbrl_ros.learning.pairing.TransitionPairing`):

* the command tagged with state k's stamp (see :mod:`mbrl_ros.nodes.conversions`), whenever
  it arrives relative to the states; if none comes, the command held since (the newest
  untagged command, or the last matched one), which is what a controller that holds its last
  command applied. A tagged command that reaches a lockstep ``sim_bridge`` after its
  ``step_timeout`` (a counted miss) is still used here: that transition is slightly off;
* pairs whose stamps are further apart than ``max_gap_factor`` control periods (a reset, a
  dropped message) or closer than ``min_gap_factor`` are dropped, as are pairs without any
  command yet; after such a gap the held command is forgotten.

Trains :class:`~mbrl_ros.models.ensemble.EnsembleDynamics` (``model``: pets_ensemble or
deterministic_ensemble, its parameters ``<model>.*``) in a background thread after each
episode (from the ``learning.seed_episodes``-th on, except after the last of ``learning.episodes``:
the in-process loop's :class:`~mbrl_ros.learning.schedule.RetrainSchedule`) and, optionally, every
``train_every_transitions`` new transitions, and publishes each model on ``model_topic``
(std_msgs/UInt8MultiArray, latched; see :mod:`mbrl_ros.learning.model_payload`). A shutdown
(SIGINT) abandons a retrain in progress at its next mini-batch: a retrain on a long run's data
takes tens of seconds, longer than a launcher waits before SIGTERM. The model from before that
retrain stays; nothing half-trained is published.

With ``learning.terminal_value`` it also trains the value learner (``learning.value_learner``,
parameters ``<value_learner>.*``, e.g. ``sac_mbpo.*``) with the in-process loop's code and rule
(:class:`~mbrl_ros.learning.value.ValueTraining`: after each episode's retrain, on all transitions
and branched rollouts of the new model) and publishes its critic and actor inside the model's
payload, under the model's version (:mod:`mbrl_ros.learning.model_payload`); a retrain from
``train_every_transitions`` sends the newest critic along untrained. A resumed learner takes the
critic over from the saved model (its weights; the optimizers' moments and rollout buffer start
over).

With ``learning.action_repeat`` > 1 states and commands come every ``action_repeat`` control
periods (``sim_bridge`` holds each command that many physics steps): the pairing's period is that
held period, so a transition is one held action, as in the in-process loop.

``initial_model`` (a ``model.npz`` of ``mbrl-ros train`` / ``train-from-bag``) starts from a
carried-over model instead of a fresh one: refused with exit code 2 if it is for another task;
retrains then happen after every episode (no seed episodes) and fine-tune it on this robot's
data only, keeping its normalization (the rule of :mod:`mbrl_ros.learning.initial_model`).

``data_dir`` keeps the transitions, the newest model and ``training.csv``
(:mod:`mbrl_ros.learning.archive`); with ``resume`` (the default) a restarted learner takes them
over, episode count included, and first makes up a retrain its last episode did not get (the last
of a smaller ``learning.episodes``); ``resume: false`` removes them and starts over.
sim.launch.yaml keeps them in its run directory (``resume:=true`` continues a run).

Publishes ``~/processed_episodes`` (std_msgs/Int32, latched): the episodes whose end it has
handled, training included; a lockstep ``sim_bridge`` waits on it so that training never
overlaps an episode, as in the in-process loop.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import threading
from typing import Any

import numpy as np

from mbrl_ros.atomic_file import atomic_write
from mbrl_ros.config import param
from mbrl_ros.learning.initial_model import carried_metadata, load_initial_model
from mbrl_ros.learning.archive import MODEL_FILE, ArchiveFormatError, LearnerArchive
from mbrl_ros.learning.loop import TransitionBuffer
from mbrl_ros.learning.value import VALUE_LEARNERS, ValueTraining, value_learner_for
from mbrl_ros.learning.pairing import TransitionPairing
from mbrl_ros.learning.schedule import RetrainSchedule
from mbrl_ros.models import MODELS
from mbrl_ros.models.ensemble import EnsembleConfig
from mbrl_ros.models.training import TrainingCancelled
from mbrl_ros.nodes.conversions import (
    InvalidMessageError,
    bytes_message,
    command_to_action,
    int32_message,
    joint_state_to_sample,
    seconds_to_ns,
)
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.nodes.joint_layout import state_layout
from mbrl_ros.learning.model_payload import ModelRejectedError, decode_model, encode_model, restore_value
from mbrl_ros.nodes.parameters import declare_config, warn_unused_parameters
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.nodes.scheduling import LEARNER_DEFAULTS
from mbrl_ros.nodes.shared_parameters import declare_learning, declare_task
from mbrl_ros.ros.compat import Clock, ClockType, MutuallyExclusiveCallbackGroup, Node, msg, qos_profile_latched

#: Models this node can train online, and their config classes.
LEARNABLE_MODELS = {"pets_ensemble": EnsembleConfig, "deterministic_ensemble": EnsembleConfig}
# How long stop() waits for the training thread, which abandons a retrain within a mini-batch;
# below the 5 s a launcher gives between SIGINT and SIGTERM.
_STOP_TIMEOUT_S = 3.0


@dataclasses.dataclass(frozen=True)
class ModelLearnerConfig:
    """Parameters of the ``model_learner`` node (``learning.seed_episodes``, ``learning.max_train_epochs``,
    ``learning.threads`` and ``learning.device`` apply too)."""

    task: str = param("pendulum_swingup", "Registered task (observation layout, limits, control period).")
    model: str = param("pets_ensemble", "Model to learn: pets_ensemble or deterministic_ensemble; its "
                       "parameters are <model>.*.", choices=tuple(LEARNABLE_MODELS))
    seed: int = param(0, "Seed of the model's initialization and training.", low=0, high=2 ** 31 - 1)
    controller: str = param("effort_controller", "Commands are read from /<controller>/commands.")
    joint_names: list[str] = param([], "ROS names of the task's joints in observation order; empty: the "
                                   "MJCF joint names.")
    state_topic: str = param("/mbrl/state", "sensor_msgs/JointState with positions and velocities.")
    model_topic: str = param("/mbrl/model", "Where models are published (latched).")
    episode_end_topic: str = param("/sim_bridge/episode_return", "std_msgs/Float64 topic whose messages end "
                                   "an episode; empty: none (use train_every_transitions).")
    observation_extra_topic: str = param("/sim_bridge/observation_extra", "Latched std_msgs/Float64MultiArray "
                                         "with per-episode observation constants (tasks that have some).")
    train_every_transitions: int = param(0, "Also train after this many new transitions (0: only at "
                                         "episode ends).", low=0, high=10 ** 9)
    min_transitions: int = param(10, "Never train on fewer transitions.", low=2, high=10 ** 9)
    max_gap_factor: float = param(1.5, "States further apart than this many control periods are not a "
                                  "transition.", low=1.0, high=1000.0)
    min_gap_factor: float = param(0.5, "States closer than this many control periods are not a transition.",
                                  low=0.0, high=1.0)
    settle_time: float = param(0.05, "Wall seconds to wait after an episode end before training, for the "
                               "episode's last state to arrive.", low=0.0, high=10.0)
    model_path: str = param("", "Also write every model to this file (atomically; a model.npz that "
                            "mbrl-ros export-policy, initial_model and --initial-model read); empty: do not.")
    initial_model: str = param("", "Start from this model.npz (mbrl-ros train, train-from-bag) and fine-tune it "
                               "on this robot's data (no seed episodes); empty: learn from scratch.")
    data_dir: str = param("", "Keep the transitions, the newest model and training.csv here, each file "
                          "replaced atomically (mbrl_ros.learning.archive); a restarted learner resumes from "
                          "them. Empty: keep nothing.")
    resume: bool = param(True, "With data_dir: take over the transitions, model and episode count there (none: "
                         "start fresh); false: start over, removing them first (sim.launch.yaml: its resume "
                         "argument). A resumed learner first makes up a retrain its last episode missed (the "
                         "last of a smaller learning.episodes).")
    persist_period: float = param(0.5, "Wall seconds between two saves of new transitions to data_dir: a "
                                  "kill -9 loses about this much.", low=0.05, high=3600.0)
    diagnostics_period: float = param(1.0, "Seconds between two /diagnostics messages.", low=0.01, high=3600.0)


class ModelLearnerNode(Node):
    """Collects transitions from topics and publishes retrained models (see the module docstring)."""

    def __init__(self, **node_kwargs: Any):
        super().__init__("model_learner", **node_kwargs)
        cfg = self.config = declare_config(self, ModelLearnerConfig)
        self.learning = declare_learning(self)
        self.task = declare_task(self, cfg.task)
        model_config = declare_config(self, LEARNABLE_MODELS[cfg.model], prefix=cfg.model)
        owned = ["", cfg.task, cfg.model]
        value_config = None
        if self.learning.terminal_value:
            value_name = self.learning.value_learner
            value_config = declare_config(self, VALUE_LEARNERS.get(value_name).Config, prefix=value_name)
            owned.append(value_name)
        warn_unused_parameters(self, owned)
        spec = self.spec = self.task.spec
        self.layout = state_layout(self.task, cfg.joint_names)
        self.model = MODELS.get(cfg.model)(spec, model_config, device=self.learning.device, seed=cfg.seed)
        self._carried: dict | None = None
        if cfg.initial_model:
            self.model = load_initial_model(cfg.initial_model, spec, model=cfg.model, device=self.learning.device)
            self._carried = carried_metadata(self.model, cfg.initial_model)
        self.health = NodeHealth(self)
        self._low, self._high = np.asarray(spec.action_low), np.asarray(spec.action_high)
        # One transition per held action (learning.action_repeat), as sim_bridge publishes states.
        self.pairing = TransitionPairing(seconds_to_ns(self.learning.action_period(spec.control_period)),
                                         cfg.max_gap_factor, cfg.min_gap_factor, self.layout.extra_dim)
        self.data = TransitionBuffer(spec.obs_dim, spec.act_dim)
        self.schedule = RetrainSchedule(episodes=self.learning.episodes, seed_episodes=self.learning.seed_episodes,
                                        carried=self._carried is not None,
                                        every_transitions=cfg.train_every_transitions,
                                        min_transitions=cfg.min_transitions)
        self.version = 0
        self.values = self._value_training = None
        if self.learning.terminal_value:
            self.values = value_learner_for(self.task, self.learning, value_config, seed=cfg.seed)
            self._value_training = ValueTraining(self.values, self.schedule)

        self._lock = threading.Lock()  # guards data, pairing, the counters below and _extra
        self._extra: np.ndarray | None = None
        self._episodes_ended = 0
        self._transitions_at_last_request = 0
        self._requested_episodes: int | None = None
        self._request_pending = False
        self._wake = threading.Condition(self._lock)
        self._stopping = threading.Event()

        inputs = MutuallyExclusiveCallbackGroup()
        self._model_pub = self.create_publisher(msg("std_msgs/msg/UInt8MultiArray"), cfg.model_topic,
                                                qos_profile_latched)
        self._processed_pub = self.create_publisher(msg("std_msgs/msg/Int32"), "~/processed_episodes",
                                                    qos_profile_latched)
        if self.layout.extra_dim:
            # Created first: when both have data, a new episode's extra is taken before its first state.
            self.create_subscription(msg("std_msgs/msg/Float64MultiArray"), cfg.observation_extra_topic,
                                     self._on_extra, qos_profile_latched, callback_group=inputs)
        # States and commands share one group: the pairing is never entered twice at once.
        self.create_subscription(msg("sensor_msgs/msg/JointState"), cfg.state_topic, self._on_state, 100,
                                 callback_group=inputs)
        self.create_subscription(msg("std_msgs/msg/Float64MultiArray"), f"/{cfg.controller}/commands",
                                 self._on_command, 100, callback_group=inputs)
        if cfg.episode_end_topic:
            self.create_subscription(msg("std_msgs/msg/Float64"), cfg.episode_end_topic, self._on_episode_end, 10,
                                     callback_group=inputs)
        self.create_timer(cfg.diagnostics_period, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.archive = LearnerArchive(cfg.data_dir, spec.obs_dim, spec.act_dim) if cfg.data_dir else None
        self._persisted = (0, 0)  # (transitions, episodes) saved to data_dir
        processed = 0
        if self.archive is not None and cfg.resume:
            processed = self._resume()
        elif self.archive is not None:
            removed = self.archive.clear()
            if removed:
                self.get_logger().info(f"starting over in {cfg.data_dir}: removed {', '.join(removed)} (resume: false)")
        self._processed_pub.publish(int32_message(processed))
        self.context.on_shutdown(self._stopping.set)
        self._thread = threading.Thread(target=self._training_loop, name="training", daemon=True)
        self._thread.start()
        self._persist_thread = None
        if self.archive is not None:
            # Its own thread: a retrain takes tens of seconds, saving must not wait for it.
            self._persist_thread = threading.Thread(target=self._persist_loop, name="persist", daemon=True)
            self._persist_thread.start()
        self.get_logger().info(
            f"learning {cfg.model} for {spec.name} from {cfg.state_topic} and /{cfg.controller}/commands"
            + (f", fine-tuning {cfg.initial_model}" if self._carried else "")
            + f"; training after episode {self.schedule.first_episode} and every episode after"
            + (f", and every {cfg.train_every_transitions} transitions" if cfg.train_every_transitions else ""))

    # -- persistence (data_dir) -------------------------------------------------------------
    def _resume(self) -> int:
        """Take over what a previous run of this learner left in data_dir (after a crash, a restart);
        returns the episodes processed so far (one fewer while a missed retrain is requested)."""
        try:
            loaded = self.archive.load_transitions()
        except ArchiveFormatError as exc:
            raise ValueError(f"data_dir: {exc}") from None
        if loaded is not None:
            obs, action, next_obs, episodes = loaded
            self.data.extend(obs, action, next_obs)
            self._episodes_ended = episodes
            self._transitions_at_last_request = self.data.size
            self._persisted = (self.data.size, episodes)
        data = self.archive.load_model_bytes()
        if data is not None:
            try:
                self.model = decode_model(data, self.spec, device=self.learning.device)
            except ModelRejectedError as exc:
                self.get_logger().warning(f"ignoring the saved model in {self.config.data_dir}: {exc}")
            else:
                self.version = int(self.model.extra_metadata.get("version", 0))
                self._resume_values(data)
                self._model_pub.publish(bytes_message(data))
                self.health.set("model_version", self.version)
        trained_on = int(self.model.extra_metadata.get("episodes", 0)) if self.version else 0
        missed = trained_on < self._episodes_ended and self.schedule.after_episode(self._episodes_ended,
                                                                                    self.data.size)
        self.get_logger().info(f"resumed from {self.config.data_dir}: {self.data.size} transitions, "
                               f"{self._episodes_ended} episode(s), model version {self.version}"
                               + (f"; retraining after episode {self._episodes_ended} first" if missed else ""))
        if not missed:
            return self._episodes_ended
        with self._lock:
            self._request_training_locked(self._episodes_ended)
        return self._episodes_ended - 1

    def _resume_values(self, data: bytes) -> None:
        """learning.terminal_value: continue from the critic saved with the model (if any, and if it fits)."""
        if self.values is None:
            return
        try:
            if not restore_value(self.values, data, self.model, self.task, device=self.learning.device):
                raise ModelRejectedError("value", "the saved model has no critic")
        except (ModelRejectedError, ValueError) as exc:
            self.get_logger().warning(f"the critic starts over: {exc}")
            return
        self._value_training.trained_on = self.data.size
        self.health.set("value_version", self.values.version)

    def _persist_loop(self) -> None:
        while not self._stopping.wait(self.config.persist_period):
            self._persist()

    def _persist(self) -> None:
        with self._lock:
            if (self.data.size, self._episodes_ended) == self._persisted:
                return
            obs, action, next_obs = self.data.arrays()
            episodes = self._episodes_ended
        try:
            self.archive.save_transitions(obs, action, next_obs, episodes)
        except OSError as exc:  # keep learning; the next period retries
            self.health.count("persist_errors")
            self.health.log_throttled("persist", f"cannot save transitions to {self.config.data_dir}: {exc}",
                                      "error")
            return
        self._persisted = (obs.shape[0], episodes)
        self.health.set("persisted_transitions", obs.shape[0])

    # -- inputs ---------------------------------------------------------------------------
    def _on_state(self, message: Any) -> None:
        try:
            sample = joint_state_to_sample(message, self.layout.joint_names,
                                           require_velocity=self.layout.requires_velocity)
        except InvalidMessageError as exc:
            self.health.reject("state", exc.reason, str(exc))
            return
        with self._lock:
            extra = self._extra
        if self.layout.extra_dim and extra is None:
            self.health.reject("state", "missing_extra", "no observation extra yet")
            return
        obs = self.layout.observation(sample.positions, sample.velocities, extra)
        with self._lock:
            try:
                transitions = self.pairing.add_state(obs, sample.stamp_ns)
            except ValueError as exc:
                self.health.reject("state", "out_of_order", str(exc))
                return
            self._store_locked(transitions)

    def _store_locked(self, transitions: list) -> None:
        for obs_k, action, next_obs in transitions:
            self.data.add(obs_k, np.clip(action, self._low, self._high), next_obs)
        if transitions and self.schedule.after_transitions(self.data.size, self._transitions_at_last_request):
            self._request_training_locked(None)
        self.health.set("transitions", self.data.size)

    def _on_command(self, message: Any) -> None:
        try:
            action, tag = command_to_action(message, self.spec.act_dim)
        except InvalidMessageError as exc:
            self.health.reject("command", exc.reason, str(exc))
            return
        with self._lock:
            self._store_locked(self.pairing.add_command(action, tag))

    def _on_extra(self, message: Any) -> None:
        extra = np.asarray(message.data, dtype=np.float64).reshape(-1)
        if extra.size != self.layout.extra_dim or not np.all(np.isfinite(extra)):
            self.health.reject("observation_extra", "invalid", f"expected {self.layout.extra_dim} finite values")
            return
        with self._lock:
            self._extra = extra

    def _on_episode_end(self, _message: Any) -> None:
        with self._lock:
            self._episodes_ended += 1
            episodes = self._episodes_ended
            # The in-process loop's rule: no retraining after the experiment's last episode.
            if self.schedule.after_episode(episodes, self.data.size):
                self._request_training_locked(episodes)
                return
        self.health.set("episodes", episodes)
        self._processed_pub.publish(int32_message(episodes))

    def _request_training_locked(self, episodes: int | None) -> None:
        self._transitions_at_last_request = self.data.size
        if episodes is not None:
            self._requested_episodes = max(self._requested_episodes or 0, episodes)
        self._request_pending = True
        self._wake.notify()

    # -- training thread ----------------------------------------------------------------------
    def _training_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if not self._request_pending:
                    self._wake.wait(timeout=0.1)
                if not self._request_pending:
                    continue
                episodes, self._requested_episodes = self._requested_episodes, None
                self._request_pending = False
            if episodes is not None and self.config.settle_time > 0:
                self._stopping.wait(self.config.settle_time)
            try:
                self._train_and_publish(episodes)
            except TrainingCancelled:
                return  # stopping: the model from before this retrain stays
            except Exception as exc:  # keep collecting data; the next request retries
                if self._stopping.is_set() or not self.context.ok():
                    return
                self.health.count("training_errors")
                self.get_logger().error(f"training failed: {type(exc).__name__}: {exc}")
            if episodes is not None and not self._stopping.is_set():
                self.health.set("episodes", episodes)
                self._publish_diagnostics()  # the training's numbers reach sim_bridge's run directory first
                self._processed_pub.publish(int32_message(episodes))

    def _train_and_publish(self, episodes: int | None) -> None:
        with self._lock:
            obs, action, next_obs = self.data.arrays()
            done_episodes = self._episodes_ended
        if obs.shape[0] < self.config.min_transitions:
            return
        report = self.model.fit(obs, action, next_obs, seed=self.config.seed + self.version,
                                max_epochs=self.learning.max_train_epochs or None,
                                should_stop=self._stopping.is_set, refit_normalizers=self._carried is None)
        value_report = None
        if self._value_training is not None and episodes is not None:
            value_report = self._value_training.after_episode(episodes, obs, action, next_obs, self.model,
                                                              should_stop=self._stopping.is_set)
        self.version += 1
        holdout = float(np.mean([report.holdout_mse[i] for i in report.elites]))
        metrics = {"holdout_mse": holdout, "train_loss": report.train_loss, "epochs": report.epochs,
                   "train_seconds": report.seconds, "num_train": report.num_train,
                   "num_holdout": report.num_holdout, **(self._carried or {})}
        if value_report is not None:
            metrics.update({"value_seconds": value_report.seconds, "value_updates": value_report.updates,
                            "value_critic_loss": value_report.critic_loss, "value_mean_q": value_report.mean_q,
                            "value_rollout_length": value_report.rollout_length})
        values = self.values if self.values is not None and self.values.trained else None
        data = encode_model(self.model, version=self.version, task=self.spec.name, episodes=done_episodes,
                            transitions=obs.shape[0], metrics=metrics, values=values)
        self._model_pub.publish(bytes_message(data))
        if self.config.model_path and not self._model_path_is_archived():
            os.makedirs(os.path.dirname(self.config.model_path) or ".", exist_ok=True)
            atomic_write(self.config.model_path, data)
        if self.archive is not None:
            self.archive.save_model(data)
            self.archive.append_training_row({"version": self.version, "episodes": done_episodes,
                                              "transitions": obs.shape[0], **metrics})
        self.health.set("model_version", self.version)
        self.health.set("holdout_mse", holdout)
        self.health.set("train_seconds", report.seconds)
        self.health.set("train_epochs", report.epochs)
        self.health.set("trained_after_episodes", done_episodes)
        self.health.count("trainings")
        critic = ""
        if values is not None:
            self.health.set("value_version", values.version)
            critic = f", with critic {values.name} version {values.version}"
            self.health.set("value_seconds", value_report.seconds if value_report is not None else 0.0)
            if value_report is not None:
                critic += (f" ({value_report.updates} updates in {value_report.seconds:.2f} s, rollouts of "
                           f"{value_report.rollout_length}, mean Q {value_report.mean_q:.4g})")
        self.get_logger().info(f"model version {self.version}: {obs.shape[0]} transitions, {report.epochs} epochs "
                               f"in {report.seconds:.2f} s, holdout mse {holdout:.4g}{critic}, {len(data)} bytes")

    def _model_path_is_archived(self) -> bool:
        # sim.launch.yaml keeps the archive in the run directory: its model.npz is model_path.
        return self.archive is not None and os.path.abspath(self.config.model_path) == os.path.abspath(
            self.archive.folder / MODEL_FILE)

    def _publish_diagnostics(self) -> None:
        with self._lock:
            dropped = dict(self.pairing.dropped)
        extra = {f"dropped.{k}": v for k, v in dropped.items()}
        rejected = self.health.rejected_total()
        self.health.publish("warn" if rejected or self.health.get("training_errors") else "ok",
                            f"{self.data.size} transitions, model version {self.version}", extra)

    def stop(self) -> None:
        """Stop the training thread, abandoning a retrain in progress (called before the node is destroyed)."""
        self._stopping.set()
        with self._lock:
            self._wake.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=_STOP_TIMEOUT_S)
            if self._thread.is_alive():
                self.get_logger().warning(f"the training thread did not stop within {_STOP_TIMEOUT_S} s; "
                                          "exiting without it")
        if self._persist_thread is not None:
            self._persist_thread.join(timeout=_STOP_TIMEOUT_S)
            self._persist()  # a clean stop keeps everything


def main(args: list[str] | None = None) -> int:
    # One executor thread: states and commands are taken alternately, close to arrival order
    # (training has its own thread).
    return run_node(ModelLearnerNode, args, name="model_learner", scheduling=LEARNER_DEFAULTS)


if __name__ == "__main__":
    sys.exit(main())
