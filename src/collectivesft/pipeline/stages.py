"""The stages of `collectivesft run`, each a content-keyed step of a Runner.

fixtures -> convert (one folder per source) -> mix -> model -> train -> eval (base and trained).
Each returns the JSON-able result its stage.json keeps, including the digest of what it made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from collectivesft.errors import CollectiveSFTError
from collectivesft.io import file_sha256, json_digest, write_json
from collectivesft.pipeline.recipe import RunRecipe, mix_section
from collectivesft.pipeline.runner import Runner, outputs_digest


def fixtures_stage(runner: Runner, recipe: RunRecipe) -> dict | None:
    """Raw fixture files for the sources without input/hub, and a fixture CMB eval set."""
    if recipe.fixtures is None:
        return None
    fx = recipe.fixtures
    names = sorted(s.name for s in recipe.sources if not s.input and not s.hub)

    def body(stage_dir: Path, resume: bool) -> dict:
        from collectivesft.fixtures.cmb_eval import write_cmb_eval
        from collectivesft.fixtures.writer import write_fixtures

        write_fixtures(stage_dir / "sources", rows=fx.rows, seed=fx.seed, sources=names)
        cmb = write_cmb_eval(stage_dir / "CMB", n_test=fx.cmb_test, seed=fx.seed)
        return {"sources": str(stage_dir / "sources"), "cmb": str(cmb), "digest": outputs_digest([stage_dir])}

    return runner.stage("fixtures", {"fixtures": fx.model_dump(), "sources": names}, {}, body)


def convert_stage(runner: Runner, recipe: RunRecipe, raw: dict | None) -> dict[str, dict]:
    """One convert/<name>/ folder per source: records.jsonl, quarantine.jsonl, stats.json."""
    from collectivesft.sources.convert import convert_source

    results = {}
    for entry in recipe.sources:
        if entry.input:
            location = {"input": entry.input}
            inputs = {"raw": outputs_digest([Path(entry.input)])}
        elif entry.hub:
            location, inputs = {"hub": entry.hub}, {}
        else:
            location = {"input": str(Path(raw["sources"]) / entry.name)}
            # This source's own fixture files: a recipe with other sources reuses its conversion.
            inputs = {"fixtures": outputs_digest([Path(location["input"])])}

        def body(stage_dir: Path, resume: bool, entry=entry, location=location) -> dict:
            stats = convert_source(entry.name, stage_dir, options=entry.options, style=entry.style,
                                   allow_empty=entry.allow_empty, **location)
            return {"stats": stats, "records": str(stage_dir / "records.jsonl"),
                    "digest": file_sha256(stage_dir / "records.jsonl")}

        settings = {"name": entry.name, "options": entry.options, "hub": entry.hub}
        if entry.style != "default":  # default runs keep their stage keys (and caches)
            settings["style"] = entry.style
        if entry.allow_empty:
            settings["allow_empty"] = True
        results[entry.name] = runner.stage("convert", settings, inputs, body, folder=f"convert/{entry.name}")
    return results


def eval_data_of(recipe: RunRecipe, raw: dict | None) -> str:
    """The CMB data the run evaluates on (and decontaminates against): eval.data or the fixture set."""
    if recipe.eval.get("data"):
        return recipe.eval["data"]
    if raw is None:
        raise CollectiveSFTError("eval.data is required without a fixtures: section")
    return raw["cmb"]


def data_digest(data: str) -> str:
    """Content digest of local eval data; a hub id stands for itself."""
    return outputs_digest([Path(data)]) if Path(data).exists() else json_digest(data)


def mix_recipe_of(recipe: RunRecipe, converted: dict[str, dict], raw: dict | None, where: str = "recipe mix:"):
    """The validated mix recipe of a run: converted sources as records, decontaminated against eval data."""
    from collectivesft.mix.recipe import recipe_from_dict

    section = mix_section(recipe.model_dump(mode="json"), {n: r["records"] for n, r in converted.items()},
                          [eval_data_of(recipe, raw)], where)
    return recipe_from_dict(section, where)


def mix_stage(runner: Runner, recipe: RunRecipe, raw: dict | None, converted: dict[str, dict]) -> dict:
    """The mixture in mix/ (train.jsonl, val.jsonl, manifest, exports, report)."""
    from collectivesft.mix.builder import build_mixture

    mix_recipe = mix_recipe_of(recipe, converted, raw)

    def body(stage_dir: Path, resume: bool) -> dict:
        manifest = build_mixture(mix_recipe, stage_dir)
        return {"dir": str(stage_dir), "counts": manifest.get("totals", {}),
                "digest": outputs_digest([stage_dir / "train.jsonl", stage_dir / "val.jsonl"])}

    inputs = {name: r["digest"] for name, r in converted.items()}
    # Extra sources mixed from records files of their own (mix_section): keyed by their content too.
    inputs.update({f"records:{s.name}": outputs_digest([Path(s.records)]) for s in mix_recipe.sources
                   if s.name not in converted and s.records})
    inputs.update({f"eval:{target}": data_digest(target) for target in mix_recipe.decontamination.targets})
    return runner.stage("mix", recipe.mix, inputs, body)


def model_stage(runner: Runner, recipe: RunRecipe) -> dict:
    """The base model: a path as given, or a tiny model built in model/base."""
    entry = recipe.model
    if entry.path:
        return {"path": entry.path, "digest": json_digest(entry.path)}

    def body(stage_dir: Path, resume: bool) -> dict:
        from collectivesft.fixtures.tiny_model import build_tiny_model

        path = build_tiny_model(stage_dir / "base", arch=entry.tiny.arch, size=entry.tiny.size, seed=entry.tiny.seed,
                                remote_code=entry.tiny.remote_code)
        return {"path": str(path), "digest": outputs_digest([Path(path)])}

    return runner.stage("model", entry.model_dump(), {}, body)


def check_stage(runner: Runner, recipe: RunRecipe, base: dict) -> dict | None:
    """`model check` on the base model with the recipe's train settings, before any training:
    a failure stops the run here (recipe `preflight: false` skips it)."""
    if not recipe.preflight:
        return None
    from collectivesft.errors import CollectiveSFTError
    from collectivesft.models.check import Settings, as_json, failed, preflight
    from collectivesft.train.config import config_from_dict

    config = config_from_dict(dict(recipe.train, model=base["path"]), "recipe train:")
    launch = recipe.launch.model_dump() if recipe.launch else None

    def body(stage_dir: Path, resume: bool) -> dict:
        import torch

        from collectivesft.models.remote_code import check_remote_code

        check_remote_code(base["path"], config.trust_remote_code)  # the same refusal training would give
        cuda = torch.cuda.is_available()
        gpu = torch.cuda.get_device_properties(0).total_memory if cuda else None
        results = preflight(base["path"], trust_remote_code=config.trust_remote_code,
                            settings=Settings.from_train(config, launch), gpu_bytes=gpu,
                            device="cuda" if cuda else "cpu")
        write_json(stage_dir / "check.json", as_json(results))
        runner.log("[check] " + ", ".join(f"{r.name} {r.status}" for r in results))
        bad = failed(results)
        if bad:
            raise CollectiveSFTError(f"model check failed before training ({', '.join(r.name for r in bad)}): "
                                     f"{bad[0].detail}. Details in {stage_dir / 'check.json'}; "
                                     "--set preflight=false skips the check")
        return {"digest": json_digest(as_json(results)), "checks": {r.name: r.status for r in results}}

    # Keyed on what the checks read (not lr or epochs): a recipe edit that cannot change them reuses the result.
    from dataclasses import asdict

    key = asdict(Settings.from_train(config, launch)) | {"trust_remote_code": config.trust_remote_code}
    return runner.stage("check", key, {"model": base["digest"]}, body)


def train_stage(runner: Runner, recipe: RunRecipe, mixture: dict, base: dict) -> dict:
    """Fine-tune the base model on the mixture, in-process or under `accelerate launch`."""
    from collectivesft.train.runner import run_training
    from collectivesft.train.config import config_from_dict

    config = config_from_dict(dict(recipe.train, model=base["path"]), "recipe train:")

    def body(stage_dir: Path, resume: bool) -> dict:
        # Resume only when the killed attempt got as far as a checkpoint.
        resume = resume and any((stage_dir / "checkpoints").glob("checkpoint-*/trainer_state.json"))
        if recipe.launch is None:
            metrics = run_training(config, Path(mixture["dir"]), stage_dir, resume=resume)
        else:
            metrics = launch_training(recipe.launch, config, Path(mixture["dir"]), stage_dir, resume)
        model_dir = Path(metrics.get("model_dir") or stage_dir / "model")
        return {"metrics": metrics, "model": str(model_dir), "digest": outputs_digest([model_dir])}

    settings = {"train": recipe.train, "launch": recipe.launch.model_dump() if recipe.launch else None}
    return runner.stage("train", settings, {"mixture": mixture["digest"], "model": base["digest"]}, body)


def launch_training(launch, config, mixture_dir: Path, stage_dir: Path, resume: bool) -> dict:
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


def eval_config(values: dict[str, Any], where: str):
    """A validated CMB-Exam eval config."""
    from collectivesft.eval.config import CMBEvalConfig, build_config

    return build_config(CMBEvalConfig, values, where)


def eval_settings(recipe: RunRecipe) -> tuple[dict[str, Any], bool]:
    """The eval section without compare_base, and whether the base model is evaluated too."""
    settings = dict(recipe.eval)
    compare_base = settings.pop("compare_base", recipe.fixtures is not None)
    # A model the train stage was allowed to run the code of is evaluated the same way.
    if recipe.train.get("trust_remote_code") and "trust_remote_code" not in settings:
        settings["trust_remote_code"] = True
    return settings, compare_base


def eval_stage(runner: Runner, recipe: RunRecipe, raw: dict | None, base: dict, trained: dict) -> dict[str, dict]:
    """CMB-Exam for the trained model (and the base model with compare_base) in eval/<label>/."""
    from collectivesft.eval.cmb.runner import evaluate_cmb

    settings, compare_base = eval_settings(recipe)
    settings["data"] = eval_data_of(recipe, raw)
    digest = data_digest(settings["data"])  # by content: recipes with other sources share the base model's eval
    targets = {"trained": (trained["model"], trained["digest"])}
    if compare_base:
        targets = {"base": (base["path"], base["digest"]), **targets}
    results = {}
    for label, (model, model_digest) in targets.items():
        config = eval_config(dict(settings, model=model), f"recipe eval: ({label})")

        def body(stage_dir: Path, resume: bool, config=config) -> dict:
            scores = evaluate_cmb(config, stage_dir)
            return {"scores": scores, "dir": str(stage_dir), "digest": outputs_digest([stage_dir / "predictions.jsonl"])}

        # The data is keyed by its content digest, not its path: recipes whose fixture folders differ
        # (other sources) but hold the same CMB files share the evaluation.
        keyed = {k: v for k, v in settings.items() if k != "data"}
        results[label] = runner.stage("eval", keyed, {"model": model_digest, "data": digest},
                                      body, folder=f"eval/{label}")
    report_to = recipe.train.get("report_to") or []
    if report_to and trained.get("metrics"):
        # The scores join the training curves in the same TensorBoard run, at the last step.
        from collectivesft.train.tracking import log_scores

        train_dir = Path(trained["model"]).parent
        step = int(trained["metrics"].get("final", {}).get("global_step") or 0)
        log_scores(train_dir, report_to, {label: r.get("scores") or {} for label, r in results.items()}, step)
    return results
