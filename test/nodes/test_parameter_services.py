"""``ros2 param`` and ``ros2 service call`` against our nodes, by a client made of rosbags types only.

The client below encodes every request with rosbags' serializer and decodes every reply with
rosbags' deserializer (service halves registered from the .srv text by rosbags' parser), and
writes the 16-byte rmw_cyclonedds request header by hand: it shares nothing with the runtime's
message classes but the DDS type name used to create the topics. What it does is what
``ros2 param list/get/describe/set`` and ``ros2 service call`` do over rmw_cyclonedds.
"""
from __future__ import annotations

import itertools
import struct
import time

import pytest
from cyclonedds._clayer import ddspy_take, ddspy_write
from cyclonedds.core import InstanceState, SampleState, ViewState
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.msg import get_types_from_msg

from mbrl_ros.nodes.conversions import joint_state_message
from mbrl_ros.nodes.planner import PlannerNode
from mbrl_ros.nodes.sim_bridge import SimBridgeNode
from mbrl_ros.ros.messages import default_registry
from mbrl_ros.ros.runtime.dds import DomainHandle, delete_entity
from mbrl_ros.ros.runtime.qos import QoSProfile, to_dds_qos
from mbrl_ros.ros.services import SRV_TEXTS, srv_halves

from test_planner_node import FAST_PLANNER, model_message

_ANY = SampleState.Any | ViewState.Any | InstanceState.Any
PARAMETER_INTEGER, PARAMETER_DOUBLE, PARAMETER_STRING = 2, 3, 4


class RosbagsServiceClient:
    """Calls services of the graph from a participant of its own, with rosbags doing all the CDR."""

    _ids = itertools.count(0x5EED)

    def __init__(self, domain_id: int):
        self.store = get_typestore(Stores.ROS2_JAZZY)
        for ros_type in SRV_TEXTS:
            pkg, _, name = ros_type.split("/")
            for half, text in zip(("Request", "Response"), srv_halves(ros_type)):
                self.store.register(get_types_from_msg(text, f"{pkg}/srv/msg/{name}_{half}"))
        self.domain = DomainHandle(domain_id)
        self.participant = DomainParticipant(domain_id)
        self.guid = next(self._ids)
        self.seq = 0
        self.endpoints = []

    def close(self):
        for entity in self.endpoints:
            delete_entity(entity)
        delete_entity(self.participant)
        self.domain.release()

    def new(self, ros_type: str, half: str, **fields):
        """A rosbags message of the service half (``pkg/srv/X`` + ``Request``/``Response``)."""
        return self.store.types[self._store_name(ros_type, half)](**fields)

    def field(self, type_name: str, **fields):
        return self.store.types[f"rcl_interfaces/msg/{type_name}"](**fields)

    @staticmethod
    def _store_name(ros_type: str, half: str) -> str:
        pkg, _, name = ros_type.split("/")
        return f"{pkg}/srv/msg/{name}_{half}"

    def call(self, service: str, ros_type: str, request, timeout: float = 10.0):
        """Send ``request`` to fully qualified ``service`` and return the decoded rosbags reply."""
        registry = default_registry()
        # Only the DDS type names come from the runtime (a topic needs a type to be created).
        carrier_request = registry.service_wire_class(f"{ros_type}_Request")
        carrier_reply = registry.service_wire_class(f"{ros_type}_Response")
        qos = to_dds_qos(QoSProfile(depth=1000), writer=True)
        writer = DataWriter(self.participant, Topic(self.participant, f"rq{service}Request", carrier_request), qos)
        reader = DataReader(self.participant, Topic(self.participant, f"rr{service}Reply", carrier_reply),
                            to_dds_qos(QoSProfile(depth=1000), writer=False))
        self.endpoints += [writer, reader]
        deadline = time.monotonic() + timeout
        while not (writer.get_matched_subscriptions() and reader.get_matched_publications()):
            assert time.monotonic() < deadline, f"service {service} never matched"
            time.sleep(0.01)
        self.seq += 1
        body = bytes(self.store.serialize_cdr(request, self._store_name(ros_type, "Request")))
        payload = body[:4] + struct.pack("<Qq", self.guid, self.seq) + body[4:]
        assert ddspy_write(writer._ref, payload.ljust((len(payload) + 3) & ~3, b"\0")) >= 0
        while time.monotonic() < deadline:
            for data, info in ddspy_take(reader._ref, _ANY, 10):
                data = bytes(data)
                guid, seq = struct.unpack_from("<Qq", data, 4)
                if info.valid_data and (guid, seq) == (self.guid, self.seq):
                    delete_entity(writer), delete_entity(reader)
                    return self.store.deserialize_cdr(data[:4] + data[20:], self._store_name(ros_type, "Response"))
            time.sleep(0.01)
        pytest.fail(f"no reply from {service} within {timeout} s")

    # -- ros2 param ------------------------------------------------------------------------

    def param_value(self, value):
        kind = {int: PARAMETER_INTEGER, float: PARAMETER_DOUBLE, str: PARAMETER_STRING}[type(value)]
        fields = {int: "integer_value", float: "double_value", str: "string_value"}
        empty = dict(bool_value=False, integer_value=0, double_value=0.0, string_value="",
                     byte_array_value=[], bool_array_value=[], integer_array_value=[], double_array_value=[],
                     string_array_value=[])
        import numpy as np

        for key in ("byte_array_value", "bool_array_value", "integer_array_value", "double_array_value"):
            empty[key] = np.array([], dtype={"byte_array_value": np.uint8, "bool_array_value": np.bool_,
                                             "integer_array_value": np.int64,
                                             "double_array_value": np.float64}[key])
        empty.update({"type": kind, fields[type(value)]: value})
        return self.field("ParameterValue", **empty)

    def param_set(self, node: str, name: str, value):
        request = self.new("rcl_interfaces/srv/SetParameters", "Request",
                           parameters=[self.field("Parameter", name=name, value=self.param_value(value))])
        (result,) = self.call(f"{node}/set_parameters", "rcl_interfaces/srv/SetParameters", request).results
        return result.successful, result.reason

    def param_get(self, node: str, *names: str):
        request = self.new("rcl_interfaces/srv/GetParameters", "Request", names=list(names))
        return self.call(f"{node}/get_parameters", "rcl_interfaces/srv/GetParameters", request).values


