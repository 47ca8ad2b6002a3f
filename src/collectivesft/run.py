"""`collectivesft run`: chain fixtures -> convert -> mix -> model -> train -> eval -> report.

Each stage writes into RUN_DIR/<stage>/ and, when it finishes, RUN_DIR/<stage>/stage.json
holding a key: the hash of its settings and of its inputs' content digests. A rerun reuses
a stage whose key is unchanged, so after a crash or an edit only what changed is redone;
`force` redoes named stages. A stage killed half-way has no stage.json and runs again
(training resumes from its last checkpoint, evaluation from its per-question cache).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from collectivesft import __version__
from collectivesft.errors import CollectiveSFTError, ConfigError
from collectivesft.io import file_sha256, files_digest, json_digest, write_json
from collectivesft.recipe import RunRecipe, load_run_recipe

STAGES = ("fixtures", "convert", "mix", "model", "train", "eval", "report")


_digest = json_digest


def _files_digest(paths: list[Path]) -> str:
    """Content digest of stage outputs, without the stage's own bookkeeping and its plots."""
    return files_digest(paths, skip_names=("stage.json", "stage.pending.json"), skip_suffixes=(".png", ".svg", ".tmp"))


class Runner:
    """Runs stages in a run folder with content-keyed reuse."""

    def __init__(self, run_dir: Path, force: set[str], log: Callable[[str], None] = print):
        unknown = sorted(force - set(STAGES))
        if unknown:
            raise ConfigError(f"--force: unknown stage {unknown[0]!r} (stages: {', '.join(STAGES)})")
        self.dir = run_dir
        self.force = force
        self.log = log
        self.timings: dict[str, float] = {}

    def stage(self, name: str, settings: Any, inputs: dict[str, str], body: Callable[[Path, bool], dict],
              folder: str | None = None) -> dict:
        """Run `body(stage_dir, resume)` unless a finished run with the same key exists; return its result.

        `inputs` maps names to content digests of upstream outputs; `body` returns a JSON-able
        result that must include "digest", the content digest of what it produced.
        """
        stage_dir = self.dir / (folder or name)
        key = _digest({"stage": name, "settings": settings, "inputs": inputs, "version": __version__})
        done, pending = stage_dir / "stage.json", stage_dir / "stage.pending.json"
        family = name.split("/")[0]
        if family not in self.force and done.is_file():
            state = json.loads(done.read_text(encoding="utf-8"))
            if state.get("key") == key:
                self.log(f"[{folder or name}] unchanged, reused")
                return state["result"]
        resume = pending.is_file() and json.loads(pending.read_text(encoding="utf-8")).get("key") == key \
            and family not in self.force
        if not resume and stage_dir.exists():
            shutil.rmtree(stage_dir)
        stage_dir.mkdir(parents=True, exist_ok=True)
        done.unlink(missing_ok=True)
        write_json(pending, {"key": key})
        self.log(f"[{folder or name}] {'resuming' if resume else 'running'}")
        start = time.perf_counter()
        result = body(stage_dir, resume)
        self.timings[folder or name] = round(time.perf_counter() - start, 2)
        result["seconds"] = self.timings[folder or name]
        write_json(done, {"key": key, "result": result})
        pending.unlink(missing_ok=True)
        return result


