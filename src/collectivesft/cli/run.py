"""`collectivesft run` (every stage from one recipe) and `collectivesft report`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def run_command(
    recipe: Path = typer.Argument(..., help="Run recipe YAML (see recipes/)."),
    out: Path = typer.Option(..., "--out", help="Run folder; stages already done there with the same inputs are reused."),
    force: Optional[list[str]] = typer.Option(None, "--force", help="Redo this stage even if unchanged "
                                              "(fixtures, convert, mix, model, train, eval, report; repeatable)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a recipe key, e.g. --set train.epochs=1 "
                                             "--set sources.0.input=data/cmb (value parsed as YAML; repeatable)."),
) -> None:
    """Run convert -> mix -> train -> eval -> report from one recipe, reusing unchanged stages."""
    from collectivesft.pipeline.run import run_recipe

    summary = run_recipe(recipe, out, force=force, overrides=set_)
    from collectivesft.cli.display import print_table

    rows = []
    for label, scores in summary["evals"].items():
        n = scores.get("n") or 0
        rows.append([label, f"{scores.get('overall_micro', 0):.3f}",
                     f"{scores.get('n_answered', 0) / n:.3f}" if n else "-", n])
    if rows:
        print_table(["model", "CMB accuracy", "answer-format compliance", "questions"], rows)
    typer.echo(f"report: {summary['report']['markdown']}")
    typer.echo(f"        {summary['report']['html']}")


def report_command(
    runs: list[Path] = typer.Argument(..., help="One or more run folders."),
    out: Path = typer.Option(..., "--out", help="Folder for report.md, report.html and report_files/."),
    title: Optional[str] = typer.Option(None, "--title", help="Page title (default: \"Run report: NAME\", or "
                                        "\"Comparison of runs\")."),
) -> None:
    """Markdown + self-contained HTML report with plots; several runs get a comparison table."""
    from collectivesft.report.build import build_report

    paths = build_report(runs, out, title=title)
    typer.echo(f"report: {paths['markdown']}\n        {paths['html']}")


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
    app.command("report")(report_command)
