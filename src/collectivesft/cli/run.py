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
    suites = {label: out / "eval" / label / "suite.json" for label in summary["evals"]}
    if summary["evals"] and all(path.is_file() for path in suites.values()):
        # eval.benchmarks: one row per benchmark and model, each score in its own metric.
        import json

        from collectivesft.eval.suite.scoring import interval_text

        by_benchmark: dict[str, list] = {}
        for label, path in suites.items():
            for row in json.loads(path.read_text(encoding="utf-8"))["benchmarks"]:
                by_benchmark.setdefault(row["benchmark"], []).append([
                    row["benchmark"], label, row["metric"], "-" if row["score"] is None else f"{100 * row['score']:.1f}",
                    interval_text(row["ci95"]), row["n"]])
        rows = [row for group in by_benchmark.values() for row in group]
        print_table(["benchmark", "model", "metric", "score %", "95% interval", "items"], rows)
        rows = []
    for label, scores in summary["evals"].items():
        if "overall_micro" not in scores:
            continue
        n = scores.get("n") or 0
        rows.append([label, f"{scores.get('overall_micro', 0):.3f}",
                     f"{scores.get('n_answered', 0) / n:.3f}" if n else "-", n])
    if rows:
        print_table(["model", "CMB accuracy", "answer-format compliance", "questions"], rows)
    if summary.get("contamination"):
        typer.echo("decontamination: training records hit per benchmark: " +
                   ", ".join(f"{k} {v}" for k, v in summary["contamination"].items()) + f" (see {out}/mix/report.md)")
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


def ablate_command(
    recipe: Path = typer.Argument(..., help="The reference run recipe YAML."),
    out: Path = typer.Option(..., "--out", help="Ablation folder: shared keyed stages, ablation.md/.html/.json; "
                             "rerun to continue a killed ablation."),
    leave_one_out: Optional[str] = typer.Option(None, "--leave-one-out", help="'sources': one variant per source "
                                                "left out."),
    only: Optional[list[str]] = typer.Option(None, "--only", help="A variant with only these sources (comma-separated, "
                                             "e.g. --only cmb or --only cmb,medqa; repeatable: one variant each)."),
    variants: Optional[list[Path]] = typer.Option(None, "--variants", help="Another run recipe as a variant "
                                                  "(repeatable; labelled by file name)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a key in every recipe, e.g. --set train.epochs=1."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Train every variant once per seed (comma-separated, "
                                        "e.g. --seeds 42,1,2): means over the seeds, intervals that include "
                                        "training randomness."),
) -> None:
    """Run a recipe and its variants (shared stages) and compare their CMB scores as paired differences."""
    from collectivesft.errors import ConfigError
    from collectivesft.pipeline.ablate import REFERENCE, run_ablation

    from collectivesft.cli.display import parse_seeds

    seed_list = parse_seeds(seeds, "42,1,2")
    if seed_list is not None:
        if len(seed_list) < 2:
            raise ConfigError(f"--seeds {seeds!r}: give at least two seeds (one seed is --set train.seed=N)")
    result = run_ablation(recipe, out, leave_one_out=leave_one_out, only=only, variant_files=variants,
                          overrides=set_, seeds=seed_list)
    p_header = "p (bootstrap)" if result.get("seeds") else "McNemar p"
    from collectivesft.cli.display import print_table

    def interval(d: dict) -> str:
        return f"{d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"

    def p_value(d: dict) -> str:
        return f"{'<' if d.get('p_below') else ''}{d['p_value']:.2g}"

    rows = []
    for label, v in result["variants"].items():
        d = v.get("vs_reference", {}).get("overall")
        rows.append([label, len(v["sources"]), f"{v['accuracy']:.3f}",
                     interval(d) if d else "-", p_value(d) if d else "-"])
    print_table(["variant", "sources", "CMB accuracy", f"minus {REFERENCE} [95% CI]", p_header], rows)
    base_rows = []
    for label, v in result["variants"].items():
        d = v.get("trained_vs_base", {}).get("overall")
        if d:
            base_rows.append([label, f"{d['reference']:.3f}", f"{d['variant']:.3f}", interval(d), p_value(d)])
    if base_rows:
        typer.echo("")
        print_table(["variant", "base", "trained", "trained minus base [95% CI]", p_header], base_rows)
    said = result.get("findings") or []  # computed once by run_ablation, as written to ablation.json
    if said:
        typer.echo("")
        for sentence in said:
            typer.echo(sentence.replace("\u00a0", " "))
    typer.echo(f"report: {result['report']['markdown']}\n        {result['report']['html']}")


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
    app.command("ablate")(ablate_command)
    app.command("report")(report_command)
