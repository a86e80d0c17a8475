"""``viz``: the live view. Serves a Foxglove WebSocket and publishes RViz markers of the plan.

``mbrl-ros launch sim.launch.yaml viz:=true`` starts it; open Foxglove (app or studio) and connect
to ``ws://<host>:<port>`` (default ``ws://127.0.0.1:8765``).

Subscribes (our runtime or rclpy, like every node):
    joint_states_topic, state_topic (sensor_msgs/JointState): measured and estimated joints.
    plan_topic (nav_msgs/Path, default /mpc_planner/plan): the planner's predicted trajectory.
    spread_topic (std_msgs/Float64MultiArray, default /mpc_planner/plan_spread): the ensemble's
        spread (std over particles) along that trajectory, (horizon, entry).
    reward_topic, episode_return_topic (std_msgs/Float64): per-step rewards, episode returns.
    diagnostics_topic (diagnostic_msgs/DiagnosticArray): every node's health.

Foxglove channels (JSON encoding, one JSON schema each; ``channel_prefix`` + the name):
    joint_states, state: ``{stamp_ns, name, position, velocity, effort}``.
    plan: ``{stamp_ns, frame_id, points: [[x, y, z], ...]}``.
    plan_scene: schema ``foxglove.SceneUpdate``: the plan as a line strip for the 3D panel.
    robot_scene: schema ``foxglove.SceneUpdate``: the task's MuJoCo model posed at the measured
        joints (``task`` parameter; :mod:`mbrl_ros.nodes.mujoco_scene`), at most ``scene_rate`` Hz.
    plan_spread: ``{stamp_ns, spread: [[...], ...], max}`` (horizon x entry; ``max`` to plot).
    reward: ``{stamp_ns, reward}``; episode_return: ``{stamp_ns, episode_return}``.
    diagnostics: ``{stamp_ns, statuses: [{name, level, message, hardware_id, values: {k: v}}]}``.

Publishes (for RViz users):
    ~/plan_markers (visualization_msgs/MarkerArray): the plan as a LINE_STRIP and a SPHERE_LIST.
    /diagnostics: messages forwarded per channel.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import threading
from typing import Any, Callable

from mbrl_ros.config import ConfigError, param
from mbrl_ros.nodes.conversions import float64_matrix, stamp_to_ns
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.nodes.mujoco_scene import MujocoScene
from mbrl_ros.nodes.parameters import declare_config, warn_unused_parameters
from mbrl_ros.nodes.runner import run_node
from mbrl_ros.nodes.shared_parameters import declare_task
from mbrl_ros.ros.compat import Clock, ClockType, Node, msg

#: Marker types of visualization_msgs/Marker (the constants of the .msg).
LINE_STRIP = 4
SPHERE_LIST = 7

_JOINTS_SCHEMA = {
    "type": "object",
    "properties": {"stamp_ns": {"type": "integer"},
                   "name": {"type": "array", "items": {"type": "string"}},
                   "position": {"type": "array", "items": {"type": "number"}},
                   "velocity": {"type": "array", "items": {"type": "number"}},
                   "effort": {"type": "array", "items": {"type": "number"}}},
}
_PLAN_SCHEMA = {
    "type": "object",
    "properties": {"stamp_ns": {"type": "integer"}, "frame_id": {"type": "string"},
                   "points": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}},
}
_SPREAD_SCHEMA = {
    "type": "object",
    "properties": {"stamp_ns": {"type": "integer"}, "max": {"type": "number"},
                   "spread": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}},
}
_DIAGNOSTICS_SCHEMA = {
    "type": "object",
    "properties": {"stamp_ns": {"type": "integer"},
                   "statuses": {"type": "array", "items": {"type": "object"}}},
}


def _scalar_schema(key: str) -> dict:
    return {"type": "object", "properties": {"stamp_ns": {"type": "integer"}, key: {"type": "number"}}}


@dataclasses.dataclass(frozen=True)
class VizConfig:
    """Parameters of the ``viz`` node."""

    host: str = param("127.0.0.1", "Address the Foxglove WebSocket server binds to (0.0.0.0: every interface).")
    port: int = param(8765, "TCP port of the Foxglove WebSocket server (0: any free port).", low=0, high=65535)
    channel_prefix: str = param("/mbrl_viz/", "Prefix of every Foxglove channel name.")
    joint_states_topic: str = param("/joint_states", "sensor_msgs/JointState of the robot (empty: not shown).")
    state_topic: str = param("/mbrl/state", "sensor_msgs/JointState of the estimator (empty: not shown).")
    plan_topic: str = param("/mpc_planner/plan", "nav_msgs/Path of the planner (empty: not shown).")
    spread_topic: str = param("/mpc_planner/plan_spread", "std_msgs/Float64MultiArray (horizon, entry) spread "
                              "of the plan over the ensemble's particles (empty: not shown).")
    reward_topic: str = param("/sim_bridge/reward", "std_msgs/Float64 per-step rewards (empty: not shown).")
    episode_return_topic: str = param("/sim_bridge/episode_return",
                                      "std_msgs/Float64 episode returns (empty: not shown).")
    diagnostics_topic: str = param("/diagnostics", "diagnostic_msgs/DiagnosticArray (empty: not shown).")
    marker_scale: float = param(0.03, "Line width and sphere diameter of the plan markers, m.", low=1e-4, high=10.0)
    diagnostics_period: float = param(2.0, "Seconds between two /diagnostics messages of this node.",
                                      low=0.01, high=3600.0)
    task: str = param("", "Task whose MuJoCo model is drawn in 3D (channel robot_scene), posed from "
                      "joint_states_topic; empty, or a task without an MJCF model: no robot scene.")
    scene_rate: float = param(20.0, "Most robot_scene updates per second (a real robot's joint states "
                              "may come at 1 kHz).", low=0.1, high=1000.0)


def joints_json(message: Any) -> dict:
    """``sensor_msgs/JointState`` as the JSON of the joint channels."""
    return {"stamp_ns": stamp_to_ns(message.header.stamp), "name": list(message.name),
            "position": [float(v) for v in message.position], "velocity": [float(v) for v in message.velocity],
            "effort": [float(v) for v in message.effort]}


def plan_points(message: Any) -> list[list[float]]:
    """The positions of a ``nav_msgs/Path``'s poses, ``[[x, y, z], ...]``."""
    return [[float(p.pose.position.x), float(p.pose.position.y), float(p.pose.position.z)] for p in message.poses]


