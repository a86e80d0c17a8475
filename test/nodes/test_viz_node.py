"""``viz``: a client on the Foxglove WebSocket protocol (foxglove.sdk.v1 / foxglove.websocket.v1) subscribes to every
advertised channel and decodes what arrives; the RViz markers of the plan arrive on ROS."""
import asyncio
import json
import struct
import time

import numpy as np
import pytest
import websockets.asyncio.client as websockets_client

from mbrl_ros.nodes import viz
from mbrl_ros.nodes.conversions import float64_matrix_message, float64_message, joint_state_message, path_message
from mbrl_ros.ros.compat import msg

# foxglove-sdk >= 0.2x speaks "foxglove.sdk.v1" (the same ops and binary framing as
# "foxglove.websocket.v1", which Foxglove's ws-protocol spec names); offer both, as Foxglove does.
SUBPROTOCOLS = ["foxglove.sdk.v1", "foxglove.websocket.v1"]
MESSAGE_DATA = 1   # binary opcode of server -> client messages
PLAN = np.array([[0.1, 0.2, 0.0], [0.3, 0.4, 0.0], [0.5, 0.6, 0.0]])
EXPECTED_CHANNELS = {"joint_states", "state", "plan", "plan_scene", "plan_spread", "reward", "episode_return",
                     "diagnostics"}
SPREAD = np.array([[0.01], [0.02], [0.04]])


def _diagnostics_message():
    array = msg("diagnostic_msgs/msg/DiagnosticArray")()
    status = msg("diagnostic_msgs/msg/DiagnosticStatus")()
    status.name, status.message, status.level = "probe_status", "all good", b"\x00"
    kv = msg("diagnostic_msgs/msg/KeyValue")()
    kv.key, kv.value = "answer", "42"
    status.values = [kv]
    array.status = [status]
    return array


async def _watch(port: int, publish, timeout_s: float = 30.0, expected=EXPECTED_CHANNELS) -> tuple[dict, dict]:
    """Subscribe to every advertised channel; returns (channels by topic, decoded payloads by topic).

    Waits for the advertisement of ``expected`` channels, then for a message on each channel
    (``publish()`` is called repeatedly meanwhile); a silent channel is simply missing from the result.
    """
    async with websockets_client.connect(f"ws://127.0.0.1:{port}", subprotocols=SUBPROTOCOLS) as ws:
        assert ws.subprotocol in SUBPROTOCOLS
        channels: dict[int, dict] = {}
        server_info = None
        deadline = time.monotonic() + timeout_s
        while server_info is None or len(channels) < len(expected):
            frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            if frame["op"] == "serverInfo":
                server_info = frame
            elif frame["op"] == "advertise":
                channels.update({c["id"]: c for c in frame["channels"]})
        assert server_info["name"] == "mbrl_ros"
        subscriptions = {sub_id: channel for sub_id, channel in enumerate(channels.values(), start=1)}
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": sub_id, "channelId": channel["id"]} for sub_id, channel in subscriptions.items()]}))
        received: dict[str, list] = {}
        next_publish = 0.0
        while len(received) < len(subscriptions):
            if time.monotonic() > deadline:
                break
            if time.monotonic() >= next_publish:   # no latching on the Foxglove side: publish until seen
                publish()
                next_publish = time.monotonic() + 0.3
            try:
                frame = await asyncio.wait_for(ws.recv(), 0.3)
            except asyncio.TimeoutError:
                continue
            if isinstance(frame, bytes):
                assert frame[0] == MESSAGE_DATA
                sub_id, log_time = struct.unpack_from("<IQ", frame, 1)
                channel = subscriptions[sub_id]
                assert channel["encoding"] == "json"
                received.setdefault(channel["topic"], []).append((log_time, json.loads(frame[13:])))
        return {c["topic"]: c for c in channels.values()}, received


