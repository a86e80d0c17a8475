"""Services and clients on DDS topics, in rmw_cyclonedds' wire format.

A service ``/ns/name`` of type ``pkg/srv/X`` is two DDS topics (rmw_cyclonedds
``rmw_init_cs``): requests on ``rq/ns/nameRequest`` (type ``pkg::srv::dds_::X_Request_``)
and replies on ``rr/ns/nameReply`` (``pkg::srv::dds_::X_Response_``). Each sample starts,
right after the 4-byte CDR header, with a 16-byte request header (``cdds_request_header_t``:
``uint64 guid``, ``int64 seq``) in the payload's byte order, followed by the request or reply
fields (their alignment is unchanged, 16 being a multiple of 8). The samples use
:meth:`~mbrl_ros.ros.messages.MessageRegistry.service_wire_class`, whose members are exactly
that header and the fields. The client puts a 64-bit id
of its own (here the last 8 bytes of its request writer's GUID) and a sequence number into the
request; the service copies both into the reply, and a client keeps only replies that carry
its id. Fast DDS (rmw_fastrtps) correlates differently, so these services talk to Cyclone
peers (rmw_cyclonedds, this runtime); control paths keep using topics.

QoS: rclpy's ``qos_profile_services_default`` (reliable, volatile, keep-last 10).
"""
from __future__ import annotations

import itertools
import threading
import time
import weakref
from typing import Any, Callable

from mbrl_ros.ros.runtime.exceptions import RCLError
from mbrl_ros.ros.runtime.qos import QoSProfile
from mbrl_ros.ros.runtime.task import Future

#: Bytes of the request header after the CDR encapsulation header.
REQUEST_HEADER_SIZE = 16
#: Longest wait for a matched reply reader before a reply is sent anyway (rmw_cyclonedds: 100 ms).
REPLY_MATCH_WAIT_S = 0.1

qos_profile_services_default = QoSProfile(depth=10)


class ServiceWireError(ValueError):
    """A request or reply sample too short or malformed to carry a request header."""


def request_topics(service_name: str) -> tuple[str, str]:
    """The DDS topics of fully qualified service ``service_name``: (request, reply)."""
    return f"rq{service_name}Request", f"rr{service_name}Reply"


def wire_class(msg_type: type) -> type:
    """The DDS sample type carrying ``msg_type`` (a service half) behind the request header."""
    from mbrl_ros.ros.messages import default_registry

    return default_registry().service_wire_class(msg_type.__ros_type__)


def pack(guid: int, seq: int, message: Any) -> Any:
    """The wire sample of ``message`` with the request header ``(guid, seq)``."""
    wire = wire_class(type(message))
    values = {f.name: getattr(message, f.name) for f in type(message).__ros_fields__}
    return wire(client_guid=guid & 0xFFFFFFFFFFFFFFFF, sequence_number=seq, **values)


def unpack(msg_type: type, sample: Any) -> tuple[int, int, Any]:
    """``(guid, seq, message)`` from a wire sample (or its CDR bytes).

    Raises:
        ServiceWireError: bytes that do not decode as the wire type of ``msg_type``.
    """
    if isinstance(sample, (bytes, bytearray, memoryview)):
        try:
            sample = wire_class(msg_type).deserialize(bytes(sample))
        except Exception as exc:  # cyclonedds raises struct.error, IndexError, ... on bad bytes
            raise ServiceWireError(f"cannot decode a {msg_type.__ros_type__} sample: {exc!r}") from exc
    message = msg_type(**{f.name: getattr(sample, f.name) for f in msg_type.__ros_fields__})
    return int(sample.client_guid), int(sample.sequence_number), message


def _service_qos(qos_profile: QoSProfile) -> QoSProfile:
    """``qos_profile`` naming its DDS topic verbatim (rq/... and rr/... carry no rt/ prefix)."""
    values = {name: getattr(qos_profile, name) for name in QoSProfile.__slots__}
    values["avoid_ros_namespace_conventions"] = True
    return QoSProfile(**values)


def _open_endpoints(owner: Any, node: Any, srv_type: Any, srv_name: str, callback_group: Any,
                    qos_profile: QoSProfile, *, server: bool) -> tuple[Any, Any]:
    """Set ``owner``'s common attributes and create its (writer, reader) on ``rq/``/``rr/`` topics.

    A server writes replies and reads requests (into ``owner._on_request``); a client writes
    requests and reads replies (into ``owner._on_reply``).
    """
    owner._node_ref = weakref.ref(node)
    owner.srv_type = srv_type
    owner.srv_name = srv_name
    owner.callback_group = callback_group
    owner.qos_profile = qos_profile
    owner._destroyed = False
    request_topic, reply_topic = request_topics(srv_name)
    qos = _service_qos(qos_profile)
    if server:
        write, read, on_read = (srv_type.Response, reply_topic), (srv_type.Request, request_topic), owner._on_request
    else:
        write, read, on_read = (srv_type.Request, request_topic), (srv_type.Response, reply_topic), owner._on_reply
    writer = node._create_internal_publisher(wire_class(write[0]), write[1], qos, callback_group)
    reader = node._create_internal_subscription(wire_class(read[0]), read[1], on_read, qos, callback_group)
    return writer, reader


