"""The DDS participant of a context and the ROS node graph it announces.

One participant per context, shared by its nodes, as in rmw_cyclonedds. Node names
reach ``ros2 node list`` through ``ros_discovery_info`` (rmw_dds_common): a
``ParticipantEntitiesInfo`` with the participant gid and, per node, its namespace,
name and the gids (16-byte DDS GUIDs on Iron and later) of its readers and writers,
republished after every change on a reliable, transient-local, keep-last-1 writer.
"""
from __future__ import annotations

import threading
from typing import Any

from cyclonedds.builtin import BuiltinDataReader, BuiltinTopicDcpsPublication, BuiltinTopicDcpsSubscription
from cyclonedds.core import InstanceState, Policy, Qos, ReadCondition, SampleState, ViewState
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter, Publisher
from cyclonedds.sub import Subscriber
from cyclonedds.topic import Topic

from mbrl_ros.ros.runtime.dds import DiscoveryOptions, DomainHandle, delete_entity
from mbrl_ros.ros.runtime.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, to_dds_qos

DISCOVERY_TOPIC = "ros_discovery_info"
DISCOVERY_TYPE = "rmw_dds_common/msg/ParticipantEntitiesInfo"
_DISCOVERY_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _messages() -> Any:
    from mbrl_ros.ros import messages

    return messages


class _NodeEntry:
    __slots__ = ("namespace", "name", "readers", "writers")

    def __init__(self, namespace: str, name: str) -> None:
        self.namespace = namespace
        self.name = name
        self.readers: dict[int, bytes] = {}
        self.writers: dict[int, bytes] = {}


class ContextParticipant:
    """The DDS participant, publisher, subscriber and topics of one context, plus its graph.

    Args:
        domain_id: DDS domain.
        enclave: Security enclave announced in the participant's USER_DATA.
        options: Discovery options (default: from the environment).
    """

    def __init__(self, domain_id: int, enclave: str = "/", options: DiscoveryOptions | None = None) -> None:
        messages = _messages()
        self._lock = threading.RLock()
        self._domain = DomainHandle(domain_id, options)
        try:
            self.participant = DomainParticipant(
                domain_id, qos=Qos(Policy.Userdata(data=messages.participant_user_data(enclave)))
            )
        except Exception:
            self._domain.release()
            raise
        self.gid = self.participant.guid.bytes
        self.publisher = Publisher(self.participant)
        self.subscriber = Subscriber(self.participant)
        self._topics: dict[tuple[str, type], Topic] = {}
        self._nodes: dict[int, _NodeEntry] = {}
        self._builtin_readers: dict[str, tuple[BuiltinDataReader, ReadCondition]] = {}
        self._closed = False
        info_type = messages.message_class(DISCOVERY_TYPE)
        self._info_type = info_type
        self._node_info_type = messages.message_class("rmw_dds_common/msg/NodeEntitiesInfo")
        self._gid_type = messages.message_class("rmw_dds_common/msg/Gid")
        # 16 bytes from Iron on; Humble's Gid has 24, the GUID followed by zeros (rmw_cyclonedds).
        self._gid_size = next(f.length for f in self._gid_type.__ros_fields__ if f.name == "data")
        self._info_writer = DataWriter(
            self.publisher,
            self.topic(DISCOVERY_TOPIC, info_type),
            to_dds_qos(_DISCOVERY_QOS, writer=True, user_data=messages.endpoint_user_data(DISCOVERY_TYPE)),
        )
        self._publish_graph()

    @property
    def domain_id(self) -> int:
        return self._domain.domain_id

    def topic(self, dds_name: str, msg_type: type) -> Topic:
        """The participant's DDS topic ``dds_name`` for ``msg_type`` (created once per pair).

        Cyclone would accept several types on one topic name; ROS tools would not, so a
        second DDS type name on the same topic is refused here.

        Raises:
            TypeError: the topic is already used in this process with another type.
        """
        key = (dds_name, msg_type)
        with self._lock:
            topic = self._topics.get(key)
            if topic is None:
                for (name, other), _ in self._topics.items():
                    if name == dds_name and other.__dds_type__ != msg_type.__dds_type__:
                        raise TypeError(
                            f"topic '{dds_name}' is used with {other.__dds_type__} in this process; "
                            f"it can't also carry {msg_type.__dds_type__}"
                        )
                topic = Topic(self.participant, dds_name, msg_type)
                self._topics[key] = topic
            return topic

    # -- node graph -------------------------------------------------------------------------

    def add_node(self, key: int, namespace: str, name: str) -> None:
        with self._lock:
            self._nodes[key] = _NodeEntry(namespace, name)
            self._publish_graph()

    def remove_node(self, key: int) -> None:
        with self._lock:
            if self._nodes.pop(key, None) is not None:
                self._publish_graph()

    def add_endpoint(self, node_key: int, entity_key: int, gid: bytes, *, writer: bool) -> None:
        with self._lock:
            entry = self._nodes.get(node_key)
            if entry is not None:
                (entry.writers if writer else entry.readers)[entity_key] = gid
                self._publish_graph()

    def remove_endpoint(self, node_key: int, entity_key: int) -> None:
        with self._lock:
            entry = self._nodes.get(node_key)
            if entry is not None and (
                entry.writers.pop(entity_key, None) is not None or entry.readers.pop(entity_key, None) is not None
            ):
                self._publish_graph()

    def graph_message(self) -> Any:
        """The ``ParticipantEntitiesInfo`` this participant announces now."""
        def gid(data: bytes) -> Any:
            return self._gid_type(data=data.ljust(self._gid_size, b"\0"))

        with self._lock:
            nodes = [
                self._node_info_type(
                    node_namespace=e.namespace,
                    node_name=e.name,
                    reader_gid_seq=[gid(g) for g in e.readers.values()],
                    writer_gid_seq=[gid(g) for g in e.writers.values()],
                )
                for e in self._nodes.values()
            ]
            return self._info_type(gid=gid(self.gid), node_entities_info_seq=nodes)

    def _publish_graph(self) -> None:
        if not self._closed:
            self._info_writer.write(self.graph_message())

    # -- graph queries ------------------------------------------------------------------------

    def count_endpoints(self, dds_topic: str, *, writers: bool) -> int:
        """Alive publications (``writers=True``) or subscriptions on ``dds_topic`` in the domain."""
        kind = "pub" if writers else "sub"
        with self._lock:
            if kind not in self._builtin_readers:
                builtin = BuiltinTopicDcpsPublication if writers else BuiltinTopicDcpsSubscription
                reader = BuiltinDataReader(self.participant, builtin)
                condition = ReadCondition(reader, SampleState.Any | ViewState.Any | InstanceState.Alive)
                self._builtin_readers[kind] = (reader, condition)
            reader, condition = self._builtin_readers[kind]
            count = 0
            batch = 256
            while True:
                samples = reader.read(batch, condition=condition)
                if len(samples) < batch:
                    break
                batch *= 4
            for sample in samples:
                if sample.topic_name == dds_topic:
                    count += 1
            return count

    # -- teardown -------------------------------------------------------------------------------

    def close(self) -> None:
        """Delete every DDS entity of the context and release the domain."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for reader, condition in self._builtin_readers.values():
                delete_entity(condition)
                delete_entity(reader)
            self._builtin_readers.clear()
            # Children first, so no Python object is left holding a handle Cyclone already freed.
            delete_entity(self._info_writer)
            for topic in self._topics.values():
                delete_entity(topic)
            self._topics.clear()
            delete_entity(self.publisher)
            delete_entity(self.subscriber)
            delete_entity(self.participant)
            self._domain.release()
