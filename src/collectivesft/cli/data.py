"""`collectivesft sources` and `collectivesft data ...` (fixtures, convert)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from collectivesft.cli.display import print_table

data_app = typer.Typer(help="Raw datasets: write fixtures, convert sources to unified records, build mixtures.",
                       no_args_is_help=True)


def sources_command(
    wide: bool = typer.Option(False, "--wide", help="One line per source, however wide (for grep and scripts)."),
) -> None:
    """List the registered source datasets (wrapped to the terminal's width)."""
    import shutil

    from collectivesft.sources.registry import source_class, source_names

    rows = []
    for name in source_names():
        info = source_class(name).info
        opts = ", ".join(f"{k}={o.default}" for k, o in source_class(name).options.items())
        rows.append([name, info.task, "/".join(info.langs), info.size, info.hub_id or "-", info.license, opts or "-"])
    width = None if wide else max(60, shutil.get_terminal_size((100, 24)).columns)
    print_table(["source", "task", "lang", "public size", "hub id", "license / access", "options"], rows, width)


@data_app.command("fixtures")
def fixtures_command(
    out: Path = typer.Argument(..., help="Folder to write raw fixture files into (one sub-folder per source)."),
    rows: int = typer.Option(50, "--rows", min=1, help="Good rows per source (a few broken rows are added)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed writes the same bytes."),
    source: Optional[list[str]] = typer.Option(None, "--source", help="Only these sources (repeatable)."),
) -> None:
    """Write small raw files in every source's published layout, with realistic broken rows."""
    from collectivesft.fixtures.writer import write_fixtures

    written = write_fixtures(out, rows=rows, seed=seed, sources=source)
    typer.echo(f"wrote fixtures for {len(written)} sources under {out}")


@data_app.command("convert")
def convert_command(
    source: str = typer.Argument(..., help="Source name (see `collectivesft sources`)."),
    out: Path = typer.Option(..., "--out", help="Output folder for records.jsonl, quarantine.jsonl, stats.json."),
    input: Optional[Path] = typer.Option(None, "--input", help="Raw file, folder or zip as downloaded."),
    hub: Optional[str] = typer.Option(None, "--hub", help="Load with datasets.load_dataset: a hub id or a local "
                                      "folder in hub layout. Pass --hub default for the source's known hub id."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Converter option key=value, e.g. --set "
                                             "region=US (repeatable; see `collectivesft sources`). For a source "
                                             "whose split a benchmark evaluates, eval_splits=exclude skips that "
                                             "split (default here: keep, with a warning; see docs/mix.md)."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-O", hidden=True,
                                               help="Deprecated spelling of --set."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Exit 0 even when no record is kept "
                                     "(by default that is an error naming the most common reason)."),
    style: str = typer.Option("default", "--style", help="default: our records; paper: exactly the rows of the "
                              "CollectiveSFT paper's preprocess script, as LLaMA-Factory turns them into turns."),
) -> None:
    """Convert one source's raw files (or hub dataset) to unified records, quarantining bad rows."""
    from collectivesft.config import apply_overrides, deprecated_overrides
    from collectivesft.errors import ConfigError
    from collectivesft.sources.convert import convert_source

    if (input is None) == (hub is None):
        raise ConfigError("give exactly one of --input PATH or --hub [ID|default]")
    options = apply_overrides({}, deprecated_overrides(option, "--option/-O") + list(set_ or []))
    nested = [k for k, v in options.items() if isinstance(v, (dict, list))]
    if nested:
        raise ConfigError(f"--set {nested[0]}: converter options are plain key=value")
    options = {k: "" if v is None else str(v) for k, v in options.items()}
    stats = convert_source(source, out, input=input, hub=hub, options=options, style=style,
                           allow_empty=allow_empty)
    skipped = sum(stats["skipped"].values())
    print_table(["source", "read", "kept", "quarantined", "skipped"],
                [[source, stats["read"], stats["kept"], stats["quarantined"], skipped]])
    for reason, n in stats["skipped"].items():
        typer.echo(f"  skipped {n}: {reason}")
    from collectivesft.sources.held_out import held_out_lines

    for line in held_out_lines(stats):
        typer.echo(line)
    if style == "paper":
        typer.echo(f"  {stats['notes'].get('paper rows written', 0)} records, one per paper row")
    typer.echo(f"wrote {out}/records.jsonl, quarantine.jsonl, stats.json")


def register(app: typer.Typer) -> None:
    app.command("sources")(sources_command)
    app.add_typer(data_app, name="data")
