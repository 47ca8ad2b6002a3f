"""`collectivesft mixture search`: proxy runs, a regression from mixture shares to a score, the
predicted best mixture, and that mixture checked at full scale on the test split.

1. The shared stages run once (fixtures, one conversion per source, the extra files of
   `search.extra`), then the recipe's own mixture with the extras added: its per-source counts
   are the prior (the recipe's shares) and tell how many records each source has after cleaning.
2. Proxies: the recipe's shares, uniform, proportional (to what each source has), each source
   left out, and `proxies.count` mixtures drawn from a Dirichlet around the prior inside the
   bounds; each trained at proxy scale (`search.proxy`: a smaller model, fewer steps) and scored
   on the target (the validation split by default).
3. A regression from each proxy's realised shares (what the mix stage actually took, from its
   manifest) to its score; its leave-one-out (or k-fold) Spearman correlation; its optimum under
   the bounds (mixture_model.py).
4. Validation: the recommendation, the recipe's shares and uniform, trained at the recipe's own
   scale once per seed, compared on the test split as paired differences (ablate.compare).

How shares become mix-stage knobs: every mixture is the recipe's mix section with `strategy:
weights`, `total: search.total` and each source's `weight` set to its share; the recipe's own
`cap`, per-source caps, `alpha` and weights are replaced (its filters, dedup, decontamination,
stratification, val_fraction and seed are kept). The mix stage then takes round(share x total)
records from each source, never more than the source has; what a full source cannot give goes
to the others (water-filling, mix/sampling.py), which is why the regression reads the realised
shares. A source left out keeps `weight: 0` rather than being dropped, so deduplication across
sources (earliest copy kept) sees the same records in every mixture.

Everything runs into OUT with keyed stages (OUT/stages/<stage>@<key>), as `ablate` does: a
proxy whose mixture, model and settings were seen before is reused, and a killed search
continues where it stopped.
"""

from __future__ import annotations

import copy
import resource
from pathlib import Path
from typing import Any, Callable

from collectivesft.errors import ConfigError
from collectivesft.io import write_json

PROXY_LABELS = ("recipe", "uniform", "proportional")


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (training runs in-process)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _score(scores: dict[str, Any], key: str, where: str) -> float:
    node: Any = scores
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{where}: target {key!r} is not in scores.json (top-level keys: "
                              f"{', '.join(sorted(scores))})")
        node = node[part]
    return float(node)


