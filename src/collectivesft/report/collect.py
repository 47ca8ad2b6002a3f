"""Read what a run folder holds (written by `collectivesft run` or by the stage commands), and join
an evaluation made by its own command to the training run whose model it evaluated."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectivesft.errors import InputLayoutError
from collectivesft.report.status import stage_status


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
    suites: dict[str, dict] = field(default_factory=dict)  # label -> suite.json (eval.benchmarks, eval suite)
    timings: dict[str, float] = field(default_factory=dict)
    tiny_model: bool = False  # a tiny random model: recipe.json `model.tiny`, or its marker file
    train_dir: Path | None = None  # the folder holding metrics.json (and config.yaml, model/)
    train_config: dict[str, Any] = field(default_factory=dict)  # that folder's config.yaml
    eval_dirs: dict[str, Path] = field(default_factory=dict)  # label -> the folder holding its scores.json
    evaluated: dict[str, str] = field(default_factory=dict)  # label -> model path an eval folder's run.json records
    joined: list[Path] = field(default_factory=list)  # eval folders joined to this run
    stages: list[tuple[str, str]] = field(default_factory=list)  # (stage folder, done | reused | failed | not run)


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
            run.train_dir = candidate.parent
            run.train_config = _train_config(candidate.parent)
            break
    run.tiny_model = run.tiny_model or _trained_a_tiny_model(path)
    for scores in sorted(path.glob("eval/*/scores.json")):
        run.evals[scores.parent.name] = _load(scores)
        run.eval_dirs[scores.parent.name] = scores.parent
    for suite in sorted(path.glob("eval/*/suite.json")):
        label = suite.parent.name
        run.suites[label] = _load(suite)
        cmb = suite.parent / "cmb" / "scores.json"
        if cmb.is_file() and label not in run.evals:  # the suite's CMB run feeds the CMB-Exam section
            run.evals[label] = _load(cmb)
            run.eval_dirs[label] = cmb.parent
    summary = _load(path / "run.json") if (path / "run.json").is_file() else {}
    if (path / "suite.json").is_file():  # a folder of `collectivesft eval suite`
        suite = _load(path / "suite.json")
        run.suites.setdefault(describe_model(str(suite.get("model") or "model")), suite)
    if (path / "scores.json").is_file():
        # A folder of `collectivesft eval cmb`: its run.json records the model it evaluated.
        model = (summary.get("config") or {}).get("model")
        label = describe_model(model) if isinstance(model, str) and model else "model"
        run.evals.setdefault(label, _load(path / "scores.json"))
        run.eval_dirs.setdefault(label, path)
        if isinstance(model, str) and model:
            run.evaluated[label] = model
    run.timings = summary.get("timings", {})
    run.stages = stage_status(path, recipe)
    if not (run.convert or run.mix or run.train or run.evals or run.stages or run.suites):
        raise InputLayoutError(f"{path}: no stage outputs found (expected convert/*/stats.json, mix/manifest.json, "
                               "train/metrics.json or eval/*/scores.json)")
    return run


def describe_model(model: str) -> str:
    """A model for a table: when `model` is a training run's output folder (RUN/model), its base
    model and how it was trained ('Qwen/Qwen2.5-7B + LoRA adapter'), from the run's config.yaml and
    the adapter's adapter_config.json; otherwise the tiny model or the path or hub id as given."""
    folder = Path(model)
    config = _train_config(folder.parent) if (folder.parent / "metrics.json").is_file() else {}
    adapter = folder / "adapter_config.json"
    adapter_base = _load(adapter).get("base_model_name_or_path") if adapter.is_file() else None
    base = config.get("model") or adapter_base
    finetuning = config.get("finetuning") or ("lora" if adapter_base else None)
    if finetuning in ("lora", "qlora"):
        kind = "QLoRA" if finetuning == "qlora" else "LoRA"
        merged = config.get("merge_lora") and not adapter.is_file()
        return f"{describe_base(base)} + {kind} {'(merged)' if merged else 'adapter'}"
    if finetuning == "full":
        return f"{describe_base(base)}, fully fine-tuned"
    return describe_base(model)


def describe_base(model: str | None) -> str:
    """A base model: the hub id or path as given, with a tiny model's architecture and size."""
    from collectivesft.fixtures.tiny_model import MARKER

    if not model:
        return "(base model not recorded)"
    marker = Path(model) / MARKER
    if marker.is_file():
        tiny = _load(marker)
        return f"{model} (tiny {tiny.get('arch')} {tiny.get('size')}, random weights)"
    return model


def join_evaluations(runs: list[RunSummary]) -> list[RunSummary]:
    """Each eval folder (`collectivesft eval cmb --out`) joined to the training run whose model it
    evaluated, found by the model path its run.json records (RUN/model or RUN/train/model): a run
    given alongside, else read from that path. One entry per training run, in the given order."""
    trained = [r for r in runs if r.train is not None]
    read: dict[Path, RunSummary] = {}
    joined: list[RunSummary] = []
    for run in runs:
        home = None if run.train is not None else _home(run, trained, read)
        if home is None:
            joined.append(run)
            continue
        for label, scores in run.evals.items():
            name = label if label not in home.evals else f"{label} ({run.path.name})"
            home.evals[name] = scores
            home.eval_dirs[name] = run.eval_dirs[label]
            if label in run.evaluated:
                home.evaluated[name] = run.evaluated[label]
        home.joined.append(run.path)
        if not any(home is r for r in joined) and not any(home is r for r in trained):
            joined.append(home)
    return joined


def _home(run: RunSummary, trained: list[RunSummary], read: dict[Path, RunSummary]) -> RunSummary | None:
    """The training run an eval-only folder evaluated, or None (a base model, a hub id, not found)."""
    if len(run.evaluated) != 1:
        return None
    model = Path(next(iter(run.evaluated.values())))
    resolved = model.resolve()
    for candidate in trained:
        if resolved.is_relative_to(candidate.path.resolve()):
            return candidate
    folder = model.parent
    if not (folder / "metrics.json").is_file():
        return None
    if folder.name == "train" and (folder.parent / "recipe.json").is_file():
        folder = folder.parent  # a `collectivesft run` folder: RUN/train/model
    key = folder.resolve()
    if key not in read:
        read[key] = read_run(folder)
    return read[key]


def _train_config(folder: Path) -> dict[str, Any]:
    """A training run's config.yaml (the resolved TrainConfig), or {} when it has none."""
    from collectivesft.config import read_yaml_mapping

    return read_yaml_mapping(folder / "config.yaml", "train config") if (folder / "config.yaml").is_file() else {}


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
