"""One registry class behind every registry: methods, architectures, datasets, runtimes,
metrics, perturbations and charts.

A :class:`Registry` maps names to entries in registration order. Registering a taken name
is refused (only the very same object again is a no-op, so re-importing a module is
harmless); looking up an unknown name raises the registry's own
:class:`~potstill.errors.PotstillError` subclass listing every valid name. It is a
read-only :class:`~collections.abc.Mapping`, so ``name in registry``, ``registry[name]``
(the same refusal) and iteration work as on a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from potstill.errors import ConfigError, PotstillError

__all__ = ["Registry"]

V = TypeVar("V")
E = TypeVar("E")


class Registry(Mapping[str, V], Generic[V]):
    """Named entries of one ``kind`` (``"distillation method"``, ``"runtime"``, ...).

    ``error`` is the exception raised for a duplicate or an unknown name; ``plural`` names
    the valid entries in that message (``"Valid methods: 'at', 'crd', ..."``)."""

    def __init__(
        self, kind: str, *, error: type[PotstillError] = ConfigError, plural: str = "names"
    ) -> None:
        self.kind = kind
        self.error = error
        self.plural = plural
        self._entries: dict[str, V] = {}

    def register(self, name: str, entry: V) -> V:
        """Add ``entry`` under ``name``; a different entry under a taken name is refused."""
        if not isinstance(name, str) or not name:
            raise self.error(f"A {self.kind} needs a non-empty name; got {name!r}.")
        if self._entries.get(name) is not entry:
            self.refuse_taken(name)
        self._entries[name] = entry
        return entry

    def refuse_taken(self, name: str) -> None:
        """Refuse ``name`` if an entry is registered under it already."""
        if name in self._entries:
            raise self.error(
                f"A {self.kind} named '{name}' is already registered "
                f"({_describe(self._entries[name])}). Choose another name."
            )

    def copy(self) -> Registry[V]:
        """A registry with the same entries (tests register into a copy)."""
        other: Registry[V] = Registry(self.kind, error=self.error, plural=self.plural)
        other._entries = dict(self._entries)
        return other

    def decorator(self, name: str) -> Callable[[E], E]:
        """``@registry.decorator(name)``: register the decorated object as it is."""

        def decorate(obj: E) -> E:
            self.register(name, obj)  # type: ignore[arg-type]
            return obj

        return decorate

    def lookup(self, name: str) -> V:
        """The entry under ``name``; an unknown name is refused with the valid ones."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise self.error(
                f"Unknown {self.kind} {name!r}. Valid {self.plural}: "
                f"{', '.join(repr(n) for n in self.names())}."
            ) from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __getitem__(self, name: str) -> V:
        return self.lookup(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str, default: V | None = None) -> V | None:  # type: ignore[override]
        return self._entries.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def _describe(entry: object) -> str:
    return str(getattr(entry, "__qualname__", None) or type(entry).__qualname__)
