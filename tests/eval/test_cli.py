"""The eval CLI: fixtures, running from a recipe's eval: section, config errors naming key and file."""

import json

import pytest

from collectivesft.errors import ConfigError


def test_eval_fixtures_writes_the_official_layout(tmp_path, cli):
    result = cli(["eval", "fixtures", tmp_path / "CMB", "--n-test", 21])
    assert result.exit_code == 0, result.output
    for rel in ("CMB-Exam/CMB-test/CMB-test-choice-question-merge.json", "CMB-Exam/CMB-test/CMB-test-choice-answer.json",
                "CMB-Exam/CMB-val/CMB-val-merge.json", "CMB-Clin/CMB-Clin-qa.json"):
        assert (tmp_path / "CMB" / rel).is_file(), rel
    key = json.loads((tmp_path / "CMB/CMB-Exam/CMB-test/CMB-test-choice-answer.json").read_text())
    assert len(key) == 21 and any(len(k["answer"]) > 1 and k["question_type"] == "多项选择题" for k in key)


def test_cmb_from_a_recipe_eval_section_with_command_line_overrides(cmb_data, tiny_model, tmp_path, cli):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"mix: {{}}\neval:\n  data: {cmb_data}\n  method: loglik\n  limit: 3\n  device: cpu\n",
                      encoding="utf-8")
    result = cli(["eval", "cmb", "--config", recipe, "--model", tiny_model, "--limit", 2, "--out", tmp_path / "r"])
    assert result.exit_code == 0, result.output
    assert "mean of types (leaderboard average)" in result.output and "protocol: collectivesft" in result.output
    assert len(json.loads((tmp_path / "r/submission.json").read_text())) == 2
    # method: loglik came from the recipe (the command line did not name a method).
    assert json.loads((tmp_path / "r/run.json").read_text())["fingerprint"]["method"] == "loglik"
    predictions = [json.loads(line) for line in (tmp_path / "r/predictions.jsonl").read_text().splitlines()]
    assert predictions and all("logprobs" in p for p in predictions)


def test_set_overrides_a_recipe_key(cmb_data, tiny_model, tmp_path, cli):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"mix: {{}}\neval:\n  data: {cmb_data}\n  method: loglik\n  device: cpu\n", encoding="utf-8")
    result = cli(["eval", "cmb", "--config", recipe, "--model", tiny_model, "--set", "limit=1", "--out", tmp_path / "r"])
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "r/submission.json").read_text())) == 1


def test_config_errors_name_the_key_and_the_file(tmp_path, cli):
    bad = tmp_path / "eval.yaml"
    bad.write_text("model: m\nshotz: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"eval.yaml.*shotz"):
        cli(["eval", "cmb", "--config", bad, "--out", tmp_path / "o"])
    with pytest.raises(ConfigError, match="method"):
        cli(["eval", "cmb", "--model", "m", "--method", "guess", "--out", tmp_path / "o"])
