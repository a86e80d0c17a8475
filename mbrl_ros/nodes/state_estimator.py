"""``state_estimator``: joint measurements -> the full state the planner and learner need.

Subscribes ``input_topic`` (sensor_msgs/JointState, default ``/joint_states``), runs the
estimator named by ``estimator`` (see :mod:`mbrl_ros.estimation`; its parameters are
``<estimator>.*``) and publishes ``output_topic`` (sensor_msgs/JointState, default
``/mbrl/state``) with positions and velocities of every joint and the measurement's stamp.

Rejected with a throttled log and a counter in ``/diagnostics``: NaN/inf, wrong lengths,
unknown or missing joints, duplicate or out-of-order stamps, and stamps older than
``max_age`` on the node's clock (use ``use_sim_time: true`` next to a simulator).
A message on ``/mbrl/reset`` resets the estimator.

With ``command_topic`` set (the planner's ``/<controller>/commands``, std_msgs/Float64MultiArray),
every command is handed to the estimator as an input acting from its tag (the stamp of the state
it answers) or, untagged, from its arrival on the node's clock plus ``actuation_delay``: the
``joint_kf`` with ``input_gain`` uses it to follow force steps (see
:mod:`mbrl_ros.estimation.joint_kalman`); other estimators ignore it.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any

from mbrl_ros.config import ConfigError, param
from mbrl_ros.estimation import ESTIMATORS, EstimatorInputError, make_estimator
from mbrl_ros.nodes.conversions import (
    NS_PER_S,
    InvalidMessageError,
    command_tag,
    joint_state_message,
    joint_state_to_sample,
)
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.nodes.parameters import declare_config, warn_unused_parameters
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.nodes.scheduling import CONTROL_PATH_DEFAULTS
from mbrl_ros.ros.compat import Clock, ClockType, Node, msg

RESET_TOPIC = "/mbrl/reset"


@dataclasses.dataclass(frozen=True)
class StateEstimatorNodeConfig:
    """Parameters of the ``state_estimator`` node."""

    estimator: str = param("finite_difference", "Registered estimator (finite_difference, passthrough, ...); "
                           "its parameters are <estimator>.*.")
    joint_names: list[str] = param([], "Joints to estimate, in output order; empty: those of the first "
                                   "valid message, in its order.")
    continuous_joints: list[str] = param([], "Joints whose angle may wrap at +-pi; their output is "
                                         "unwrapped.")
    allow_extra_joints: bool = param(False, "Ignore joints beyond joint_names instead of rejecting the message.")
    max_age: float = param(0.5, "Reject measurements older than this on the node's clock (s; 0: off).",
                           low=0.0, high=3600.0)
    input_topic: str = param("/joint_states", "sensor_msgs/JointState input.")
    output_topic: str = param("/mbrl/state", "sensor_msgs/JointState output with positions and velocities.")
    diagnostics_period: float = param(1.0, "Seconds between two /diagnostics messages.", low=0.01, high=3600.0)
    command_topic: str = param("", "std_msgs/Float64MultiArray actuator commands given to the estimator as "
                               "inputs (e.g. /effort_controller/commands); empty: none.")
    actuation_delay: float = param(0.0, "Seconds between a command's tag (or arrival) and the time it acts.",
                                   low=0.0, high=10.0)


class StateEstimatorNode(Node):
    """Runs a registered :class:`~mbrl_ros.estimation.StateEstimator` on a JointState stream."""

    def __init__(self, **node_kwargs: Any):
        super().__init__("state_estimator", **node_kwargs)
        self.config = declare_config(self, StateEstimatorNodeConfig)
        estimator_cls = ESTIMATORS.get(self.config.estimator)
        self.estimator_config = declare_config(self, estimator_cls.Config, prefix=self.config.estimator)
        warn_unused_parameters(self, ["", self.config.estimator])
        self.health = NodeHealth(self)
        self.joint_names: tuple[str, ...] | None = tuple(self.config.joint_names) or None
        self.estimator = None
        self._origin_ns: int | None = None
        if self.joint_names is not None:
            self._build_estimator(self.joint_names)
        self._publisher = self.create_publisher(msg("sensor_msgs/msg/JointState"), self.config.output_topic, 10)
        self.create_subscription(msg("sensor_msgs/msg/JointState"), self.config.input_topic,
                                 self._on_joint_state, 10)
        self.create_subscription(msg("std_msgs/msg/Empty"), RESET_TOPIC, self._on_reset, 10)
        if self.config.command_topic:
            self.create_subscription(msg("std_msgs/msg/Float64MultiArray"), self.config.command_topic,
                                     self._on_command, 10)
        self.create_timer(self.config.diagnostics_period, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"{self.config.estimator}: {self.config.input_topic} -> {self.config.output_topic}")

    def _build_estimator(self, names: tuple[str, ...]) -> None:
        unknown = sorted(set(self.config.continuous_joints) - set(names))
        if unknown:
            raise ConfigError(f"continuous_joints {unknown} are not among the joints {list(names)}")
        continuous = [names.index(n) for n in self.config.continuous_joints]
        self.estimator = make_estimator(self.config.estimator, self.estimator_config, len(names), continuous)
        self.joint_names = names

    def _on_joint_state(self, message: Any) -> None:
        try:
            sample = joint_state_to_sample(message, self.joint_names,
                                           allow_extra_joints=self.config.allow_extra_joints)
        except InvalidMessageError as exc:
            self.health.reject("joint_states", exc.reason, str(exc))
            return
        if self.estimator is None:
            try:
                self._build_estimator(sample.names)
            except ConfigError as exc:
                self.health.reject("joint_states", "unknown_joint", str(exc))
                return
            self.get_logger().info(f"estimating joints {list(sample.names)} (from the first message)")
        if self.config.max_age > 0:
            age = (self.get_clock().now().nanoseconds - sample.stamp_ns) / NS_PER_S
            if age > self.config.max_age:
                self.health.reject("joint_states", "stale",
                                   f"stamp is {age:.3f} s old (max_age {self.config.max_age} s); if the gap is "
                                   f"huge, set use_sim_time the same on every node")
                return
        if self._origin_ns is None:
            self._origin_ns = sample.stamp_ns
        # Seconds since the first message: wall-clock stamps (~1.7e9 s) as floats would lose
        # sub-microsecond resolution.
        stamp = (sample.stamp_ns - self._origin_ns) / NS_PER_S
        try:
            state = self.estimator.update(stamp, sample.positions, sample.velocities)
        except EstimatorInputError as exc:
            self.health.reject("joint_states", exc.reason, str(exc))
            return
        self.health.count("received")
        if state is None:
            return
        j = len(self.joint_names)
        self._publisher.publish(joint_state_message(sample.stamp_ns, self.joint_names, state[:j], state[j:],
                                                    frame_id=message.header.frame_id))
        self.health.count("published")

    def _on_command(self, message: Any) -> None:
        if self.estimator is None or self._origin_ns is None:
            return  # no measurement yet: nothing to relate the command to
        tag = command_tag(message)
        acts_ns = (tag if tag is not None else self.get_clock().now().nanoseconds) + round(
            self.config.actuation_delay * NS_PER_S)
        try:
            self.estimator.note_input((acts_ns - self._origin_ns) / NS_PER_S, list(message.data))
        except EstimatorInputError as exc:
            self.health.reject("commands", exc.reason, str(exc))
            return
        self.health.count("commands")

    def _on_reset(self, _message: Any) -> None:
        if self.estimator is not None:
            self.estimator.reset()
        self.health.count("resets")

    def _publish_diagnostics(self) -> None:
        rejected = self.health.rejected_total()
        self.health.publish("warn" if rejected else "ok",
                            f"{self.health.get('published')} state(s) published, {rejected} input(s) rejected")


def main(args: list[str] | None = None) -> int:
    return run_node(StateEstimatorNode, args, name="state_estimator", scheduling=CONTROL_PATH_DEFAULTS)


if __name__ == "__main__":
    sys.exit(main())
