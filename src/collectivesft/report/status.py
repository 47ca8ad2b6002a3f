"""Which stages of a `collectivesft run` folder ran, from the files the stage runner leaves
(pipeline/runner.py): stage.json when a stage finished, stage.pending.json while it runs or
after it failed or was killed, nothing when it never started."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DONE, REUSED, FAILED, NOT_RUN = "done", "reused", "failed", "not run"


def expected_stages(recipe: dict[str, Any]) -> list[str]:
    """The stage folders a run of `recipe` (recipe.json) makes, in the order they run."""
    if not recipe:
        return []
    stages = ["fixtures"] if recipe.get("fixtures") else []
    stages += [f"convert/{s['name']}" for s in recipe.get("sources") or [] if isinstance(s, dict) and "name" in s]
    stages.append("mix")
    if (recipe.get("model") or {}).get("tiny"):
        stages.append("model")  # a model given by path has no stage folder
    if recipe.get("preflight", True):
        stages.append("check")
    stages.append("train")
    # As pipeline/stages.eval_settings: the base model is evaluated too by default with fixtures.
    labels = ["trained"]
    if (recipe.get("eval") or {}).get("compare_base", recipe.get("fixtures") is not None):
        labels.insert(0, "base")
    suite = _suite_names((recipe.get("eval") or {}).get("benchmarks"))
    if suite:  # one stage folder per benchmark: eval/<label>/<benchmark>
        return stages + [f"eval/{label}/{name}" for label in labels for name in suite]
    return stages + [f"eval/{label}" for label in labels]


def _suite_names(entries: Any) -> list[str]:
    """The benchmark names of a recipe's eval.benchmarks (names or {name, ...} mappings)."""
    if not isinstance(entries, list):
        return []
    return [e if isinstance(e, str) else e.get("name") for e in entries
            if isinstance(e, str) or (isinstance(e, dict) and isinstance(e.get("name"), str))]


def stage_status(path: Path, recipe: dict[str, Any]) -> list[tuple[str, str]]:
    """(stage folder, status) for every stage the recipe makes or the folder holds. A finished stage
    is "reused" when the last run's run.json, written after it, did not time it (it did not run
    again), else "done"; a stage with stage.pending.json but no stage.json "failed" (or was killed).
    Empty for a folder without any stage file (one made by a stage command)."""
    found = {}
    for pattern in ("*/stage.json", "*/stage.pending.json", "*/*/stage.json", "*/*/stage.pending.json",
                    "eval/*/*/stage.json", "eval/*/*/stage.pending.json"):
        for marker in sorted(path.glob(pattern)):
            stage = marker.parent.relative_to(path).as_posix()
            if not stage.startswith("stages/"):  # an ablation's keyed stage folders belong to no one run
                found.setdefault(stage, marker.parent)
    if not found:
        return []  # not a `collectivesft run` folder (or made by hand): nothing to say
    summary = path / "run.json"
    timings = {}
    if summary.is_file():
        timings = json.loads(summary.read_text(encoding="utf-8")).get("timings") or {}
    statuses = []
    for stage in expected_stages(recipe) + sorted(set(found) - set(expected_stages(recipe))):
        folder = found.get(stage)
        if folder is None:
            statuses.append((stage, NOT_RUN))
        elif not (folder / "stage.json").is_file():
            statuses.append((stage, FAILED))
        elif timings and stage not in timings and summary.stat().st_mtime >= (folder / "stage.json").stat().st_mtime:
            statuses.append((stage, REUSED))
        else:
            statuses.append((stage, DONE))
    return statuses


def status_line(stages: list[tuple[str, str]]) -> str:
    """'Stages: fixtures done · convert (12 sources) done · mix done · train not run · ...'; sources
    sharing one status are one entry."""
    parts, converts = [], [(s, st) for s, st in stages if s.startswith("convert/")]
    for stage, status in stages:
        if stage.startswith("convert/") and len({st for _, st in converts}) == 1:
            if stage == converts[0][0]:
                parts.append(f"convert ({len(converts)} source{'s' if len(converts) != 1 else ''}) {status}")
            continue
        parts.append(f"{stage} {status}")
    return "Stages: " + " · ".join(parts)


def status_warning(stages: list[tuple[str, str]]) -> str | None:
    """A sentence on what never ran or did not finish; None when every stage finished."""
    failed = [s for s, st in stages if st == FAILED]
    missing = {s.split("/")[0] for s, st in stages if st in (NOT_RUN, FAILED)}
    said = []
    if failed:
        said.append(f"{', '.join(failed)} started but never finished (stage.pending.json without stage.json: it "
                    "failed or was killed; the next `collectivesft run` into this folder resumes it).")
    never = [word for family, word in (("train", "training"), ("eval", "evaluation")) if family in missing]
    if never:
        last = next((s for s, st in reversed(stages) if st in (DONE, REUSED)), None)
        said.append(f"{' and '.join(never).capitalize()} never {'ran' if not failed else 'finished'} in this folder"
                    + (f" (it stops after {last})" if last else "")
                    + ": it has " + " and ".join(w for f, w in (("train", "no loss curves"), ("eval", "no CMB scores"))
                                               if f in missing) + ".")
    return " ".join(said) or None
