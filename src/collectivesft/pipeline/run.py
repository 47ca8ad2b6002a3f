"""`collectivesft run` and `collectivesft data mix`: the stages chained from one recipe.

`data mix` on a run recipe runs the same stages as `run`, up to the mixture, into the same
run-folder layout (convert/<name>/, mix/), so a later `run` reuses them. A bare mix recipe's
raw sources are converted by the same converter into OUT/sources/<name>/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from collectivesft.errors import ConfigError, EmptyResultError, InputLayoutError
from collectivesft.io import write_json
from collectivesft.model_ref import is_hub_id
from collectivesft.pipeline import stages
from collectivesft.pipeline.recipe import RunRecipe, is_run_recipe, load_run_recipe
from collectivesft.pipeline.runner import Runner


def _prepare(recipe_path: str | Path, run_dir: str | Path, force: list[str] | None, overrides: list[str] | None,
             log: Callable[[str], None]) -> tuple[RunRecipe, Runner]:
    recipe = load_checked_recipe(recipe_path, overrides)
    validate_paths(recipe, recipe_path)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    runner = Runner(run_dir, set(force or []), log)
    write_json(run_dir / "recipe.json", recipe.model_dump(mode="json"))
    return recipe, runner


def run_recipe(recipe_path: str | Path, run_dir: str | Path, force: list[str] | None = None,
               log: Callable[[str], None] = print, overrides: list[str] | None = None) -> dict[str, Any]:
    """Run every stage of the recipe into `run_dir`; return a summary (also RUN_DIR/run.json)."""
    recipe, runner = _prepare(recipe_path, run_dir, force, overrides, log)
    evals = run_stages(runner, recipe)
    summary = {"name": recipe.name, "run_dir": str(runner.dir), "timings": runner.timings,
               "evals": {k: v.get("scores", {}) for k, v in evals.items()},
               # Training records the mix's decontamination hit, per benchmark (manifest: per_benchmark).
               "contamination": evals["trained"].get("contamination", {})}
    write_json(runner.dir / "run.json", summary)

    from collectivesft.report.build import build_report

    paths = build_report([runner.dir], runner.dir)
    summary["report"] = {k: str(v) for k, v in paths.items()}
    write_json(runner.dir / "run.json", summary)
    return summary


def run_stages(runner: Runner, recipe: RunRecipe) -> dict[str, dict]:
    """fixtures -> convert -> mix -> model -> train -> eval for one recipe; the eval stages' results."""
    raw = stages.fixtures_stage(runner, recipe)
    converted = stages.convert_stage(runner, recipe, raw)
    mixture = stages.mix_stage(runner, recipe, raw, converted)
    base = stages.model_stage(runner, recipe)
    stages.check_stage(runner, recipe, base)
    trained = stages.train_stage(runner, recipe, mixture, base)
    evals = stages.eval_stage(runner, recipe, raw, base, trained)
    evals["trained"]["mixture_counts"] = mixture.get("counts", {})
    evals["trained"]["contamination"] = mixture.get("contamination", {})
    evals["trained"]["mixture_dir"] = mixture["dir"]
    evals["trained"]["data"] = stages.eval_data_of(recipe, raw)
    return evals


def mix_run_recipe(recipe_path: str | Path, run_dir: str | Path, overrides: list[str] | None = None,
                   log: Callable[[str], None] = print) -> tuple[dict[str, Any], Path]:
    """The stages of a run recipe up to the mixture (fixtures, convert, mix); (manifest, mixture folder)."""
    import json

    recipe, runner = _prepare(recipe_path, run_dir, None, overrides, log)
    raw = stages.fixtures_stage(runner, recipe)
    converted = stages.convert_stage(runner, recipe, raw)
    mixture = stages.mix_stage(runner, recipe, raw, converted)
    folder = Path(mixture["dir"])
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8")), folder


def mix_recipe_file(recipe_path: str | Path, out: str | Path, overrides: list[str] | None = None,
                    log: Callable[[str], None] = print) -> tuple[dict[str, Any], Path]:
    """`collectivesft data mix`: a run recipe's stages up to the mixture, or a bare mix recipe
    (raw sources converted into OUT/sources/<name>/ first); (manifest, mixture folder)."""
    from collectivesft.config import read_yaml_mapping

    if is_run_recipe(read_yaml_mapping(recipe_path, "recipe")):
        return mix_run_recipe(recipe_path, out, overrides, log)
    from collectivesft.mix.builder import build_mixture
    from collectivesft.mix.recipe import load_recipe
    from collectivesft.sources.convert import convert_source
    from collectivesft.sources.held_out import held_out_lines

    recipe = load_recipe(recipe_path, overrides)
    out = Path(out)
    converted = {}
    for spec in recipe.sources:
        if spec.records is None:
            folder = out / "sources" / spec.name
            try:
                # Training data: the splits a benchmark evaluates are held out unless the options say keep.
                stats = convert_source(spec.converter, folder, input=spec.input, hub=spec.hub, options=spec.options,
                                       style=spec.style, allow_empty=spec.allow_empty, eval_splits="exclude")
            except EmptyResultError as exc:
                raise EmptyResultError(f"mix source {spec.name!r}: {exc}") from None
            for line in held_out_lines(stats):
                log(f"[{spec.name}] {line}")
            converted[spec.name] = folder
    return build_mixture(recipe, out, converted), out


