"""`collectivesft ablate`: variants share stages, a killed ablation continues, differences are paired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_run import write_recipe

RECIPE = {
    "name": "ablate-small",
    "fixtures": {"rows": 10, "seed": 0, "cmb_test": 24},
    "sources": [{"name": "cmb"}, {"name": "medqa"}],
    "mix": {"strategy": "cap", "cap": 12, "seed": 0, "val_fraction": 0.1, "decontamination": {"action": "drop"},
            "sources": [{"name": "cmb", "cap": 10}]},
    "model": {"tiny": {"arch": "qwen2", "size": "tiny"}},
    "train": {"lr": 1e-3, "max_steps": 2, "batch_size": 4, "grad_accum": 1, "cutoff": 256,
              "packing": False, "logging_steps": 1, "validation": False},
    "eval": {"split": "test", "method": "cloze", "limit": 12, "compare_base": True},
}



@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    from collectivesft.pipeline.ablate import run_ablation

    root = tmp_path_factory.mktemp("ablate")
    recipe = write_recipe(root / "recipe.yaml", RECIPE)
    other = write_recipe(root / "higher-lr.yaml", dict(RECIPE, train=dict(RECIPE["train"], lr=2e-3)))
    log: list[str] = []
    result = run_ablation(recipe, root / "out", leave_one_out="sources", variant_files=[other], log=log.append)
    return root, recipe, other, result, log


def _ran(log: list[str], stage: str) -> int:
    return sum(1 for line in log if line.startswith(f"[{stage}") and line.endswith("running"))


def test_variants_share_the_stages_they_have_in_common(ablation):
    root, _, _, result, log = ablation
    assert list(result["variants"]) == ["reference", "without cmb", "without medqa", "higher-lr"]
    assert _ran(log, "model") == 1  # one base model for every variant
    assert _ran(log, "eval/base") == 1  # ... evaluated once
    assert _ran(log, "convert/cmb") == 1 and _ran(log, "convert/medqa") == 1  # each source converted once
    assert _ran(log, "mix") == 3  # reference (shared with higher-lr), without cmb, without medqa
    assert _ran(log, "train") == 4 and _ran(log, "eval/trained") == 4
    assert len(list((root / "out" / "stages").glob("train@*"))) == 4  # one keyed folder per distinct stage


def test_differences_are_paired_on_the_same_questions(ablation):
    root, _, _, result, _ = ablation
    variants = result["variants"]
    assert variants["without cmb"]["sources"] == ["medqa"]
    ref_dir = Path(json.loads((root / "out" / "variants.json").read_text())["reference"]["evals"]["trained"]["dir"])
    ref = {r["id"]: r["correct"] for r in map(json.loads, (ref_dir / "predictions.jsonl").read_text().splitlines())}
    for label in ("without cmb", "without medqa", "higher-lr"):
        d = variants[label]["vs_reference"]["overall"]
        run_dir = Path(json.loads((root / "out" / "variants.json").read_text())[label]["evals"]["trained"]["dir"])
        mine = {r["id"]: r["correct"] for r in map(json.loads, (run_dir / "predictions.jsonl").read_text().splitlines())}
        ids = [i for i in ref if ref[i] is not None]
        assert d["n"] == len(ids) == 11  # 12 questions, one with an invalid key row
        assert d["diff"] == pytest.approx(sum(mine[i] - ref[i] for i in ids) / len(ids))
        assert d["b01"] == sum(1 for i in ids if mine[i] and not ref[i])
        assert d["b10"] == sum(1 for i in ids if ref[i] and not mine[i])
        assert d["low"] <= d["diff"] <= d["high"] and 0 <= d["p_value"] <= 1
        by_type = variants[label]["vs_reference"]["by_type"]
        assert sum(t["n"] for t in by_type.values()) == d["n"]
    md = (root / "out" / "ablation.md").read_text(encoding="utf-8")
    assert "minus reference [95% CI]" in md and "McNemar p" in md and "without medqa" in md
    html = (root / "out" / "ablation.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 2 and "医师考试" in html


def test_a_killed_ablation_continues_where_it_stopped(ablation):
    from collectivesft.pipeline.ablate import run_ablation

    root, recipe, other, result, _ = ablation
    # As if killed during the last variant's evaluation: its stage never finished.
    last = Path(json.loads((root / "out" / "variants.json").read_text())["higher-lr"]["evals"]["trained"]["dir"])
    (last / "stage.json").unlink()
    log: list[str] = []
    again = run_ablation(recipe, root / "out", leave_one_out="sources", variant_files=[other], log=log.append)
    running = [line for line in log if line.endswith("running") or line.endswith("resuming")]
    assert running == ["[eval/trained] running"]
    assert again["variants"]["higher-lr"]["vs_reference"] == result["variants"]["higher-lr"]["vs_reference"]


def test_only_and_bad_variant_requests(tmp_path):
    from collectivesft.errors import ConfigError
    from collectivesft.pipeline.ablate import variant_recipes

    got = variant_recipes(RECIPE, "r.yaml", only=["medqa", "cmb,medqa"])
    assert list(got) == ["reference", "only medqa", "only cmb+medqa"]
    assert [s["name"] for s in got["only medqa"]["sources"]] == ["medqa"]
    assert got["only medqa"]["mix"]["sources"] == []  # the cmb cap goes with cmb
    with pytest.raises(ConfigError, match="nlpec"):
        variant_recipes(RECIPE, "r.yaml", only=["nlpec"])
    with pytest.raises(ConfigError, match="no variants"):
        variant_recipes(RECIPE, "r.yaml")
    with pytest.raises(ConfigError, match="only 'sources'"):
        variant_recipes(RECIPE, "r.yaml", leave_one_out="models")


def test_a_suite_recipe_is_refused_before_anything_runs(tmp_path):
    import copy

    import yaml

    from collectivesft.errors import ConfigError
    from collectivesft.pipeline.ablate import run_ablation

    recipe = copy.deepcopy(RECIPE)
    recipe["eval"] = {**recipe.get("eval", {}), "benchmarks": ["cmb", "cmmlu-medical"]}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="eval.benchmarks"):
        run_ablation(path, tmp_path / "out", leave_one_out="sources", log=lambda m: None)
    assert not (tmp_path / "out" / "stages").exists()


@pytest.mark.parametrize("name", ["demo.yaml", "demo-one-source.yaml"])
def test_the_demo_recipes_validate(name):
    from collectivesft.pipeline.recipe import load_run_recipe
    from collectivesft.pipeline.run import validate_sections

    path = Path(__file__).resolve().parents[2] / "recipes" / name
    recipe = load_run_recipe(path)
    validate_sections(recipe, path)
    assert recipe.eval["method"] == "cloze" and recipe.fixtures.cmb_test == 280  # both ask the same test


def test_seeds_train_every_variant_once_per_seed_and_widen_nothing_silently(tmp_path):
    """--seeds: each variant trains once per seed (mixtures, base model and its evaluation shared),
    accuracies are means over the seeds and the comparison says it used the runs bootstrap."""
    from collectivesft.pipeline.ablate import run_ablation

    recipe = write_recipe(tmp_path / "recipe.yaml", RECIPE)
    log: list[str] = []
    result = run_ablation(recipe, tmp_path / "out", only=["medqa"], seeds=[1, 2], log=log.append)
    assert result["seeds"] == [1, 2]
    assert _ran(log, "train") == 4 and _ran(log, "eval/trained") == 4  # 2 variants x 2 seeds
    assert _ran(log, "mix") == 2 and _ran(log, "eval/base") == 1
    variant = result["variants"]["only medqa"]
    assert set(variant["seed_accuracies"]) == {"1", "2"}
    assert variant["accuracy"] == pytest.approx(sum(variant["seed_accuracies"].values()) / 2)
    overall = variant["vs_reference"]["overall"]
    assert overall["p_method"] == "bootstrap over questions and training runs"
    assert len(overall["reference_runs"]) == len(overall["variant_runs"]) == 2
    assert overall["low"] <= overall["diff"] <= overall["high"]
    assert "accuracy per seed" in (tmp_path / "out" / "ablation.md").read_text(encoding="utf-8")
    again: list[str] = []  # a rerun reuses all of it
    run_ablation(recipe, tmp_path / "out", only=["medqa"], seeds=[1, 2], log=again.append)
    assert _ran(again, "train") == 0


@pytest.mark.parametrize("seeds, message", [("7", "at least two seeds"), ("1,x", "comma-separated integers")])
def test_seeds_option_is_checked(cli, tmp_path, seeds, message):
    from collectivesft.errors import ConfigError

    recipe = write_recipe(tmp_path / "recipe.yaml", RECIPE)
    with pytest.raises(ConfigError, match=message):
        cli(["ablate", recipe, "--out", tmp_path / "out", "--only", "medqa", "--seeds", seeds])
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_the_report_lists_each_variants_flipped_questions_and_links_both_runs(ablation):
    root, _, _, result, _ = ablation
    md = (root / "out" / "ablation.md").read_text(encoding="utf-8")
    assert "## Questions that flipped" in md
    for label in ("without cmb", "without medqa", "higher-lr"):
        d = result["variants"][label]["vs_reference"]["overall"]
        page = root / "out" / f"explorer-{label.replace(' ', '-')}.html"
        assert page.is_file() and f"{page.name}#filter=flipped" in md
        # The counts by exam class add up to McNemar's discordant pairs.
        section = md.split(f"### {label}\n", 1)[1].split("###", 1)[0]
        rows = [line.split("|")[2:4] for line in section.splitlines() if line.startswith("| ") and "exam class" not in line]
        assert sum(int(a) for a, _ in rows) == d["b10"] and sum(int(b) for _, b in rows) == d["b01"]
