"""`collectivesft data mix RECIPE.yaml --out DIR`: build the SFT mixture."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from collectivesft.cli.display import print_table


def mix_command(
    recipe: Path = typer.Argument(..., help="Mix recipe YAML, or a run recipe (its stages up to the mixture)."),
    out: Path = typer.Option(..., "--out", help="Output folder (train.jsonl, val.jsonl, manifest.json, exports, "
                             "report.md); for a run recipe the run folder, mixture in OUT/mix."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a recipe key, e.g. --set seed=1 "
                                             "--set sources.0.cap=500 (repeatable)."),
) -> None:
    """Build a balanced, deduplicated, decontaminated mixture from converted or raw sources."""
    from collectivesft.pipeline.run import mix_recipe_file

    manifest, out = mix_recipe_file(recipe, out, set_ or [])
    rows = []
    for s in manifest["sources"]:
        c = s["counts"]
        rows.append([s["name"], c["input"], sum(c["filtered"].values()), c["contaminated"],
                     c["duplicate"] + c["near_duplicate"], c["over_cap"], c["train"], c["val"]])
    print_table(["source", "input", "filtered", "contaminated", "duplicate", "over-cap", "train", "val"], rows)
    t = manifest["totals"]
    typer.echo(decontamination_line(manifest))
    typer.echo(f"mixture: {t['train']} train + {t['val']} val records in {out}")
    if (out / "report.md").exists():
        typer.echo(f"report: {out / 'report.md'}")


def decontamination_line(manifest: dict) -> str:
    """One line: training records hit per benchmark, and whether they were dropped or kept."""
    decon = manifest["decontamination"]
    per = decon.get("per_benchmark") or {}
    if not per:
        return "decontamination: none (no eval data or benchmarks given: the mixture was not checked for leaks)"
    hits = ", ".join(f"{label} {row['records_hit']}/{row['items_indexed']}" for label, row in per.items())
    what = "dropped" if decon["action"] == "drop" else "kept (action: report)"
    return f"decontamination: training records hit / items indexed, per benchmark: {hits}; {what}"


def register(app: typer.Typer) -> None:
    from collectivesft.cli.data import data_app

    data_app.command("mix")(mix_command)
