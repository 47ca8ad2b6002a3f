"""`data mix` on a run recipe: the run's own stages up to the mixture, and decontamination against
eval data given as a hub id (a local folder in hub layout stands in for the hub)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_run import SMALL_RECIPE, write_recipe



def test_data_mix_on_a_run_recipe_builds_the_runs_mixture_in_the_run_layout(tmp_path, cli):
    from collectivesft.pipeline.run import run_recipe

    recipe = write_recipe(tmp_path / "recipe.yaml", SMALL_RECIPE)
    result = cli(["data", "mix", recipe, "--out", tmp_path / "mixed"])
    assert result.exit_code == 0, result.output
    for stage in ("fixtures", "convert/cmb", "convert/medqa", "convert/discmed", "mix"):
        assert (tmp_path / "mixed" / stage / "stage.json").is_file(), stage
    assert not (tmp_path / "mixed" / "mix" / "sources").exists()  # no second conversion inside mix
    assert f"in {tmp_path / 'mixed' / 'mix'}" in result.output

    # `run` on the same recipe in the same folder reuses all of it: same code path, same mixture.
    logs: list[str] = []
    before = (tmp_path / "mixed" / "mix" / "train.jsonl").read_bytes()
    run_recipe(recipe, tmp_path / "mixed", log=logs.append)
    assert {"[fixtures] unchanged, reused", "[convert/cmb] unchanged, reused", "[mix] unchanged, reused"} <= set(logs)
    assert (tmp_path / "mixed" / "mix" / "train.jsonl").read_bytes() == before


def _hub_folder(cmb_release: Path, out: Path) -> Path:
    """The fixture CMB release rewritten in hub layout: exam/{test,val}.jsonl with `option` as a
    string holding the dict (as the hub stores it) and clin/test.jsonl."""
    exam = cmb_release / "CMB-Exam"
    for split, rel in (("test", "CMB-test/CMB-test-choice-question-merge.json"), ("val", "CMB-val/CMB-val-merge.json")):
        rows = json.loads((exam / rel).read_text(encoding="utf-8"))
        lines = [json.dumps(dict(r, option=str(r["option"])), ensure_ascii=False) for r in rows]
        (out / "exam").mkdir(parents=True, exist_ok=True)
        (out / "exam" / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cases = json.loads((cmb_release / "CMB-Clin" / "CMB-Clin-qa.json").read_text(encoding="utf-8"))
    (out / "clin").mkdir(parents=True, exist_ok=True)
    (out / "clin" / "test.jsonl").write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n",
                                             encoding="utf-8")
    return out


def test_eval_data_as_a_hub_id_decontaminates_the_runs_mixture(tmp_path, cli):
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    # The fixture world's CMB train rows share stems with its test set, so some must match.
    release = write_cmb_eval(tmp_path / "CMB", n_test=24, seed=0)
    hub = _hub_folder(release, tmp_path / "hub")
    recipe = dict(SMALL_RECIPE, eval=dict(SMALL_RECIPE["eval"], data=str(hub)))
    result = cli(["data", "mix", write_recipe(tmp_path / "recipe.yaml", recipe), "--out", tmp_path / "run"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "mix" / "manifest.json").read_text(encoding="utf-8"))
    (target,) = manifest["decontamination"]["eval_files"]
    n_questions = sum(1 for _ in (hub / "exam" / "test.jsonl").open()) + sum(1 for _ in (hub / "exam" / "val.jsonl").open())
    assert target["path"] == str(hub) and target["items_indexed"] + target["items_too_short"] >= n_questions
    assert manifest["totals"]["contaminated"] > 0 and manifest["decontamination"]["action"] == "drop"


def test_drop_with_nothing_to_index_is_an_error(tmp_path):
    from collectivesft.errors import ConfigError
    from collectivesft.pipeline.run import mix_recipe_file

    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "records.jsonl").write_text(json.dumps({
        "id": "a/1", "source": "a", "task": "qa", "lang": "zh",
        "messages": [{"role": "user", "content": "问题"}, {"role": "assistant", "content": "回答"}], "meta": {}},
        ensure_ascii=False) + "\n", encoding="utf-8")
    recipe = write_recipe(tmp_path / "mix.yaml", {"sources": [{"name": "a", "records": str(folder)}],
                                            "decontamination": {"action": "drop"}, "report": False})
    with pytest.raises(ConfigError, match="action is drop but no eval_data or eval_files"):
        mix_recipe_file(recipe, tmp_path / "out")
