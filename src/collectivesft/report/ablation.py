"""The ablation report: each variant's CMB accuracy minus the reference's, with intervals and p-values.

Tables say every score with its 95% bootstrap interval and every comparison as a paired
difference (same questions) with its paired-bootstrap interval and McNemar's p-value; the
plots draw the differences with their intervals, overall and per exam type (Chinese names
kept, English gloss beside them).
"""

from __future__ import annotations

import re

from pathlib import Path
from typing import Any

from collectivesft.report import plots
from collectivesft.report.document import Document
from collectivesft.report.tables import type_label

TINY_NOTE = ("These runs train a tiny randomly initialised model on the synthetic fixture world, in which each "
             "source states about a third of the facts the fixture CMB test asks (with overlap). What the "
             "differences can show: whether the pipeline turns data into measurable learning (trained minus base) "
             "and whether a mixture covering more of the facts beats one covering fewer at the same number of "
             "training records; read the intervals before concluding either. What they cannot show: anything "
             "about medicine, real models or the real CMB; the world is made so that coverage matters.")
EXPLAIN = ("Each variant is the reference recipe with one change (a source left out, only some sources, or "
           "another recipe file); all run the same stages where they agree. Differences are variant minus "
           "reference on the same CMB-Exam questions: an interval that excludes 0 and a small p-value "
           "mean the change moved the score by more than the choice of questions explains.")
ONE_SEED = ("These intervals do not cover training randomness: the same recipe trained with another seed can "
            "move by more than they do, so before trusting a small difference rerun with `--seeds 42,1,2` "
            "(every variant trained once per seed) and see whether it holds.")


NBSP = "\u00a0"  # inside a number with its interval, so a table cell never breaks it


def accuracy_cell(value: float, interval: tuple[float, float] | list[float]) -> str:
    """'0.512 [0.451, 0.570]' (unbreakable)."""
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]".replace(" ", NBSP)


def difference_cell(d: dict[str, Any]) -> str:
    """'+0.120 [+0.060, +0.180]' (unbreakable)."""
    return f"{d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]".replace(" ", NBSP)


def p_cell(p: float, below: bool = False) -> str:
    """'0.019', '<1e-4'; '<0.0005' when `below` (a bootstrap p under its resolution, 1/resamples)."""
    if below:
        return f"<{p:.2g}"
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"


def p_text(p: float, below: bool = False) -> str:
    """'p=0.019' or 'p<0.0001' (no hyphen: a browser breaks '1e-4' after the hyphen)."""
    if below:
        return f"p<{p:.2g}"
    return f"p={p:.2g}" if p >= 1e-4 else "p<0.0001"


def _resolved(d: dict[str, Any]) -> int:
    """+1 / -1 when the 95 % interval lies above / below zero, 0 when it includes zero."""
    return 1 if d["low"] > 0 else -1 if d["high"] < 0 else 0


def findings(comparison: dict[str, Any]) -> list[str]:
    """Plain sentences on what the numbers show: trained minus base for the reference, then each
    variant minus the reference, each read off its 95 % paired interval (never assumed)."""
    variants = comparison["variants"]
    ref_label = comparison["reference"]
    out = []
    tb = variants.get(ref_label, {}).get("trained_vs_base", {}).get("overall")
    if tb:
        amount = f"{difference_cell(tb)} on {tb['n']} questions ({p_text(tb['p_value'], tb.get('p_below', False))})"
        out.append({
            1: f"Training helped: the reference's trained model minus the untrained base model is {amount}. "
               "The interval excludes 0, so the pipeline turned this data into measurable learning.",
            -1: f"Training hurt: the reference's trained model minus the untrained base model is {amount}.",
            0: f"Training made no difference these questions can resolve: trained minus base is {amount}, "
               "an interval that includes 0.",
        }[_resolved(tb)])
    for label, v in variants.items():
        vs = v.get("vs_reference", {}).get("overall")
        if not vs:
            continue
        what = (f"{label} ({len(v['sources'])} source{'s' if len(v['sources']) != 1 else ''}, "
                f"{v.get('mixture_train_records')} training records)")
        amount = f"{difference_cell(vs)} ({p_text(vs['p_value'], vs.get('p_below', False))})"
        out.append({
            -1: f"{what} scores below the reference: variant minus reference is {amount}, so the change "
                "this variant makes costs accuracy."
                + (" With as many training records from fewer sources, what it lacks is coverage."
                   if len(v["sources"]) < len(variants[ref_label]["sources"])
                   and v.get("mixture_train_records") == variants[ref_label].get("mixture_train_records") else ""),
            1: f"{what} scores above the reference: variant minus reference is {amount}.",
            0: f"{what} minus the reference is {amount}: no difference these questions can resolve.",
        }[_resolved(vs)])
    return out


