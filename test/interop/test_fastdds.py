"""Interop with Fast DDS (rmw_fastrtps' middleware): a C++ peer built from Debian's Fast DDS 2.9.

The peer (test/interop/fastdds/peer.cpp) is configured like rmw_fastrtps for
``ROS_AUTOMATIC_DISCOVERY_RANGE`` (LOCALHOST: no metatraffic multicast, initial peer
127.0.0.1), with Fast DDS's default transports (shared memory + UDPv4) or UDPv4 only. Its
types come from fastddsgen over ROS 2's IDL module layout (``sensor_msgs::msg::dds_::JointState_``),
so Fast DDS and Cyclone match by type name only, as between two ROS 2 machines.

Both directions, all four settings: the peer decodes our ``/joint_states`` and ``/mbrl/state``
(every value checked), we decode its commands on ``/effort_controller/commands`` (every value
checked); and a Fast DDS lockstep controller runs a whole ``sim_bridge`` episode with no miss.

The peer is built once per test session (fastddsgen + cmake + g++, ~20 s). Without the Debian
packages (``libfastrtps-dev``, ``fastddsgen``; .ci/run installs them) the tests are skipped,
except in CI (``CI=true``), where that is a failure.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mbrl_ros.ros import runtime as rclpy
from mbrl_ros.ros.compat import msg
from mbrl_ros.ros.runtime.testing import isolated_domain

SOURCES = Path(__file__).parent / "fastdds"
FASTDDS_HEADER = Path("/usr/include/fastdds/dds/domain/DomainParticipant.hpp")
COMMANDS = 40        # commands the peer streams to us (we confirm each in effort[0])
SAMPLES = 40         # samples the peer must decode on each of our topics
PEER_TIMEOUT = 20.0  # the peer's own deadline (s); it exits with status 2 when it runs out


def _missing_packages() -> str | None:
    missing = [name for name, ok in (("fastddsgen", shutil.which("fastddsgen")),
                                     ("libfastrtps-dev", FASTDDS_HEADER.exists()),
                                     ("cmake", shutil.which("cmake")),
                                     ("g++", shutil.which("g++"))) if not ok]
    return ", ".join(missing) or None


@pytest.fixture(scope="session")
def fastdds_peer(tmp_path_factory) -> Path:
    """Path of the built peer executable (built once per session)."""
    missing = _missing_packages()
    if missing:
        reason = (f"Fast DDS interop needs Debian packages that are missing here: {missing} "
                  "(apt-get install -y libfastrtps-dev fastddsgen cmake g++; .ci/run does)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    build = tmp_path_factory.mktemp("fastdds_peer")
    gen = build / "gen"
    gen.mkdir()
    steps = [
        ["fastddsgen", "-replace", "-d", str(gen), str(SOURCES / "ros_types.idl")],
        ["cmake", "-S", str(SOURCES), "-B", str(build / "cmake"), f"-DGEN_DIR={gen}", "-DCMAKE_BUILD_TYPE=Release"],
        ["cmake", "--build", str(build / "cmake"), "-j", "2"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"building the Fast DDS peer failed at {' '.join(step)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return build / "cmake" / "peer"


class Graph:
    """A context of our runtime with one node, spun in a background thread."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(args=[], context=self.context)
        self.node = rclpy.create_node("interop", context=self.context)
        self.executor = rclpy.MultiThreadedExecutor(num_threads=2, context=self.context)
        self.extra: list[Any] = []
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def add(self, node: Any) -> Any:
        self.extra.append(node)
        self.executor.add_node(node)
        return node

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except rclpy.ExternalShutdownException:
            pass

    def close(self) -> None:
        for node in self.extra:
            stop = getattr(node, "stop", None)
            if stop is not None:
                stop()
        self.executor.shutdown(timeout_sec=5.0)
        for node in [*self.extra, self.node]:
            node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=5.0)


@pytest.fixture(params=["LOCALHOST", "SUBNET"])
def discovery_range(request):
    """A domain of the test's own with the given ROS_AUTOMATIC_DISCOVERY_RANGE."""
    with isolated_domain() as domain_id:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = request.param  # isolated_domain restores it
        yield request.param, domain_id


def run_peer(peer: Path, domain_id: int, rng: str, transport: str, *args: str) -> tuple[int, list[dict]]:
    command = [str(peer), "--domain", str(domain_id), "--range", rng, "--transport", transport,
               "--timeout", str(PEER_TIMEOUT), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=PEER_TIMEOUT + 30)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, events


