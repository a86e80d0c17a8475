"""Cyclone DDS plumbing: the domain configured like rmw_cyclonedds, and entity lifetimes.

Discovery follows rcl + rmw_cyclonedds (``check_create_domain``):

==================  ============================================================
ROS_AUTOMATIC_DISCOVERY_RANGE   Cyclone configuration
==================  ============================================================
SUBNET (default)    multicast on; ``ROS_STATIC_PEERS`` added as peers
LOCALHOST           multicast off, peer ``localhost`` (+ static peers)
OFF                 multicast off, no peers, a per-process discovery tag
SYSTEM_DEFAULT      Cyclone's own configuration untouched
==================  ============================================================

``ROS_LOCALHOST_ONLY=1`` (deprecated) means LOCALHOST. The fragment is prepended to
``CYCLONEDDS_URI``, so a user configuration still applies. The domain comes from
``ROS_DOMAIN_ID`` (default 0).

One addition to rmw_cyclonedds' fragment: LOCALHOST also puts the loopback interface
(127.0.0.1) into Cyclone's interface list (only loopback without static peers; loopback plus
the automatically chosen one with them). Reason: cyclonedds 11 silently drops a participant
announcement (SPDP) that arrives on an interface it has not selected, and left to itself it
selects only the external interface (eth0). A Fast DDS participant (rmw_fastrtps) on the same
host sends its LOCALHOST announcements only to 127.0.0.1 (its UDP transport also rewrites the
host's own addresses to loopback), so they all arrive on ``lo`` and the Fast DDS node is never
discovered. Cyclone peers are unaffected because Cyclone also announces itself to its own
external address. Cyclone C 0.10 (ROS 2 Jazzy's rmw_cyclonedds) has no such per-interface
filter, which is why it needs no such line. See README "Fast DDS (rmw_fastrtps) peers".
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

from cyclonedds.core import DDSException, Entity
from cyclonedds.domain import Domain

from mbrl_ros.ros.runtime.exceptions import InvalidROSArgsError

_log = logging.getLogger(__name__)

#: Cyclone's handle for the library itself (``DDS_CYCLONEDDS_HANDLE``): wait sets and guard
#: conditions created on it can hold conditions of every participant in the process.
DDS_CYCLONEDDS_HANDLE = 0x7FFF0000 + 256
MAX_DOMAIN_ID = 232
DISCOVERY_RANGES = ("SUBNET", "LOCALHOST", "OFF", "SYSTEM_DEFAULT")
#: LOCALHOST's interface: without it cyclonedds 11 ignores Fast DDS's loopback announcements.
LOOPBACK_INTERFACE = '<NetworkInterface address="127.0.0.1"/>'



class CycloneRoot:
    """Stands in for a participant where cyclonedds-python wants an owner (WaitSet, GuardCondition)."""

    _ref = DDS_CYCLONEDDS_HANDLE


CYCLONE_ROOT = CycloneRoot()


def delete_entity(entity: Entity | None) -> None:
    """Delete a cyclonedds entity now instead of at garbage collection (idempotent)."""
    if entity is None:
        return
    ref = getattr(entity, "_ref", None)
    if ref is not None and ref in Entity._entities:
        entity.__del__()


def domain_id_from_env() -> int:
    """``ROS_DOMAIN_ID`` as an int (0 when unset or empty).

    Raises:
        InvalidROSArgsError: not an integer in 0..232.
    """
    text = os.environ.get("ROS_DOMAIN_ID", "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise InvalidROSArgsError(f"ROS_DOMAIN_ID={text!r} is not an integer") from None
    return check_domain_id(value)


def check_domain_id(value: int) -> int:
    if not 0 <= int(value) <= MAX_DOMAIN_ID:
        raise InvalidROSArgsError(f"domain id {value} is outside 0..{MAX_DOMAIN_ID}")
    return int(value)


@dataclass(frozen=True)
class DiscoveryOptions:
    """Discovery range and static peers, read from the environment like rcl does."""

    automatic_discovery_range: str = "SUBNET"
    static_peers: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> "DiscoveryOptions":
        if os.environ.get("ROS_LOCALHOST_ONLY", "").strip() == "1":
            return cls("LOCALHOST", ())
        text = os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "").strip().upper()
        if not text:
            text = "SUBNET"
        elif text not in DISCOVERY_RANGES:
            _log.warning("Invalid ROS_AUTOMATIC_DISCOVERY_RANGE=%r, assuming LOCALHOST", text)
            text = "LOCALHOST"
        peers = tuple(p.strip() for p in os.environ.get("ROS_STATIC_PEERS", "").split(";") if p.strip())
        return cls(text, peers)

    def cyclone_config(self) -> str | None:
        """The XML fragment rmw_cyclonedds builds, followed by ``CYCLONEDDS_URI``; None if nothing to add."""
        rng = self.automatic_discovery_range
        user = os.environ.get("CYCLONEDDS_URI", "")
        if rng == "SYSTEM_DEFAULT" or (rng == "SUBNET" and not self.static_peers):
            return user or None
        disable_multicast = rng in ("LOCALHOST", "OFF")
        peers = ["localhost"] if rng == "LOCALHOST" else []
        if rng != "OFF":
            peers += list(self.static_peers)
        xml = "<CycloneDDS><Domain id=\"any\">"
        general = ""
        if rng == "LOCALHOST":
            general += "<Interfaces>" + LOOPBACK_INTERFACE
            if self.static_peers:
                general += '<NetworkInterface autodetermine="true"/>'
            general += "</Interfaces>"
        if disable_multicast:
            general += "<AllowMulticast>false</AllowMulticast>"
        if general:
            xml += f"<General>{general}</General>"
        if rng == "OFF":
            xml += (
                "<Discovery><ParticipantIndex>none</ParticipantIndex>"
                f"<Tag>ros_discovery_off_{os.getpid()}</Tag>"
            )
        else:
            xml += "<Discovery><ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>32</MaxAutoParticipantIndex>"
        if peers:
            xml += "<Peers>" + "".join(f'<Peer address="{p}"/>' for p in peers) + "</Peers>"
        xml += "</Discovery></Domain></CycloneDDS>"
        return xml + ("," + user if user else "")


class DomainHandle:
    """A reference to the process-wide Cyclone domain of one id, created with ROS's configuration.

    The first acquirer creates the domain (``dds_create_domain``); it is deleted when the
    last one releases it and no other participant lives in it. If a participant of that
    domain already exists in this process (made without this module), Cyclone keeps the
    configuration it was made with and a debug message says so.
    """

    # Re-entrant: a signal handler may shut a context down while this thread holds it.
    _lock = threading.RLock()
    _domains: dict[int, tuple[Domain | None, int, DiscoveryOptions]] = {}
    # Released domains that other participants still used; deleted once those are gone.
    _lingering: list[Domain] = []

    def __init__(self, domain_id: int, options: DiscoveryOptions | None = None) -> None:
        self.domain_id = check_domain_id(domain_id)
        options = options or DiscoveryOptions.from_env()
        with DomainHandle._lock:
            DomainHandle._sweep_lingering()
            entry = DomainHandle._domains.get(self.domain_id)
            if entry is None:
                domain = None
                config = options.cyclone_config()
                if config is not None:
                    try:
                        domain = Domain(self.domain_id, config)
                    except DDSException as exc:
                        _log.debug("domain %d exists already, keeping its configuration (%s)", self.domain_id, exc)
                entry = (domain, 0, options)
            elif entry[2] != options:
                _log.warning(
                    "domain %d is already open with discovery %s; ignoring %s", self.domain_id, entry[2], options
                )
            DomainHandle._domains[self.domain_id] = (entry[0], entry[1] + 1, entry[2])
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        with DomainHandle._lock:
            domain, count, options = DomainHandle._domains[self.domain_id]
            if count > 1:
                DomainHandle._domains[self.domain_id] = (domain, count - 1, options)
                return
            del DomainHandle._domains[self.domain_id]
            if domain is not None:
                DomainHandle._lingering.append(domain)
            DomainHandle._sweep_lingering()

    @staticmethod
    def _sweep_lingering() -> None:
        """Delete released domains that no participant uses any more (call with the lock held)."""
        for domain in list(DomainHandle._lingering):
            try:
                busy = bool(domain.get_participants())
            except DDSException:
                busy = False
            if not busy:
                DomainHandle._lingering.remove(domain)
                delete_entity(domain)
