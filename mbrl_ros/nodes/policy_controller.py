"""``policy_controller``: a distilled ONNX policy as the robot's controller, one command per state.

The policy file is written by ``mbrl-ros export-policy``
(:func:`~mbrl_ros.export.onnx_policy.export_policy_onnx`): ``observation (B, O)`` ->
``action (B, A)`` with the task's metadata. It is checked at start by
:func:`~mbrl_ros.export.onnx_policy.load_policy_onnx` (ONNX checker, opset, input/output
names and shapes, metadata against the task: names, bounds, control period; finite,
in-bounds actions on probe observations); a file that fails a check stops the node with
exit code 3 and a message that says what to do. ONNX Runtime runs it with one intra-op
thread and preallocated input/output buffers (a call costs microseconds).

Subscribes:
    state_topic (sensor_msgs/JointState, default /mbrl/state): positions and velocities of the
        task's joints, as for ``mpc_planner``; each valid state is answered at once, in its
        callback, so commands come at the state rate (the control rate in ``sim_bridge``).
    policy_topic (std_msgs/UInt8MultiArray, latched, default /mbrl/policy): the bytes of a
        newer ONNX policy file. It goes through the same checks, and must carry a higher
        ``version`` than the running one; then it replaces the running policy between two
        states. A policy that fails is rejected (``rejected.policy.<reason>`` in /diagnostics,
        a log line) and the running one is kept.
    observation_extra_topic (std_msgs/Float64MultiArray, latched): per-episode observation
        constants, for tasks that have some (the reacher's target).
Publishes:
    /<controller>/commands (std_msgs/Float64MultiArray): the policy's action clamped to the
        task's actuator limits, tagged with the answered state's stamp (see
        :mod:`mbrl_ros.nodes.conversions`), never NaN or inf: a non-finite action is replaced by
        the safe command and counted.
    /diagnostics: policy version and file, inference time (us, p50/p99), states, commands,
        swaps, rejected inputs and policies, safe commands.

If no state arrived for ``state_timeout`` wall seconds it sends the safe command (the task's
nominal action, e.g. a quadrotor's hover thrust, else zeros; clamped to the limits), again
every ``state_timeout``, and once more at shutdown.
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

from mbrl_ros.config import ConfigError, param
from mbrl_ros.export.onnx_policy import OnnxPolicy, PolicyFormatError, load_policy_bytes, load_policy_onnx
from mbrl_ros.nodes.command_node import CommandNodeMixin, median_p99
from mbrl_ros.nodes.conversions import message_bytes
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.nodes.joint_layout import joint_layout
from mbrl_ros.nodes.parameters import declare_config, warn_unused_parameters
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.nodes.shared_parameters import declare_task
from mbrl_ros.ros.compat import MutuallyExclusiveCallbackGroup, Node, msg, qos_profile_latched, rclpy_api

#: Exit code when the policy file fails its checks (2 is for invalid parameters).
EXIT_BAD_POLICY = 3


@dataclasses.dataclass(frozen=True)
class PolicyControllerConfig:
    """Parameters of the ``policy_controller`` node."""

    task: str = param("pendulum_swingup", "Registered task the policy was exported for: its metadata must "
                      "match (names, bounds, control period); its limits clamp the commands. Its own "
                      "parameters are <task>.*.")
    policy_file: str = param("", "ONNX policy written by `mbrl-ros export-policy` (required).")
    controller: str = param("effort_controller", "Commands go to /<controller>/commands.")
    intra_op_threads: int = param(1, "ONNX Runtime intra-op threads (1: no thread pool; a small MLP gains "
                                  "nothing from more).", low=1, high=64)
    state_timeout: float = param(0.5, "Wall seconds without a state before the safe command is sent "
                                 "(and re-sent as often).", low=0.01, high=3600.0)
    lockstep_pauses: bool = param(False, "States are expected to stop between episodes (a lockstep "
                                  "simulator waiting for training): the first state timeout is said once "
                                  "at INFO instead of a warning each time; the safe command is sent alike.")
    max_state_age: float = param(0.5, "Reject states older than this on the node's clock (s; 0: off).",
                                 low=0.0, high=3600.0)
    joint_names: list[str] = param([], "ROS names of the task's joints in observation order; empty: the "
                                   "MJCF joint names.")
    state_topic: str = param("/mbrl/state", "sensor_msgs/JointState with positions and velocities.")
    policy_topic: str = param("/mbrl/policy", "Latched std_msgs/UInt8MultiArray carrying newer ONNX policies "
                              "(empty: no hot swap).")
    observation_extra_topic: str = param("/sim_bridge/observation_extra", "Latched std_msgs/Float64MultiArray "
                                         "with per-episode observation constants (tasks that have some).")
    diagnostics_period: float = param(1.0, "Seconds between two /diagnostics messages.", low=0.01, high=3600.0)


class PolicyControllerNode(CommandNodeMixin, Node):
    """Answers each state with the ONNX policy's action; see the module docstring.

    Raises:
        ConfigError: no ``policy_file`` given.
        PolicyFormatError: the policy file fails a check (``main`` exits with :data:`EXIT_BAD_POLICY`).
    """

    non_finite_counter = "non_finite_actions"

    def __init__(self, **node_kwargs: Any):
        super().__init__("policy_controller", **node_kwargs)
        cfg = self.config = declare_config(self, PolicyControllerConfig)
        self.task = declare_task(self, cfg.task)
        warn_unused_parameters(self, ["", cfg.task])
        spec = self.spec = self.task.spec
        self.layout = joint_layout(self.task, cfg.joint_names)
        if not cfg.policy_file:
            raise ConfigError("policy_file is empty: set it to an ONNX policy written by `mbrl-ros export-policy` "
                              "(launch argument policy_file:=/path/to/policy.onnx)")
        # Refuse a bad file before any entity exists: nothing was published yet.
        self.policy: OnnxPolicy = load_policy_onnx(Path(cfg.policy_file).expanduser(), expected_spec=spec,
                                                   intra_op_threads=cfg.intra_op_threads)
        self.health = NodeHealth(self)
        self._init_command_output(spec)  # limits and safe command (nominal action, else zeros)
        self._lock = threading.Lock()
        self._pending: OnnxPolicy | None = None
        self._extra: np.ndarray | None = None
        self._last_state_ns: int | None = None
        self._last_state_wall: float | None = None
        self._inference_us: collections.deque[float] = collections.deque(maxlen=1000)
        self.health.set("policy_version", self.policy.version)
        self.health.set("policy_source", str(self.policy.path))

        inputs = MutuallyExclusiveCallbackGroup()
        policies = MutuallyExclusiveCallbackGroup()  # loading a policy never blocks a state
        timers = MutuallyExclusiveCallbackGroup()
        self._create_command_publisher()
        self._subscribe_state(inputs)
        if cfg.policy_topic:
            self.create_subscription(msg("std_msgs/msg/UInt8MultiArray"), cfg.policy_topic, self._on_policy,
                                     qos_profile_latched, callback_group=policies)
        self._create_watchdog(timers)
        self.get_logger().info(
            f"policy {self.policy.path} (version {self.policy.version}, {spec.obs_dim} -> {spec.act_dim}) on "
            f"{spec.name}; answering {cfg.state_topic} on /{cfg.controller}/commands"
            + (f"; newer policies on {cfg.policy_topic}" if cfg.policy_topic else ""))

    # -- inputs -------------------------------------------------------------------------
    def _on_state(self, message: Any) -> None:
        sample = self._accept_state(message, require_velocity=True)
        if sample is None:
            return
        with self._lock:
            extra = self._extra
            pending, self._pending = self._pending, None
            self._last_state_wall = time.monotonic()
        if pending is not None:
            self._adopt(pending)
        obs = self._observation(sample, extra)
        if obs is None:
            return
        self.health.count("states")
        start = time.perf_counter()
        action = self.policy(obs)
        self._inference_us.append((time.perf_counter() - start) * 1e6)
        self._publish_command(action, tag_ns=sample.stamp_ns, kind="policy")

    def _on_policy(self, message: Any) -> None:
        source = f"{self.config.policy_topic} message"
        try:
            policy = load_policy_bytes(message_bytes(message), self.spec, source=source,
                                       intra_op_threads=self.config.intra_op_threads)
        except PolicyFormatError as exc:
            self.health.reject("policy", "invalid", f"{exc}; keeping version {self._current_version()}")
            return
        current = self._current_version()
        if policy.version <= current:
            self.health.reject("policy", "not_newer", f"version {policy.version} is not newer than the running "
                                                      f"version {current}; keeping it (export with a higher "
                                                      f"--version)")
            return
        with self._lock:
            self._pending = policy
        self.get_logger().info(f"policy version {policy.version} from {self.config.policy_topic} accepted; "
                               f"it answers the next state")

    def _current_version(self) -> int:
        with self._lock:
            pending = self._pending
        return max(self.policy.version, pending.version if pending is not None else -1)

    def _adopt(self, policy: OnnxPolicy) -> None:
        """Swap ``policy`` in (control path only: the session is never used by two threads)."""
        self.policy = policy
        self.health.count("policies_swapped")
        self.health.set("policy_version", policy.version)
        self.health.set("policy_source", str(policy.path))

    # -- outputs (publishing, watchdog, shutdown: CommandNodeMixin) -----------------------
    def _on_non_finite_command(self, action: np.ndarray, kind: str | None) -> str | None:
        """A non-finite action is logged and its safe command counted as ``commands.safe``."""
        self.health.log_throttled("non_finite_action", f"the policy returned {action.tolist()}; sending the "
                                                       f"safe command {self.safe_action.tolist()}", "error")
        return "safe"

    def _publish_diagnostics(self) -> None:
        extra = median_p99(self._inference_us, "inference_us")
        self._publish_health(f"policy version {self.health.get('policy_version')}",
                             self.health.get("non_finite_actions"), extra)


def main(args: list[str] | None = None) -> int:
    try:
        return run_node(PolicyControllerNode, args, name="policy_controller", num_threads=3)
    except PolicyFormatError as exc:
        rclpy_api.logging.get_logger("policy_controller").fatal(
            f"refusing the policy: {exc}. Nothing was published; fix or re-export the file "
            f"(mbrl-ros export-policy) and start the node again")
        return EXIT_BAD_POLICY


if __name__ == "__main__":
    sys.exit(main())
