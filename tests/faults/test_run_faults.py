"""Fault campaign, part 3: `run`, `train` and `eval` refuse bad paths before doing any work, with a
message that says "not found" and names the key; nothing is run, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fault_checks import run_main

RECIPE = {
    "name": "faults",
    "fixtures": {"rows": 8, "seed": 0, "cmb_test": 12},
    "sources": [{"name": "cmb"}, {"name": "medqa"}],
    "mix": {"cap": 10},
    "model": {"tiny": {"arch": "qwen2", "size": "tiny"}},
    "train": {"max_steps": 1, "validation": False},
    "eval": {"split": "test", "method": "loglik", "limit": 4},
}


def _edit(recipe: dict, path: str, value) -> dict:
    """A copy of `recipe` with dotted key `path` set (list items by index)."""
    import json

    out = json.loads(json.dumps(recipe))
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


RUN_CASES = [
    ("missing input path", "sources.1", {"name": "medqa", "input": "nowhere/medqa"},
     ("sources.1 (medqa)", "'nowhere/medqa' not found")),
    ("missing local model folder", "model", {"path": "./nowhere/model"}, ("model.path", "not found")),
    ("missing eval data folder", "eval.data", "/nowhere/CMB", ("eval.data", "not found")),
    ("missing decontamination file", "mix.decontamination", {"eval_files": ["nowhere/CMB-test.json"]},
     ("eval_files", "not found")),
    ("unknown source", "sources.1", {"name": "pubmedqa"}, ("unknown source 'pubmedqa'",)),
    ("unknown section key", "train.lrr", 1e-4, ("lrr",)),
]


@pytest.mark.parametrize("case", RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_run_validates_the_recipe_before_any_stage(case, tmp_path, monkeypatch, capsys):
    _, key, value, words = case
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_edit(RECIPE, key, value)), encoding="utf-8")
    out = tmp_path / "run"
    code, stdout, err = run_main(["run", recipe, "--out", out], monkeypatch, capsys)
    assert code == 2, stdout + err
    assert err.splitlines()[-1].startswith("error:") and "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    assert "running" not in stdout  # no stage started
    assert not (out / "fixtures").exists() and not (out / "convert").exists()


@pytest.mark.parametrize("model", ["/nowhere/at/all/model", "./nowhere", "a/b/c"])
def test_train_and_eval_say_not_found_for_a_missing_local_model(model, tmp_path, monkeypatch, capsys):
    (tmp_path / "mix").mkdir()
    (tmp_path / "mix" / "train.jsonl").write_text("", encoding="utf-8")
    code, _, err = run_main(["train", "--set", f"model={model}", "--set", "validation=false",
                             "--mixture", tmp_path / "mix", "--out", tmp_path / "t"], monkeypatch, capsys)
    assert code == 2 and f"model {model!r} not found" in err, err
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    data = write_cmb_eval(tmp_path / "CMB", n_test=6, seed=0)
    code, _, err = run_main(["eval", "cmb", "--model", model, "--data", data, "--out", tmp_path / "e"],
                            monkeypatch, capsys)
    assert code == 2 and "not found" in err and "Repo id" not in err, err


def test_train_without_a_mixture_names_the_mix_command(tmp_path, monkeypatch, capsys):
    code, _, err = run_main(["train", "--set", "model=Qwen/Qwen2.5-0.5B", "--mixture", tmp_path / "none",
                             "--out", tmp_path / "t"], monkeypatch, capsys)
    assert code == 2 and "`collectivesft data mix`" in err, err


def test_an_empty_conversion_in_a_run_names_the_source_and_allow_empty(tmp_path, monkeypatch, capsys):
    broken = tmp_path / "cmid"
    broken.mkdir()
    (broken / "CMID.json").write_text("[]", encoding="utf-8")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_edit(RECIPE, "sources.1", {"name": "cmid", "input": str(broken)})),
                      encoding="utf-8")
    code, _, err = run_main(["data", "mix", recipe, "--out", tmp_path / "run"], monkeypatch, capsys)
    assert code == 2 and "cmid: no rows read" in err and "allow_empty" in err, err
    allowed = _edit(RECIPE, "sources.1", {"name": "cmid", "input": str(broken), "allow_empty": True})
    recipe.write_text(yaml.safe_dump(allowed), encoding="utf-8")
    code, _, err = run_main(["data", "mix", recipe, "--out", tmp_path / "run"], monkeypatch, capsys)
    assert code == 0, err
    assert (Path(tmp_path / "run" / "mix" / "train.jsonl")).stat().st_size > 0
