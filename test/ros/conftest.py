"""Fixtures for the ROS message-layer tests: everything runs against the Jazzy store."""
import pytest

from mbrl_ros.ros import messages


@pytest.fixture(scope="session")
def registry() -> messages.MessageRegistry:
    """A Jazzy registry, whatever ROS_DISTRO says on this machine."""
    return messages.MessageRegistry("jazzy")


@pytest.fixture(autouse=True)
def jazzy_default_registry(registry, monkeypatch):
    """Point the module-level API (message_class, type_hash, ...) at the Jazzy registry."""
    monkeypatch.setattr(messages, "_default_registry", registry)
    return registry
