"""``bag_recorder``: records topics into a rosbag2 MCAP bag (``record:=true`` in the launch files).

Subscribes to each entry of ``topics`` (``name:pkg/msg/Type``, with ``:latched`` for
reliable transient-local topics such as models, or ``:best_effort``) with a raw subscription:
the CDR bytes go into the bag untouched, timestamped with the DDS source timestamp (the
publisher's send time on the system clock; ``ros2 bag record`` uses the receive time, which
loses the publication order across topics when a busy recorder drains its queues in bursts:
offline pairing of untagged commands needs that order). The default list (``config/nodes/bag_recorder.yaml``) holds what a
learning run needs offline: measured and estimated states, commands, rewards, episode
returns, the sampled physics, the learned models (their versions and metrics travel in them)
and ``/diagnostics``. ``{controller}`` in a name is replaced by ``controller``.

The bag goes to ``path`` (or ``<output_dir>/bag_<UTC time>``); an existing folder is never
overwritten (the node exits with code 2). ``metadata.yaml`` is written when the node stops
(SIGINT/SIGTERM from the launcher, or the end of the graph); see :mod:`mbrl_ros.recording`.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mbrl_ros.config import ConfigError, param
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.nodes.parameters import declare_config, warn_unused_parameters
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.recording import BagError, BagWriter
from mbrl_ros.ros.compat import (
    Clock,
    ClockType,
    DurabilityPolicy,
    Node,
    QoSProfile,
    ReliabilityPolicy,
    msg,
)

DEFAULT_TOPICS = [
    "/joint_states:sensor_msgs/msg/JointState",
    "/mbrl/state:sensor_msgs/msg/JointState",
    "/{controller}/commands:std_msgs/msg/Float64MultiArray",
    "/sim_bridge/ground_truth:sensor_msgs/msg/JointState",
    "/sim_bridge/reward:std_msgs/msg/Float64",
    "/sim_bridge/episode_return:std_msgs/msg/Float64:latched",
    "/sim_bridge/observation_extra:std_msgs/msg/Float64MultiArray:latched",
    "/sim_bridge/physics:std_msgs/msg/String:latched",
    "/mbrl/model:std_msgs/msg/UInt8MultiArray:latched",
    "/diagnostics:diagnostic_msgs/msg/DiagnosticArray",
]


@dataclasses.dataclass(frozen=True)
class BagRecorderConfig:
    """Parameters of the ``bag_recorder`` node."""

    topics: list[str] = param(list(DEFAULT_TOPICS), "Topics to record, each name:pkg/msg/Type with an optional "
                              ":latched (reliable, transient-local) or :best_effort; {controller} is replaced.")
    controller: str = param("effort_controller", "Fills {controller} in topic names.")
    path: str = param("", "Bag folder to create (must not exist); empty: <output_dir>/bag_<UTC time>.")
    output_dir: str = param("runs/sim", "Where the bag goes when path is empty.")
    depth: int = param(1000, "Queue depth per subscription (messages kept while the recorder is busy).",
                       low=1, high=1_000_000)
    diagnostics_period: float = param(1.0, "Seconds between two /diagnostics messages.", low=0.01, high=3600.0)


def parse_topic(entry: str, controller: str) -> tuple[str, str, str]:
    """``"name:pkg/msg/Type[:latched|:best_effort]"`` -> (name, type, qos kind)."""
    parts = entry.replace("{controller}", controller).split(":")
    if len(parts) not in (2, 3) or not parts[0].startswith("/") or parts[1].count("/") != 2:
        raise ConfigError(f"topics: {entry!r} must be /name:pkg/msg/Type[:latched|:best_effort]")
    kind = parts[2] if len(parts) == 3 else "reliable"
    if kind not in ("reliable", "latched", "best_effort"):
        raise ConfigError(f"topics: {entry!r}: unknown QoS {kind!r} (latched, best_effort)")
    return parts[0], parts[1], kind


class BagRecorderNode(Node):
    """Writes every message of the configured topics into one MCAP bag (see the module docstring)."""

    def __init__(self, **node_kwargs: Any):
        super().__init__("bag_recorder", **node_kwargs)
        cfg = self.config = declare_config(self, BagRecorderConfig)
        warn_unused_parameters(self, [""])
        entries = [parse_topic(e, cfg.controller) for e in cfg.topics]
        path = Path(cfg.path) if cfg.path else Path(cfg.output_dir) / time.strftime("bag_%Y%m%d-%H%M%S", time.gmtime())
        if path.exists():
            raise ConfigError(f"bag {path} exists already; not overwriting it (give another path)")
        for name, msgtype, _ in entries:
            msg(msgtype)  # an unknown type fails here, before the bag folder is created
        try:
            self.bag = BagWriter(path)
        except BagError as exc:
            raise ConfigError(str(exc)) from None
        self.health = NodeHealth(self)
        self._stopped = threading.Event()
        for name, msgtype, kind in entries:
            qos = QoSProfile(depth=1 if kind == "latched" else cfg.depth,
                             reliability=ReliabilityPolicy.BEST_EFFORT if kind == "best_effort"
                             else ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if kind == "latched"
                             else DurabilityPolicy.VOLATILE)
            self.bag.add_topic(name, msgtype, reliable=kind != "best_effort", latched=kind == "latched",
                               depth=qos.depth)
            self.create_subscription(msg(msgtype), name, self._writer_for(name), qos, raw=True)
        self.create_timer(cfg.diagnostics_period, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.context.on_shutdown(self.stop)
        self.get_logger().info(f"recording {len(entries)} topic(s) into {path} (rosbag2, MCAP)")

    def _writer_for(self, topic: str):
        def write(data: bytes, info: Any) -> None:
            # The publisher's send time: the bag's order across topics is then the publication
            # order, which a receive time would lose when the recorder drains its queues in bursts.
            stamp = int(info.get("source_timestamp") or 0) or time.time_ns()
            self.bag.write(topic, stamp, data)
            self.health.count("messages")
        return write

    def _publish_diagnostics(self) -> None:
        counts = dict(self.bag.counts)
        self.health.publish("ok", f"{sum(counts.values())} message(s) in {self.bag.path}",
                            {f"count.{k}": v for k, v in counts.items()})

    def stop(self) -> None:
        """Close the bag (writes metadata.yaml); called on shutdown and before the node is destroyed."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.bag.close()
        counts = self.bag.counts
        self.get_logger().info(f"wrote {self.bag.path}: {sum(counts.values())} message(s) on "
                               f"{sum(1 for c in counts.values() if c)} topic(s)")


def main(args: list[str] | None = None) -> int:
    return run_node(BagRecorderNode, args, name="bag_recorder")


if __name__ == "__main__":
    sys.exit(main())
