"""`collectivesft mixture search`: proxies share stages, a killed search resumes, the regression's
outputs are there for every proxy, and recommended.yaml is a recipe `run` accepts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from .test_run import write_recipe

RECIPE = {
    "name": "search-small",
    "fixtures": {"rows": 30, "seed": 0, "cmb_test": 24},
    "sources": [{"name": "cmedqa2"}, {"name": "webmedqa"}],
    "mix": {"strategy": "cap", "cap": 20, "seed": 0, "val_fraction": 0.1, "decontamination": {"action": "drop"},
            "dedup": {"near": False}},
    "model": {"tiny": {"arch": "qwen2", "size": "tiny"}},
    "train": {"lr": 1e-3, "max_steps": 2, "batch_size": 4, "grad_accum": 1, "cutoff": 256,
              "packing": False, "logging_steps": 1, "validation": False},
    "eval": {"split": "test", "method": "cloze", "limit": 10},
    "preflight": False,
    "search": {"extra": [{"name": "rumours", "fixture": "wrong-facts", "rows": 40}],
               "total": 24, "bounds": {"rumours": {"max": 0.4}},
               "proxies": {"count": 1, "train": {"max_steps": 1}, "eval": {"limit": 8}},
               "target": {"metric": "answer_probability"}, "regression": {"candidates": 2000, "top_k": 20}},
}


class Killed(Exception):
    """Raised by the log hook: the search stops there as if the process had been killed."""


def _kill_at(prefix: str, lines: list[str]):
    def log(line: str) -> None:
        lines.append(line)
        if line.startswith(prefix):
            raise Killed(line)
    return log


def _ran(lines: list[str]) -> list[str]:
    return [line for line in lines if line.endswith("running") or line.endswith("resuming")]


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """A search killed as its third proxy starts, then run to the end in the same folder."""
    from collectivesft.pipeline.search import run_search

    root = tmp_path_factory.mktemp("search")
    recipe = write_recipe(root / "recipe.yaml", RECIPE)
    first: list[str] = []
    with pytest.raises(Killed):
        run_search(recipe, root / "out", log=_kill_at("== proxy 3/", first))
    second: list[str] = []
    result = run_search(recipe, root / "out", log=second.append)
    return root, recipe, result, first, second


@pytest.mark.slow
def test_a_killed_search_resumes_and_a_rerun_trains_nothing(search):
    from collectivesft.pipeline.search import run_search

    root, recipe, result, first, second = search
    assert sum(1 for line in first if line == "[train] running") >= 1  # the first proxies were trained...
    resumed = second[:second.index(next(line for line in second if line.startswith("== proxy 3/")))]
    assert _ran(resumed) == []  # ... and reused, with every shared stage, after the kill
    assert any(line == "[train] running" for line in second)  # the rest was run
    again: list[str] = []
    rerun = run_search(recipe, root / "out", log=again.append)
    assert _ran(again) == []  # nothing new: every mix, training and evaluation reused
    assert rerun["recommended"] == result["recommended"]


@pytest.mark.slow
def test_proxies_regression_and_recommendation(search):
    root, _, result, _, _ = search
    saved = json.loads((root / "out" / "search.json").read_text(encoding="utf-8"))
    assert saved["space"] == ["cmedqa2", "webmedqa", "rumours"]
    labels = [p["label"] for p in saved["proxies"]]
    assert labels[:3] == ["recipe", "uniform", "proportional"] and "without rumours" in labels
    assert sum(1 for label in labels if label.startswith("dirichlet")) == 1
    for p in saved["proxies"]:
        assert sum(p["records"].values()) == 24  # every mixture has the search's total
        assert math.isfinite(p["predicted"]) and math.isfinite(p["predicted_held_out"])
        assert 0 <= p["score"] <= 1
        if p["kind"] == "dirichlet":
            assert p["weights"]["rumours"] <= 0.4 + 1e-9  # drawn inside the bounds
    assert saved["proxies"][labels.index("without rumours")]["records"]["rumours"] == 0
    held = saved["regression"]["held_out"]
    assert held["method"] == "leave-one-out" and len(held["predicted"]) == len(labels)
    from scipy.stats import spearmanr

    # The reported held-out correlation is the one between these predictions and the measured scores.
    expected = spearmanr(held["predicted"], [p["score"] for p in saved["proxies"]]).statistic
    assert (held["spearman"] is None) == (not math.isfinite(expected))
    if held["spearman"] is not None:
        assert held["spearman"] == pytest.approx(expected)
    weights = saved["recommended"]
    assert sum(weights.values()) == pytest.approx(1) and weights["rumours"] <= 0.4 + 1e-9
    val = saved["validation"]
    for other in ("vs_recipe", "vs_uniform"):
        d = val[other]["overall"]
        assert d["low"] <= d["diff"] <= d["high"] and d["n"] == 9  # 10 test questions, one invalid key row
    md = (root / "out" / "search.md").read_text(encoding="utf-8")
    assert "Spearman" in md and "recommended minus uniform" in md and "What this does not show" in md
    html = (root / "out" / "search.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 2  # shares, predicted vs measured


@pytest.mark.slow
def test_recommended_yaml_runs(search, tmp_path):
    from collectivesft.pipeline.run import load_checked_recipe, run_recipe

    root, _, result, _, _ = search
    path = root / "out" / "recommended.yaml"
    recipe = load_checked_recipe(path, None)
    assert "search" not in yaml.safe_load(path.read_text(encoding="utf-8"))
    assert recipe.mix["strategy"] == "weights" and recipe.mix["total"] == 24
    weights = {s["name"]: s["weight"] for s in recipe.mix["sources"]}
    for name, share in result["recommended"].items():  # a share under half a record is none
        assert weights[name] == pytest.approx(share, abs=1e-4) or (weights[name] == 0 and share * 24 < 0.5)
    summary = run_recipe(path, tmp_path / "run", log=lambda _: None, overrides=["train.max_steps=1", "eval.limit=4"])
    manifest = json.loads((tmp_path / "run" / "mix" / "manifest.json").read_text(encoding="utf-8"))
    taken = {s["name"]: s["counts"]["train"] + s["counts"]["val"] for s in manifest["sources"]}
    assert sum(taken.values()) == 24 and set(taken) == {"cmedqa2", "webmedqa", "rumours"}
    assert abs(taken["rumours"] - 24 * weights["rumours"]) <= 1
    assert summary["evals"]["trained"]["n"] == 4


@pytest.mark.parametrize("search_section, message", [
    ({"proxies": {"cuont": 3}}, "proxies.cuont: unknown key"),
    ({"bounds": {"nlpec": {"max": 0.5}}}, "bounds: 'nlpec' is not a source of the search"),
    ({"bounds": {"cmedqa2": {"min": 0.6, "max": 0.2}}}, "min 0.6 is above max 0.2"),
    ({"extra": [{"name": "webmedqa", "fixture": "off-topic"}]}, "'webmedqa' is already a source"),
    ({"extra": [{"name": "x"}]}, "give exactly one of file or fixture"),
    ({"sources": ["medqa"]}, "'medqa' is not in the recipe's sources"),
    ({"target": {"split": "train"}}, "target.split"),
], ids=["unknown-key", "bound-on-unknown-source", "min-above-max", "extra-name-clash", "extra-without-origin",
        "unknown-search-source", "bad-split"])
def test_search_section_problems_are_reported_with_the_recipe(tmp_path, search_section, message):
    from collectivesft.errors import ConfigError
    from collectivesft.pipeline.run import load_checked_recipe

    recipe = write_recipe(tmp_path / "r.yaml", dict(RECIPE, search=search_section))
    with pytest.raises(ConfigError, match="search") as caught:
        load_checked_recipe(recipe, None)
    assert message in str(caught.value)


@pytest.mark.parametrize("rows, fmt, kept, dropped", [
    ([{"instruction": "问", "input": "补充", "output": "答"}], "alpaca", 1, {}),
    ([{"instruction": "问", "output": "答", "history": [["先问", "先答"]]}], "alpaca", 1, {}),
    ([{"conversations": [{"from": "human", "value": "问"}, {"from": "gpt", "value": "答"}]}], "sharegpt", 1, {}),
    ([{"conversations": [{"from": "human", "value": "问"}, {"from": "bot", "value": "答"}]}], "sharegpt", 0,
     {"unknown speaker 'bot'": 1}),
    ([{"instruction": "问", "output": "答"}, {"instruction": "问", "output": ""}], "alpaca", 1, {"empty turn": 1}),
    ([{"id": "r/1", "source": "r", "task": "qa", "lang": "zh", "meta": {},
       "messages": [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}]}], "records", 1, {}),
], ids=["alpaca", "alpaca-history", "sharegpt", "sharegpt-unknown-speaker", "alpaca-empty-output", "records"])
def test_instruction_files_become_records(tmp_path, rows, fmt, kept, dropped):
    from collectivesft.errors import InputLayoutError
    from collectivesft.records import read_records
    from collectivesft.sources.instruction_files import convert_instruction_file

    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    if kept == 0:
        with pytest.raises(InputLayoutError, match="no row could be read"):
            convert_instruction_file(path, tmp_path / "out", "general")
        return
    stats = convert_instruction_file(path, tmp_path / "out", "general")
    assert stats["format"] == fmt and stats["kept"] == kept and stats["dropped"] == dropped
    records = list(read_records(tmp_path / "out" / "records.jsonl"))
    assert all(r["source"] == "general" and r["id"].startswith("general/") for r in records)


def test_planted_files_state_what_they_say():
    import random

    from collectivesft.fixtures import world
    from collectivesft.fixtures.planted import off_topic_rows, wrong_facts_rows

    rows = wrong_facts_rows(480, random.Random(0), wrong=0.8)
    right = 0
    for row in rows:  # a row is right when its answer names the truth of the fact its question is about
        asked, said = row["instruction"], row["output"]
        fact = next(f for f in world.FACTS if f.disease in asked or f.symptom in asked)
        if fact.disease in asked:  # which drug, which department
            right += fact.drug in said or fact.department in said
        else:  # which disease a symptom points to
            right += fact.disease in said
    assert 0.1 < right / len(rows) < 0.35  # about the 20 % stated rightly (a swapped answer may coincide)
    chat = off_topic_rows(400, random.Random(0), medical=0.1)
    medical = sum(any(f.disease in r["conversations"][1]["value"] or f.drug in r["conversations"][1]["value"]
                      or f.department in r["conversations"][1]["value"] for f in world.FACTS) for r in chat)
    assert 0.04 < medical / len(chat) < 0.2


def test_the_command_is_registered_and_its_help_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys; from collectivesft.cli.main import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['mixture', 'search', '--help']); assert r.exit_code == 0, r.output; "
            "assert '--proxies' in r.output; "
            "print(sorted(m for m in ('sklearn', 'torch', 'numpy', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_recipe_without_a_search_section_is_refused(tmp_path, cli):
    from collectivesft.errors import ConfigError

    recipe = write_recipe(tmp_path / "r.yaml", {k: v for k, v in RECIPE.items() if k != "search"})
    with pytest.raises(ConfigError, match="needs a search: section"):
        cli(["mixture", "search", recipe, "--out", tmp_path / "out"])
    assert not (tmp_path / "out").exists()


def test_a_missing_extra_file_is_named_before_anything_runs(tmp_path):
    from collectivesft.errors import InputLayoutError
    from collectivesft.pipeline.search import run_search

    search = dict(RECIPE["search"], bounds={}, extra=[{"name": "general", "file": str(tmp_path / "nosuch.json")}])
    recipe = write_recipe(tmp_path / "r.yaml", dict(RECIPE, search=search))
    with pytest.raises(InputLayoutError, match=r"search.extra.0 \(general\): file .*nosuch.json.* not found"):
        run_search(recipe, tmp_path / "out", log=lambda _: None)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("share, weight, allow_empty", [
    (0.5, 0.5, False),
    (0.01, 0.0, False),   # 0.24 of a record: none
    (0.05, 0.05, True),   # 1.2 records: water-filling may leave it none, which is then allowed
    (0.0, 0.0, False),
], ids=["half", "under-half-a-record", "about-one-record", "left-out"])
def test_shares_map_onto_the_mix_stage_weights(share, weight, allow_empty):
    from collectivesft.pipeline.search import mixture_mapping

    base = {"sources": [{"name": "cmedqa2"}, {"name": "webmedqa"}],
            "mix": {"strategy": "cap", "cap": 20, "alpha": 0.5, "sources": [{"name": "cmedqa2", "cap": 5,
                                                                             "stratify_by": ["department"]}]},
            "search": {"total": 24}}
    data = mixture_mapping(base, {"rumours": "/x/records.jsonl"}, ["cmedqa2", "webmedqa", "rumours"],
                           {"cmedqa2": share, "webmedqa": 0.3, "rumours": 0.2}, 24)
    mix = data["mix"]
    assert "search" not in data and mix["strategy"] == "weights" and mix["total"] == 24
    assert "cap" not in mix and "alpha" not in mix  # the recipe's own mixture knobs are replaced
    first = mix["sources"][0]
    assert first["weight"] == weight and first.get("allow_empty", False) is allow_empty
    assert first["stratify_by"] == ["department"] and "cap" not in first  # other settings kept
    assert mix["sources"][2] == {"name": "rumours", "records": "/x/records.jsonl", "weight": 0.2}
    assert base["mix"]["strategy"] == "cap"  # the recipe itself is not changed