def _difference_plot(labels: list[str], diffs: list[dict[str, Any]], title: str, files: Path, stem: str):
    fig = plots.bar_chart(labels, {"variant - reference": [d["diff"] for d in diffs]}, title=title,
                          value_label="accuracy difference (95% paired bootstrap interval)", horizontal=True,
                          intervals={"variant - reference": [(d["low"], d["high"]) for d in diffs]})
    fig.axes[0].axvline(0, color="#444", linewidth=0.8)
    fig.axes[0].set_ylim(len(labels) - 0.5, -0.5)  # no empty band above the first bar
    return plots.save_figure(fig, files / stem)


def ablation_document(comparison: dict[str, Any], files: Path) -> Document:
    """The report's blocks; plots saved under `files`."""
    doc = Document("Ablation: CMB-Exam accuracy of each variant against the reference")
    if comparison.get("tiny_model"):
        doc.para(TINY_NOTE)
    doc.para(EXPLAIN)
    seeds = comparison.get("seeds") or []
    p_header, p_words = ("p (bootstrap)", "its bootstrap p") if seeds else ("McNemar p", "McNemar's p")
    if not seeds:
        doc.para(ONE_SEED)
    else:
        doc.para(f"Every variant was trained {len(seeds)} times (training seeds {', '.join(map(str, seeds))}). "
                 "Accuracies are means over those runs; intervals and p-values come from a bootstrap that "
                 "resamples the questions and, per variant, the training runs, so they include how much a "
                 "retrained model moves (McNemar's test, for one pair of models, is not used).")
    said = findings(comparison)
    if said:
        doc.heading("What this shows", 2)
        for sentence in said:
            doc.para(sentence)
    variants = comparison["variants"]
    others = [label for label in variants if label != comparison["reference"]]

    doc.heading("Overall", 2)
    rows = []
    for label, v in variants.items():
        vs = v.get("vs_reference", {}).get("overall")
        # The accuracy on the compared questions, with its interval (the reference: from its base comparison).
        own = vs or v.get("trained_vs_base", {}).get("overall")
        acc = accuracy_cell(own["variant"], own["variant_interval"]) if own else f"{v['accuracy']:.3f}"
        rows.append([label, len(v["sources"]), v.get("mixture_train_records"), acc,
                     difference_cell(vs) if vs else "(reference)", p_cell(vs["p_value"], vs.get("p_below", False)) if vs else "",
                     vs["n"] if vs else ""])
        if seeds:
            rows[-1].append(", ".join(f"{a:.3f}" for a in (v.get("seed_accuracies") or {}).values()))
    doc.table(["variant", "sources", "train records", "accuracy [95% CI]", "minus reference [95% CI]",
               p_header, "questions"] + (["accuracy per seed"] if seeds else []), rows)
    if others:
        diffs = [variants[label]["vs_reference"]["overall"] for label in others]
        doc.figure(_difference_plot(others, diffs, "Accuracy minus the reference's, overall", files,
                                    "ablation_overall"), "Accuracy difference from the reference, overall")

    types = sorted({t for label in others for t in variants[label]["vs_reference"]["by_type"]})
    if types:
        doc.heading("By exam type", 2)
        doc.para("Per exam type: the reference's accuracy [95% bootstrap interval], then each variant minus the "
                 f"reference [95% paired bootstrap interval] and {p_words}.")
        ref_row = ["reference (accuracy)"]
        for t in types:
            d = next((variants[label]["vs_reference"]["by_type"][t] for label in others
                      if t in variants[label]["vs_reference"]["by_type"]), None)
            ref_row.append(accuracy_cell(d["reference"], d["reference_interval"]) if d else "")
        rows = [ref_row]
        for label in others:
            cells = [label]
            for t in types:
                d = variants[label]["vs_reference"]["by_type"].get(t)
                cells.append(f"{difference_cell(d)} {p_text(d['p_value'], d.get('p_below', False))}" if d else "")
            rows.append(cells)
        counts = {t: next(variants[label]["vs_reference"]["by_type"][t]["n"] for label in others
                          if t in variants[label]["vs_reference"]["by_type"]) for t in types}
        doc.table(["variant"] + [f"{type_label(t)}, {counts[t]} questions" for t in types], rows)
        labels, diffs = [], []
        for label in others:
            for t in types:
                d = variants[label]["vs_reference"]["by_type"].get(t)
                if d:
                    labels.append(f"{label} · {type_label(t)}")
                    diffs.append(d)
        doc.figure(_difference_plot(labels, diffs, "Accuracy minus the reference's, by exam type", files,
                                    "ablation_by_type"), "Accuracy difference from the reference by exam type")

    with_base = [(label, v["trained_vs_base"]["overall"]) for label, v in variants.items() if v.get("trained_vs_base")]
    if with_base:
        doc.heading("Trained minus base model", 2)
        doc.para("The same comparison between each variant's trained model and the untrained base model.")
        doc.table(["variant", "base [95% CI]", "trained [95% CI]", "trained minus base [95% CI]", p_header],
                  [[label, accuracy_cell(d["reference"], d["reference_interval"]),
                    accuracy_cell(d["variant"], d["variant_interval"]), difference_cell(d), p_cell(d["p_value"], d.get("p_below", False))]
                   for label, d in with_base])
    flipped = comparison.get("flipped") or {}
    if flipped:
        doc.heading("Questions that flipped", 2)
        doc.para("Per variant, the questions the reference's trained model got right and the variant's got "
                 "wrong, and the reverse, by exam class (first training seed). Each explorer page shows the two "
                 "runs side by side: open it with #filter=flipped.")
        for label, entry in flipped.items():
            doc.heading(label, 3)
            doc.link("Both runs, question by question:", entry["page"], entry["page"] + "#filter=flipped")
            doc.table(["exam class", "right in reference, wrong here", "wrong in reference, right here"],
                      [[c, a, b] for c, (a, b) in entry["by_class"].items()])
    return doc