def plan_json(message: Any) -> dict:
    return {"stamp_ns": stamp_to_ns(message.header.stamp), "frame_id": message.header.frame_id,
            "points": plan_points(message)}


def plan_scene_json(message: Any, width: float) -> dict:
    """``foxglove.SceneUpdate`` (JSON form) with the plan as one line strip."""
    stamp_ns = stamp_to_ns(message.header.stamp)
    return {"deletions": [], "entities": [{
        "timestamp": {"sec": stamp_ns // 1_000_000_000, "nsec": stamp_ns % 1_000_000_000},
        "frame_id": message.header.frame_id, "id": "plan", "frame_locked": False,
        "lines": [{"type": 0, "pose": {"position": {"x": 0, "y": 0, "z": 0},
                                       "orientation": {"x": 0, "y": 0, "z": 0, "w": 1}},
                   "thickness": width, "scale_invariant": False,
                   "points": [{"x": x, "y": y, "z": z} for x, y, z in plan_points(message)],
                   "color": {"r": 0.1, "g": 0.6, "b": 1.0, "a": 1.0}, "colors": [], "indices": []}]}]}


def spread_json(message: Any) -> dict:
    """The plan's spread ``(H, K)`` (no header: the receive time stamps it)."""
    spread = float64_matrix(message)
    return {"spread": spread.tolist(), "max": float(spread.max()) if spread.size else 0.0}


def diagnostics_json(message: Any) -> dict:
    return {"stamp_ns": stamp_to_ns(message.header.stamp),
            "statuses": [{"name": s.name, "level": int(s.level), "message": s.message,
                          "hardware_id": s.hardware_id, "values": {kv.key: kv.value for kv in s.values}}
                         for s in message.status]}


def plan_markers(message: Any, scale: float) -> Any:
    """``visualization_msgs/MarkerArray`` of a ``nav_msgs/Path``: a line strip and its points."""
    marker_cls, point_cls = msg("visualization_msgs/msg/Marker"), msg("geometry_msgs/msg/Point")
    markers = []
    for marker_id, kind, rgb in ((0, LINE_STRIP, (0.1, 0.6, 1.0)), (1, SPHERE_LIST, (1.0, 0.5, 0.1))):
        marker = marker_cls()
        marker.header = message.header
        marker.ns, marker.id, marker.type, marker.action = "plan", marker_id, kind, 0   # 0: ADD
        marker.pose.orientation.w = 1.0
        marker.scale.x = marker.scale.y = marker.scale.z = scale
        marker.color.r, marker.color.g, marker.color.b, marker.color.a = (*rgb, 1.0)
        points = []
        for pose in message.poses:
            point = point_cls()
            point.x, point.y, point.z = pose.pose.position.x, pose.pose.position.y, pose.pose.position.z
            points.append(point)
        marker.points = points
        markers.append(marker)
    array = msg("visualization_msgs/msg/MarkerArray")()
    array.markers = markers
    return array


def _foxglove():
    try:
        import foxglove
    except ImportError as exc:
        raise ConfigError("the viz node needs the foxglove-sdk package: pip install foxglove-sdk") from exc
    return foxglove


class VizNode(Node):
    """Forwards the graph's states, plans, rewards and diagnostics to Foxglove (module docstring)."""

    def __init__(self, **node_kwargs: Any):
        super().__init__("viz", **node_kwargs)
        cfg = self.config = declare_config(self, VizConfig)
        self.scene = self._robot_scene(cfg)
        warn_unused_parameters(self, [""])
        foxglove = _foxglove()
        self.health = NodeHealth(self)
        self._stopped = threading.Event()
        # An own context per node: two nodes in one process (tests) get two independent servers.
        self._fox_context = foxglove.Context()
        try:
            self.server = foxglove.start_server(name="mbrl_ros", host=cfg.host, port=cfg.port, context=self._fox_context)
        except Exception as exc:  # foxglove raises its own error type for a port in use or a bad host
            raise ConfigError(f"cannot serve Foxglove on {cfg.host}:{cfg.port}: {exc}") from exc
        self.port = self.server.port
        self.channels: dict[str, Any] = {}
        self._marker_pub = self.create_publisher(msg("visualization_msgs/msg/MarkerArray"), "~/plan_markers", 10)
        width = cfg.marker_scale
        routes: list[tuple[str, str, str, dict, Callable[[Any], dict], str]] = [
            (cfg.joint_states_topic, "sensor_msgs/msg/JointState", "joint_states", _JOINTS_SCHEMA, joints_json, ""),
            (cfg.state_topic, "sensor_msgs/msg/JointState", "state", _JOINTS_SCHEMA, joints_json, ""),
            (cfg.plan_topic, "nav_msgs/msg/Path", "plan", _PLAN_SCHEMA, plan_json, ""),
            (cfg.plan_topic, "nav_msgs/msg/Path", "plan_scene", {"type": "object"},
             lambda m: plan_scene_json(m, width), "foxglove.SceneUpdate"),
            (cfg.spread_topic, "std_msgs/msg/Float64MultiArray", "plan_spread", _SPREAD_SCHEMA, spread_json, ""),
            (cfg.reward_topic, "std_msgs/msg/Float64", "reward", _scalar_schema("reward"),
             lambda m: {"reward": float(m.data)}, ""),
            (cfg.episode_return_topic, "std_msgs/msg/Float64", "episode_return", _scalar_schema("episode_return"),
             lambda m: {"episode_return": float(m.data)}, ""),
            (cfg.diagnostics_topic, "diagnostic_msgs/msg/DiagnosticArray", "diagnostics", _DIAGNOSTICS_SCHEMA,
             diagnostics_json, ""),
        ]
        if self.scene is not None and cfg.joint_states_topic:
            routes.append((cfg.joint_states_topic, "sensor_msgs/msg/JointState", "robot_scene", {"type": "object"},
                           self._scene_json, "foxglove.SceneUpdate"))
        self._next_scene_ns = 0
        handlers: dict[tuple[str, str], list[Callable[[Any], None]]] = {}
        for topic, ros_type, name, schema, convert, schema_name in routes:
            if not topic:
                continue
            channel_name = cfg.channel_prefix + name
            schema_obj = foxglove.Schema(name=schema_name or channel_name, encoding="jsonschema",
                                         data=json.dumps(schema).encode())
            channel = foxglove.Channel(channel_name, schema=schema_obj, message_encoding="json",
                                       context=self._fox_context)
            self.channels[channel_name] = channel
            handlers.setdefault((topic, ros_type), []).append(self._forwarder(name, channel, convert))
        if cfg.plan_topic:
            handlers[(cfg.plan_topic, "nav_msgs/msg/Path")].append(
                lambda m: self._marker_pub.publish(plan_markers(m, width)))
        for (topic, ros_type), callbacks in handlers.items():
            self.create_subscription(msg(ros_type), topic, self._fan_out(callbacks), 10)
        self.create_timer(cfg.diagnostics_period, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.context.on_shutdown(self.stop)
        self.get_logger().info(f"Foxglove WebSocket on ws://{cfg.host}:{self.port} "
                               f"({len(self.channels)} channels); RViz markers on ~/plan_markers")

    def _robot_scene(self, cfg: VizConfig) -> MujocoScene | None:
        if not cfg.task:
            return None
        task = declare_task(self, cfg.task)
        mjcf = getattr(getattr(task, "physics", None), "path", None)
        if mjcf is None:
            self.get_logger().info(f"task {cfg.task} has no MuJoCo model: no robot_scene channel")
            return None
        return MujocoScene(mjcf)

    def _scene_json(self, message: Any) -> dict | None:
        """The robot posed at ``message``'s joint positions, or None inside the ``scene_rate`` interval."""
        now_ns = self.get_clock().now().nanoseconds
        if now_ns < self._next_scene_ns:
            return None
        self._next_scene_ns = now_ns + int(1e9 / self.config.scene_rate)
        stamp_ns = stamp_to_ns(message.header.stamp)
        update = self.scene.scene_update(list(message.name), list(message.position), stamp_ns)
        update["stamp_ns"] = stamp_ns
        return update

    def _forwarder(self, name: str, channel: Any, convert: Callable[[Any], dict | None]) -> Callable[[Any], None]:
        def forward(message: Any) -> None:
            payload = convert(message)
            if payload is None:
                return
            stamp = payload.get("stamp_ns") or self.get_clock().now().nanoseconds
            payload.setdefault("stamp_ns", stamp)
            channel.log(payload, log_time=int(stamp))
            self.health.count(f"forwarded.{name}")
        return forward

    @staticmethod
    def _fan_out(callbacks: list[Callable[[Any], None]]) -> Callable[[Any], None]:
        def receive(message: Any) -> None:
            for callback in callbacks:
                callback(message)
        return receive

    def _publish_diagnostics(self) -> None:
        self.health.publish("ok", f"serving Foxglove on port {self.port}")

    def stop(self) -> None:
        """Stop the WebSocket server; called on shutdown and before the node is destroyed."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.server.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(VizNode, args, name="viz")


if __name__ == "__main__":
    sys.exit(main())
