"""Process-tree inspection used to prove that launches leave nothing behind."""
import os
import signal
import subprocess
import sys
import time

from mbrl_ros.launcher.process_tree import descendant_pids, running_pids


def test_finds_children_and_grandchildren_and_sees_them_end():
    script = "import subprocess, sys, time; subprocess.Popen(['sleep', '30']); time.sleep(30)"
    parent = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        found: set[int] = set()
        while len(found) < 1 and time.monotonic() < deadline:
            found = descendant_pids(parent.pid)
            time.sleep(0.05)
        assert len(found) == 1  # the sleep grandchild below the python child
        tree = {parent.pid} | found
        assert running_pids(tree) == tree
        assert os.getpid() not in descendant_pids(parent.pid)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
    deadline = time.monotonic() + 5
    while running_pids(tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running_pids(tree) == set()
    assert running_pids({2 ** 22 + 12345}) == set()  # a PID that does not exist
