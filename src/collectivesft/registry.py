"""A named registry of plug-ins that live one per module in a package (sources, back-ends).

Every module of the package is imported on first lookup, so adding a plug-in is one new file
and nothing else keeps a list of them; helper modules (base classes, readers) simply register
nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Generic, TypeVar

from collectivesft.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """name -> class, filled by decorators as the package's modules are imported."""

    def __init__(self, kind: str, package: str):
        self.kind = kind  # "source", "back-end": used in messages
        self.package = package
        self._classes: dict[str, type[T]] = {}
        self._loaded = False

    def add(self, name: str, cls: type[T]) -> type[T]:
        if name in self._classes and self._classes[name] is not cls:
            raise ValueError(f"{self.kind} {name!r} registered twice "
                             f"({self._classes[name].__module__}, {cls.__module__})")
        self._classes[name] = cls
        return cls

    def _load_all(self) -> None:
        if self._loaded:
            return
        pkg = importlib.import_module(self.package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{self.package}.{mod.name}")
        self._loaded = True

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._load_all()
        return sorted(self._classes)

    def get(self, name: str) -> type[T]:
        """The class registered as `name`; ConfigError listing the known names otherwise."""
        self._load_all()
        if name not in self._classes:
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._classes))}")
        return self._classes[name]
