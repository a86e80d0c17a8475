"""``Node`` with rclpy's signatures: publishers, subscriptions, timers, parameters, logging, clock.

A node's DDS readers and writers live on its context's participant; the graph entry
(``ros_discovery_info``) is updated whenever one is created or destroyed. Names are
resolved like rcl: relative names get the namespace, ``~`` the node's FQN, then the
first matching ``-r`` rule applies (node ``cli_args`` rules before global ones).
"""
from __future__ import annotations

import inspect
import math
import threading
import time as _time
import weakref
from copy import deepcopy
from typing import Any, Callable, Iterator, Sequence

from cyclonedds._clayer import ddspy_take, ddspy_write
from cyclonedds.core import DDSException, InstanceState, ReadCondition, SampleState, ViewState
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader

from mbrl_ros.ros.runtime import logging as ros_logging
from mbrl_ros.ros.runtime.arguments import RosArguments, parse_ros_args
from mbrl_ros.ros.runtime.callback_groups import CallbackGroup, MutuallyExclusiveCallbackGroup
from mbrl_ros.ros.runtime.clock import Clock, ROSClock
from mbrl_ros.ros.runtime.context import Context
from mbrl_ros.ros.runtime.dds import delete_entity
from mbrl_ros.ros.runtime.duration import S_TO_NS
from mbrl_ros.ros.runtime.exceptions import (
    InvalidHandle,
    InvalidParameterException,
    InvalidParameterTypeException,
    InvalidParameterValueException,
    NotInitializedException,
    ParameterAlreadyDeclaredException,
    ParameterImmutableException,
    ParameterNotDeclaredException,
    ParameterUninitializedException,
    RCLError,
)
from mbrl_ros.ros.runtime.names import (
    expand_topic_name,
    first_topic_remap,
    node_fqn,
    normalize_namespace,
    validate_full_topic_name,
    validate_namespace,
    validate_node_name,
)
from mbrl_ros.ros.runtime.parameter import (
    PARAMETER_SEPARATOR_STRING,
    FloatingPointRange,
    IntegerRange,
    Parameter,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from mbrl_ros.ros.runtime.qos import QoSProfile, to_dds_qos
from mbrl_ros.ros.runtime.timer import Timer

_TAKE_MASK = SampleState.Any | ViewState.Any | InstanceState.Any
_PARAMETER_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def _type_hash_user_data(msg_type: type) -> bytes:
    from mbrl_ros.ros.type_hash import typehash_user_data

    return typehash_user_data(getattr(msg_type, "__type_hash__", None))


def _message_class(ros_type: str) -> type:
    from mbrl_ros.ros.messages import message_class

    return message_class(ros_type)


def _check_msg_type(msg_type: Any) -> None:
    if not (isinstance(msg_type, type) and hasattr(msg_type, "__dds_type__") and hasattr(msg_type, "__idl__")):
        raise TypeError(
            f"{msg_type!r} is not a ROS message class of this runtime; get one with "
            "mbrl_ros.ros.compat.msg('pkg/msg/Type') (or mbrl_ros.ros.messages.message_class)"
        )


class Publisher:
    """Publishes messages of one type on one topic (create with ``Node.create_publisher``)."""

    def __init__(self, node: "Node", msg_type: type, topic_name: str, qos_profile: QoSProfile, writer: DataWriter, callback_group: CallbackGroup) -> None:
        self._node_ref = weakref.ref(node)
        self.msg_type = msg_type
        self._topic_name = topic_name
        self.qos_profile = qos_profile
        self.callback_group = callback_group
        self._writer = writer
        self._destroyed = False
        # Entities of services, clients and /rosout: not listed in Node.publishers (as in rclpy).
        self._internal = False

    @property
    def topic_name(self) -> str:
        """Fully qualified (resolved) topic name."""
        return self._topic_name

    @property
    def topic(self) -> str:
        return self._topic_name

    @property
    def guid(self) -> bytes:
        """The writer's 16-byte DDS GUID (its ROS gid)."""
        return self._writer.guid.bytes

    def publish(self, msg: Any) -> None:
        """Send ``msg`` (an instance of ``msg_type``, or already serialized CDR ``bytes``).

        Raises:
            TypeError: ``msg`` has another type.
            RCLError: the publisher, its node or its context is gone.
        """
        if self._destroyed:
            raise RCLError(f"Failed to publish on '{self._topic_name}': the publisher was destroyed or its context shut down")
        if isinstance(msg, (bytes, bytearray, memoryview)):
            payload = bytes(msg)
            payload = payload.ljust((len(payload) + 3) & ~3, b"\0")
            ret = ddspy_write(self._writer._ref, payload)
            if ret < 0:
                raise RCLError(f"Failed to publish serialized message on '{self._topic_name}': {DDSException(ret)}")
            return
        if not isinstance(msg, self.msg_type):
            raise TypeError(
                f"Expected {self.msg_type.__ros_type__} on '{self._topic_name}', got {type(msg).__name__}"
            )
        try:
            self._writer.write(msg)
        except DDSException as exc:
            if self._destroyed:
                raise RCLError(f"Failed to publish on '{self._topic_name}': the publisher was destroyed") from exc
            raise

    def get_subscription_count(self) -> int:
        """Number of matched subscriptions (local and remote)."""
        if self._destroyed:
            return 0
        return len(self._writer.get_matched_subscriptions())

    def wait_for_all_acked(self, timeout_sec: float | None = None) -> bool:
        """Block until reliable subscribers acknowledged everything (True) or the timeout passed."""
        from cyclonedds.util import duration

        timeout = duration(infinite=True) if timeout_sec is None else int(timeout_sec * S_TO_NS)
        return self._writer.wait_for_acks(timeout)

    def destroy(self) -> None:
        node = self._node_ref()
        if node is not None:
            node.destroy_publisher(self)
        else:
            self._delete()

    def _delete(self) -> None:
        self._destroyed = True
        delete_entity(self._writer)


class MessageInfo(dict):
    """``{'source_timestamp': ns, 'received_timestamp': ns}`` passed to two-argument callbacks."""


class Subscription:
    """Delivers messages to ``callback`` from an executor (create with ``Node.create_subscription``)."""

    def __init__(
        self,
        node: "Node",
        msg_type: type,
        topic_name: str,
        callback: Callable[..., Any],
        callback_group: CallbackGroup,
        qos_profile: QoSProfile,
        raw: bool,
        reader: DataReader,
    ) -> None:
        self._node_ref = weakref.ref(node)
        self.msg_type = msg_type
        self._topic_name = topic_name
        self.callback = callback
        self.callback_group = callback_group
        self.qos_profile = qos_profile
        self.raw = raw
        self._reader = reader
        self._condition = ReadCondition(reader, _TAKE_MASK)
        self._destroyed = False
        self._internal = False
        self._wants_info = _accepts_two_arguments(callback)

    @property
    def topic_name(self) -> str:
        return self._topic_name

    @property
    def guid(self) -> bytes:
        """The reader's 16-byte DDS GUID (its ROS gid)."""
        return self._reader.guid.bytes

    def get_publisher_count(self) -> int:
        if self._destroyed:
            return 0
        return len(self._reader.get_matched_publications())

    def destroy(self) -> None:
        node = self._node_ref()
        if node is not None:
            node.destroy_subscription(self)
        else:
            self._delete()

    def _delete(self) -> None:
        self._destroyed = True
        delete_entity(self._condition)
        delete_entity(self._reader)

    def _take(self) -> tuple[Any, MessageInfo] | None:
        """The next valid sample (deserialized unless ``raw``), or None when the queue is empty.

        Instance-state notifications (a writer went away) carry no data and are dropped.
        """
        while not self._destroyed:
            samples = ddspy_take(self._reader._ref, _TAKE_MASK, 1)
            if isinstance(samples, int):
                if self._destroyed:
                    return None
                raise RCLError(f"Failed to take from '{self._topic_name}': {DDSException(samples)}")
            if not samples:
                return None
            data, info = samples[0]
            if not info.valid_data:
                continue
            if self.raw:
                msg = bytes(data)
            else:
                try:
                    msg = self.msg_type.deserialize(data)
                except Exception as exc:  # cyclonedds raises struct.error, IndexError, ... on bad bytes
                    # A malformed sample from some other publisher must not stop this node.
                    node = self._node_ref()
                    if node is not None:
                        node.get_logger().error(
                            f"dropped a malformed {self.msg_type.__ros_type__} sample on '{self._topic_name}': {exc!r}",
                            throttle_duration_sec=5.0,
                        )
                    continue
            return msg, MessageInfo(source_timestamp=info.source_timestamp, received_timestamp=_time.time_ns())
        return None

    def _execute(self, payload: tuple[Any, MessageInfo]) -> None:
        msg, info = payload
        if self._wants_info:
            self.callback(msg, info)
        else:
            self.callback(msg)


def _accepts_two_arguments(callback: Callable[..., Any]) -> bool:
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):
        return False
    positional = [
        p for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(positional) == 2


class GuardCondition:
    """A condition triggered from any thread; its callback then runs in the executor."""

    def __init__(self, callback: Callable[[], Any], callback_group: CallbackGroup, on_trigger: Callable[[], None]) -> None:
        self.callback = callback
        self.callback_group = callback_group
        self._triggered = False
        self._lock = threading.Lock()
        self._on_trigger = on_trigger
        self._destroyed = False

    def trigger(self) -> None:
        with self._lock:
            self._triggered = True
        self._on_trigger()

    def _take_trigger(self) -> bool:
        with self._lock:
            triggered, self._triggered = self._triggered, False
            return triggered and not self._destroyed

    def _is_triggered(self) -> bool:
        return self._triggered and not self._destroyed

    def destroy(self) -> None:
        self._destroyed = True

    def _execute(self) -> None:
        if self.callback is not None:
            self.callback()


class Node:
    """A ROS node (see ``rclpy.node.Node``; the keyword arguments are the same).

    Args:
        node_name: Node name (``-r __node:=`` may change it).
        context: Context; default the global one (``init()`` first).
        cli_args: Node-only arguments; ROS ones must follow ``--ros-args``.
        namespace: Namespace (relative ones get a leading ``/``; ``-r __ns:=`` may change it).
        use_global_arguments: Apply the context's ``--ros-args`` too.
        enable_rosout: Also publish what the node's logger logs on ``/rosout`` (rcl_interfaces/msg/Log).
        start_parameter_services: Serve ``~/get_parameters``, ``~/set_parameters``, ``~/list_parameters``,
            ``~/describe_parameters``, ``~/get_parameter_types``, ``~/set_parameters_atomically``.
        parameter_overrides: Parameters that override ``-p``/``--params-file`` values.
        allow_undeclared_parameters: Let ``set_parameters`` create parameters.
        automatically_declare_parameters_from_overrides: Declare every override at start-up.
        enable_logger_service: Accepted; not served.

    Raises:
        NotInitializedException: the context is not initialised.
        InvalidNodeNameException, InvalidNamespaceException: bad names.
        UnknownROSArgsError, InvalidROSArgsError: bad ``cli_args``.
    """

    PARAM_REL_TOL = 1e-6

    def __init__(
        self,
        node_name: str,
        *,
        context: Context | None = None,
        cli_args: Sequence[str] | None = None,
        namespace: str | None = None,
        use_global_arguments: bool = True,
        enable_rosout: bool = True,
        start_parameter_services: bool = True,
        parameter_overrides: Sequence[Parameter] | None = None,
        allow_undeclared_parameters: bool = False,
        automatically_declare_parameters_from_overrides: bool = False,
        enable_logger_service: bool = False,
    ) -> None:
        from mbrl_ros.ros.runtime.utilities import get_default_context

        self._context = get_default_context() if context is None else context
        if not self._context.ok():
            raise NotInitializedException("cannot create node")
        validate_node_name(node_name)
        requested_name = node_name
        namespace = normalize_namespace(namespace)
        self._local_args: RosArguments = parse_ros_args(cli_args) if cli_args else RosArguments()
        global_args = self._context.ros_arguments if use_global_arguments else RosArguments()
        self._remap_rules = list(self._local_args.remap_rules) + list(global_args.remap_rules)
        # rcl matches node-prefixed __node/__ns rules against the name the code asked for.
        for rule in self._remap_rules:
            if rule.kind == "node" and rule.applies_to(requested_name):
                node_name = rule.replacement
                break
        for rule in self._remap_rules:
            if rule.kind == "namespace" and rule.applies_to(requested_name):
                namespace = rule.replacement
                break
        validate_namespace(namespace)
        self._name = node_name
        self._namespace = namespace
        self._lock = threading.RLock()
        self._destroyed = False
        self._publishers: list[Publisher] = []
        self._subscriptions: list[Subscription] = []
        self._timers: list[Timer] = []
        self._guards: list[GuardCondition] = []
        self._services: list[Any] = []
        self._clients: list[Any] = []
        self._rosout_sink: Callable[..., None] | None = None
        self._default_callback_group = MutuallyExclusiveCallbackGroup()
        self._executor_ref: Callable[[], Any] = lambda: None
        self._parameters: dict[str, Parameter] = {}
        self._descriptors: dict[str, ParameterDescriptor] = {}
        self._on_set_parameters_callbacks: list[Callable[[list[Parameter]], SetParametersResult]] = []
        self._pre_set_parameters_callbacks: list[Callable[[list[Parameter]], list[Parameter]]] = []
        self._post_set_parameters_callbacks: list[Callable[[list[Parameter]], None]] = []
        self._allow_undeclared_parameters = allow_undeclared_parameters

        fqn = self.get_fully_qualified_name()
        overrides = dict(global_args.overrides_for(fqn))
        overrides.update(self._local_args.overrides_for(fqn))
        self._parameter_overrides: dict[str, Parameter] = {
            name: Parameter(name, value=value) for name, value in overrides.items()
        }
        if parameter_overrides is not None:
            self._parameter_overrides.update({p.name: p for p in parameter_overrides})
        for name, level in self._local_args.log_levels.items():
            ros_logging.set_logger_level(name, level)

        logger_name = ".".join([*namespace.strip("/").split("/"), node_name]) if namespace != "/" else node_name
        self._logger = ros_logging.get_logger(logger_name)
        self._parameter_service: Any = None
        self._dds = self._context._dds()
        self._context._register_node(self)
        self._dds.add_node(id(self), self._namespace, self._name)
        self._clock = ROSClock()
        try:
            if automatically_declare_parameters_from_overrides:
                self.declare_parameters(
                    "", [(name, p.value, ParameterDescriptor()) for name, p in self._parameter_overrides.items()],
                    ignore_override=True,
                )
            from mbrl_ros.ros.runtime.time_source import TimeSource

            self._time_source = TimeSource(node=self)
            self._time_source.attach_clock(self._clock)
            if enable_rosout:
                self._start_rosout(logger_name)
            if start_parameter_services:
                from mbrl_ros.ros.runtime.parameter_service import ParameterService

                self._parameter_service = ParameterService(self)
        except BaseException:
            # e.g. an override of the wrong type: leave no half-made node in the graph.
            self.destroy_node()
            raise

    # -- identity -------------------------------------------------------------------------------

    @property
    def context(self) -> Context:
        return self._context

    @property
    def handle(self) -> "Node":
        self._check_alive()
        return self

    @property
    def default_callback_group(self) -> CallbackGroup:
        return self._default_callback_group

    @property
    def publishers(self) -> Iterator[Publisher]:
        yield from [p for p in list(self._publishers) if not p._internal]

    @property
    def subscriptions(self) -> Iterator[Subscription]:
        yield from [s for s in list(self._subscriptions) if not s._internal]

    @property
    def services(self) -> Iterator[Any]:
        yield from list(self._services)

    @property
    def clients(self) -> Iterator[Any]:
        yield from list(self._clients)

    @property
    def timers(self) -> Iterator[Timer]:
        yield from list(self._timers)

    @property
    def guards(self) -> Iterator[GuardCondition]:
        yield from list(self._guards)

    @property
    def executor(self) -> Any:
        return self._executor_ref()

    @executor.setter
    def executor(self, new_executor: Any) -> None:
        current = self.executor
        if current is new_executor:
            return
        if current is not None:
            current.remove_node(self)
        if new_executor is None:
            self._executor_ref = lambda: None
        else:
            new_executor.add_node(self)

    def _set_executor(self, executor: Any) -> None:
        self._executor_ref = weakref.ref(executor) if executor is not None else (lambda: None)

    def _wake_executor(self) -> None:
        executor = self.executor
        if executor is not None:
            executor.wake()

    def get_name(self) -> str:
        return self._name

    def get_namespace(self) -> str:
        return self._namespace

    def get_fully_qualified_name(self) -> str:
        return node_fqn(self._name, self._namespace)

    def get_logger(self) -> ros_logging.RcutilsLogger:
        return self._logger

    def get_clock(self) -> ROSClock:
        return self._clock

    def _check_alive(self) -> None:
        if self._destroyed:
            raise InvalidHandle(f"node '{self.get_fully_qualified_name()}' was destroyed or its context shut down")

    # -- names ------------------------------------------------------------------------------------

    def resolve_topic_name(self, topic: str, *, only_expand: bool = False) -> str:
        """``topic`` expanded for this node and, unless ``only_expand``, remapped."""
        expanded = expand_topic_name(topic, self._name, self._namespace)
        if only_expand:
            return expanded
        return first_topic_remap(self._remap_rules, expanded, self._name, self._namespace) or expanded

    resolve_service_name = resolve_topic_name

    def _dds_topic_name(self, topic_name: str, qos: QoSProfile) -> str:
        if qos.avoid_ros_namespace_conventions:
            return topic_name
        from mbrl_ros.ros.messages import dds_topic_name

        return dds_topic_name(topic_name)

    @staticmethod
    def _qos(qos_profile: QoSProfile | int) -> QoSProfile:
        if isinstance(qos_profile, QoSProfile):
            return qos_profile
        if isinstance(qos_profile, int) and not isinstance(qos_profile, bool):
            if qos_profile < 0:
                raise ValueError("history depth must be greater than or equal to zero")
            return QoSProfile(depth=qos_profile)
        raise TypeError(f"Expected QoSProfile or int, but received {type(qos_profile)!r}")

    # -- publishers and subscriptions --------------------------------------------------------------

    def create_publisher(
        self,
        msg_type: type,
        topic: str,
        qos_profile: QoSProfile | int,
        *,
        callback_group: CallbackGroup | None = None,
        event_callbacks: Any = None,
        qos_overriding_options: Any = None,
        publisher_class: type = Publisher,
    ) -> Publisher:
        """A publisher of ``msg_type`` on ``topic`` (resolved and remapped).

        Args:
            qos_profile: A :class:`QoSProfile` or a depth (reliable, volatile, keep-last depth).
        """
        self._check_alive()
        _check_msg_type(msg_type)
        qos = self._qos(qos_profile)
        topic_name = self.resolve_topic_name(topic)
        dds = self._dds
        writer = DataWriter(
            dds.publisher,
            dds.topic(self._dds_topic_name(topic_name, qos), msg_type),
            to_dds_qos(qos, writer=True, user_data=_type_hash_user_data(msg_type)),
        )
        publisher = publisher_class(self, msg_type, topic_name, qos, writer, callback_group or self._default_callback_group)
        with self._lock:
            self._publishers.append(publisher)
        dds.add_endpoint(id(self), id(publisher), publisher.guid, writer=True)
        return publisher

    def create_subscription(
        self,
        msg_type: type,
        topic: str,
        callback: Callable[..., Any],
        qos_profile: QoSProfile | int,
        *,
        callback_group: CallbackGroup | None = None,
        event_callbacks: Any = None,
        qos_overriding_options: Any = None,
        raw: bool = False,
    ) -> Subscription:
        """A subscription whose ``callback(msg)`` (or ``callback(msg, info)``) runs in the executor."""
        self._check_alive()
        _check_msg_type(msg_type)
        qos = self._qos(qos_profile)
        topic_name = self.resolve_topic_name(topic)
        group = callback_group or self._default_callback_group
        dds = self._dds
        reader = DataReader(
            dds.subscriber,
            dds.topic(self._dds_topic_name(topic_name, qos), msg_type),
            to_dds_qos(qos, writer=False, user_data=_type_hash_user_data(msg_type)),
        )
        subscription = Subscription(self, msg_type, topic_name, callback, group, qos, raw, reader)
        group.add_entity(subscription)
        with self._lock:
            self._subscriptions.append(subscription)
        dds.add_endpoint(id(self), id(subscription), subscription.guid, writer=False)
        self._wake_executor()
        return subscription

    # -- services, clients and other entities of the runtime's own ---------------------------------

    def _create_internal_publisher(self, msg_type: type, dds_topic: str, qos: QoSProfile, group: CallbackGroup) -> Publisher:
        """A publisher on DDS topic ``dds_topic`` as named (no remapping), left out of ``publishers``."""
        dds = self._dds
        writer = DataWriter(dds.publisher, dds.topic(dds_topic, msg_type),
                            to_dds_qos(qos, writer=True, user_data=_type_hash_user_data(msg_type)))
        publisher = Publisher(self, msg_type, dds_topic, qos, writer, group)
        publisher._internal = True
        with self._lock:
            self._publishers.append(publisher)
        dds.add_endpoint(id(self), id(publisher), publisher.guid, writer=True)
        return publisher

    def _create_internal_subscription(self, msg_type: type, dds_topic: str, callback: Callable[[bytes], Any],
                                      qos: QoSProfile, group: CallbackGroup) -> Subscription:
        """A raw subscription on DDS topic ``dds_topic`` as named, left out of ``subscriptions``."""
        dds = self._dds
        reader = DataReader(dds.subscriber, dds.topic(dds_topic, msg_type),
                            to_dds_qos(qos, writer=False, user_data=_type_hash_user_data(msg_type)))
        subscription = Subscription(self, msg_type, dds_topic, callback, group, qos, True, reader)
        subscription._internal = True
        group.add_entity(subscription)
        with self._lock:
            self._subscriptions.append(subscription)
        dds.add_endpoint(id(self), id(subscription), subscription.guid, writer=False)
        self._wake_executor()
        return subscription

    def create_service(
        self,
        srv_type: Any,
        srv_name: str,
        callback: Callable[[Any, Any], Any],
        *,
        qos_profile: QoSProfile | None = None,
        callback_group: CallbackGroup | None = None,
    ) -> Any:
        """Serve ``srv_name``: ``callback(request, response)`` fills and returns the response.

        ``srv_type`` has ``Request`` and ``Response`` classes
        (:func:`mbrl_ros.ros.compat.srv`); the name is resolved and remapped like a topic.
        """
        from mbrl_ros.ros.runtime.service import Service, qos_profile_services_default

        self._check_alive()
        name = self.resolve_service_name(srv_name)
        validate_full_topic_name(name)
        service = Service(self, srv_type, name, callback, callback_group or self._default_callback_group,
                          qos_profile or qos_profile_services_default)
        with self._lock:
            self._services.append(service)
        return service

    def create_client(
        self,
        srv_type: Any,
        srv_name: str,
        *,
        qos_profile: QoSProfile | None = None,
        callback_group: CallbackGroup | None = None,
    ) -> Any:
        """A client of ``srv_name`` (``call_async``, ``wait_for_service``, ``service_is_ready``)."""
        from mbrl_ros.ros.runtime.service import Client, qos_profile_services_default

        self._check_alive()
        name = self.resolve_service_name(srv_name)
        validate_full_topic_name(name)
        client = Client(self, srv_type, name, callback_group or self._default_callback_group,
                        qos_profile or qos_profile_services_default)
        with self._lock:
            self._clients.append(client)
        return client

    def destroy_service(self, service: Any) -> bool:
        with self._lock:
            if service not in self._services:
                return False
            self._services.remove(service)
        self.destroy_publisher(service._reply_writer)
        self.destroy_subscription(service._request_reader)
        service._destroyed = True
        return True

    def destroy_client(self, client: Any) -> bool:
        with self._lock:
            if client not in self._clients:
                return False
            self._clients.remove(client)
        self.destroy_publisher(client._request_writer)
        self.destroy_subscription(client._reply_reader)
        client._delete()
        return True

    def _start_rosout(self, logger_name: str) -> None:
        """Publish this node's log lines on /rosout (rcl: reliable, transient local, depth 1000, lifespan 10 s)."""
        from mbrl_ros.ros.runtime.duration import Duration
        from mbrl_ros.ros.runtime.qos import DurabilityPolicy

        log_type = _message_class("rcl_interfaces/msg/Log")
        qos = QoSProfile(depth=1000, durability=DurabilityPolicy.TRANSIENT_LOCAL, lifespan=Duration(seconds=10))
        publisher = self._create_internal_publisher(log_type, "rt/rosout", qos, self._default_callback_group)

        def sink(level: int, name: str, message: str, file: str, function: str, line: int) -> None:
            now = _time.time_ns()
            record = log_type(level=level, name=name, msg=message, file=file, function=function, line=line)
            record.stamp.sec, record.stamp.nanosec = divmod(now, 1_000_000_000)
            try:
                publisher.publish(record)
            except RCLError:
                pass  # logging while the node goes away: the console line was written already

        self._rosout_sink = sink
        ros_logging.add_rosout_sink(logger_name, sink)

    def create_timer(
        self,
        timer_period_sec: float,
        callback: Callable[[], Any] | None,
        callback_group: CallbackGroup | None = None,
        clock: Clock | None = None,
        autostart: bool = True,
    ) -> Timer:
        """Call ``callback`` every ``timer_period_sec`` on the node's clock (simulated time too)."""
        self._check_alive()
        group = callback_group or self._default_callback_group
        timer = Timer(
            callback, group, int(float(timer_period_sec) * S_TO_NS), clock or self._clock,
            autostart=autostart, on_change=self._wake_executor,
        )
        group.add_entity(timer)
        with self._lock:
            self._timers.append(timer)
        self._wake_executor()
        return timer

    def create_guard_condition(self, callback: Callable[[], Any], callback_group: CallbackGroup | None = None) -> GuardCondition:
        self._check_alive()
        group = callback_group or self._default_callback_group
        guard = GuardCondition(callback, group, self._wake_executor)
        group.add_entity(guard)
        with self._lock:
            self._guards.append(guard)
        self._wake_executor()
        return guard

    def destroy_publisher(self, publisher: Publisher) -> bool:
        with self._lock:
            if publisher not in self._publishers:
                return False
            self._publishers.remove(publisher)
        if not self._destroyed:
            self._dds.remove_endpoint(id(self), id(publisher))
        publisher._delete()
        return True

    def destroy_subscription(self, subscription: Subscription) -> bool:
        with self._lock:
            if subscription not in self._subscriptions:
                return False
            self._subscriptions.remove(subscription)
        if not self._destroyed:
            self._dds.remove_endpoint(id(self), id(subscription))
        subscription._delete()
        self._wake_executor()
        return True

    def destroy_timer(self, timer: Timer) -> bool:
        with self._lock:
            if timer not in self._timers:
                return False
            self._timers.remove(timer)
        timer.destroy()
        self._wake_executor()
        return True

    def destroy_guard_condition(self, guard: GuardCondition) -> bool:
        with self._lock:
            if guard not in self._guards:
                return False
            self._guards.remove(guard)
        guard.destroy()
        self._wake_executor()
        return True

    def destroy_node(self) -> None:
        """Delete every entity of the node and remove it from the graph."""
        if self._destroyed:
            return
        if self._rosout_sink is not None:
            ros_logging.remove_rosout_sink(self._logger.name, self._rosout_sink)
            self._rosout_sink = None
        for service in list(self._services):
            self.destroy_service(service)
        for client in list(self._clients):
            self.destroy_client(client)
        for publisher in list(self._publishers):
            self.destroy_publisher(publisher)
        for subscription in list(self._subscriptions):
            self.destroy_subscription(subscription)
        for timer in list(self._timers):
            self.destroy_timer(timer)
        for guard in list(self._guards):
            self.destroy_guard_condition(guard)
        self._destroyed = True
        if self._context.ok():
            self._dds.remove_node(id(self))
        self._wake_executor()

    def _invalidate(self) -> None:
        """Context shutdown: drop the DDS entities without graph updates (the participant goes too)."""
        self._destroyed = True
        if self._rosout_sink is not None:
            ros_logging.remove_rosout_sink(self._logger.name, self._rosout_sink)
            self._rosout_sink = None
        for client in list(self._clients):
            client._delete()
        with self._lock:
            entities = list(self._publishers) + list(self._subscriptions)
        for entity in entities:
            entity._delete()
        for timer in list(self._timers):
            timer.destroy()

    # -- graph ----------------------------------------------------------------------------------

    def count_publishers(self, topic_name: str) -> int:
        """Publishers on ``topic_name`` (expanded, not remapped) in the whole domain, this process included."""
        return self._count(topic_name, writers=True)

    def count_subscribers(self, topic_name: str) -> int:
        """Subscriptions on ``topic_name`` (expanded, not remapped) in the whole domain."""
        return self._count(topic_name, writers=False)

    def _count(self, topic_name: str, *, writers: bool) -> int:
        self._check_alive()
        fq_name = expand_topic_name(topic_name, self._name, self._namespace)
        validate_full_topic_name(fq_name)
        from mbrl_ros.ros.messages import dds_topic_name

        return self._dds.count_endpoints(dds_topic_name(fq_name), writers=writers)

    # -- parameters -----------------------------------------------------------------------------

    def declare_parameter(
        self,
        name: str,
        value: Any = None,
        descriptor: ParameterDescriptor | None = None,
        ignore_override: bool = False,
    ) -> Parameter:
        """Declare ``name`` with a default ``value`` (its type becomes the parameter's static type).

        ``value`` may be a :class:`Parameter.Type` to declare a typed parameter that only an
        override can set. An override (``-p``, ``--params-file``, ``parameter_overrides``) wins
        over the default and must have the declared type (no int->float coercion, as in rclpy).

        Raises:
            ParameterAlreadyDeclaredException, InvalidParameterTypeException,
            InvalidParameterValueException (range, callback), InvalidParameterException (name).
        """
        if value is None and descriptor is None:
            args: tuple = (name,)
        else:
            args = (name, value, ParameterDescriptor() if descriptor is None else descriptor)
        return self.declare_parameters("", [args], ignore_override)[0]

    def declare_parameters(
        self,
        namespace: str,
        parameters: Sequence[tuple],
        ignore_override: bool = False,
    ) -> list[Parameter]:
        """Declare several parameters ``namespace.name``; tuples are ``(name,)``,
        ``(name, Parameter.Type)`` or ``(name, value, descriptor)``."""
        self._check_alive()
        parameter_list: list[Parameter] = []
        descriptors: dict[str, ParameterDescriptor] = {}
        for index, parameter_tuple in enumerate(parameters):
            if not 1 <= len(parameter_tuple) <= 3:
                raise TypeError(
                    f"Invalid parameter tuple length at index {index} in parameters list: {parameter_tuple}; "
                    "expecting length between 1 and 3"
                )
            name = parameter_tuple[0]
            if not isinstance(name, str):
                raise TypeError(f"First element {name} at index {index} in parameters list is not a str.")
            if namespace:
                name = f"{namespace}.{name}"
            _validate_parameter_name(name)
            second = parameter_tuple[1] if len(parameter_tuple) > 1 else None
            descriptor = deepcopy(parameter_tuple[2]) if len(parameter_tuple) > 2 else ParameterDescriptor()
            if not isinstance(descriptor, ParameterDescriptor):
                raise TypeError(f"Third element {descriptor} at index {index} in parameters list is not a ParameterDescriptor.")
            value = None
            if len(parameter_tuple) == 1:
                descriptor.dynamic_typing = True
            if isinstance(second, Parameter.Type):
                if second == Parameter.Type.NOT_SET:
                    raise ValueError(f"Cannot declare parameter {{{name}}} as statically typed of type NOT_SET")
                if descriptor.dynamic_typing:
                    raise ValueError(
                        f"When declaring parameter {{{name}}} passing a descriptor with `dynamic_typing=True` "
                        "is not allowed when the parameter type is provided"
                    )
                descriptor.type = second.value
            else:
                value = second
                if not descriptor.dynamic_typing:
                    descriptor.type = Parameter.Type.from_parameter_value(value).value
                    if descriptor.type == ParameterType.PARAMETER_NOT_SET:
                        raise ValueError(
                            f"Cannot declare parameter '{name}' statically typed with a default value of type "
                            "PARAMETER_NOT_SET; give a default value, a Parameter.Type, or dynamic_typing=True"
                        )
            if not ignore_override and name in self._parameter_overrides:
                value = self._parameter_overrides[name].value
            parameter_list.append(Parameter(name, value=value))
            descriptors[name] = descriptor
        already = [p.name for p in parameter_list if p.name in self._parameters]
        if already:
            raise ParameterAlreadyDeclaredException(already)
        for param in parameter_list:
            result = self._set_parameters_atomically_common([param], descriptors, allow_not_set_type=True)
            if not result.successful:
                if result.reason.startswith("Wrong parameter type"):
                    raise InvalidParameterTypeException(param, Parameter.Type(descriptors[param.name].type).name)
                raise InvalidParameterValueException(param.name, param.value, result.reason)
        return [self._parameters[p.name] for p in parameter_list]

    def undeclare_parameter(self, name: str) -> None:
        if not self.has_parameter(name):
            raise ParameterNotDeclaredException(name)
        if self._descriptors[name].read_only:
            raise ParameterImmutableException(name)
        del self._parameters[name]
        del self._descriptors[name]

    def has_parameter(self, name: str) -> bool:
        return name in self._parameters

    def get_parameter(self, name: str) -> Parameter:
        """The parameter ``name``.

        Raises:
            ParameterNotDeclaredException: not declared (and undeclared parameters not allowed).
            ParameterUninitializedException: declared with a type but never given a value.
        """
        if name in self._parameters:
            parameter = self._parameters[name]
            if parameter.type_ != Parameter.Type.NOT_SET or self._descriptors[name].dynamic_typing:
                return parameter
            raise ParameterUninitializedException(name)
        if self._allow_undeclared_parameters:
            return Parameter(name, Parameter.Type.NOT_SET, None)
        raise ParameterNotDeclaredException(name)

    def get_parameters(self, names: Sequence[str]) -> list[Parameter]:
        if not all(isinstance(name, str) for name in names):
            raise TypeError("All names must be instances of type str")
        return [self.get_parameter(name) for name in names]

    def get_parameter_or(self, name: str, alternative_value: Parameter | None = None) -> Parameter:
        if alternative_value is None:
            alternative_value = Parameter(name, Parameter.Type.NOT_SET)
        if name not in self._parameters or self._parameters[name].type_ == Parameter.Type.NOT_SET:
            return alternative_value
        return self._parameters[name]

    def get_parameters_by_prefix(self, prefix: str) -> dict[str, Parameter]:
        """Parameters under ``prefix.`` keyed by the rest of their name."""
        if prefix:
            prefix = prefix + PARAMETER_SEPARATOR_STRING
        return {name[len(prefix):]: p for name, p in self._parameters.items() if name.startswith(prefix)}

    def describe_parameter(self, name: str) -> ParameterDescriptor:
        try:
            return self._descriptors[name]
        except KeyError:
            if self._allow_undeclared_parameters:
                return ParameterDescriptor()
            raise ParameterNotDeclaredException(name) from None

    def describe_parameters(self, names: Sequence[str]) -> list[ParameterDescriptor]:
        return [self.describe_parameter(name) for name in names]

    def set_parameters(self, parameter_list: Sequence[Parameter]) -> list[SetParametersResult]:
        """Set each parameter in turn; a rejected one (wrong type, range, callback) reports why.

        Raises:
            ParameterNotDeclaredException: a parameter is not declared.
        """
        return [self._set_parameters_atomically([param]) for param in parameter_list]

    def set_parameters_atomically(self, parameter_list: Sequence[Parameter]) -> SetParametersResult:
        return self._set_parameters_atomically(list(parameter_list))

    def _set_parameters_atomically(self, parameter_list: list[Parameter]) -> SetParametersResult:
        if self._pre_set_parameters_callbacks:
            modified: list[Parameter] = []
            for callback in self._pre_set_parameters_callbacks:
                modified.extend(callback(parameter_list))
            parameter_list = modified
            if not parameter_list:
                return SetParametersResult(
                    successful=False,
                    reason="parameter list cannot be empty, this might be due to pre_set_parameters_callback "
                    "modifying the original parameters list.",
                )
        if not all(isinstance(p, Parameter) for p in parameter_list):
            raise TypeError(f"parameter must be instance of type '{Parameter!r}'")
        undeclared = [p.name for p in parameter_list if p.name not in self._parameters]
        if undeclared and not self._allow_undeclared_parameters:
            raise ParameterNotDeclaredException(undeclared)
        return self._set_parameters_atomically_common(parameter_list)

    def _set_parameters_atomically_common(
        self,
        parameter_list: list[Parameter],
        descriptors: dict[str, ParameterDescriptor] | None = None,
        allow_not_set_type: bool = False,
    ) -> SetParametersResult:
        with self._lock:
            if descriptors is not None:
                result = self._apply_descriptors(parameter_list, descriptors, check_read_only=False)
            else:
                result = self._apply_descriptors(parameter_list, self._descriptors, check_read_only=True)
            if not result.successful:
                return result
            for callback in self._on_set_parameters_callbacks:
                result = callback(parameter_list)
                if not result.successful:
                    return result
            for param in parameter_list:
                if not allow_not_set_type and param.type_ == Parameter.Type.NOT_SET:
                    self._parameters.pop(param.name, None)
                    self._descriptors.pop(param.name, None)
                    continue
                if descriptors is not None:
                    self._descriptors[param.name] = descriptors[param.name]
                elif param.name not in self._descriptors:
                    self._descriptors[param.name] = ParameterDescriptor(dynamic_typing=True)
                self._parameters[param.name] = param
        for callback in self._post_set_parameters_callbacks:
            callback(parameter_list)
        return SetParametersResult(successful=True)

    def _apply_descriptors(
        self, parameter_list: list[Parameter], descriptors: dict[str, ParameterDescriptor], check_read_only: bool
    ) -> SetParametersResult:
        for param in parameter_list:
            if param.name in descriptors:
                result = self._apply_descriptor(param, descriptors[param.name], check_read_only)
                if not result.successful:
                    return result
        return SetParametersResult(successful=True)

    def _apply_descriptor(self, parameter: Parameter, descriptor: ParameterDescriptor, check_read_only: bool) -> SetParametersResult:
        descriptor.name = parameter.name
        if check_read_only and descriptor.read_only:
            return SetParametersResult(successful=False, reason=f"Trying to set a read-only parameter: {parameter.name}.")
        if descriptor.dynamic_typing:
            descriptor.type = parameter.type_.value
        elif self.has_parameter(parameter.name) and parameter.type_ == Parameter.Type.NOT_SET:
            return SetParametersResult(successful=False, reason="Static parameter cannot be undeclared")
        elif parameter.type_ != Parameter.Type.NOT_SET and parameter.type_.value != descriptor.type:
            return SetParametersResult(
                successful=False,
                reason=f"Wrong parameter type, expected '{Parameter.Type(descriptor.type)}' got '{parameter.type_}'",
            )
        if parameter.type_ == Parameter.Type.INTEGER and descriptor.integer_range:
            return _apply_integer_range(parameter, descriptor.integer_range[0])
        if parameter.type_ == Parameter.Type.DOUBLE and descriptor.floating_point_range:
            return _apply_floating_point_range(parameter, descriptor.floating_point_range[0], self.PARAM_REL_TOL)
        return SetParametersResult(successful=True)

    def add_on_set_parameters_callback(self, callback: Callable[[list[Parameter]], SetParametersResult]) -> None:
        """``callback(params) -> SetParametersResult`` may veto a set (called before it applies)."""
        self._on_set_parameters_callbacks.insert(0, callback)

    def remove_on_set_parameters_callback(self, callback: Callable[[list[Parameter]], SetParametersResult]) -> None:
        self._on_set_parameters_callbacks.remove(callback)

    def add_pre_set_parameters_callback(self, callback: Callable[[list[Parameter]], list[Parameter]]) -> None:
        self._pre_set_parameters_callbacks.insert(0, callback)

    def remove_pre_set_parameters_callback(self, callback: Callable[[list[Parameter]], list[Parameter]]) -> None:
        self._pre_set_parameters_callbacks.remove(callback)

    def add_post_set_parameters_callback(self, callback: Callable[[list[Parameter]], None]) -> None:
        self._post_set_parameters_callbacks.insert(0, callback)

    def remove_post_set_parameters_callback(self, callback: Callable[[list[Parameter]], None]) -> None:
        self._post_set_parameters_callbacks.remove(callback)

    def __repr__(self) -> str:
        return f"Node({self.get_fully_qualified_name()!r})"


def _validate_parameter_name(name: str) -> None:
    if not name or set(name) - _PARAMETER_NAME_CHARS or name.startswith(".") or name.endswith(".") or ".." in name:
        raise InvalidParameterException(name)


def _apply_integer_range(parameter: Parameter, integer_range: IntegerRange) -> SetParametersResult:
    low, high = sorted((integer_range.from_value, integer_range.to_value))
    value = parameter.value
    if value in (low, high):
        return SetParametersResult(successful=True)
    if not low < value < high:
        return SetParametersResult(
            successful=False, reason=f"Parameter {parameter.name} out of range. Min: {low}, Max: {high}, value: {value}"
        )
    if integer_range.step != 0 and (value - low) % integer_range.step != 0:
        return SetParametersResult(
            successful=False,
            reason=f"The parameter value for {parameter.name} is not a valid step. "
            f"Min: {low}, max: {high}, value: {value}, step: {integer_range.step}",
        )
    return SetParametersResult(successful=True)


def _apply_floating_point_range(parameter: Parameter, fp_range: FloatingPointRange, rel_tol: float) -> SetParametersResult:
    low, high = sorted((fp_range.from_value, fp_range.to_value))
    value = parameter.value
    if math.isclose(value, low, rel_tol=rel_tol) or math.isclose(value, high, rel_tol=rel_tol):
        return SetParametersResult(successful=True)
    if not low < value < high:
        return SetParametersResult(
            successful=False, reason=f"Parameter {parameter.name} out of range Min: {low}, Max: {high}, value: {value}"
        )
    if fp_range.step != 0.0:
        steps = round((value - low) / fp_range.step)
        if not math.isclose(low + steps * fp_range.step, value, rel_tol=rel_tol):
            return SetParametersResult(
                successful=False,
                reason=f"The parameter value for {parameter.name} is not close enough to a valid step. "
                f"Min: {low}, max: {high}, value: {value}, step: {fp_range.step}",
            )
    return SetParametersResult(successful=True)