def validate_paths(recipe: RunRecipe, where: str | Path) -> None:
    """Every local path the recipe names exists, before any stage runs (a missing input used to
    surface as a traceback after fixtures and conversions had run)."""
    from collectivesft.model_ref import check_model_ref

    for i, entry in enumerate(recipe.sources):
        if entry.input and not Path(entry.input).exists():
            raise InputLayoutError(f"{where}: sources.{i} ({entry.name}): input {entry.input!r} not found")
        if entry.hub and not is_hub_id(entry.hub) and not Path(entry.hub).exists():
            raise InputLayoutError(f"{where}: sources.{i} ({entry.name}): hub {entry.hub!r} is no folder and no hub id")
    for entry in (recipe.mix or {}).get("sources") or []:
        if isinstance(entry, dict) and entry.get("records") and not Path(entry["records"]).exists():
            raise InputLayoutError(f"{where}: mix.sources ({entry.get('name')}): records {entry['records']!r} not found")
    decon = (recipe.mix or {}).get("decontamination") or {}
    for path in decon.get("eval_files") or [] if isinstance(decon, dict) else []:
        if not Path(path).exists():
            raise InputLayoutError(f"{where}: mix.decontamination.eval_files: {path!r} not found")
    data = recipe.eval.get("data")
    if data and not Path(data).exists() and not is_hub_id(str(data)):
        raise InputLayoutError(f"{where}: eval.data {data!r} not found: no such folder or zip (and not a hub id)")
    if recipe.eval.get("benchmarks"):
        from collectivesft.eval.suite.suite import parse_entries

        for i, entry in enumerate(parse_entries(recipe.eval["benchmarks"], str(where))):
            if entry.data and not Path(entry.data).exists() and not is_hub_id(entry.data):
                raise InputLayoutError(f"{where}: eval.benchmarks.{i} ({entry.name}): data {entry.data!r} not found: "
                                       "no such folder or file (and not a hub id)")
    if recipe.model.path:
        try:
            check_model_ref(recipe.model.path, "model.path")
        except InputLayoutError as exc:
            raise InputLayoutError(f"{where}: {exc}") from None


def load_checked_recipe(recipe_path: str | Path, overrides: list[str] | None) -> RunRecipe:
    """The run recipe with its mix, train and eval sections checked; every problem of the whole
    recipe in one error (top-level keys and, as far as they can be checked alone, the sections)."""
    try:
        recipe = load_run_recipe(recipe_path, overrides)
    except ConfigError as top:
        problems = [str(top)]
        problems += _section_problems_of_raw(recipe_path, overrides)
        raise ConfigError("\n       ".join(problems)) from None
    validate_sections(recipe, recipe_path)
    return recipe


def _section_problems_of_raw(recipe_path: str | Path, overrides: list[str] | None) -> list[str]:
    """The sections' problems, read from the file when the recipe as a whole is invalid."""
    from collectivesft.config import apply_overrides, read_yaml_mapping

    data = apply_overrides(read_yaml_mapping(recipe_path, "run recipe"), overrides)
    sources = [e for e in data.get("sources") or [] if isinstance(e, dict) and isinstance(e.get("name"), str)]
    eval_section = data.get("eval") if isinstance(data.get("eval"), dict) else {}
    return _section_problems(dict(data, sources=sources), eval_section, recipe_path)


def _section_problems(data: dict[str, Any], eval_settings: dict[str, Any], where: str | Path) -> list[str]:
    """Every problem of the mix, train and eval sections of a run recipe's mapping, each checked with
    its stage's own config type (all of them, so that one run names every typo)."""
    from collectivesft.mix.recipe import recipe_from_dict
    from collectivesft.pipeline.benchmark_data import decontamination_benchmarks
    from collectivesft.pipeline.recipe import mix_section
    from collectivesft.train.config import config_from_dict as train_config

    placeholder = {e["name"]: f"<converted {e['name']}>" for e in data.get("sources") or []}
    checks = []
    if isinstance(data.get("mix") or {}, dict):
        checks.append(lambda: recipe_from_dict(mix_section(
            data, placeholder, ["<CMB eval data>"], f"{where}",
            decontamination_benchmarks(eval_settings, "<CMB eval data>", None, data.get("fixtures"), f"{where}")),
            f"{where} (mix:)"))
    if isinstance(data.get("train") or {}, dict):
        checks.append(lambda: train_config(dict(data.get("train") or {}, model="<base model>"), f"{where} (train:)"))
    checks.append(lambda: stages.eval_config(dict(eval_settings, model="<model>",
                                                  data=eval_settings.get("data") or "<fixture CMB>"), f"{where} (eval:)"))
    if data.get("search"):
        from collectivesft.pipeline.search_config import search_settings

        names = [e["name"] for e in data.get("sources") or []]
        checks.append(lambda: search_settings(data["search"], names, str(where)))
    problems = []
    for check in checks:
        try:
            check()
        except ConfigError as exc:
            problems.append(str(exc))
    return problems


def validate_sections(recipe: RunRecipe, where: str | Path) -> None:
    """Check the mix, train and eval sections with their stages' own config types before anything
    runs, so a typo fails in a second, not after an hour of conversion."""
    settings, _ = stages.eval_settings(recipe)
    problems = _section_problems(recipe.model_dump(mode="json"), settings, where)
    if problems:
        raise ConfigError("\n       ".join(problems))
