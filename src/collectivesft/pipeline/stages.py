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
    benchmarks = suite_fixture_names(recipe)

    def body(stage_dir: Path, resume: bool) -> dict:
        from collectivesft.fixtures.cmb_eval import write_cmb_eval
        from collectivesft.fixtures.writer import write_fixtures

        write_fixtures(stage_dir / "sources", rows=fx.rows, seed=fx.seed, sources=names)
        cmb = write_cmb_eval(stage_dir / "CMB", n_test=fx.cmb_test, seed=fx.seed)
        result = {"sources": str(stage_dir / "sources"), "cmb": str(cmb)}
        if benchmarks:
            from collectivesft.pipeline.benchmark_data import fixture_data

            # Each suite benchmark without data gets its own files, in its published layout: the same
            # files the mix is decontaminated against and the eval stage reads.
            result["benchmarks"] = {
                name: str(fixture_data(name, runner.dir, fx.seed, fx.rows, folder=stage_dir / "benchmarks" / name))
                for name in benchmarks}
        return {**result, "digest": outputs_digest([stage_dir])}

    settings = {"fixtures": fx.model_dump(), "sources": names}
    if benchmarks:  # recipes without a suite keep their stage key (and caches)
        settings["benchmarks"] = benchmarks
    return runner.stage("fixtures", settings, {}, body)


def suite_fixture_names(recipe: RunRecipe) -> list[str]:
    """Suite benchmarks of a fixtures run that need fixture files: listed without data (CMB uses
    the fixture CMB set every fixtures run writes)."""
    entries = recipe.eval.get("benchmarks")
    if recipe.fixtures is None or not entries:
        return []
    from collectivesft.eval.suite.suite import parse_entries

    return [e.name for e in parse_entries(entries, "recipe eval:") if e.data is None and e.name != "cmb"]


def convert_stage(runner: Runner, recipe: RunRecipe, raw: dict | None) -> dict[str, dict]:
    """One convert/<name>/ folder per source: records.jsonl, quarantine.jsonl, stats.json."""
    from collectivesft.sources.convert import convert_source
    from collectivesft.sources.held_out import held_out_lines, held_out_splits

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
            # Training data: the splits a benchmark evaluates are held out unless the options say keep.
            stats = convert_source(entry.name, stage_dir, options=entry.options, style=entry.style,
                                   allow_empty=entry.allow_empty, eval_splits="exclude", **location)
            for line in held_out_lines(stats):  # a reused stage's stats.json and the mix manifest keep it
                runner.log(f"[convert/{entry.name}] {line}")
            return {"stats": stats, "records": str(stage_dir / "records.jsonl"),
                    "digest": file_sha256(stage_dir / "records.jsonl")}

        settings = {"name": entry.name, "options": entry.options, "hub": entry.hub}
        if entry.style != "default":  # default runs keep their stage keys (and caches)
            settings["style"] = entry.style
        if entry.allow_empty:
            settings["allow_empty"] = True
        held = held_out_splits(entry.name)
        if held:  # a newly registered benchmark of this source's splits redoes its conversion
            settings["held_out"] = held
        results[entry.name] = runner.stage("convert", settings, inputs, body, folder=f"convert/{entry.name}")
    return results


def eval_data_of(recipe: RunRecipe, raw: dict | None) -> str | None:
    """The CMB data the run evaluates on (and decontaminates against): eval.data or the fixture set.
    A suite recipe (eval.benchmarks) may have none: then the cmb entry's own data, or None."""
    if recipe.eval.get("data"):
        return recipe.eval["data"]
    if raw is None:
        entries = recipe.eval.get("benchmarks")
        if entries:
            from collectivesft.eval.suite.suite import parse_entries

            return next((e.data for e in parse_entries(entries, "recipe eval:") if e.name == "cmb"), None)
        raise CollectiveSFTError("eval.data is required without a fixtures: section")
    return raw["cmb"]


def data_digest(data: str) -> str:
    """Content digest of local eval data; a hub id stands for itself."""
    return outputs_digest([Path(data)]) if Path(data).exists() else json_digest(data)


def mix_recipe_of(recipe: RunRecipe, converted: dict[str, dict], raw: dict | None, where: str = "recipe mix:",
                  run_dir: Path | None = None):
    """The validated mix recipe of a run: converted sources as records, decontaminated against the CMB
    eval data and every benchmark of eval.benchmarks (their fixture files, written into `run_dir`,
    in a fixtures run)."""
    from collectivesft.mix.recipe import recipe_from_dict
    from collectivesft.pipeline.benchmark_data import decontamination_benchmarks

    cmb = eval_data_of(recipe, raw)
    benchmarks = decontamination_benchmarks(recipe.eval, cmb, run_dir, recipe.fixtures, where,
                                            (raw or {}).get("benchmarks"))
    section = mix_section(recipe.model_dump(mode="json"), {n: r["records"] for n, r in converted.items()},
                          [d for d in [cmb] if d], where, benchmarks)
    return recipe_from_dict(section, where)


