"""The source registry: `@register` a Source subclass in its own module, nothing else to edit.

Every module in the `collectivesft.sources` package is imported on first lookup, so adding
a 13th source is one new file.
"""

from __future__ import annotations

from collectivesft.registry import Registry
from collectivesft.sources.base import Source

SOURCES: Registry[Source] = Registry("source", "collectivesft.sources")


def register(cls: type[Source]) -> type[Source]:
    """Class decorator: make a source available under `cls.info.name`."""
    return SOURCES.add(cls.info.name, cls)


def source_names() -> list[str]:
    """Names of all registered sources, sorted."""
    return SOURCES.names()


def get_source(name: str, **options: str) -> Source:
    """An instance of the named source with its options; unknown names list the known ones."""
    return SOURCES.get(name)(**options)


def source_class(name: str) -> type[Source]:
    """The registered class (for its `info` and `options`) without instantiating it."""
    return SOURCES.get(name)
