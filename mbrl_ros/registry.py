"""Name -> class registries, so every swappable part is picked by a parameter."""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownComponentError(KeyError):
    """Raised when a name is not registered; the message lists what is."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


class Registry(Generic[T]):
    """A named collection of factories (classes or callables).

    Example:
        PLANNERS = Registry("planner")

        @PLANNERS.register("cem")
        class CEMPlanner(Planner): ...

        PLANNERS.get("cem")
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None, *, overwrite: bool = False):
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is None."""

        def add(item: T) -> T:
            if not name or not name.replace("_", "").isalnum():
                raise ValueError(f"{self.kind} name {name!r} must be a non-empty identifier")
            if name in self._entries and not overwrite and self._entries[name] is not item:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it"
                )
            self._entries[name] = item
            return item

        if obj is None:
            return add
        return add(obj)

    def unregister(self, name: str) -> T:
        """Remove and return the entry ``name`` (e.g. a user task registered for one experiment)."""
        item = self.get(name)
        del self._entries[name]
        return item

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownComponentError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(sorted(self._entries))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

