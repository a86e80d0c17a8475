"""rosbag2 bags in MCAP storage: writing serialized messages and reading them back (no ROS needed).

The layout is the standard rosbag2 one (``rosbags.rosbag2.Writer``, format version 9, as
ROS 2 Jazzy writes it): a folder with ``metadata.yaml`` (topics, types, offered QoS, message
counts, start time, duration, storage ``mcap``) and one ``<folder>_0.mcap`` file whose
channels carry ``cdr`` messages with ``ros2msg`` schemas (the ``.msg`` text plus
dependencies) and RIHS01 type hashes, so ``ros2 bag info``/``ros2 bag play`` and
``mcap_ros2`` read it. Payloads are stored exactly as received from DDS (the 4-byte CDR
encapsulation header included), which is what rosbag2 stores.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator, NamedTuple

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_typestore

#: rosbag2 format version written (Jazzy's).
BAG_VERSION = 9
_STORES = {"humble": Stores.ROS2_HUMBLE, "iron": Stores.ROS2_IRON, "jazzy": Stores.ROS2_JAZZY}


class BagError(ValueError):
    """A bag is missing, not a rosbag2 folder, corrupt, or cannot be written."""


class BagMessage(NamedTuple):
    """One recorded message: ``topic``, ``msgtype`` (``pkg/msg/Name``), receive time (ns), CDR bytes."""

    topic: str
    msgtype: str
    timestamp_ns: int
    data: bytes


def _qos(reliable: bool, latched: bool, depth: int) -> Qos:
    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               QosDurability.TRANSIENT_LOCAL if latched else QosDurability.VOLATILE, zero, zero,
               QosLiveliness.AUTOMATIC, zero, False)


class BagWriter:
    """Writes serialized messages into a new rosbag2 MCAP bag; thread-safe.

    Args:
        path: the bag folder; it must not exist yet (nothing is ever overwritten).
        distro: ROS 2 distribution whose message definitions are stored (jazzy by default).
    Raises:
        BagError: the folder exists or cannot be created.
    """

    def __init__(self, path: str | Path, distro: str = "jazzy"):
        self.path = Path(path)
        try:
            self.typestore = get_typestore(_STORES.get(distro, Stores.ROS2_JAZZY))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
            self._writer.open()
        except (WriterError, OSError) as exc:
            raise BagError(f"cannot create bag {self.path}: {exc}") from None
        self._lock = threading.Lock()
        self._connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        self.closed = False

    def add_topic(self, topic: str, msgtype: str, *, reliable: bool = True, latched: bool = False,
                  depth: int = 10) -> None:
        """Declare a topic (its type's definition and the QoS it was offered with go into the bag)."""
        with self._lock:
            if topic in self._connections:
                return
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self.typestore, offered_qos_profiles=[_qos(reliable, latched, depth)])
            self.counts[topic] = 0

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None:
        """Append one CDR message of a declared topic."""
        with self._lock:
            if self.closed:
                return
            self._writer.write(self._connections[topic], int(timestamp_ns), bytes(data))
            self.counts[topic] += 1

    def close(self) -> None:
        """Finish the MCAP file and write ``metadata.yaml`` (idempotent)."""
        with self._lock:
            if not self.closed:
                self.closed = True
                self._writer.close()


def read_bag(path: str | Path, topics: set[str] | None = None) -> Iterator[BagMessage]:
    """The messages of a rosbag2 bag (MCAP or SQLite3) in timestamp order.

    Raises:
        BagError: no such folder, no metadata.yaml, or unreadable storage.
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    if not (path / "metadata.yaml").is_file():
        raise BagError(f"{path} is not a rosbag2 bag (no metadata.yaml; for an unfinished recording run "
                       f"`ros2 bag reindex {path}`)")
    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, OSError, KeyError, ValueError) as exc:
        raise BagError(f"cannot open bag {path}: {exc}") from None
    try:
        connections = [c for c in reader.connections if topics is None or c.topic in topics]
        try:
            for connection, timestamp, data in reader.messages(connections=connections):
                yield BagMessage(connection.topic, connection.msgtype, int(timestamp), bytes(data))
        except (ReaderError, OSError, KeyError, ValueError, EOFError) as exc:
            raise BagError(f"bag {path} is corrupt: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # the mcap library raises its own (e.g. InvalidMagic, RecordLengthLimitExceeded)
            if type(exc).__module__.split(".")[0] != "mcap":
                raise
            raise BagError(f"bag {path} is corrupt: {type(exc).__name__}: {exc}") from None
    finally:
        reader.close()
