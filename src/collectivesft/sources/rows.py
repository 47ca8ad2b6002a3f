"""The row types that flow out of raw readers into a source's `convert`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class RawRow:
    """One raw unit read from the input; `where` is file plus line or index."""

    where: str
    data: Any


@dataclass
class BadRow:
    """A raw unit that could not even be read (bad JSON, undecodable bytes, missing column)."""

    where: str
    reason: str
    snippet: str = ""
