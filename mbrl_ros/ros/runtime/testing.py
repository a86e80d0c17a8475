"""Test support: a DDS domain of one's own, so parallel test runs never hear each other.

``isolated_domain()`` leases a domain id through a lock file (ids 100..232; the lease is
released when the block exits or the process dies) and sets the environment for
localhost-only discovery; child processes started inside the block inherit it::

    with isolated_domain() as domain_id:
        rclpy.init(args=[], context=context)      # reads ROS_DOMAIN_ID
        subprocess.run([...], env=os.environ.copy())
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import random
import tempfile
from typing import Iterator

FIRST_TEST_DOMAIN = 100
LAST_TEST_DOMAIN = 232
_ISOLATION_ENV = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
_CLEARED_ENV = ("ROS_STATIC_PEERS", "ROS_LOCALHOST_ONLY", "CYCLONEDDS_URI")


@contextlib.contextmanager
def lease_domain_id() -> Iterator[int]:
    """A domain id no other cooperating process on this machine holds while the block runs.

    Raises:
        RuntimeError: every id in 100..232 is leased.
    """
    ids = list(range(FIRST_TEST_DOMAIN, LAST_TEST_DOMAIN + 1))
    start = random.randrange(len(ids))
    for domain_id in ids[start:] + ids[:start]:
        path = os.path.join(tempfile.gettempdir(), f"mbrl_ros_dds_domain_{domain_id}.lock")
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        try:
            yield domain_id
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return
    raise RuntimeError(f"all test DDS domains {FIRST_TEST_DOMAIN}..{LAST_TEST_DOMAIN} are leased")


@contextlib.contextmanager
def isolated_domain() -> Iterator[int]:
    """Lease a domain id and set ``ROS_DOMAIN_ID`` + localhost-only discovery for the block."""
    saved = {key: os.environ.get(key) for key in ("ROS_DOMAIN_ID", *_ISOLATION_ENV, *_CLEARED_ENV)}
    with lease_domain_id() as domain_id:
        try:
            os.environ["ROS_DOMAIN_ID"] = str(domain_id)
            os.environ.update(_ISOLATION_ENV)
            for key in _CLEARED_ENV:
                os.environ.pop(key, None)
            yield domain_id
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