def answer_probability(eval_dir: str | Path, where: str) -> float:
    """Mean over the scored questions of the probability the model gives the right option(s)
    among the options (softmax of the per-option log-likelihoods of a cloze or loglik evaluation):
    a smooth score that moves before accuracy does, as RegMix's validation loss does."""
    import json
    import math

    total, n = 0.0, 0
    with open(Path(eval_dir) / "predictions.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("correct") is None:
                continue
            scores = row.get("logprobs")
            if not scores:
                raise ConfigError(f"{where}: target answer_probability needs option log-likelihoods: evaluate "
                                  "with method cloze or loglik (search.proxies.eval.method)")
            top = max(scores.values())
            mass = {k: math.exp(v - top) for k, v in scores.items()}
            total += sum(mass.get(k, 0.0) for k in str(row.get("answer") or "")) / sum(mass.values())
            n += 1
    return total / n if n else 0.0


def target_value(scores: dict[str, Any], target, where: str, eval_dir: str | Path | None = None) -> float:
    """The target of one evaluation: its metric, or the weighted sum of `weights`."""
    def one(key: str) -> float:
        return answer_probability(eval_dir, where) if key == "answer_probability" else _score(scores, key, where)

    if target.weights:
        return sum(w * one(k) for k, w in target.weights.items())
    return one(target.metric)


def mixture_mapping(base: dict[str, Any], extras: dict[str, str], space: list[str],
                    shares: dict[str, float] | None, total: int | None) -> dict[str, Any]:
    """A run recipe mapping for one mixture: `shares` (None: the recipe's own mix section, the
    extras added under its strategy) mapped onto the mix stage's weights strategy."""
    data = copy.deepcopy(base)
    data.pop("search", None)
    mix = data.setdefault("mix", {})
    own = {e["name"]: e for e in mix.get("sources") or [] if isinstance(e, dict) and "name" in e}
    entries = []
    def weigh(entry: dict[str, Any], share: float) -> None:
        # A share worth less than half a record is none; one worth about a record may round to
        # none after water-filling, which the mix stage would refuse for a source with a weight.
        entry["weight"] = round(share, 4) if share * total >= 0.5 else 0.0
        if entry["weight"] and share * total < 1.5:
            entry["allow_empty"] = True

    for source in data["sources"]:
        name = source["name"]
        entry = dict(own.get(name, {}), name=name)
        if shares is not None:
            entry.pop("cap", None)
            weigh(entry, shares.get(name, 0.0) if name in space else 0.0)
        entries.append(entry)
    for name, records in extras.items():
        entry = {"name": name, "records": records}
        if shares is not None:
            weigh(entry, shares.get(name, 0.0))
        entries.append(entry)
    mix["sources"] = entries
    if shares is not None:
        for key in ("cap", "alpha"):
            mix.pop(key, None)
        mix["strategy"], mix["total"] = "weights", total
    return data


def _with_scale(data: dict[str, Any], proxy, target, seed: int | None) -> dict[str, Any]:
    """A mixture's recipe at proxy scale: the proxy's model and train/eval overrides, the target's split."""
    out = copy.deepcopy(data)
    if proxy.model is not None:
        out["model"] = copy.deepcopy(proxy.model)
    out["train"] = dict(out.get("train") or {}, **proxy.train)
    out["eval"] = dict(out.get("eval") or {}, **proxy.eval, split=target.split, compare_base=False)
    if seed is not None:
        out["train"]["seed"] = seed
    return out


def _at_seed(data: dict[str, Any], seed: int | None) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out["eval"] = dict(out.get("eval") or {}, compare_base=False)
    if seed is not None:
        out["train"] = dict(out.get("train") or {}, seed=seed)
    return out


def extra_stage(runner, entry, fixture_seed: int) -> dict[str, Any]:
    """One extra source converted into records (a planted fixture file written first)."""
    from collectivesft.io import file_sha256
    from collectivesft.sources.instruction_files import convert_instruction_file

    def body(stage_dir: Path, resume: bool) -> dict:
        path = Path(entry.file) if entry.file else None
        if path is None:
            from collectivesft.fixtures.planted import write_planted

            path = write_planted(entry.fixture, stage_dir / "raw", entry.rows, fixture_seed)
        stats = convert_instruction_file(path, stage_dir, entry.name, entry.format, entry.lang)
        return {"stats": stats, "records": str((stage_dir / "records.jsonl").resolve()),
                "digest": file_sha256(stage_dir / "records.jsonl")}

    settings = entry.model_dump() | ({"fixture_seed": fixture_seed} if entry.fixture else {})
    inputs = {"file": file_sha256(entry.file)} if entry.file else {}
    return runner.stage("extra", settings, inputs, body, folder=f"extra/{entry.name}")


def _manifest_shares(mix_dir: str, names: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """(records taken, records available after cleaning) per source, from a mixture's manifest."""
    import json

    manifest = json.loads((Path(mix_dir) / "manifest.json").read_text(encoding="utf-8"))
    taken, available = {}, {}
    for entry in manifest["sources"]:
        counts = entry["counts"]
        taken[entry["name"]] = counts.get("train", 0) + counts.get("val", 0)
        available[entry["name"]] = taken[entry["name"]] + counts.get("over_cap", 0)
    return {n: taken.get(n, 0) for n in names}, {n: available.get(n, 0) for n in names}


def proxy_mixtures(space: list[str], prior: list[float], available: list[int], lower: list[float],
                   upper: list[float], settings) -> list[tuple[str, str, list[float]]]:
    """(label, kind, shares) of every proxy: the anchors, then the Dirichlet draws."""
    import numpy as np

    from collectivesft.pipeline.mixture_model import distinct, sample_mixtures

    proxy = settings.proxies
    anchors: list[tuple[str, str, list[float]]] = []
    if proxy.anchors:
        n = len(space)
        total_available = sum(available) or 1
        anchors += [("recipe", "anchor", list(prior)), ("uniform", "anchor", [1 / n] * n),
                    ("proportional", "anchor", [a / total_available for a in available])]
        for i, name in enumerate(space):
            rest = sum(p for j, p in enumerate(prior) if j != i)
            if rest > 0:
                anchors.append((f"without {name}", "left out",
                                [0.0 if j == i else p / rest for j, p in enumerate(prior)]))
    rng = np.random.default_rng(proxy.seed)
    drawn = sample_mixtures(prior, proxy.count * 20, rng, lower, upper, proxy.min_strength, proxy.max_strength,
                            proxy.temperature)
    picked = distinct(drawn, [a[2] for a in anchors])[:proxy.count]
    return anchors + [(f"dirichlet {i}", "dirichlet", shares) for i, shares in enumerate(picked, 1)]


def run_search(recipe_path: str | Path, out: str | Path, overrides: list[str] | None = None,
               proxies: int | None = None, seeds: list[int] | None = None,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole search into `out`; write search.json, the report and recommended.yaml; return
    the result (search.json's content plus the report's paths)."""
    import numpy as np

    from collectivesft.config import apply_overrides, read_yaml_mapping
    from collectivesft.pipeline import stages
    from collectivesft.pipeline.ablate import compare
    from collectivesft.pipeline.mixture_model import fit_and_optimise, held_out
    from collectivesft.pipeline.recipe import recipe_from_mapping
    from collectivesft.pipeline.run import run_stages, validate_paths, validate_sections
    from collectivesft.pipeline.runner import Runner
    from collectivesft.pipeline.search_config import search_settings

    where = str(recipe_path)
    data = apply_overrides(read_yaml_mapping(recipe_path, "run recipe"), list(overrides or []))
    if proxies is not None:
        data.setdefault("search", {}).setdefault("proxies", {})["count"] = proxies
    if seeds:
        data.setdefault("search", {})["seeds"] = list(seeds)
    if not isinstance(data.get("search"), dict):
        raise ConfigError(f"{where}: a mixture search needs a search: section (docs/mix.md, \"Searching for the "
                          "mixture\")")
    recipe = recipe_from_mapping(data, where)
    validate_sections(recipe, where)
    validate_paths(recipe, where)
    names = [s.name for s in recipe.sources]
    settings = search_settings(recipe.search, names, where)
    for i, entry in enumerate(settings.extra):
        if entry.file and not Path(entry.file).is_file():
            from collectivesft.errors import InputLayoutError

            raise InputLayoutError(f"{where}: search.extra.{i} ({entry.name}): file {entry.file!r} not found")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runner = Runner(out, set(), log, keyed=True)
    cpu_start = cpu_seconds()
    base = copy.deepcopy(data)  # the file's own keys (with overrides), checked above

    # 1. Shared stages, the extras, the recipe's own mixture (prior and availability).
    raw = stages.fixtures_stage(runner, recipe)
    fixture_seed = recipe.fixtures.seed if recipe.fixtures else 0
    extras = {e.name: extra_stage(runner, e, fixture_seed)["records"] for e in settings.extra}
    space = (settings.sources or names) + list(extras)
    own = recipe_from_mapping(mixture_mapping(base, extras, space, None, None), f"{where} (recipe's mixture)")
    converted = stages.convert_stage(runner, own, raw)
    own_mix = stages.mix_stage(runner, own, raw, converted)
    taken, available = _manifest_shares(own_mix["dir"], space)
    total = settings.total or sum(taken.values())
    if sum(taken.values()) == 0:
        raise ConfigError(f"{where}: the recipe's own mixture takes nothing from the search's sources")
    prior = [taken[n] / sum(taken.values()) for n in space]
    lower = [settings.bounds[n].min if n in settings.bounds else 0.0 for n in space]
    upper = [min(settings.bounds[n].max if n in settings.bounds else 1.0, available[n] / total) for n in space]
    if sum(upper) < 1 - 1e-9:
        raise ConfigError(f"{where} (search:): total {total} is more than the sources can give under the bounds "
                          f"(at most {int(sum(upper) * total)} records): lower total or raise the bounds")
    log(f"search space: {', '.join(f'{n} ({available[n]} records, prior {p:.3f})' for n, p in zip(space, prior))}; "
        f"{total} records per mixture")

    # 2. Proxies.
    mixtures = proxy_mixtures(space, prior, [available[n] for n in space], lower, upper, settings)
    proxy_seeds = settings.proxies.seeds or [None]
    results: list[dict[str, Any]] = []
    for i, (label, kind, shares) in enumerate(mixtures, 1):
        log(f"== proxy {i}/{len(mixtures)}: {label}")
        weights = dict(zip(space, shares))
        mapping = mixture_mapping(base, extras, space, weights, total)
        runs = []
        for seed in proxy_seeds:
            scaled = recipe_from_mapping(_with_scale(mapping, settings.proxies, settings.target, seed),
                                         f"{where} (proxy {label})")
            evals = run_stages(runner, scaled)
            runs.append(evals["trained"])
        got, _ = _manifest_shares(runs[0]["mixture_dir"], space)
        n = sum(got.values()) or 1
        values = [target_value(r["scores"], settings.target, f"{where} (proxy {label})", r["dir"]) for r in runs]
        results.append({"label": label, "kind": kind, "weights": weights, "records": got,
                        "shares": {k: v / n for k, v in got.items()}, "score": sum(values) / len(values),
                        "seed_scores": values, "eval_dirs": [r["dir"] for r in runs], "mix_dir": runs[0]["mixture_dir"]})
        write_json(out / "proxies.json", results)  # progress, readable while the search runs

    # 3. Regression, held-out check, optimum.
    X = np.array([[p["shares"][n] for n in space] for p in results])
    y = np.array([p["score"] for p in results])
    reg = settings.regression
    check = held_out(X, y, reg.model, reg.alpha, reg.folds) if len(results) >= 3 else None
    fit = fit_and_optimise(X, y, prior, lower, upper, reg.model, reg.alpha, reg.candidates, reg.top_k,
                           settings.proxies.seed, settings.proxies.min_strength, settings.proxies.max_strength,
                           settings.proxies.temperature)
    for p, fitted, loo in zip(results, fit["predicted_proxies"], (check or {}).get("predicted") or [None] * len(results)):
        p["predicted"], p["predicted_held_out"] = fitted, loo
    recommended = dict(zip(space, fit["weights"]))
    log("recommended shares: " + ", ".join(f"{n} {w:.3f}" for n, w in recommended.items()))

    # 4. Validation at full scale on the test split.
    result: dict[str, Any] = {
        "recipe": where, "space": space, "extras": extras, "total": total, "available": available,
        "prior": dict(zip(space, prior)), "bounds": {n: [lo, hi] for n, lo, hi in zip(space, lower, upper)},
        "target": settings.target.model_dump(), "proxy_scale": settings.proxies.model_dump(),
        "proxies": results, "regression": {"model": reg.model, "held_out": check,
                                           **{k: v for k, v in fit.items() if k != "predicted_proxies"}},
        "recommended": recommended, "tiny_model": recipe.model.tiny is not None,
    }
    if settings.validate_best:
        result["validation"] = _validate(runner, base, extras, space, total, recommended, dict(zip(space, prior)),
                                         settings.seeds or [None], where, log, compare, run_stages, recipe_from_mapping)
    result["cpu_seconds"] = round(cpu_seconds() - cpu_start, 1)
    result["stage_seconds"] = runner.timings
    recommended_path = write_recommended(out / "recommended.yaml", mixture_mapping(base, extras, space, recommended,
                                                                                   total), result)
    result["recommended_recipe"] = str(recommended_path)
    from collectivesft.report.search import search_findings, write_search_report

    result["findings"] = search_findings(result)
    write_json(out / "search.json", result)
    result["report"] = {k: str(v) for k, v in write_search_report(result, out).items()}
    return result


def _validate(runner, base, extras, space, total, recommended, prior, seeds, where, log, compare, run_stages,
              recipe_from_mapping) -> dict[str, Any]:
    """The recommendation, the recipe's shares and uniform at full scale, once per seed; paired
    differences on the recipe's own evaluation (the test split)."""
    arms = {"recommended": recommended, "recipe": prior, "uniform": {n: 1 / len(space) for n in space}}
    runs: dict[str, list[dict[str, Any]]] = {}
    shares: dict[str, dict[str, float]] = {}
    for label, weights in arms.items():
        for seed in seeds:
            log(f"== validation: {label}" + (f", training seed {seed}" if seed is not None else ""))
            mapping = _at_seed(mixture_mapping(base, extras, space, weights, total), seed)
            evals = run_stages(runner, recipe_from_mapping(mapping, f"{where} (validation {label})"))
            runs.setdefault(label, []).append(evals["trained"])
        got, _ = _manifest_shares(runs[label][0]["mixture_dir"], space)
        n = sum(got.values()) or 1
        shares[label] = {k: v / n for k, v in got.items()}
    data = runs["recommended"][0]["data"]
    dirs = {label: [r["dir"] for r in rs] for label, rs in runs.items()}
    accuracy = {label: [r["scores"].get("overall_micro") for r in rs] for label, rs in runs.items()}
    return {"seeds": [s for s in seeds if s is not None], "shares": shares, "accuracy": accuracy, "eval_dirs": dirs,
            "split": (base.get("eval") or {}).get("split", "test"),
            "vs_recipe": compare(dirs["recipe"], dirs["recommended"], data),
            "vs_uniform": compare(dirs["uniform"], dirs["recommended"], data)}


def write_recommended(path: Path, mapping: dict[str, Any], result: dict[str, Any]) -> Path:
    """recommended.yaml: a run recipe with the found shares, and a header saying where they come from."""
    import yaml

    from collectivesft.io import atomic_write

    mapping = dict(mapping, name=f"{mapping.get('name', 'run')}-recommended")
    check = (result["regression"].get("held_out") or {}).get("spearman")
    header = [f"# Found by `collectivesft mixture search {result['recipe']}`: the predicted best shares of "
              f"{result['total']} records,",
              f"# from {len(result['proxies'])} proxy runs (held-out Spearman "
              f"{'n/a' if check is None else f'{check:.2f}'}). mix.sources[].weight is each source's share "
              "(strategy: weights).",
              "# Read search.md before trusting it: the validation table says how it did on the test split."]
    with atomic_write(path) as fh:
        fh.write("\n".join(header) + "\n")
        fh.write(yaml.safe_dump(mapping, allow_unicode=True, sort_keys=False))
    return path
