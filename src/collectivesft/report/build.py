"""Build report.md and report.html for one run folder, or a comparison of several."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from collectivesft.report import plots
from collectivesft.report.collect import (RunSummary, describe_model, join_evaluations, loss_history, mixture_counts,
                                          read_run)
from collectivesft.report.document import Document
from collectivesft.report.explorer import write_explorer
from collectivesft.report.status import status_line, status_warning
from collectivesft.report.subreports import render_subreport
from collectivesft.report.suite import suite_section
from collectivesft.report.tables import type_label

TINY_NOTE = ("This run used a tiny randomly initialised model on synthetic fixture data: a world in which each "
             "source states about a third of the facts the fixture CMB test asks, in its own formats. The demo's "
             "`small` model (one wide layer) learns those facts in about half a minute on a CPU, so the "
             "trained-minus-base row below says whether the pipeline turned the data into measurable learning; "
             "the smaller `tiny` model, trained for a few steps in tests, learns only the records' format. "
             "Either way the scores say nothing about medical knowledge, real models or the real CMB.")


def _with_interval(value: Any, interval: Any) -> Any:
    """'0.208 [0.161, 0.251]' (non-breaking spaces keep it on one line); the bare value without one."""
    if value is None or not (isinstance(interval, (list, tuple)) and len(interval) == 2):
        return value
    return f"{value:.3f}\u00a0[{interval[0]:.3f},\u00a0{interval[1]:.3f}]"


def _paired_rows(run: RunSummary) -> list[list[Any]]:
    """trained minus base on the same questions: difference [95 % CI] and McNemar p, when both exist."""
    from collectivesft.errors import CollectiveSFTError
    from collectivesft.eval.cmb.compare import compare_runs

    base, trained = run.eval_dirs.get("base"), run.eval_dirs.get("trained")
    if base is None or trained is None:
        return []
    if not ((base / "predictions.jsonl").is_file() and (trained / "predictions.jsonl").is_file()):
        return []
    try:
        result = compare_runs(base, trained)
    except (CollectiveSFTError, KeyError):
        return []  # predictions without per-question correctness (no answer key): nothing to pair
    rows = []
    for key, name in (("overall_micro", "accuracy (micro)"), ("overall_macro_types", "accuracy (mean of types)")):
        cell = result.get(key) or {}
        if "difference" in cell:
            rows.append([name, _with_interval(cell["difference"], cell.get("interval")),
                         result["mcnemar"]["p_value"] if key == "overall_micro" else None, result["n"]])
    return rows


def build_report(run_dirs: list[str | Path], out: str | Path, title: str | None = None) -> dict[str, Path]:
    """Write out/report.md, out/report.html and the plots (PNG + SVG) under out/report_files/; return the two pages.

    An eval folder made by `collectivesft eval cmb` is joined to the training run it evaluated
    (given alongside or found from the model path its run.json records)."""
    runs = join_evaluations([read_run(d) for d in run_dirs])
    out = Path(out)
    files = out / "report_files"
    files.mkdir(parents=True, exist_ok=True)
    doc = Document(title or ("Run report: " + runs[0].name if len(runs) == 1 else "Comparison of runs"))
    if any(r.tiny_model and (r.train or r.evals) for r in runs):
        doc.para(TINY_NOTE)
    if len(runs) > 1:
        _comparison(doc, runs, files)
    _explorer_link(doc, runs, out)
    for run in runs:
        prefix = _slug(run.name) if len(runs) > 1 else ""
        if len(runs) > 1:
            doc.heading(f"Run {run.name}", 2)
            doc.para(f"Folder: {run.path}")
        _status(doc, run)
        _data_section(doc, run, files, prefix, out)
        _train_section(doc, run, files, prefix)
        _eval_section(doc, run, files, prefix, out)
        suite_section(doc, run)
        if run.timings:
            doc.heading("Stage timings", 3)
            # In pipeline order (the order the stages ran in run.json), then the total.
            doc.table(["stage", "seconds"], [*run.timings.items(), ["total", round(sum(run.timings.values()), 2)]])
    return doc.write(out, "report")


def _explorer_link(doc: Document, runs: list[RunSummary], out: Path) -> None:
    """Write out/explorer.html for every eval folder with predictions.jsonl, and link it."""
    folders = [f for r in runs for f in r.eval_dirs.values() if (f / "predictions.jsonl").is_file()]
    if folders:
        page = write_explorer(folders, out / "explorer.html")
        doc.link("Every question, with its prompt, output and extracted answer:", "question explorer", page.name)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name) + "-"


def _status(doc: Document, run: RunSummary) -> None:
    """Which stages ran (a `collectivesft run` folder), what never did, and the eval folders joined in."""
    if run.stages:
        doc.para(status_line(run.stages), "status")
        warning = status_warning(run.stages)
        if warning:
            doc.para(warning, "warn")
    for folder in run.joined:
        doc.para(f"Evaluation joined from {folder}: its run.json names this run's model.")


def _sub_report(doc: Document, text: str, md_path: Path, label: str, out: Path, stem: str, title: str) -> None:
    """Link a stage's own Markdown report: as it is from report.md, rendered to an HTML page
    (out/report_files/`stem`.html) from report.html."""
    page = render_subreport(md_path, out / "report_files" / f"{stem}.html", title)
    doc.link(text, label, Path(os.path.relpath(md_path, out)).as_posix(), html_target=page.relative_to(out).as_posix())


def _data_section(doc: Document, run: RunSummary, files: Path, prefix: str, out: Path) -> None:
    if not run.convert and not run.mix:
        return
    doc.heading("Data: sources and mixture", 3)
    mix = mixture_counts(run.mix) if run.mix else {}
    names = sorted(set(run.convert) | set(mix))
    order = ["input", "train", "val", "over_cap", "duplicate", "near_duplicate", "contaminated", "filtered"]
    present = {k for c in mix.values() for k in c}
    keys = [k for k in order if k in present] + sorted(present - set(order))
    rows = []
    for name in names:
        st = run.convert.get(name, {})
        rows.append([name, st.get("read"), st.get("kept"), st.get("quarantined"),
                     sum(st.get("skipped", {}).values()) if st else None] + [mix.get(name, {}).get(k) for k in keys])
    doc.table(["source", "raw read", "converted", "quarantined", "skipped"] + [f"mix {k}" for k in keys], rows)
    mix_report = run.path / "mix" / "report.md"
    if mix_report.is_file():
        _sub_report(doc, "Filters, duplicates, contamination matches, length and diversity plots:", mix_report,
                    "the mixture's own report", out, f"{prefix}mix-report", f"Mixture report: {run.name}")
    train_key = next((k for k in ("train", "kept", "selected") if k in keys), None)
    if mix and train_key:
        fig = plots.bar_chart(names, {"converted": [run.convert.get(n, {}).get("kept", 0) for n in names],
                                      f"mixture ({train_key})": [mix.get(n, {}).get(train_key, 0) for n in names]},
                              title="Records per source: converted vs in the mixture", value_label="records")
        doc.figure(plots.save_figure(fig, files / f"{prefix}mixture"), "Mixture composition by source")


def _duration(seconds: Any) -> str | None:
    """'1 h 02 min', '3 min 05 s', '42.1 s'."""
    if not isinstance(seconds, (int, float)):
        return None
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def training_summary(run: RunSummary) -> list[list[Any]]:
    """What a person wants first about a training run: model, mixture, steps, time, losses, speed."""
    final, data = run.train.get("final", {}), run.train.get("data") or {}
    model = describe_model(str(run.train_dir / "model")) if run.train_dir else None
    mixture = run.train_config.get("mixture")
    records = (data.get("train") or {}).get("kept")
    tokens = (data.get("train") or {}).get("tokens")
    if records is not None:
        size = f"{_count(records)} training records, {_count(tokens)} tokens"
        mixture = f"{mixture}: {size}" if mixture else size
    rows = [["model", model],
            ["mixture", mixture],
            ["steps", f"{final['global_step']} ({final.get('epochs')} epochs)" if "global_step" in final else None],
            ["time", _duration(final.get("runtime_s"))],
            ["final train loss (last logged)", final.get("last_logged_loss")],
            ["train loss, mean over the run", final.get("train_loss")],
            ["final validation loss", final.get("eval_loss")],
            ["tokens/s", final.get("tokens_per_s")]]
    return [r for r in rows if r[1] is not None]


def _train_section(doc: Document, run: RunSummary, files: Path, prefix: str) -> None:
    if not run.train:
        return
    doc.heading("Training", 3)
    train, val = loss_history(run.train)
    doc.table(["training", ""], training_summary(run))
    rest = {f"final.{k}": v for k, v in run.train.get("final", {}).items()}
    rest.update({f"setup.{k}": v for k, v in run.train.get("setup", {}).items()})
    for part, counts in (run.train.get("data") or {}).items():
        rest.update({f"data.{part}.{k}": v for k, v in (counts or {}).items() if not isinstance(v, dict) or v})
    doc.details("Every training metric and setting (metrics.json)",
                ["metric", "value"], [(k, v) for k, v in rest.items() if v is not None])
    curves = {}
    if train:
        curves["train loss"] = ([s for s, _ in train], [v for _, v in train])
    if val:
        curves["validation loss"] = ([s for s, _ in val], [v for _, v in val])
    if curves:
        fig = plots.line_chart(curves, title=f"Loss: {run.name}", xlabel="optimizer step", ylabel="loss")
        doc.figure(plots.save_figure(fig, files / f"{prefix}loss"), "Training and validation loss")


def _eval_section(doc: Document, run: RunSummary, files: Path, prefix: str, out: Path) -> None:
    if not run.evals:
        return
    doc.heading("CMB-Exam scores", 3)
    names = [f.name for f in run.eval_dirs.values()]
    for label, folder in run.eval_dirs.items():
        # A suite's CMB folders are all called cmb (eval/<label>/cmb): their parent tells them apart.
        name = folder.name if names.count(folder.name) == 1 else f"{folder.parent.name}/{folder.name}"
        if (folder / "scores.md").is_file():
            _sub_report(doc, f"Every exam class of {label}, on its evaluation's own page:", folder / "scores.md",
                        f"{name}/scores.md", out, f"{prefix}{_slug(name)}scores",
                        f"CMB-Exam scores: {label}")
    labels = list(run.evals)
    types = sorted({t for s in run.evals.values() for t in s.get("by_type", {})})
    rows = []
    for label, s in run.evals.items():
        n = s.get("n") or 0
        ci = s.get("ci95") or {}
        rows.append([label, s.get("protocol", "collectivesft"), _with_interval(s.get("overall_micro"), ci.get("overall_micro")),
                     _with_interval(s.get("overall_macro_types"), ci.get("overall_macro_types")),
                     (s.get("n_answered", 0) / n) if n else None, n])
    doc.table(["model", "protocol", "accuracy (micro) [95% CI]", "accuracy (mean of types) [95% CI]",
               "answer-format compliance", "questions"], rows)
    paired = _paired_rows(run)
    if paired:
        doc.para("Trained minus base on the same questions (paired bootstrap within exam class; McNemar's "
                      "exact test on the questions one model gets right and the other wrong):")
        doc.table(["score", "trained − base [95% CI]", "McNemar p", "questions"], paired)
    if types:
        doc.table(["exam type"] + labels,
                  [[type_label(t)] + [_with_interval(run.evals[l].get("by_type", {}).get(t),
                                                     (run.evals[l].get("ci95") or {}).get("by_type", {}).get(t))
                                      for l in labels]
                   for t in types])
        fig = plots.bar_chart([type_label(t) for t in types],
                              {l: [run.evals[l].get("by_type", {}).get(t, 0.0) for t in types] for l in labels},
                              title="CMB-Exam accuracy by exam type", value_label="accuracy", limits=(0, 1))
        doc.figure(plots.save_figure(fig, files / f"{prefix}cmb_by_type"), "CMB-Exam accuracy by exam type")
    classes = sorted({(t, c) for s in run.evals.values() for t, cs in s.get("by_class", {}).items() for c in cs})
    if classes:
        doc.table(["exam type", "exam class"] + labels,
                  [[type_label(t), c] + [run.evals[l].get("by_class", {}).get(t, {}).get(c) for l in labels]
                   for t, c in classes])


def _comparison(doc: Document, runs: list[RunSummary], files: Path) -> None:
    doc.heading("Comparison", 2)
    rows, series, types = [], {}, sorted({t for r in runs for s in r.evals.values() for t in s.get("by_type", {})})
    for run in runs:
        train, val = loss_history(run.train) if run.train else ([], [])
        mix_total = sum(c.get("train", 0) for c in mixture_counts(run.mix).values()) if run.mix else None
        losses = [train[-1][1] if train else None, val[-1][1] if val else None]
        for label, s in run.evals.items():
            rows.append([run.name, label, len(run.convert) or None, mix_total, *losses,
                         s.get("overall_micro"), s.get("overall_macro_types")])
            # Named by the eval folder (base, trained, lora_loglik): a legend entry, not the table's full model name.
            folder = run.eval_dirs.get(label)
            series[f"{run.name}/{folder.name if folder else label}"] = [s.get("by_type", {}).get(t, 0.0) for t in types]
        if not run.evals:  # a run that trained (or only mixed) and was not evaluated still gets its row
            model = describe_model(str(run.train_dir / "model")) if run.train_dir else "(no model trained)"
            rows.append([run.name, model, len(run.convert) or None, mix_total, *losses, None, None])
    doc.table(["run", "model", "sources", "mixture train records", "final train loss", "final val loss",
               "CMB micro", "CMB mean of types"], rows)
    if types and series:
        fig = plots.bar_chart([type_label(t) for t in types], series, title="CMB-Exam accuracy by exam type, all runs",
                              value_label="accuracy", limits=(0, 1))
        doc.figure(plots.save_figure(fig, files / "comparison_by_type"), "CMB accuracy by exam type across runs")