def _contiguous(values: list[float]) -> bool:
    return all(b - a == 1 for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("transport", ["default", "udp"])
def test_both_directions(fastdds_peer, discovery_range, transport):
    rng, domain_id = discovery_range
    graph = Graph()
    joint_state = msg("sensor_msgs/msg/JointState")
    received: list[Any] = []
    publishers = [graph.node.create_publisher(joint_state, topic, 10) for topic in ("/joint_states", "/mbrl/state")]
    graph.node.create_subscription(msg("std_msgs/msg/Float64MultiArray"), "/effort_controller/commands",
                                   received.append, 1000)
    stop = threading.Event()

    def publish_states() -> None:
        # k counts up; effort[0] tells the peer how many commands arrived so far.
        k = 0
        while not stop.is_set():
            message = joint_state(name=["joint_a", "joint_b"], position=[float(k), 0.5 * k],
                                  velocity=[-float(k), 1.0], effort=[float(len(received))])
            message.header.stamp.sec = k
            message.header.stamp.nanosec = 123
            message.header.frame_id = "base"
            for publisher in publishers:
                publisher.publish(message)
            k += 1
            stop.wait(0.01)

    thread = threading.Thread(target=publish_states, daemon=True)
    thread.start()
    try:
        status, events = run_peer(fastdds_peer, domain_id, rng, transport,
                                  "--read", "rt/joint_states", "--read", "rt/mbrl/state", "--expect", str(SAMPLES),
                                  "--write", "rt/effort_controller/commands", "--commands", str(COMMANDS),
                                  "--rate", "200")
    finally:
        stop.set()
        thread.join()
        graph.close()
    summary = events[-1]
    print(f"{rng}/{transport}: Fast DDS decoded {summary['received']}, sent {summary['sent']} commands; "
          f"we decoded {len(received)} commands")
    assert status == 0, f"peer did not finish: {summary}"

    # Fast DDS -> us: every command decoded, in order, none lost once the first arrived.
    assert len(received) >= COMMANDS
    indices = [command.data[0] for command in received]
    assert _contiguous(indices), [(a, b) for a, b in zip(indices, indices[1:]) if b - a != 1]
    for command in received:
        k = command.data[0]
        assert list(command.data) == [k, 0.25 + 0.01 * k, -0.5 * k]
        assert [(d.label, d.size, d.stride) for d in command.layout.dim] == [("effort", 3, 3)]
        assert command.layout.data_offset == 0

    # us -> Fast DDS: every field of every sample decoded on both topics.
    for topic in ("rt/joint_states", "rt/mbrl/state"):
        samples = [e for e in events if e["event"] == "sample" and e["topic"] == topic]
        assert len(samples) >= SAMPLES, topic
        ks = [s["position"][0] for s in samples]
        assert _contiguous(ks), topic  # reliable: no gap once matched
        for sample in samples:
            k = sample["position"][0]
            assert sample["name"] == ["joint_a", "joint_b"]
            assert sample["position"] == [k, 0.5 * k] and sample["velocity"] == [-k, 1.0]
            assert (sample["sec"], sample["nanosec"], sample["frame_id"]) == (k, 123, "base")
        assert summary["received"][topic] == len(samples)


def test_fastdds_controller_runs_a_sim_bridge_episode(fastdds_peer):
    """A lockstep Fast DDS controller: one command per /joint_states, sim_bridge steps on each.

    Runs in LOCALHOST only (the range CI uses); both ranges are covered by test_both_directions.
    """
    from mbrl_ros.nodes.sim_bridge import SimBridgeNode
    from mbrl_ros.nodes.state_estimator import StateEstimatorNode
    from mbrl_ros.ros.compat import Parameter

    with isolated_domain() as domain_id:
        _run_sim_bridge_episode(fastdds_peer, domain_id, SimBridgeNode, StateEstimatorNode, Parameter)


def _run_sim_bridge_episode(fastdds_peer, domain_id, SimBridgeNode, StateEstimatorNode, Parameter):
    rng = "LOCALHOST"
    steps = 40
    graph = Graph()

    def start(node_class, **parameters):
        overrides = [Parameter(name, value=value) for name, value in parameters.items()]
        return graph.add(node_class(context=graph.context, parameter_overrides=overrides))

    try:
        start(StateEstimatorNode, estimator="finite_difference", max_age=0.0)
        bridge = start(SimBridgeNode, task="pendulum_swingup", **{"pendulum_swingup.episode_length": steps,
                       "learning.episodes": 1, "start_delay": 0.5, "linger": 1.0, "step_timeout": 2.0,
                       "start_timeout": 15.0})
        status, events = run_peer(fastdds_peer, domain_id, rng, "default",
                                  "--read", "rt/joint_states", "--read", "rt/mbrl/state",
                                  "--expect", str(steps),
                                  "--write", "rt/effort_controller/commands", "--commands", str(steps),
                                  "--echo", "1")
        deadline = time.monotonic() + 15.0
        while graph.context.ok() and time.monotonic() < deadline:
            time.sleep(0.05)
        health = bridge.health.snapshot()
    finally:
        graph.close()
    summary = events[-1]
    print(f"sim_bridge with a Fast DDS controller: peer {summary}, bridge {health}")
    assert status == 0, summary
    assert health.get("episodes") == 1 and health.get("steps") == steps
    assert health.get("missed_steps", 0) == 0 and health.get("stale_commands", 0) == 0
    joint_states = [e for e in events if e["event"] == "sample" and e["topic"] == "rt/joint_states"]
    states = [e for e in events if e["event"] == "sample" and e["topic"] == "rt/mbrl/state"]
    assert joint_states[0]["name"] == ["hinge"] and states[0]["name"] == ["hinge"]
    # The estimator's output carries the measurement's stamp: every /mbrl/state has a /joint_states twin.
    stamps = {(s["sec"], s["nanosec"]): s["position"] for s in joint_states}
    assert all(stamps.get((s["sec"], s["nanosec"])) == s["position"] for s in states)
