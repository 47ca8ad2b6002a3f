"""Read what a run folder holds (written by `collectivesft run` or by the stage commands)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectivesft.errors import InputLayoutError


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputLayoutError(f"{path}: unreadable ({exc})") from None


@dataclass
class RunSummary:
    """The parts of one run folder a report shows; absent stages stay empty."""

    name: str
    path: Path
    convert: dict[str, dict] = field(default_factory=dict)  # source -> stats.json
    mix: dict[str, Any] | None = None  # manifest.json
    train: dict[str, Any] | None = None  # metrics.json
    evals: dict[str, dict] = field(default_factory=dict)  # label -> scores.json
    timings: dict[str, float] = field(default_factory=dict)
    tiny_model: bool = False  # a tiny random model: recipe.json `model.tiny`, or its marker file


def read_run(path: str | Path) -> RunSummary:
    """Collect a run folder; raise InputLayoutError if it holds none of the known stage outputs."""
    path = Path(path)
    if not path.is_dir():
        raise InputLayoutError(f"run folder not found: {path}")
    recipe = _load(path / "recipe.json") if (path / "recipe.json").is_file() else {}
    run = RunSummary(name=recipe.get("name") or path.name, path=path,
                     tiny_model=(recipe.get("model") or {}).get("tiny") is not None)
    for stats in sorted(path.glob("convert/*/stats.json")):
        run.convert[stats.parent.name] = _load(stats)
    for candidate in (path / "mix" / "manifest.json", path / "manifest.json"):
        if candidate.is_file():
            run.mix = _load(candidate)
            break
    for candidate in (path / "train" / "metrics.json", path / "metrics.json"):
        if candidate.is_file():
            run.train = _load(candidate)
            break
    run.tiny_model = run.tiny_model or _trained_a_tiny_model(path)
    for scores in sorted(path.glob("eval/*/scores.json")):
        run.evals[scores.parent.name] = _load(scores)
    if (path / "scores.json").is_file():
        run.evals.setdefault("model", _load(path / "scores.json"))
    if (path / "run.json").is_file():
        run.timings = _load(path / "run.json").get("timings", {})
    if not (run.convert or run.mix or run.train or run.evals):
        raise InputLayoutError(f"{path}: no stage outputs found (expected convert/*/stats.json, mix/manifest.json, "
                               "train/metrics.json or eval/*/scores.json)")
    return run


def loss_history(metrics: dict[str, Any]) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(train, validation) loss points as (step, loss) from a training run's metrics.json."""
    def points(curve: list[dict]) -> list[tuple[int, float]]:
        return [(int(p["step"]), float(p["loss"])) for p in curve or [] if p.get("loss") is not None]

    return points(metrics.get("train_curve")), points(metrics.get("val_curve"))


def mixture_counts(manifest: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per source: records in (input) and kept in train/val, from a mix manifest."""
    out: dict[str, dict[str, int]] = {}
    for entry in manifest.get("sources") or []:
        counts = entry.get("counts", {})
        row = {k: v for k, v in counts.items() if isinstance(v, int)}
        if isinstance(counts.get("filtered"), dict):
            row["filtered"] = sum(counts["filtered"].values())
        out[entry["name"]] = row
    return out


def _trained_a_tiny_model(path: Path) -> bool:
    """True when the run folder's train config names a model folder holding the tiny-model marker."""
    from collectivesft.config import read_yaml_mapping
    from collectivesft.fixtures.tiny_model import MARKER

    for candidate in (path / "train" / "config.yaml", path / "config.yaml"):
        if candidate.is_file():
            model = read_yaml_mapping(candidate, "train config").get("model")
            return isinstance(model, str) and (Path(model) / MARKER).is_file()
    return False
