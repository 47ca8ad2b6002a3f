"""`collectivesft ablate`: a run recipe against variants of itself, as paired CMB differences.

Variants: one per source left out (`--leave-one-out sources`), one per `--only` list of sources,
one per `--variants` recipe file. Every variant runs into the same folder with keyed stages
(OUT/stages/<stage>@<key>), so what variants have in common (fixtures, conversions, the base
model and its evaluation, identical mixtures) is built once, and a killed ablation continues
where it stopped: finished stages are reused, a half-done training resumes from its
checkpoint, a half-done evaluation from its per-question cache.

Each variant's trained model is compared with the reference's on the same questions: the
accuracy difference (variant - reference) overall and per exam type, with a 95% paired
bootstrap interval, and McNemar's test. With `seeds`, every variant is trained once per seed;
accuracies are means over the seeds and the intervals and p-values come from a bootstrap over
questions and training runs (stats.runs_bootstrap), so they include how much a retrained
model moves.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

from collectivesft.errors import ConfigError
from collectivesft.io import write_json

REFERENCE = "reference"


def _drop_sources(data: dict[str, Any], keep: list[str]) -> dict[str, Any]:
    """`data` with only the `keep` sources, in the recipe's own order (mix.sources entries too)."""
    out = copy.deepcopy(data)
    out["sources"] = [s for s in out.get("sources") or [] if s.get("name") in keep]
    mix = out.get("mix")
    if isinstance(mix, dict) and isinstance(mix.get("sources"), list):
        mix["sources"] = [s for s in mix["sources"] if not isinstance(s, dict) or s.get("name") in keep]
    return out


