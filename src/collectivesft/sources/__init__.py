"""Source converters: one module per public dataset, registered by name (see registry.py)."""

from collectivesft.sources.registry import get_source, register, source_class, source_names

__all__ = ["get_source", "register", "source_class", "source_names"]