def test_every_foxglove_channel_delivers_decoded_messages(graph):
    node = graph.start(viz.VizNode, port=0)
    markers = graph.collect("visualization_msgs/msg/MarkerArray", "/viz/plan_markers")
    pubs = {
        "joints": graph.publisher("sensor_msgs/msg/JointState", "/joint_states"),
        "state": graph.publisher("sensor_msgs/msg/JointState", "/mbrl/state"),
        "plan": graph.publisher("nav_msgs/msg/Path", "/mpc_planner/plan"),
        "spread": graph.publisher("std_msgs/msg/Float64MultiArray", "/mpc_planner/plan_spread"),
        "reward": graph.publisher("std_msgs/msg/Float64", "/sim_bridge/reward"),
        "return": graph.publisher("std_msgs/msg/Float64", "/sim_bridge/episode_return"),
        "diagnostics": graph.publisher("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics"),
    }

    def publish():
        pubs["joints"].publish(joint_state_message(2_000_000_000, ["slider", "hinge"], [0.25, 3.0], [0.5, -1.0]))
        pubs["state"].publish(joint_state_message(2_000_000_000, ["slider", "hinge"], [0.24, 3.1], [0.4, -0.9]))
        pubs["plan"].publish(path_message(2_000_000_000, 20_000_000, PLAN, "world"))
        pubs["spread"].publish(float64_matrix_message(SPREAD, ("horizon", "entry")))
        pubs["reward"].publish(float64_message(0.75))
        pubs["return"].publish(float64_message(123.5))
        pubs["diagnostics"].publish(_diagnostics_message())

    channels, received = asyncio.run(_watch(node.port, publish))
    prefix = "/mbrl_viz/"
    assert set(channels) == {prefix + name for name in EXPECTED_CHANNELS}
    assert set(received) == set(channels), f"no message on {set(channels) - set(received)}"
    assert channels[prefix + "plan_scene"]["schemaName"] == "foxglove.SceneUpdate"
    assert all(c["schemaEncoding"] == "jsonschema" and json.loads(c["schema"]) for c in channels.values())

    time_ns, joints = received[prefix + "joint_states"][0]
    assert time_ns == 2_000_000_000
    assert joints["name"] == ["slider", "hinge"] and joints["position"] == [0.25, 3.0]
    assert joints["velocity"] == [0.5, -1.0]
    assert received[prefix + "state"][0][1]["position"] == [0.24, 3.1]
    plan = received[prefix + "plan"][0][1]
    assert plan["frame_id"] == "world" and np.allclose(plan["points"], PLAN)
    line = received[prefix + "plan_scene"][0][1]["entities"][0]["lines"][0]
    assert np.allclose([[p["x"], p["y"], p["z"]] for p in line["points"]], PLAN)
    spread = received[prefix + "plan_spread"][0][1]
    assert np.allclose(spread["spread"], SPREAD) and spread["max"] == 0.04 and spread["stamp_ns"] > 0
    assert received[prefix + "reward"][0][1]["reward"] == 0.75
    assert received[prefix + "episode_return"][0][1]["episode_return"] == 123.5
    statuses = [s for _, m in received[prefix + "diagnostics"] for s in m["statuses"]]
    probe = next(s for s in statuses if s["name"] == "probe_status")
    assert probe["message"] == "all good" and probe["values"] == {"answer": "42"}

    assert markers, "no MarkerArray on /viz/plan_markers"
    line_strip, spheres = markers[0].markers
    assert (line_strip.type, spheres.type) == (viz.LINE_STRIP, viz.SPHERE_LIST)
    assert line_strip.header.frame_id == "world"
    assert np.allclose([[p.x, p.y, p.z] for p in spheres.points], PLAN)


def test_port_in_use_is_a_clear_error(graph):
    first = graph.start(viz.VizNode, port=0)
    with pytest.raises(viz.ConfigError, match=f"cannot serve Foxglove on 127.0.0.1:{first.port}"):
        graph.start(viz.VizNode, port=first.port)


def test_mujoco_scene_poses_the_cartpole_geoms_from_joint_positions():
    from mbrl_ros.nodes.mujoco_scene import MujocoScene
    from mbrl_ros.tasks import make_task

    scene = MujocoScene(make_task("cartpole_swingup").physics.path)
    assert set(scene.joint_names) == {"slider", "hinge"}
    hanging = scene.scene_update(["slider", "hinge", "not_a_joint"], [0.5, 0.0, 9.0], 3_000_000_000)
    entity = hanging["entities"][0]
    assert entity["id"] == "robot" and entity["timestamp"] == {"sec": 3, "nsec": 0}
    (cart,) = entity["cubes"]
    assert np.allclose([cart["pose"]["position"][k] for k in "xyz"], [0.5, 0.0, 0.0])
    assert np.allclose([cart["size"][k] for k in "xyz"], [0.2, 0.1, 0.1])
    rail, pole = entity["cylinders"]   # MJCF order: rail (world), pole (cart/pole)
    assert np.isclose(rail["size"]["z"], 6.0 + 0.02)       # fromto length + the capsule's caps
    # the pole (0.6 m, fromto 0 -> -0.6 z) hangs down: its centre 0.3 m below the cart
    assert np.allclose([pole["pose"]["position"][k] for k in "xyz"], [0.5, 0.0, -0.3])
    upright = scene.scene_update(["slider", "hinge"], [-0.2, np.pi], 0)["entities"][0]
    assert np.allclose([upright["cylinders"][1]["pose"]["position"][k] for k in "xyz"], [-0.2, 0.0, 0.3])
    assert np.allclose([upright["cubes"][0]["pose"]["position"][k] for k in "xyz"], [-0.2, 0.0, 0.0])


def test_robot_scene_channel_draws_the_task_model(graph):
    node = graph.start(viz.VizNode, port=0, task="cartpole_swingup", scene_rate=50.0)
    joints = graph.publisher("sensor_msgs/msg/JointState", "/joint_states")

    def publish():
        joints.publish(joint_state_message(4_000_000_000, ["slider", "hinge"], [0.75, 0.0], [0.0, 0.0]))

    channels, received = asyncio.run(_watch(node.port, publish, expected=EXPECTED_CHANNELS | {"robot_scene"}))
    topic = "/mbrl_viz/robot_scene"
    assert channels[topic]["schemaName"] == "foxglove.SceneUpdate"
    log_time, update = received[topic][0]
    assert log_time == 4_000_000_000
    (cart,) = update["entities"][0]["cubes"]
    assert np.isclose(cart["pose"]["position"]["x"], 0.75)