@pytest.fixture
def client(graph):
    import os

    ros = RosbagsServiceClient(int(os.environ["ROS_DOMAIN_ID"]))
    yield ros
    ros.close()


class BatchSpy:
    """Wraps a planner's objective and records how many sequences each call evaluates."""

    def __init__(self, inner):
        self.inner = inner
        self.batches = []

    def __call__(self, obs, actions):
        self.batches.append(int(actions.shape[0]))
        return self.inner(obs, actions)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_ros2_param_round_trips_and_a_live_population_change(graph, client, latched, wait_for, trained_model):
    node = graph.start(PlannerNode, **FAST_PLANNER)
    fqn = "/mpc_planner"

    # ros2 param list /mpc_planner --param-prefixes icem
    listing = client.call(f"{fqn}/list_parameters", "rcl_interfaces/srv/ListParameters",
                          client.new("rcl_interfaces/srv/ListParameters", "Request", prefixes=["icem"], depth=0))
    assert "icem.population" in listing.result.names and listing.result.prefixes == ["icem"]
    assert all(name.startswith("icem.") for name in listing.result.names)

    # ros2 param get /mpc_planner icem.population learning.horizon
    population, horizon = client.param_get(fqn, "icem.population", "learning.horizon")
    assert (population.type, population.integer_value) == (PARAMETER_INTEGER, 16)
    assert (horizon.type, horizon.integer_value) == (PARAMETER_INTEGER, 5)
    assert client.param_get(fqn, "icem.population", "no.such.parameter") == []  # as rclpy answers

    # ros2 param describe /mpc_planner icem.population
    described = client.call(f"{fqn}/describe_parameters", "rcl_interfaces/srv/DescribeParameters",
                            client.new("rcl_interfaces/srv/DescribeParameters", "Request", names=["icem.population"]))
    (descriptor,) = described.descriptors
    assert descriptor.name == "icem.population" and "first iteration" in descriptor.description
    assert descriptor.additional_constraints == "applied while running" and descriptor.dynamic_typing

    # Refused with the typed config's reason; nothing changes.
    ok, reason = client.param_set(fqn, "icem.population", 1)
    assert not ok and "icem.population" in reason and "2" in reason, reason
    print(f"refused icem.population=1: {reason}")
    ok, reason = client.param_set(fqn, "icem.population", "many")
    assert not ok and "icem.population" in reason, reason
    ok, reason = client.param_set(fqn, "icem.num_elites", 12)  # > icem.min_population (8): the planner says no
    assert not ok and "num_elites must not exceed min_population" in reason, reason
    ok, reason = client.param_set(fqn, "deadline_fraction", 0.5)  # valid, but read once at start-up
    assert not ok and "start-up" in reason, reason
    print(f"refused deadline_fraction=0.5: {reason}")
    assert client.param_get(fqn, "icem.population")[0].integer_value == 16
    assert node.planner.config.population == 16

    # ros2 param set /mpc_planner icem.population 40: the next plan samples 40 sequences.
    old_planner = node.planner
    ok, reason = client.param_set(fqn, "icem.population", 40)
    assert ok, reason
    assert client.param_get(fqn, "icem.population")[0].integer_value == 40
    assert node.planner is not old_planner and node.planner.config.population == 40
    spy = node.planner.objective = BatchSpy(node.planner.objective)

    commands = graph.collect("std_msgs/msg/Float64MultiArray", "/effort_controller/commands")
    states = graph.publisher("sensor_msgs/msg/JointState", "/mbrl/state")
    models = graph.publisher("std_msgs/msg/UInt8MultiArray", "/mbrl/model", latched)
    wait_for(lambda: states.get_subscription_count() > 0 and models.get_subscription_count() > 0,
             what="the planner's subscriptions")
    models.publish(model_message(node, trained_model, version=3))
    wait_for(lambda: node._pending_model is not None or node.model_version == 3, what="the model check")
    states.publish(joint_state_message(2_000_000_000, ["hinge"], [0.0], [0.0]))
    wait_for(lambda: node.health.get("commands.plan") == 1, what="a planned command")
    # icem.iterations is 1: one batch of the population, plus the mean (add_mean).
    assert spy.batches and spy.batches[0] in (40, 41), spy.batches
    print(f"icem.population 16 -> 40 through ~/set_parameters: first planned batch {spy.batches[0]} sequences")


def test_reset_service_ends_the_episode(graph, client, wait_for):
    states = []
    pub = graph.publisher("std_msgs/msg/Float64MultiArray", "/effort_controller/commands")

    def on_state(message):
        states.append(message)
        pub.publish(command([0.0]))

    from mbrl_ros.nodes.conversions import command_message as command
    from mbrl_ros.ros.compat import msg

    graph.probe.create_subscription(msg("sensor_msgs/msg/JointState"), "/joint_states", on_state, 10)
    node = graph.start(SimBridgeNode, task="pendulum_swingup", start_delay=0.0, linger=0.5,
                       **{"pendulum_swingup.episode_length": 10_000, "learning.episodes": 2, "reset_gap": 0.0})
    wait_for(lambda: len(states) >= 5, what="the first states")
    reply = client.call("/mbrl/reset", "std_srvs/srv/Trigger", client.new("std_srvs/srv/Trigger", "Request"))
    assert reply.success and "episode ends" in reply.message
    wait_for(lambda: node.health.get("episodes") == 1, timeout=20.0, what="the episode to end at the reset")
    assert node.health.get("steps") < 10_000
