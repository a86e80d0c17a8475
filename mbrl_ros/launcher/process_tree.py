"""Linux process-tree inspection: which processes a launch started, and which still run.

Used by tests and benchmarks to prove a launch leaves no process behind.
"""
from __future__ import annotations

from pathlib import Path


def _stat_fields(pid: int | str) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendant_pids(pid: int) -> set[int]:
    """PIDs of every live process below ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(entry.name)[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def running_pids(pids: set[int]) -> set[int]:
    """The PIDs among ``pids`` that still run (zombies and vanished ones excluded)."""
    living = set()
    for pid in pids:
        try:
            state = _stat_fields(pid)[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            living.add(pid)
    return living
