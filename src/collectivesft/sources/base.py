"""What every source module implements: its facts, options, reading and converting.

A source reads raw files (or a hub dataset) into `RawRow`s (see rows.py), each one unit that
gives at most one unified record, and converts a row with `convert`. A row it cannot use is
`Reject`ed (quarantined with where/why/snippet) or `Skip`ped (counted by reason): nothing
is dropped without being counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator

from collectivesft.errors import ConfigError
from collectivesft.jsonlimits import LIMIT_OPTIONS, JsonLimits, limits_from_options
from collectivesft.sources.readers import SOURCE_LIMITS, iter_hub_rows
from collectivesft.sources.rows import BadRow, RawRow


@dataclass(frozen=True)
class SourceInfo:
    """Facts about one public dataset (shown by `collectivesft sources`)."""

    name: str
    title: str
    task: str  # dominant task kind of its records: mcq | qa | dialogue | intent
    langs: tuple[str, ...]
    size: str  # size of the public release, in the release's own unit
    license: str
    homepage: str
    hub_id: str | None
    layout: str  # the raw layout `read_raw` expects; quoted in layout errors


@dataclass(frozen=True)
class Option:
    """A converter option (`--option key=value`), e.g. MedQA region or HEAD-QA language."""

    default: str
    choices: tuple[str, ...] | None = None
    help: str = ""


class Skip(Exception):
    """Raised by `convert`: the row is valid but carries nothing to train on (counted by reason)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Reject(Exception):
    """Raised by `convert`: the row is broken (quarantined with the reason)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Source:
    """Base class of a source converter. Subclasses set `info` (and `options`) and register."""

    info: ClassVar[SourceInfo]
    options: ClassVar[dict[str, Option]] = {}

    def __init__(self, **options: str):
        unknown = sorted(set(options) - set(self.options) - set(LIMIT_OPTIONS))
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise ConfigError(f"source {self.info.name!r} has no option {unknown[0]!r} (options: {known}; "
                              f"reader limits, every source: {', '.join(LIMIT_OPTIONS)})")
        limits = {k: v for k, v in options.items() if k in LIMIT_OPTIONS}
        try:
            # How deep, long and large a raw row may be (jsonlimits); the readers take them from here.
            self.limits: JsonLimits = limits_from_options(limits, SOURCE_LIMITS.hint)
        except ConfigError as exc:
            raise ConfigError(f"source {self.info.name!r}: {exc}") from None
        self.opts: dict[str, str] = {k: o.default for k, o in self.options.items()}
        self.opts.update(limits)  # limits given are recorded with the options (stats.json)
        for key, value in options.items():
            if key in LIMIT_OPTIONS:
                continue
            choices = self.options[key].choices
            if choices and value not in choices:
                raise ConfigError(f"source {self.info.name!r}: option {key}={value!r} not one of {choices}")
            self.opts[key] = value
        # Counts of changes that do not drop a row (e.g. a trailing user turn removed).
        self.notes: Counter[str] = Counter()

    # -- reading -----------------------------------------------------------------
    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        """Yield raw units from the files a user downloaded; raise InputLayoutError if unusable."""
        raise NotImplementedError

    def read_hub(self, hub_id: str) -> Iterator[RawRow | BadRow]:
        """Yield raw units from `datasets.load_dataset(hub_id)` (a hub id or a local hub-layout folder)."""
        yield from iter_hub_rows(hub_id)

    # -- converting --------------------------------------------------------------
    def convert(self, row: RawRow) -> dict[str, Any]:
        """Turn one raw unit into one unified record, or raise Skip / Reject."""
        raise NotImplementedError


@dataclass
class ConvertStats:
    """The accounting of one conversion: read = kept + quarantined + sum(skipped)."""

    read: int = 0
    kept: int = 0
    quarantined: int = 0
    skipped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    last_where: str = ""  # where the last raw unit came from (names the spot when an archive breaks)
    # Quarantine reasons with their first place, to name the likeliest cause when nothing is kept.
    reasons: Counter = field(default_factory=Counter)
    first_where: dict = field(default_factory=dict)

    def quarantine(self, where: str, reason: str) -> None:
        self.quarantined += 1
        self.reasons[reason] += 1
        self.first_where.setdefault(reason, where)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "kept": self.kept,
            "quarantined": self.quarantined,
            "skipped": dict(sorted(self.skipped.items())),
            "notes": dict(sorted(self.notes.items())),
        }
