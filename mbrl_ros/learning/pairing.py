"""Pairing a state stream and a command stream into ``(obs, action, next_obs)`` transitions.

Pure logic (no ROS): ``model_learner`` feeds it the states and commands it receives; anything
else that sees the two streams (a recorded bag, a test) can use it the same way.
"""
from __future__ import annotations

import collections
import dataclasses

import numpy as np

# Tagged commands kept while their state has not been paired yet (a bound on memory when a
# controller answers states this node never sees).
_MAX_PENDING_TAGS = 256


@dataclasses.dataclass
class _PendingPair:
    obs: np.ndarray
    stamp_ns: int
    next_obs: np.ndarray
    held: np.ndarray | None  # the command in force when the second state arrived


class TransitionPairing:
    """Builds ``(obs, action, next_obs)`` transitions from a state stream and a command stream.

    Pure logic (no ROS). Each stream must come in its own publication order (one DDS writer
    delivers in order), but the two streams may interleave in any way: a pair of states waits
    for the command tagged with its first state's stamp until a command for a later state
    arrives (then none will come for it) or more than ``max_pending`` pairs wait. Without a
    tagged command a pair takes the command in force: the newest untagged one when its second
    state arrived, or, after a tagged exchange, the last matched one (what a lockstep
    simulator holds on a miss).

    Args:
        period_ns: control period in ns.
        max_gap_factor, min_gap_factor: accepted state spacing, in control periods.
        extra_dim: trailing observation entries that are per-episode constants; a transition
            keeps those of its first state in both observations.
        max_pending: pairs that may wait for their tagged command.
    """

    def __init__(self, period_ns: int, max_gap_factor: float = 1.5, min_gap_factor: float = 0.5,
                 extra_dim: int = 0, max_pending: int = 64):
        self.max_gap_ns = max_gap_factor * period_ns
        self.min_gap_ns = min_gap_factor * period_ns
        self.extra_dim = int(extra_dim)
        self.max_pending = int(max_pending)
        self._previous: tuple[np.ndarray, int] | None = None
        self._pending: collections.deque[_PendingPair] = collections.deque()
        self._tagged: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        self._latest_tag: int | None = None
        self._held: np.ndarray | None = None
        self.dropped: collections.Counter[str] = collections.Counter()

    def add_command(self, action: np.ndarray, tag_ns: int | None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """A command as it arrives (tag: the stamp of the state it answers, or None).

        Returns the transitions it completes (oldest first).
        """
        action = np.array(action, dtype=np.float64)
        if tag_ns is None:
            # An untagged controller took over: pairs no longer wait for tagged commands.
            self._held = action
            self._latest_tag = None
            return self._flush()
        tag_ns = int(tag_ns)
        # The first command for a state is the one a lockstep simulator applies.
        self._tagged.setdefault(tag_ns, action)
        while len(self._tagged) > _MAX_PENDING_TAGS:
            self._tagged.popitem(last=False)
        self._latest_tag = tag_ns if self._latest_tag is None else max(self._latest_tag, tag_ns)
        return self._flush()

    def add_state(self, obs: np.ndarray, stamp_ns: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """A state as it arrives; returns the transitions it completes (oldest first).

        Raises:
            ValueError: ``stamp_ns`` is not newer than the previous state's (the state is ignored).
        """
        obs = np.array(obs, dtype=np.float64)
        previous = self._previous
        if previous is not None and stamp_ns <= previous[1]:
            raise ValueError(f"state stamp {stamp_ns} ns is not newer than the previous one ({previous[1]} ns)")
        self._previous = (obs, int(stamp_ns))
        if previous is None:
            return []
        prev_obs, prev_ns = previous
        gap = stamp_ns - prev_ns
        if gap > self.max_gap_ns or gap < self.min_gap_ns:
            # After a reset or a pause a controller starts over: never pair the next state with
            # a command held from before the gap.
            done = self._flush(force=True)
            self._held = None
            self.dropped["gap"] += 1
            return done
        next_obs = obs.copy()
        if self.extra_dim:
            next_obs[-self.extra_dim:] = prev_obs[-self.extra_dim:]
        self._pending.append(_PendingPair(prev_obs, prev_ns, next_obs, self._held))
        return self._flush()

    def _flush(self, force: bool = False) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        done = []
        while self._pending:
            pair = self._pending[0]
            action = self._tagged.pop(pair.stamp_ns, None)
            if action is not None:
                self._held = action
            else:
                if self._latest_tag is None:
                    # Nothing in force yet: a tagged command may still come, unless an untagged
                    # controller already answered a later pair (then this one has none).
                    waiting = pair.held is None and all(p.held is None for p in self._pending)
                else:
                    waiting = self._latest_tag <= pair.stamp_ns
                if waiting and not force and len(self._pending) <= self.max_pending:
                    break
                action = pair.held if self._latest_tag is None else self._held
            self._pending.popleft()
            for tag in [t for t in self._tagged if t <= pair.stamp_ns]:
                del self._tagged[tag]
            if action is None:
                self.dropped["no_command"] += 1
                continue
            done.append((pair.obs, action.copy(), pair.next_obs))
        return done
