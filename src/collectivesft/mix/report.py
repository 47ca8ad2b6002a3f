"""report.md and its plots: what the mixture is made of and what was removed.

Plots come from report/plots.py: PNG (linked from report.md) and SVG with text kept as text,
source names as they are (Chinese included), and no dates or versions in the files, so the
same mixture gives byte-identical plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from collectivesft.io import atomic_write
from collectivesft.mix import ledger as L
from collectivesft.records import TASKS
from collectivesft.report import plots
from collectivesft.report.tables import markdown_table

DROP_KINDS = ("filtered", "contaminated", "duplicate", "near_duplicate", "over_cap")


def plot_all(out: Path, manifest: dict[str, Any], ledger: L.Ledger) -> list[str]:
    """Write the plots (PNG + SVG) into out/report/; return their paths relative to out."""
    import matplotlib.ticker

    folder = out / "report"
    names = [s["name"] for s in manifest["sources"]]
    counts = [s["counts"] for s in manifest["sources"]]
    fates = np.frombuffer(bytes(ledger.fate), dtype=np.uint8)
    in_mix = (fates == L.TRAIN) | (fates == L.VAL)
    entries = np.frombuffer(ledger.entry.tobytes(), dtype=np.int16)
    tasks = np.frombuffer(ledger.task.tobytes(), dtype=np.int8)
    chars = np.frombuffer(ledger.chars.tobytes(), dtype=np.int32)
    figures = {}

    figures["composition_sources"] = plots.bar_chart(
        names, {"input": [c["input"] for c in counts], "in mixture": [c["train"] + c["val"] for c in counts]},
        title="Records per source: input vs mixture", value_label="records", horizontal=True)

    task_names = [t for i, t in enumerate(TASKS) if (tasks == i).any()]
    figures["composition_tasks"] = plots.bar_chart(
        task_names, {"input": [int((tasks == TASKS.index(t)).sum()) for t in task_names],
                     "in mixture": [int(((tasks == TASKS.index(t)) & in_mix).sum()) for t in task_names]},
        title="Records per task: input vs mixture", value_label="records", horizontal=True)

    figures["drops"] = plots.bar_chart(
        names, {kind.replace("_", "-"): [sum(c[kind].values()) if kind == "filtered" else c[kind] for c in counts]
                for kind in DROP_KINDS},
        title="Dropped records by reason", value_label="records dropped", horizontal=True, stacked=True)

    fig, axes = plots.figure(11, 1.5 + 0.45 * len(names), ncols=2, sharey=True)
    for ax, mask, title in ((axes[0], np.ones(len(fates), dtype=bool), "input"), (axes[1], in_mix, "mixture")):
        data = [np.maximum(chars[(entries == e) & mask], 1) for e in range(len(names))]
        present = [i for i, d in enumerate(data) if len(d)]
        if present:
            # `orientation` replaced `vert` in matplotlib 3.10.
            new_api = tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) >= (3, 10)
            direction = {"orientation": "horizontal"} if new_api else {"vert": False}
            ax.boxplot([data[i] for i in present], positions=present, widths=0.6, **direction)
        ax.set_yticks(np.arange(len(names)))
        ax.set_yticklabels(names)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("characters per record (all turns)")
        ax.set_title(f"Length per source: {title}")
    axes[0].invert_yaxis()
    figures["lengths"] = fig

    written = []
    for name, fig in figures.items():
        paths = plots.save_figure(fig, folder / name)
        written += [p.relative_to(out).as_posix() for p in paths.values()]
    return written


def write_report(out: Path, manifest: dict[str, Any], ledger: L.Ledger, sources: list[Any]) -> list[str]:
    """Write out/report.md (and out/report/*.png, *.svg) from the manifest and the ledger; return their paths."""
    plot_files = plot_all(out, manifest, ledger)
    pngs = [p for p in plot_files if p.endswith(".png")]
    recipe = manifest["recipe"]
    totals = manifest["totals"]
    parts = ["# Mixture report", ""]
    parts.append(f"Strategy `{recipe['strategy']}`, selection `{recipe['selection']}`, seed {recipe['seed']}, "
                 f"default cap {_or_none(recipe['cap'])}, total {_or_none(recipe['total'])}, "
                 f"validation fraction {recipe['val_fraction']} (per source).")
    parts.append("")
    parts.append(f"**{totals['train']} train + {totals['val']} validation records** from {totals['input']} input "
                 f"records of {len(manifest['sources'])} sources. Accounting identity "
                 f"({manifest['identity']}): {'holds' if manifest['identity_holds'] else 'BROKEN'}.")
    parts += ["", "## Per source", ""]
    rows = []
    for s in manifest["sources"]:
        c = s["counts"]
        rows.append([s["name"], c["input"], sum(c["filtered"].values()), c["contaminated"], c["duplicate"],
                     c["near_duplicate"], c["over_cap"], c["train"], c["val"]])
    c = totals
    rows.append(["**total**", c["input"], sum(c["filtered"].values()), c["contaminated"], c["duplicate"],
                 c["near_duplicate"], c["over_cap"], c["train"], c["val"]])
    parts.append(markdown_table(["source", "input", "filtered", "contaminated", "duplicate", "near-dup", "over-cap",
                         "train", "val"], rows))
    if totals["filtered"]:
        parts += ["", "Filter reasons: " + ", ".join(f"`{k}` {v}" for k, v in totals["filtered"].items()) + "."]
    for s in manifest["sources"]:
        if s.get("strata"):
            parts += ["", f"### Strata of {s['name']} (stratify_by: {', '.join(recipe_source(recipe, s)['stratify_by'])})",
                      ""]
            parts.append(markdown_table(["stratum", "available", "selected"],
                                [[k, v["available"], v["selected"]] for k, v in s["strata"].items()]))
    parts += ["", "## Decontamination", ""]
    decon = manifest["decontamination"]
    benchmarks = decon.get("benchmarks") or []
    if not decon["eval_files"] and not benchmarks:
        parts.append("No evaluation files were given: the mixture was **not** checked against any benchmark.")
    else:
        if decon["eval_files"]:
            parts.append(markdown_table(["eval file", "items indexed", "too short to check", "sha256"],
                                [[f["path"], f["items_indexed"], f["items_too_short"], f["sha256"][:12]]
                                 for f in decon["eval_files"]]))
            parts.append("")
        if benchmarks:
            parts.append(markdown_table(["benchmark", "data", "items indexed", "too short to check", "sha256"],
                                [[b["name"], b["data"], b["items_indexed"], b["items_too_short"], b["sha256"][:12]]
                                 for b in benchmarks]))
            parts.append("")
        parts += ["Training records hit, per benchmark (each record counts for its best-matching item):", ""]
        parts.append(markdown_table(["benchmark", "items indexed", "too short", "items hit", "training records hit",
                                     "by source"], [
            [label, row["items_indexed"], row["items_too_short"], row["items_hit"], row["records_hit"],
             ", ".join(f"{k} {v}" for k, v in row["by_source"].items() if v) or "-"]
            for label, row in decon.get("per_benchmark", {}).items()]))
        kept = " (kept in the mixture: the counts above show 0 contaminated)" if decon["action"] == "report" else ""
        parts += ["", f"Action: `{decon['action']}`{kept}. Matches per source: " +
                  ", ".join(f"{k} {v}" for k, v in decon["matches_per_source"].items()) + "."]
        top = sorted(decon["matched_items"].items(), key=lambda kv: (-kv[1], kv[0]))[:20]
        if top:
            parts += ["", "Most matched evaluation items (all in contamination.jsonl):", ""]
            parts.append(markdown_table(["eval item", "training records"], [[k, v] for k, v in top]))
    held = [(s["name"], s["eval_splits"]) for s in manifest["sources"] if s.get("eval_splits")]
    if held:
        parts += ["", "Benchmark splits in the sources' raw files (held out of conversion unless `eval_splits: keep`):",
                  ""]
        parts.append(markdown_table(["source", "splits (benchmarks)", "policy", "rows", "files"], [
            [name, "; ".join(f"{k} ({', '.join(v)})" for k, v in h["held_out"].items()), h["policy"],
             h["rows"], ", ".join(h["files"]) or "-"] for name, h in held]))
    div = manifest["diversity"]
    parts += ["", "## Diversity", ""]
    parts.append(markdown_table(["measure", "input", "mixture"], [
        ["source entropy (bits / normalised)", _ent(div["source_entropy"]["before"]), _ent(div["source_entropy"]["after"])],
        ["task entropy (bits / normalised)", _ent(div["task_entropy"]["before"]), _ent(div["task_entropy"]["after"])],
        *[[f"distinct-{n} (chars)", div["distinct"]["before"].get(f"distinct_{n}"), div["distinct"]["after"].get(f"distinct_{n}")]
          for n in (1, 2, 4)],
    ]))
    parts += ["", f"Exact-duplicate rate of the input: {div['exact_duplicate_rate']}; "
              f"near-duplicate rate: {div['near_duplicate_rate']}."]
    parts += ["", "## Plots", ""]
    parts += [f"![{Path(p).stem}]({p})" for p in pngs]
    parts += ["", "Every input record's fate is in `accounting.jsonl`; counts, checksums and the resolved recipe "
              "are in `manifest.json`.", ""]
    with atomic_write(out / "report.md") as fh:
        fh.write("\n".join(parts))
    return ["report.md", *plot_files]


def _or_none(value: Any) -> str:
    return "none" if value is None else str(value)


def _ent(e: dict[str, float]) -> str:
    return f"{e['bits']} / {e['normalised']}"


def recipe_source(recipe: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in recipe["sources"] if s["name"] == source["name"])
