"""Callback groups: which callbacks an executor may run at the same time."""
from __future__ import annotations

import threading
import weakref
from typing import Any


class CallbackGroup:
    """Base class; a group holds entities (subscriptions, timers, guard conditions)."""

    def __init__(self) -> None:
        self.entities: "weakref.WeakSet[Any]" = weakref.WeakSet()

    def add_entity(self, entity: Any) -> None:
        self.entities.add(entity)

    def has_entity(self, entity: Any) -> bool:
        return entity in self.entities

    def can_execute(self, entity: Any) -> bool:
        raise NotImplementedError

    def beginning(self, entity: Any) -> bool:
        """Claim the group for ``entity``'s callback; False if it may not run now."""
        raise NotImplementedError

    def ending(self, entity: Any) -> None:
        raise NotImplementedError


class ReentrantCallbackGroup(CallbackGroup):
    """Callbacks of this group may run in parallel (with a multi-threaded executor)."""

    def can_execute(self, entity: Any) -> bool:
        return True

    def beginning(self, entity: Any) -> bool:
        return True

    def ending(self, entity: Any) -> None:
        pass


class MutuallyExclusiveCallbackGroup(CallbackGroup):
    """At most one callback of this group runs at a time (each node's default group)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._active_entity: Any = None

    def can_execute(self, entity: Any) -> bool:
        with self._lock:
            return self._active_entity is None

    def beginning(self, entity: Any) -> bool:
        with self._lock:
            if self._active_entity is None:
                self._active_entity = entity
                return True
            return False

    def ending(self, entity: Any) -> None:
        with self._lock:
            if self._active_entity is entity:
                self._active_entity = None
