"""Run one source converter over raw files (or the hub) and write the audited outputs.

DIR/records.jsonl   unified records
DIR/quarantine.jsonl  {"where", "reason", "snippet"} per rejected row
DIR/stats.json      {"read", "kept", "quarantined", "skipped": {reason: n}, "notes": {...}, "style"}
All three are written atomically; read = kept + quarantined + sum(skipped).
"""

from __future__ import annotations

import zipfile
import zlib
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

from collectivesft.errors import ConfigError, EmptyResultError, InputLayoutError
from collectivesft.records import record_problems
from collectivesft.io import atomic_write, dumps, remove_stale_temps, write_json
from collectivesft.jsonlimits import LIMIT_OPTIONS
from collectivesft.sources.base import ConvertStats, Reject, Skip, Source
from collectivesft.sources.readers import is_plain_file, snippet, split_of_name
from collectivesft.sources.registry import get_source
from collectivesft.sources.rows import BadRow, RawRow

STYLES = ("default", "paper")  # default: our records; paper: the CollectiveSFT scripts' rows, exactly


def iter_converted(
    source: Source, rows: Iterator[RawRow | BadRow], stats: ConvertStats
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ("record", rec) or ("quarantine", entry) per raw unit, updating `stats`."""
    for row in rows:
        stats.read += 1
        stats.last_where = row.where
        if isinstance(row, BadRow):
            stats.quarantine(row.where, row.reason)
            yield "quarantine", {"where": row.where, "reason": row.reason, "snippet": row.snippet}
            continue
        try:
            rec = source.convert(row)
        except Skip as exc:
            stats.skipped[exc.reason] += 1
            continue
        except Reject as exc:
            stats.quarantine(row.where, exc.reason)
            yield "quarantine", {"where": row.where, "reason": exc.reason, "snippet": snippet(dumps(row.data))}
            continue
        problems = record_problems(rec)
        if problems:
            stats.quarantine(row.where, "invalid record: " + "; ".join(problems))
            yield "quarantine", {"where": row.where, "reason": "invalid record: " + "; ".join(problems),
                                 "snippet": snippet(dumps(row.data))}
            continue
        stats.kept += 1
        yield "record", rec


def _converter(name: str, options: dict[str, str], style: str):
    """(source, read_raw(path), read_hub(id), convert_rows(rows, stats)) for the style."""
    if style not in STYLES:
        raise ConfigError(f"style {style!r} is not one of {', '.join(STYLES)}")
    if style == "default":
        source = get_source(name, **options)
        return source, source.read_raw, source.read_hub, partial(iter_converted, source)
    from collectivesft.sources.paper.convert import iter_paper_records
    from collectivesft.sources.paper.rules import paper_rules

    chosen = sorted(k for k in options if k not in LIMIT_OPTIONS)  # reader limits still apply
    if chosen:
        raise ConfigError(f"style paper fixes the files and splits the paper read; "
                          f"drop the converter option(s) {chosen}")
    rules = paper_rules(name)
    source = get_source(name, **rules.reader_options, **options)
    return (source, partial(rules.read_raw, source), partial(rules.read_hub, source),
            partial(iter_paper_records, rules))


def convert_source(
    name: str,
    out: str | Path,
    input: str | Path | None = None,
    hub: str | None = None,
    options: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    style: str = "default",
    allow_empty: bool = False,
    eval_splits: str = "keep",
) -> dict[str, Any]:
    """Convert raw files at `input` (or hub dataset `hub`; "default" = the source's known hub id)
    of source `name` into `out`; return stats. Raises InputLayoutError when the input is unusable,
    and EmptyResultError (after writing the outputs, so the quarantine can be read) when no
    record was kept, unless `allow_empty`.

    `style="paper"` writes the CollectiveSFT paper's own rows instead (sources/paper/).
    `eval_splits` is what happens, unless the `eval_splits` option says otherwise, to rows of the
    splits a benchmark evaluates (held_out.py): "keep" (converted, with a warning in stats) or
    "exclude" (skipped and counted; what conversions for training pass).
    """
    from collectivesft.sources.held_out import OPTION, held_out_for

    if (input is None) == (hub is None):
        raise ValueError("give exactly one of input= or hub=")
    options = dict(options or {})
    held = held_out_for(name, options.pop(OPTION, None), eval_splits)
    source, read_raw, read_hub, convert_rows = _converter(name, options, style)
    if hub == "default":
        hub = source.info.hub_id
        if not hub:
            raise ConfigError(f"source {name!r} has no known hub id; give the raw files as input")
    rows = read_raw(Path(input)) if input is not None else read_hub(hub)
    out = Path(out)
    remove_stale_temps(out)
    stats = ConvertStats()
    if held is not None:
        rows = held.filter(rows, stats)
    try:
        with atomic_write(out / "records.jsonl") as rec_fh, atomic_write(out / "quarantine.jsonl") as q_fh:
            for kind, obj in convert_rows(rows, stats):
                (rec_fh if kind == "record" else q_fh).write(dumps(obj) + "\n")
                if progress is not None and stats.read % 1000 == 0:
                    progress(stats.read)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        # A zip member that breaks while being read (bad CRC, truncated data) is an unreadable
        # archive: nothing is written (outputs are atomic) and the user is told where it broke.
        after = f" after {stats.last_where}" if stats.last_where else ""
        raise InputLayoutError(f"{input or hub}: corrupt or truncated archive data{after} ({type(exc).__name__}: "
                               f"{exc}); expected {source.info.layout}") from None
    finally:
        # Close the reader chain now (a streaming hub dataset left open aborts the interpreter at exit).
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    stats.notes.update(source.notes)
    result = stats.as_dict()
    result["source"] = name
    result["input"] = str(input) if input is not None else f"hub:{hub}"
    result["options"] = source.opts
    if input is not None and is_plain_file(Path(input)):
        # A file named on the command line is read as the split its name says, whatever the option.
        result["input_file"] = {"name": Path(input).name, "split": split_of_name(Path(input).name)}
    result["style"] = style
    if held is not None:
        result[OPTION] = held.as_dict()
    write_json(out / "stats.json", result)
    if stats.kept == 0 and not allow_empty:
        raise EmptyResultError(_empty_message(name, result["input"], out, stats, source.info.layout))
    return result


def _empty_message(name: str, where: str, out: Path, stats: ConvertStats, layout: str) -> str:
    """Why a conversion kept nothing: the most common reason, where it first happened, where to look."""
    hint = "pass --allow-empty (or allow_empty: true in a recipe) to accept an empty result"
    if stats.read == 0:
        return f"{name}: no rows read from {where} (empty file or list?); expected {layout}; {hint}"
    if stats.reasons:
        reason, count = stats.reasons.most_common(1)[0]
        cause = f"{count} of {stats.read} rows quarantined as {reason!r} (first at {stats.first_where[reason]})"
        return (f"{name}: read {stats.read} rows from {where} but kept none: {cause}; see {out / 'quarantine.jsonl'}; "
                f"expected {layout}; {hint}")
    reason, count = stats.skipped.most_common(1)[0]
    return (f"{name}: read {stats.read} rows from {where} but kept none: {count} skipped as {reason!r}; "
            f"see {out / 'stats.json'}; {hint}")
