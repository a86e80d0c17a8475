"""The Cyclone configuration fragment built from ROS_AUTOMATIC_DISCOVERY_RANGE / ROS_STATIC_PEERS."""
import pytest

from mbrl_ros.ros.runtime.dds import LOOPBACK_INTERFACE, DiscoveryOptions


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch):
    monkeypatch.delenv("CYCLONEDDS_URI", raising=False)


def test_localhost_binds_loopback_so_fast_dds_announcements_are_heard():
    xml = DiscoveryOptions("LOCALHOST").cyclone_config()
    # cyclonedds 11 drops SPDP that arrives on an interface it has not selected (see dds.py).
    assert f"<Interfaces>{LOOPBACK_INTERFACE}</Interfaces>" in xml
    assert "<AllowMulticast>false</AllowMulticast>" in xml
    assert '<Peers><Peer address="localhost"/></Peers>' in xml


def test_localhost_with_static_peers_keeps_the_external_interface():
    xml = DiscoveryOptions("LOCALHOST", ("10.0.0.7",)).cyclone_config()
    assert f'<Interfaces>{LOOPBACK_INTERFACE}<NetworkInterface autodetermine="true"/></Interfaces>' in xml
    assert '<Peer address="localhost"/><Peer address="10.0.0.7"/>' in xml


def test_subnet_and_off_leave_interfaces_to_cyclone(monkeypatch):
    assert DiscoveryOptions("SUBNET").cyclone_config() is None
    assert "Interfaces" not in DiscoveryOptions("SUBNET", ("10.0.0.7",)).cyclone_config()
    off = DiscoveryOptions("OFF").cyclone_config()
    assert "Interfaces" not in off and "<ParticipantIndex>none</ParticipantIndex>" in off
    monkeypatch.setenv("CYCLONEDDS_URI", "file:///etc/cyclone.xml")
    assert DiscoveryOptions("LOCALHOST").cyclone_config().endswith(",file:///etc/cyclone.xml")
