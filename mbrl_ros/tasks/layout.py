"""Named observation entries: ``obs[..., layout["theta"]]`` instead of ``obs[..., 1]`` (no ROS imports).

A task's :class:`~mbrl_ros.tasks.base.TaskSpec` names every observation entry and, optionally,
contiguous groups of them (a quadrotor's ``position`` is ``x, y, z``); :attr:`TaskSpec.layout`
turns those names into indices and slices, as dm_control's named accessors do for MuJoCo data.
"""
from __future__ import annotations

from typing import Iterable, Sequence


class ObsLayout:
    """Index (an entry) or slice (a group) per observation name.

    Args:
        names: one name per observation entry, in order.
        groups: ``(group name, member names)`` pairs; the members must be adjacent and in order.
    Raises:
        ValueError: duplicate names, or a group that is not a contiguous run of entries.
    """

    def __init__(self, names: Sequence[str], groups: Iterable[tuple[str, Sequence[str]]] = ()):
        self.names = tuple(names)
        self._where: dict[str, int | slice] = {}
        for i, name in enumerate(self.names):
            if name in self._where:
                raise ValueError(f"observation name {name!r} appears twice in {self.names}")
            self._where[name] = i
        for group, members in groups:
            members = tuple(members)
            if group in self._where:
                raise ValueError(f"observation group {group!r} shadows an entry or group of the same name")
            unknown = [m for m in members if m not in self.names]
            if not members or unknown:
                raise ValueError(f"observation group {group!r}: unknown or no members {unknown or members}")
            start = self.names.index(members[0])
            if self.names[start:start + len(members)] != members:
                raise ValueError(f"observation group {group!r}: members {members} are not adjacent in "
                                 f"{self.names}")
            self._where[group] = slice(start, start + len(members))

    def __getitem__(self, name: str) -> int | slice:
        try:
            return self._where[name]
        except KeyError:
            raise KeyError(f"no observation entry or group {name!r}; names: {sorted(self._where)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"ObsLayout({self.names})"