def variant_recipes(data: dict[str, Any], where: str, leave_one_out: str | None = None,
                    only: list[str] | None = None, variant_files: list[Path] | None = None,
                    overrides: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """{label: recipe mapping}: the reference first, then every requested variant."""
    from collectivesft.config import apply_overrides, read_yaml_mapping

    names = [s.get("name") for s in data.get("sources") or [] if isinstance(s, dict)]
    variants: dict[str, dict[str, Any]] = {REFERENCE: copy.deepcopy(data)}
    if leave_one_out is not None:
        if leave_one_out != "sources":
            raise ConfigError(f"--leave-one-out: only 'sources' can be left out, not {leave_one_out!r}")
        if len(names) < 2:
            raise ConfigError(f"{where}: --leave-one-out sources needs at least two sources")
        for name in names:
            variants[f"without {name}"] = _drop_sources(data, [n for n in names if n != name])
    for group in only or []:
        keep = [n.strip() for n in group.split(",") if n.strip()]
        unknown = [n for n in keep if n not in names]
        if not keep or unknown:
            raise ConfigError(f"--only {group!r}: {', '.join(unknown) or 'no source'} not in {where}'s sources "
                              f"({', '.join(names)})")
        variants[f"only {'+'.join(keep)}"] = _drop_sources(data, keep)
    for path in variant_files or []:
        label = Path(path).stem
        if label in variants:
            raise ConfigError(f"--variants: two variants are called {label!r}; rename one file")
        variants[label] = apply_overrides(read_yaml_mapping(path, "run recipe"), list(overrides or []))
    if len(variants) == 1:
        raise ConfigError("ablate: no variants; give --leave-one-out sources, --only SOURCE or --variants FILE")
    return variants


def _with_seed(data: dict[str, Any], seed: int) -> dict[str, Any]:
    out = copy.deepcopy(data)
    if not isinstance(out.get("train"), dict):
        out["train"] = {}
    out["train"]["seed"] = seed
    return out


def run_ablation(recipe_path: str | Path, out: str | Path, leave_one_out: str | None = None,
                 only: list[str] | None = None, variant_files: list[Path] | None = None,
                 overrides: list[str] | None = None, log: Callable[[str], None] = print,
                 seeds: list[int] | None = None) -> dict[str, Any]:
    """Run the reference and every variant into `out` (shared keyed stages), once per training
    seed in `seeds` if given; write the comparison (ablation.json, ablation.md, ablation.html,
    plots); return the comparison."""
    from collectivesft.config import apply_overrides, read_yaml_mapping
    from collectivesft.pipeline.recipe import recipe_from_mapping
    from collectivesft.pipeline.run import run_stages, validate_sections
    from collectivesft.pipeline.runner import Runner
    from collectivesft.report.ablation import findings, write_ablation_report

    data = apply_overrides(read_yaml_mapping(recipe_path, "run recipe"), list(overrides or []))
    variants = variant_recipes(data, str(recipe_path), leave_one_out, only, variant_files, overrides)
    seeds = list(dict.fromkeys(seeds or []))
    runs = [(label, seed) for label in variants for seed in (seeds or [None])]
    recipes = {(label, seed): recipe_from_mapping(variants[label] if seed is None else _with_seed(variants[label], seed),
                                                  f"{recipe_path} ({label})") for label, seed in runs}
    for (label, _), recipe in recipes.items():  # every variant checked before the first one runs
        validate_sections(recipe, f"{recipe_path} ({label})")
        if recipe.eval.get("benchmarks"):
            from collectivesft.errors import ConfigError

            raise ConfigError(f"{recipe_path} ({label}): ablate compares variants on CMB-Exam; eval.benchmarks "
                              "(the suite) is not compared yet. Drop eval.benchmarks here, and evaluate each "
                              "variant's model with `collectivesft eval suite --model RUN/model ...`")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runner = Runner(out, set(), log, keyed=True)
    results: dict[str, dict[str, Any]] = {}
    for i, ((label, seed), recipe) in enumerate(recipes.items(), 1):
        log(f"== variant {i}/{len(recipes)}: {label}" + (f", training seed {seed}" if seed is not None else ""))
        evals = run_stages(runner, recipe)
        entry = results.setdefault(label, {"sources": [s.name for s in recipe.sources], "evals": evals})
        if seed is not None:
            entry.setdefault("seed_evals", {})[str(seed)] = evals
        write_json(out / "variants.json", results)  # progress, readable while the ablation runs
    comparison = compare_variants(results)
    comparison["seeds"] = seeds
    comparison["recipe"] = str(recipe_path)
    comparison["tiny_model"] = any(r.model.tiny is not None for r in recipes.values())
    comparison["findings"] = findings(comparison)
    write_json(out / "ablation.json", comparison)
    comparison["report"] = {k: str(v) for k, v in write_ablation_report(comparison, out).items()}
    return comparison


def _correct_by_id(eval_dir: str | Path) -> dict[str, bool]:
    """id -> right/wrong for every question the key can score (invalid key rows left out)."""
    rows = {}
    with open(Path(eval_dir) / "predictions.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("correct") is not None:
                rows[str(row["id"])] = bool(row["correct"])
    return rows


def _exam_types(data: str) -> dict[str, str]:
    """id -> exam type from the answer key shipped with the eval data ({} when there is none)."""
    from collectivesft.benchmarks.cmb.load import load_key, locate_key

    key = locate_key(data)
    return {str(row.id): row.exam_type for row in load_key(key)} if key else {}


def paired_difference(ref: dict[str, bool], other: dict[str, bool], ids: list[str]) -> dict[str, Any]:
    """Accuracy of both on `ids`, the difference (other - ref) with a paired bootstrap interval, McNemar."""
    from collectivesft.stats import bootstrap_interval, mcnemar, paired_bootstrap

    a = [float(ref[i]) for i in ids]
    b = [float(other[i]) for i in ids]
    diff = paired_bootstrap(a, b)
    test = mcnemar(a, b)
    return {"n": len(ids), "reference": sum(a) / len(a), "reference_interval": bootstrap_interval(a),
            "variant": sum(b) / len(b), "variant_interval": bootstrap_interval(b), "diff": diff["diff"],
            "low": diff["low"], "high": diff["high"], "p_value": test["p_value"], "b01": test["b01"],
            "b10": test["b10"]}


def runs_difference(refs: list[dict[str, bool]], others: list[dict[str, bool]], ids: list[str]) -> dict[str, Any]:
    """Like paired_difference when either side is several training runs: means over the runs, and
    intervals and a p-value from the bootstrap over questions and runs (no McNemar: it is for
    one pair of models)."""
    from collectivesft.stats import runs_bootstrap

    a = [[float(r[i]) for i in ids] for r in refs]
    b = [[float(r[i]) for i in ids] for r in others]
    zero = [[0.0] * len(ids)]  # "x minus an all-wrong run" is x: the same bootstrap gives each side's mean interval
    diff, ref_mean, var_mean = runs_bootstrap(a, b), runs_bootstrap(zero, a), runs_bootstrap(zero, b)
    return {"n": len(ids), "reference": ref_mean["diff"], "reference_interval": [ref_mean["low"], ref_mean["high"]],
            "variant": var_mean["diff"], "variant_interval": [var_mean["low"], var_mean["high"]],
            "diff": diff["diff"], "low": diff["low"], "high": diff["high"], "p_value": diff["p_value"],
            "p_below": diff["p_below"], "p_method": "bootstrap over questions and training runs",
            "reference_runs": [sum(r) / len(r) for r in a], "variant_runs": [sum(r) / len(r) for r in b]}


def compare(ref_dir: str | Path | list, other_dir: str | Path | list, data: str) -> dict[str, Any]:
    """Paired comparison of two evaluations of the same questions: overall and per exam type.
    Either side may be a list of evaluation folders (one per training seed)."""
    ref_dirs = ref_dir if isinstance(ref_dir, list) else [ref_dir]
    other_dirs = other_dir if isinstance(other_dir, list) else [other_dir]
    refs, others = [_correct_by_id(d) for d in ref_dirs], [_correct_by_id(d) for d in other_dirs]
    shared = set.intersection(*(set(r) for r in refs + others))
    ids = sorted(shared, key=lambda i: (len(i), i))
    if not ids:
        raise ConfigError(f"{ref_dirs[0]} and {other_dirs[0]} share no scored questions: they cannot be compared")
    single = len(refs) == 1 and len(others) == 1

    def difference(subset: list[str]) -> dict[str, Any]:
        return paired_difference(refs[0], others[0], subset) if single else runs_difference(refs, others, subset)

    types = _exam_types(data)
    result = {"overall": difference(ids), "by_type": {}}
    for exam_type in sorted({types[i] for i in ids if i in types}):
        result["by_type"][exam_type] = difference([i for i in ids if types.get(i) == exam_type])
    return result


def compare_variants(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every variant's trained model against the reference's, and each trained model against its base."""
    def trained_dirs(result: dict[str, Any]) -> list[str]:
        runs = result.get("seed_evals") or {"": result["evals"]}
        return [e["trained"]["dir"] for e in runs.values()]

    reference = trained_dirs(results[REFERENCE])
    out: dict[str, Any] = {"reference": REFERENCE, "variants": {}}
    for label, result in results.items():
        evals = result["evals"]
        runs = result.get("seed_evals") or {"": evals}
        accuracies = [e["trained"]["scores"].get("overall_micro") for e in runs.values()]
        entry: dict[str, Any] = {"sources": result["sources"],
                                 "accuracy": sum(accuracies) / len(accuracies) if None not in accuracies else None,
                                 "mixture_train_records": (evals["trained"].get("mixture_counts") or {}).get("train")}
        if len(runs) > 1:
            entry["seed_accuracies"] = dict(zip(runs, accuracies))
        if "base" in evals:
            entry["trained_vs_base"] = compare(evals["base"]["dir"], trained_dirs(result), evals["trained"]["data"])
        entry["eval_dirs"] = trained_dirs(result)  # for the report's flipped questions and explorer pages
        if label != REFERENCE:
            entry["vs_reference"] = compare(reference, trained_dirs(result), evals["trained"]["data"])
        out["variants"][label] = entry
    return out
