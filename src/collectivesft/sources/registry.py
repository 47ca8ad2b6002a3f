"""The source registry: `@register` a Source subclass in its own module, nothing else to edit.

Every module in the `collectivesft.sources` package is imported on first lookup, so adding
a 13th source is one new file.
"""

from __future__ import annotations

import importlib
import pkgutil

from collectivesft.errors import ConfigError
from collectivesft.sources.base import Source

_REGISTRY: dict[str, type[Source]] = {}
_NOT_SOURCES = {"base", "registry", "readers", "convert"}
_loaded = False


def register(cls: type[Source]) -> type[Source]:
    """Class decorator: make a source available under `cls.info.name`."""
    name = cls.info.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"source {name!r} registered twice ({_REGISTRY[name].__module__}, {cls.__module__})")
    _REGISTRY[name] = cls
    return cls


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    import collectivesft.sources as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name not in _NOT_SOURCES and not mod.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{mod.name}")
    _loaded = True


def source_names() -> list[str]:
    """Names of all registered sources, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def get_source(name: str, **options: str) -> Source:
    """An instance of the named source with its options; unknown names list the known ones."""
    _load_all()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown source {name!r}; known sources: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**options)


def source_class(name: str) -> type[Source]:
    """The registered class (for its `info` and `options`) without instantiating it."""
    _load_all()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown source {name!r}; known sources: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]