class Service:
    """Answers requests with ``callback(request, response) -> response`` (create with ``Node.create_service``)."""

    def __init__(self, node: Any, srv_type: Any, srv_name: str, callback: Callable[[Any, Any], Any],
                 callback_group: Any, qos_profile: QoSProfile) -> None:
        self.callback = callback
        self._reply_writer, self._request_reader = _open_endpoints(
            self, node, srv_type, srv_name, callback_group, qos_profile, server=True)

    @property
    def service_name(self) -> str:
        return self.srv_name

    def _on_request(self, data: Any) -> None:
        node = self._node_ref()
        try:
            guid, seq, request = unpack(self.srv_type.Request, data)
        except ServiceWireError as exc:
            if node is not None:
                node.get_logger().error(f"dropped a malformed request on '{self.srv_name}': {exc}",
                                        throttle_duration_sec=5.0)
            return
        response = self.callback(request, self.srv_type.Response())
        if not isinstance(response, self.srv_type.Response):
            raise TypeError(
                f"service '{self.srv_name}' callback returned {type(response).__name__}, "
                f"expected {self.srv_type.Response.__ros_type__}"
            )
        self.send_response(response, (guid, seq))

    def send_response(self, response: Any, header: tuple[int, int]) -> None:
        """Send ``response`` for the request identified by ``header`` = (client id, sequence).

        As rmw_cyclonedds' ``rmw_send_response`` does, wait up to 100 ms for a reply reader to
        be matched: a client's request can arrive before its reply reader is discovered, and a
        volatile reply sent then would be lost.
        """
        deadline = time.monotonic() + REPLY_MATCH_WAIT_S
        while self._reply_writer.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        self._reply_writer.publish(pack(header[0], header[1], response))

    def destroy(self) -> None:
        node = self._node_ref()
        if node is not None:
            node.destroy_service(self)
        else:
            self._delete()

    def _delete(self) -> None:
        self._destroyed = True
        self._reply_writer._delete()
        self._request_reader._delete()


class Client:
    """Calls a service (create with ``Node.create_client``); ``call_async`` returns a :class:`Future`."""

    _sequence = itertools.count(1)

    def __init__(self, node: Any, srv_type: Any, srv_name: str, callback_group: Any, qos_profile: QoSProfile) -> None:
        self._request_writer, self._reply_reader = _open_endpoints(
            self, node, srv_type, srv_name, callback_group, qos_profile, server=False)
        self._id = int.from_bytes(self._request_writer.guid[8:], "little")
        self._pending: dict[int, Future] = {}
        self._lock = threading.Lock()

    @property
    def service_name(self) -> str:
        return self.srv_name

    def service_is_ready(self) -> bool:
        """A service matches both topics (its request reader and its reply writer)."""
        return (not self._destroyed and self._request_writer.get_subscription_count() > 0
                and self._reply_reader.get_publisher_count() > 0)

    def wait_for_service(self, timeout_sec: float | None = None) -> bool:
        """Block until :meth:`service_is_ready` (True) or ``timeout_sec`` passed (False)."""
        deadline = None if timeout_sec is None else time.monotonic() + timeout_sec
        while not self.service_is_ready():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            node = self._node_ref()
            if node is None or not node.context.ok():
                return False
            time.sleep(0.01)
        return True

    def call_async(self, request: Any) -> Future:
        """Send ``request``; the future completes with the response (spin the node meanwhile).

        Raises:
            TypeError: ``request`` is not a ``srv_type.Request``.
            RCLError: the client was destroyed.
        """
        if not isinstance(request, self.srv_type.Request):
            raise TypeError(f"Expected {self.srv_type.Request.__ros_type__}, got {type(request).__name__}")
        if self._destroyed:
            raise RCLError(f"client of '{self.srv_name}' was destroyed")
        node = self._node_ref()
        future = Future(executor=node.executor if node is not None else None)
        seq = next(Client._sequence)
        with self._lock:
            self._pending[seq] = future
        future.add_done_callback(lambda _f, s=seq: self._forget(s))
        self._request_writer.publish(pack(self._id, seq, request))
        return future

    def call(self, request: Any, timeout_sec: float | None = None) -> Any:
        """Send ``request`` and block for the response (another thread must spin the node).

        Raises:
            TimeoutError: no response within ``timeout_sec``.
        """
        done = threading.Event()
        future = self.call_async(request)
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout_sec):
            future.cancel()
            raise TimeoutError(f"no response from '{self.srv_name}' within {timeout_sec} s")
        return future.result()

    def remove_pending_request(self, future: Future) -> None:
        with self._lock:
            for seq, pending in list(self._pending.items()):
                if pending is future:
                    del self._pending[seq]

    def _forget(self, seq: int) -> None:
        with self._lock:
            self._pending.pop(seq, None)

    def _on_reply(self, data: Any) -> None:
        try:
            guid, seq, response = unpack(self.srv_type.Response, data)
        except ServiceWireError as exc:
            node = self._node_ref()
            if node is not None:
                node.get_logger().error(f"dropped a malformed reply on '{self.srv_name}': {exc}",
                                        throttle_duration_sec=5.0)
            return
        if guid != self._id:
            return  # a reply to another client of the same service
        with self._lock:
            future = self._pending.pop(seq, None)
        if future is not None:
            future.set_result(response)

    def destroy(self) -> None:
        node = self._node_ref()
        if node is not None:
            node.destroy_client(self)
        else:
            self._delete()

    def _delete(self) -> None:
        self._destroyed = True
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for future in pending:
            future.cancel()
        self._request_writer._delete()
        self._reply_reader._delete()