def run_recipe(recipe_path: str | Path, run_dir: str | Path, force: list[str] | None = None,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage of the recipe into `run_dir`; return a summary (also RUN_DIR/run.json)."""
    recipe = load_run_recipe(recipe_path)
    validate_sections(recipe, recipe_path)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    runner = Runner(run_dir, set(force or []), log)
    write_json(run_dir / "recipe.json", recipe.model_dump(mode="json"))

    raw = _fixtures_stage(runner, recipe)
    converted = _convert_stage(runner, recipe, raw)
    mixture = _mix_stage(runner, recipe, converted)
    base = _model_stage(runner, recipe)
    trained = _train_stage(runner, recipe, mixture, base)
    evals = _eval_stage(runner, recipe, raw, base, trained)
    summary = {"name": recipe.name, "run_dir": str(run_dir), "timings": runner.timings,
               "evals": {k: v.get("scores", {}) for k, v in evals.items()}}
    write_json(run_dir / "run.json", summary)

    from collectivesft.report import build_report

    paths = build_report([run_dir], run_dir)
    summary["report"] = {k: str(v) for k, v in paths.items()}
    write_json(run_dir / "run.json", summary)
    return summary


def validate_sections(recipe: RunRecipe, where: str | Path) -> None:
    """Check the mix, train and eval sections with their stages' own config types before anything
    runs, so a typo fails in a second, not after an hour of conversion."""
    from collectivesft.mix.recipe import recipe_from_dict
    from collectivesft.train.config import config_from_dict as train_config

    placeholder = {s.name: f"<converted {s.name}>" for s in recipe.sources}
    recipe_from_dict(mix_recipe_for_run(recipe.mix, placeholder, []), f"{where} (mix:)")
    train_config(dict(recipe.train, model="<base model>"), f"{where} (train:)")
    settings = {k: v for k, v in recipe.eval.items() if k != "compare_base"}
    _eval_config(dict(settings, model="<model>", data=settings.get("data") or "<fixture CMB>"), f"{where} (eval:)")


def _eval_config(values: dict[str, Any], where: str):
    from collectivesft.eval.config import CMBEvalConfig, build_config

    return build_config(CMBEvalConfig, values, where)


def _fixtures_stage(runner: Runner, recipe: RunRecipe) -> dict | None:
    if recipe.fixtures is None:
        return None
    fx = recipe.fixtures
    names = sorted(s.name for s in recipe.sources if not s.input and not s.hub)

    def body(stage_dir: Path, resume: bool) -> dict:
        from collectivesft.fixtures.cmb_eval import write_cmb_eval
        from collectivesft.fixtures.writer import write_fixtures

        write_fixtures(stage_dir / "sources", rows=fx.rows, seed=fx.seed, sources=names)
        cmb = write_cmb_eval(stage_dir / "CMB", n_test=fx.cmb_test, seed=fx.seed)
        return {"sources": str(stage_dir / "sources"), "cmb": str(cmb), "digest": _files_digest([stage_dir])}

    return runner.stage("fixtures", {"fixtures": fx.model_dump(), "sources": names}, {}, body)


def _convert_stage(runner: Runner, recipe: RunRecipe, raw: dict | None) -> dict[str, dict]:
    from collectivesft.sources.convert import convert_source

    results = {}
    for entry in recipe.sources:
        if entry.input:
            location = {"input": entry.input}
            inputs = {"raw": _files_digest([Path(entry.input)])}
        elif entry.hub:
            location, inputs = {"hub": entry.hub}, {}
        else:
            location = {"input": str(Path(raw["sources"]) / entry.name)}
            inputs = {"fixtures": raw["digest"]}

        def body(stage_dir: Path, resume: bool, entry=entry, location=location) -> dict:
            stats = convert_source(entry.name, stage_dir, options=entry.options, **location)
            return {"stats": stats, "records": str(stage_dir / "records.jsonl"),
                    "digest": file_sha256(stage_dir / "records.jsonl")}

        settings = {"name": entry.name, "options": entry.options, "hub": entry.hub}
        results[entry.name] = runner.stage("convert", settings, inputs, body, folder=f"convert/{entry.name}")
    return results


def mix_recipe_for_run(section: dict[str, Any], converted: dict[str, str], eval_files: list[str]) -> dict[str, Any]:
    """The mix stage's recipe from a run recipe's `mix:` section: every converted source becomes a
    `records` entry; `mix.sources` entries (by name) only add per-source settings (cap, weight,
    stratify_by, val_fraction); decontamination defaults to the run's CMB eval files."""
    section = json.loads(json.dumps(section))  # deep copy
    per_source = {}
    for i, entry in enumerate(section.pop("sources", []) or []):
        if not isinstance(entry, dict) or "name" not in entry:
            raise ConfigError(f"recipe mix.sources.{i}: expected a mapping with a name")
        if entry["name"] not in converted:
            raise ConfigError(f"recipe mix.sources.{i}: {entry['name']!r} is not in the recipe's sources")
        per_source[entry["name"]] = {k: v for k, v in entry.items() if k != "name"}
    section["sources"] = [dict(per_source.get(name, {}), name=name, records=path) for name, path in converted.items()]
    decon = section.setdefault("decontamination", {})
    if isinstance(decon, dict) and not decon.get("eval_files"):
        decon["eval_files"] = eval_files
    return section


def _mix_stage(runner: Runner, recipe: RunRecipe, converted: dict[str, dict]) -> dict:
    from collectivesft.mix import build_mixture
    from collectivesft.mix.recipe import recipe_from_dict

    eval_files = _eval_files_for_decontamination(recipe, runner.dir)
    # Validate before running anything (errors name the key); paths are filled in by the stage.
    section = mix_recipe_for_run(recipe.mix, {n: r["records"] for n, r in converted.items()}, eval_files)
    mix_recipe = recipe_from_dict(section, "recipe mix:")

    def body(stage_dir: Path, resume: bool) -> dict:
        manifest = build_mixture(mix_recipe, stage_dir)
        return {"dir": str(stage_dir), "counts": manifest.get("totals", {}),
                "digest": _files_digest([stage_dir / "train.jsonl", stage_dir / "val.jsonl"])}

    inputs = {name: r["digest"] for name, r in converted.items()}
    inputs.update({f"eval:{Path(f).name}": file_sha256(f) for f in eval_files})
    return runner.stage("mix", recipe.mix, inputs, body)


def _eval_files_for_decontamination(recipe: RunRecipe, run_dir: Path) -> list[str]:
    """The CMB files the mixture is decontaminated against (official layout under eval.data)."""
    data = recipe.eval.get("data") or str(run_dir / "fixtures" / "CMB")
    root = Path(data)
    if not root.is_dir():
        return []
    patterns = ["CMB-test-choice-question-merge.json", "CMB-val-merge.json", "CMB-Clin-qa.json"]
    return sorted(str(p) for pat in patterns for p in root.rglob(pat))


def _model_stage(runner: Runner, recipe: RunRecipe) -> dict:
    entry = recipe.model
    if entry.path:
        return {"path": entry.path, "digest": _digest(entry.path)}

    def body(stage_dir: Path, resume: bool) -> dict:
        from collectivesft.fixtures.tiny_model import build_tiny_model

        path = build_tiny_model(stage_dir / "base", arch=entry.tiny.arch, size=entry.tiny.size, seed=entry.tiny.seed)
        return {"path": str(path), "digest": _files_digest([Path(path)])}

    return runner.stage("model", entry.model_dump(), {}, body)


def _train_stage(runner: Runner, recipe: RunRecipe, mixture: dict, base: dict) -> dict:
    from collectivesft.train import run_training
    from collectivesft.train.config import config_from_dict

    settings = dict(recipe.train, model=base["path"])
    config = config_from_dict(settings, "recipe train:")

    def body(stage_dir: Path, resume: bool) -> dict:
        # Resume only when the killed attempt got as far as a checkpoint.
        resume = resume and any((stage_dir / "checkpoints").glob("checkpoint-*/trainer_state.json"))
        if recipe.launch is None:
            metrics = run_training(config, Path(mixture["dir"]), stage_dir, resume=resume)
        else:
            metrics = _launch_training(recipe.launch, config, Path(mixture["dir"]), stage_dir, resume)
        model_dir = Path(metrics.get("model_dir") or stage_dir / "model")
        return {"metrics": metrics, "model": str(model_dir), "digest": _files_digest([model_dir])}

    settings = {"train": recipe.train, "launch": recipe.launch.model_dump() if recipe.launch else None}
    return runner.stage("train", settings, {"mixture": mixture["digest"], "model": base["digest"]}, body)


def _launch_training(launch, config, mixture_dir: Path, stage_dir: Path, resume: bool) -> dict:
    """Train in `accelerate launch` worker processes (DeepSpeed/FSDP/multi-GPU); return metrics.json."""
    import subprocess
    import sys

    import yaml

    config_path = stage_dir / "train_config.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(launch.num_processes)]
    if launch.config_file:
        from collectivesft.train.config import ACCELERATE_CONFIGS, accelerate_config_path

        # A shipped config by name (zero2, zero3, fsdp), or a path to the user's own.
        shipped = launch.config_file in ACCELERATE_CONFIGS
        cmd += ["--config_file", str(accelerate_config_path(launch.config_file) if shipped else launch.config_file)]
    elif launch.num_processes > 1:
        cmd += ["--multi_gpu"]  # without a config file accelerate starts one process unless told (CPU too)
    cmd += [*launch.args, "-m", "collectivesft", "train", str(config_path), "--mixture", str(mixture_dir),
            "--out", str(stage_dir)] + (["--resume"] if resume else [])
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise CollectiveSFTError(f"training under accelerate launch failed (exit {proc.returncode}): {' '.join(cmd)}")
    return json.loads((stage_dir / "metrics.json").read_text(encoding="utf-8"))


def _eval_stage(runner: Runner, recipe: RunRecipe, raw: dict | None, base: dict, trained: dict) -> dict[str, dict]:
    from collectivesft.eval.cmb import evaluate_cmb

    settings = dict(recipe.eval)
    compare_base = settings.pop("compare_base", recipe.fixtures is not None)
    if not settings.get("data"):
        settings["data"] = raw["cmb"]
    data_digest = raw["digest"] if raw and settings["data"] == raw["cmb"] else _digest(settings["data"])
    targets = {"trained": (trained["model"], trained["digest"])}
    if compare_base:
        targets = {"base": (base["path"], base["digest"]), **targets}
    results = {}
    for label, (model, model_digest) in targets.items():
        config = _eval_config(dict(settings, model=model), f"recipe eval: ({label})")

        def body(stage_dir: Path, resume: bool, config=config) -> dict:
            scores = evaluate_cmb(config, stage_dir)
            return {"scores": scores, "digest": _files_digest([stage_dir / "predictions.jsonl"])}

        results[label] = runner.stage("eval", settings, {"model": model_digest, "data": data_digest},
                                      body, folder=f"eval/{label}")
    return results
