"""report.md and its PNG plots: what the mixture is made of and what was removed.

Plots use matplotlib's Agg backend with ASCII labels only (source names, numbers: no
font that renders Chinese is assumed) and are saved without the Software/date metadata,
so the same mixture gives byte-identical PNGs.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from collectivesft.mix import ledger as L
from collectivesft.records import TASKS
from collectivesft.io import atomic_write

DROP_KINDS = ("filtered", "contaminated", "duplicate", "near_duplicate", "over_cap")


def _save(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())


def _bars(ax: Any, labels: list[str], series: dict[str, list[float]], title: str) -> None:
    y = np.arange(len(labels))
    height = 0.8 / max(len(series), 1)
    for k, (name, values) in enumerate(series.items()):
        ax.barh(y + k * height, values, height=height, label=name)
    ax.set_yticks(y + height * (len(series) - 1) / 2)
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")


def plot_all(out: Path, manifest: dict[str, Any], ledger: L.Ledger) -> list[str]:
    """Write the PNGs into out/report/; return their paths relative to out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.ticker
    import matplotlib.pyplot as plt

    folder = out / "report"
    # No CJK font is assumed: non-ASCII characters in source names become "?" on the plots.
    names = [s["name"].encode("ascii", "replace").decode("ascii") for s in manifest["sources"]]
    counts = [s["counts"] for s in manifest["sources"]]
    fates = np.frombuffer(bytes(ledger.fate), dtype=np.uint8)
    in_mix = (fates == L.TRAIN) | (fates == L.VAL)
    entries = np.frombuffer(ledger.entry.tobytes(), dtype=np.int16)
    tasks = np.frombuffer(ledger.task.tobytes(), dtype=np.int8)
    chars = np.frombuffer(ledger.chars.tobytes(), dtype=np.int32)
    written = []
    height = 1.5 + 0.45 * len(names)

    fig, ax = plt.subplots(layout="constrained", figsize=(8, height))
    _bars(ax, names, {"input": [c["input"] for c in counts], "in mixture": [c["train"] + c["val"] for c in counts]},
          "Records per source: input vs mixture")
    ax.set_xlabel("records")
    _save(fig, folder / "composition_sources.png")
    written.append("report/composition_sources.png")
    plt.close(fig)

    task_names = [t for i, t in enumerate(TASKS) if (tasks == i).any()]
    fig, ax = plt.subplots(layout="constrained", figsize=(8, 1.5 + 0.45 * max(len(task_names), 1)))
    _bars(ax, task_names, {"input": [int((tasks == TASKS.index(t)).sum()) for t in task_names],
                           "in mixture": [int(((tasks == TASKS.index(t)) & in_mix).sum()) for t in task_names]},
          "Records per task: input vs mixture")
    ax.set_xlabel("records")
    _save(fig, folder / "composition_tasks.png")
    written.append("report/composition_tasks.png")
    plt.close(fig)

    fig, ax = plt.subplots(layout="constrained", figsize=(8, height))
    left = np.zeros(len(names))
    for kind in DROP_KINDS:
        values = np.array([sum(c[kind].values()) if kind == "filtered" else c[kind] for c in counts], dtype=float)
        ax.barh(np.arange(len(names)), values, left=left, label=kind.replace("_", "-"))
        left += values
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlabel("records dropped")
    ax.set_title("Dropped records by reason")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    _save(fig, folder / "drops.png")
    written.append("report/drops.png")
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, layout="constrained", figsize=(11, height), sharey=True)
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
    _save(fig, folder / "lengths.png")
    written.append("report/lengths.png")
    plt.close(fig)
    return written


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(out: Path, manifest: dict[str, Any], ledger: L.Ledger, sources: list[Any]) -> list[str]:
    """Write out/report.md (and out/report/*.png) from the manifest and the ledger; return their paths."""
    plots = plot_all(out, manifest, ledger)
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
    parts.append(_table(["source", "input", "filtered", "contaminated", "duplicate", "near-dup", "over-cap",
                         "train", "val"], rows))
    if totals["filtered"]:
        parts += ["", "Filter reasons: " + ", ".join(f"`{k}` {v}" for k, v in totals["filtered"].items()) + "."]
    for s in manifest["sources"]:
        if s.get("strata"):
            parts += ["", f"### Strata of {s['name']} (stratify_by: {', '.join(recipe_source(recipe, s)['stratify_by'])})",
                      ""]
            parts.append(_table(["stratum", "available", "selected"],
                                [[k, v["available"], v["selected"]] for k, v in s["strata"].items()]))
    parts += ["", "## Decontamination", ""]
    decon = manifest["decontamination"]
    if not decon["eval_files"]:
        parts.append("No evaluation files were given: the mixture was **not** checked against any benchmark.")
    else:
        parts.append(_table(["eval file", "items indexed", "too short to check", "sha256"],
                            [[f["path"], f["items_indexed"], f["items_too_short"], f["sha256"][:12]]
                             for f in decon["eval_files"]]))
        kept = " (kept in the mixture: the counts above show 0 contaminated)" if decon["action"] == "report" else ""
        parts += ["", f"Action: `{decon['action']}`{kept}. Matches per source: " +
                  ", ".join(f"{k} {v}" for k, v in decon["matches_per_source"].items()) + "."]
        top = sorted(decon["matched_items"].items(), key=lambda kv: (-kv[1], kv[0]))[:20]
        if top:
            parts += ["", "Most matched evaluation items (all in contamination.jsonl):", ""]
            parts.append(_table(["eval item", "training records"], [[k, v] for k, v in top]))
    div = manifest["diversity"]
    parts += ["", "## Diversity", ""]
    parts.append(_table(["measure", "input", "mixture"], [
        ["source entropy (bits / normalised)", _ent(div["source_entropy"]["before"]), _ent(div["source_entropy"]["after"])],
        ["task entropy (bits / normalised)", _ent(div["task_entropy"]["before"]), _ent(div["task_entropy"]["after"])],
        *[[f"distinct-{n} (chars)", div["distinct"]["before"].get(f"distinct_{n}"), div["distinct"]["after"].get(f"distinct_{n}")]
          for n in (1, 2, 4)],
    ]))
    parts += ["", f"Exact-duplicate rate of the input: {div['exact_duplicate_rate']}; "
              f"near-duplicate rate: {div['near_duplicate_rate']}."]
    parts += ["", "## Plots", ""]
    parts += [f"![{Path(p).stem}]({p})" for p in plots]
    parts += ["", "Every input record's fate is in `accounting.jsonl`; counts, checksums and the resolved recipe "
              "are in `manifest.json`.", ""]
    with atomic_write(out / "report.md") as fh:
        fh.write("\n".join(parts))
    return ["report.md", *plots]


def _or_none(value: Any) -> str:
    return "none" if value is None else str(value)


def _ent(e: dict[str, float]) -> str:
    return f"{e['bits']} / {e['normalised']}"


def recipe_source(recipe: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in recipe["sources"] if s["name"] == source["name"])