def mix_stage(runner: Runner, recipe: RunRecipe, raw: dict | None, converted: dict[str, dict]) -> dict:
    """The mixture in mix/ (train.jsonl, val.jsonl, manifest, exports, report)."""
    from collectivesft.mix.builder import build_mixture
    from collectivesft.mix.decontamination import benchmark_data

    mix_recipe = mix_recipe_of(recipe, converted, raw, run_dir=runner.dir)

    def body(stage_dir: Path, resume: bool) -> dict:
        manifest = build_mixture(mix_recipe, stage_dir)
        hits = {k: v["records_hit"] for k, v in manifest["decontamination"].get("per_benchmark", {}).items()}
        return {"dir": str(stage_dir), "counts": manifest.get("totals", {}), "contamination": hits,
                "digest": outputs_digest([stage_dir / "train.jsonl", stage_dir / "val.jsonl"])}

    inputs = {name: r["digest"] for name, r in converted.items()}
    # Extra sources mixed from records files of their own (mix_section): keyed by their content too.
    inputs.update({f"records:{s.name}": outputs_digest([Path(s.records)]) for s in mix_recipe.sources
                   if s.name not in converted and s.records})
    inputs.update({f"eval:{target}": data_digest(target) for target in mix_recipe.decontamination.targets})
    # Benchmarks by content (their resolved data): recipes whose fixture folders differ but hold the same files agree.
    inputs.update({f"benchmark:{b.name}": data_digest(benchmark_data(b.name, b.data))
                   for b in mix_recipe.decontamination.benchmarks})
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
    """A validated CMB-Exam eval config; for a suite (eval.benchmarks) one config per benchmark
    (eval.data is CMB's data: it goes to the cmb entry only)."""
    from collectivesft.eval.config import CMBEvalConfig, build_config

    if "benchmarks" in values:
        from collectivesft.eval.suite.suite import benchmark_config, parse_entries

        shared = {k: v for k, v in values.items() if k not in ("benchmarks", "data")}
        return [benchmark_config(e, shared, where) for e in parse_entries(values["benchmarks"], where)]
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
    targets = {"trained": (trained["model"], trained["digest"])}
    if compare_base:
        targets = {"base": (base["path"], base["digest"]), **targets}
    if "benchmarks" in settings:
        results = suite_eval_stage(runner, recipe, raw, settings, targets)
        _log_scores(recipe, trained, {label: r["scores"].get("cmb") or {} for label, r in results.items()})
        return results
    settings["data"] = eval_data_of(recipe, raw)
    digest = data_digest(settings["data"])  # by content: recipes with other sources share the base model's eval
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
    _log_scores(recipe, trained, {label: r.get("scores") or {} for label, r in results.items()})
    return results


def _log_scores(recipe: RunRecipe, trained: dict, scores: dict[str, dict]) -> None:
    report_to = recipe.train.get("report_to") or []
    if report_to and trained.get("metrics"):
        # The scores join the training curves in the same TensorBoard run, at the last step.
        from collectivesft.train.tracking import log_scores

        train_dir = Path(trained["model"]).parent
        step = int(trained["metrics"].get("final", {}).get("global_step") or 0)
        log_scores(train_dir, report_to, scores, step)


def suite_eval_stage(runner: Runner, recipe: RunRecipe, raw: dict | None, settings: dict[str, Any],
                     targets: dict[str, tuple[str, str]]) -> dict[str, dict]:
    """Every benchmark of eval.benchmarks for each model, in eval/<label>/<benchmark>/ (one stage
    each, keyed on the data's content), then eval/<label>/suite.json and suite.md."""
    from dataclasses import replace

    from collectivesft.benchmarks.base import get_benchmark
    from collectivesft.eval.suite.suite import benchmark_config, parse_entries, suite_row, write_suite_files

    settings = dict(settings)
    entries = parse_entries(settings.pop("benchmarks"), "recipe eval:")
    settings.pop("data", None)  # CMB's data: eval_data_of gives it to the cmb entry
    fixtures = (raw or {}).get("benchmarks") or {}
    cmb_data = eval_data_of(recipe, raw)
    results = {}
    for label, (model, model_digest) in targets.items():
        rows, scores = [], {}
        for entry in entries:
            data = entry.data or (cmb_data if entry.name == "cmb" else fixtures.get(entry.name))
            entry = replace(entry, data=data) if data else entry
            config = benchmark_config(entry, dict(settings, model=model), f"recipe eval: ({label})")
            benchmark = get_benchmark(entry.name)
            where = config.data or benchmark.default_data()

            def body(stage_dir: Path, resume: bool, config=config, benchmark=benchmark) -> dict:
                result = benchmark.evaluate(config, stage_dir)
                return {"scores": result, "dir": str(stage_dir),
                        "digest": outputs_digest([stage_dir / "predictions.jsonl"])}

            keyed = dict(settings, benchmark=entry.name, options=entry.options)
            done = runner.stage("eval", keyed, {"model": model_digest, "data": data_digest(where) if where else ""},
                                body, folder=f"eval/{label}/{entry.name}")
            scores[entry.name] = done["scores"]
            rows.append(suite_row(entry.name, done["scores"], Path(done["dir"])))
        folder = runner.dir / "eval" / label
        suite = None if runner.keyed else write_suite_files(folder, rows, model)
        results[label] = {"scores": scores, "suite": suite, "dir": str(folder)}
    return results