def _flipped_pages(comparison: dict[str, Any], out: Path) -> dict[str, dict[str, Any]]:
    """Per variant: how many questions flipped against the reference, both ways and by exam class
    (first training seed), and an explorer page of the two runs side by side (flipped filter)."""
    from collectivesft.eval.cmb.compare import compare_runs
    from collectivesft.report.explorer import write_explorer

    reference = (comparison["variants"].get(comparison.get("reference")) or {}).get("eval_dirs") or []
    found: dict[str, dict[str, Any]] = {}
    for label, entry in comparison["variants"].items():
        dirs = entry.get("eval_dirs") or []
        if label == comparison.get("reference") or not dirs or not reference:
            continue
        flips = compare_runs(reference[0], dirs[0], n_boot=10)["flipped"]
        page = write_explorer([Path(reference[0]), Path(dirs[0])],
                              out / f"explorer-{re.sub(r'[^A-Za-z0-9_.-]+', '-', label)}.html")
        classes = sorted(set(flips["a_right_b_wrong"]) | set(flips["a_wrong_b_right"]))
        found[label] = {"page": page.name, "by_class": {c: (len(flips["a_right_b_wrong"].get(c, [])),
                                                             len(flips["a_wrong_b_right"].get(c, []))) for c in classes}}
    return found


def write_ablation_report(comparison: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """out/ablation.md (PNG plots) and out/ablation.html (SVG inline); return both paths."""
    out = Path(out)
    files = out / "ablation_files"
    files.mkdir(parents=True, exist_ok=True)
    comparison = dict(comparison, flipped=_flipped_pages(comparison, out))
    doc = ablation_document(comparison, files)
    return doc.write(out, "ablation")
