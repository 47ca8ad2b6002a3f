"""explorer.html: every question of one or more CMB eval runs in one self-contained page.

The page embeds its data as JSON and renders only the visible page of rows, so a full CMB test
split (11,200 questions) times several runs stays responsive from file:// with no server.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from collectivesft.benchmarks.cmb.format import id_key
from collectivesft.errors import CollectiveSFTError
from collectivesft.io import atomic_write, read_jsonl
from collectivesft.report.explorer_assets import SCRIPT, STYLE
from collectivesft.report.fonts import PAGE_FAMILY, font_face_css

# Per-run fields a prediction row may carry; older runs lack prompt, extraction and cut_off.
ANSWER_FIELDS = ("model_answer", "correct", "output", "prompt", "extraction", "cut_off")


def _questions(run_dir: Path) -> dict[str, Any]:
    """id -> Question from the CMB data the run's run.json records; {} when it is not a local copy
    (a hub id would mean a download) or cannot be read."""
    try:
        run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        config = run.get("config") or {}
        data = config.get("data")
        if not data or not Path(data).exists():
            return {}
        if run.get("benchmark"):  # a suite run (eval/suite): its benchmark's loader, items have question and options
            from collectivesft.benchmarks.base import get_benchmark

            return {id_key(i.id): i for i in get_benchmark(run["benchmark"]).load(data, config.get("split") or "test")}
        from collectivesft.benchmarks.cmb.load import load_questions

        return {id_key(q.id): q for q in load_questions(data, config.get("split") or "test")}
    except (OSError, ValueError, AttributeError, CollectiveSFTError):
        return {}


def explorer_data(run_dirs: list[Path]) -> dict[str, Any]:
    """The page's data: run labels, one row per question (union of the runs' ids, first-seen order)
    and, per run, a list of answers aligned with those rows (None where a run lacks the question)."""
    rows: dict[str, list[Any]] = {}
    runs, answers = [], []
    texts: dict[str, Any] = {}
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        by_id = {}
        for pred in read_jsonl(run_dir / "predictions.jsonl"):
            key = id_key(pred.get("id"))
            by_id[key] = [pred.get(f) for f in ANSWER_FIELDS]
            if key not in rows:
                # A suite run's rows carry `groups` (subject, category...): its first two stand in for CMB's type and class.
                groups = list((pred.get("groups") or {}).values()) + ["", ""]
                rows[key] = [key, pred.get("exam_type") or groups[0], pred.get("exam_class") or groups[1],
                             pred.get("question_type") or "", pred.get("answer") or ""]
        if not texts:
            texts = _questions(run_dir)
        # Eval folders are often named alike (eval_cmb); the parent tells them apart.
        label = run_dir.name if all(r["label"] != run_dir.name for r in runs) else f"{run_dir.parent.name}/{run_dir.name}"
        runs.append({"label": label, "path": str(run_dir)})
        answers.append(by_id)
    questions = []
    for key, row in rows.items():
        q = texts.get(key)
        options = "\n".join(f"{k}. {v}" for k, v in q.options.items()) if q else ""
        questions.append([*row, q.question if q else "", options])
    return {"runs": runs, "fields": list(ANSWER_FIELDS),
            "questions": questions, "answers": [[a.get(key) for key in rows] for a in answers]}


def _embedded(data: dict[str, Any]) -> str:
    """JSON safe inside a <script> element: no "</script>" or "<!--" can appear."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def explorer_html(data: dict[str, Any], title: str) -> str:
    """The complete page for `data` (see explorer_data)."""
    # The embedded font covers every string shown, outputs and prompts included, so the page reads
    # the same on a machine without Chinese fonts.
    shown = {c for c in title + json.dumps(data, ensure_ascii=False)}
    shown = "".join(sorted(shown))
    fonts = font_face_css(shown)
    return ("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{fonts}"
            f"body{{font-family:'{PAGE_FAMILY}',system-ui,'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif}}"
            f"{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<script type=\"application/json\" id=\"explorer-data\">{_embedded(data)}</script>"
            f"<div id=\"app\"></div><script>{SCRIPT}</script></body></html>\n")


def write_explorer(run_dirs: list[Path], out: Path) -> Path:
    """Write the explorer for the eval run folders `run_dirs` (each holding predictions.jsonl) to
    `out` (a file, or a folder that gets explorer.html); return the page's path."""
    out = Path(out)
    if out.is_dir() or not out.suffix:
        out = out / "explorer.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    data = explorer_data([Path(d) for d in run_dirs])
    title = "CMB questions: " + ", ".join(r["label"] for r in data["runs"])
    with atomic_write(out) as fh:
        fh.write(explorer_html(data, title))
    return out
