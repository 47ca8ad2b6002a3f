"""Recipe validation: clear errors naming the key and file; run recipes; the shipped example."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from collectivesft.errors import ConfigError
from collectivesft.mix.builder import build_mixture
from collectivesft.mix.recipe import load_recipe

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True) if not isinstance(data, str) else data, encoding="utf-8")
    return path


GOOD_SOURCE = {"name": "a", "records": "somewhere"}


@pytest.mark.parametrize(
    "recipe, message",
    [
        pytest.param({"sources": [dict(GOOD_SOURCE, capp=5)]}, "sources.0.capp: unknown key", id="typo-in-source-key"),
        pytest.param({"sources": [GOOD_SOURCE], "dedupe": {}}, "dedupe: unknown key", id="typo-in-section"),
        pytest.param({"sources": [dict(GOOD_SOURCE, cap="lots")]}, "sources.0.cap", id="cap-not-int"),
        pytest.param({"sources": [dict(GOOD_SOURCE, cap=-1)]}, "sources.0.cap", id="negative-cap"),
        pytest.param({"sources": [GOOD_SOURCE], "strategy": "balanced"}, "strategy", id="unknown-strategy"),
        pytest.param({"sources": [GOOD_SOURCE], "dedup": {"threshold": 1.5}}, "dedup.threshold", id="threshold-range"),
        pytest.param({"sources": []}, "sources", id="no-sources"),
        pytest.param({"sources": [{"name": "a"}]}, "give exactly one of records, input or hub", id="no-origin"),
        pytest.param({"sources": [dict(GOOD_SOURCE, input="raw")]}, "give exactly one of records, input or hub",
                     id="two-origins"),
        pytest.param({"sources": [GOOD_SOURCE, GOOD_SOURCE]}, "repeated: a", id="duplicate-names"),
        pytest.param({"sources": [GOOD_SOURCE], "total": 10}, "`total` needs a sharing strategy", id="total-with-cap"),
        pytest.param({"sources": [dict(GOOD_SOURCE, weight=2)], "strategy": "uniform"},
                     "only used by strategy weights", id="weight-without-weights"),
        pytest.param({"sources": [dict(GOOD_SOURCE, stratify_by=["x"])], "selection": "first"},
                     "cannot stratify", id="first-n-with-strata"),
        pytest.param({"sources": [GOOD_SOURCE], "filters": {"max_tokens": 100}}, "need `tokenizer`",
                     id="tokens-without-tokenizer"),
        pytest.param({"sources": [GOOD_SOURCE], "decontamination": {"action": "delete"}},
                     "decontamination.action", id="bad-action"),
        pytest.param(["not", "a", "mapping"], "must be a mapping", id="not-a-mapping"),
    ],
)
def test_malformed_recipe_names_key_and_file(tmp_path, recipe, message):
    path = _write(tmp_path, recipe)
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(_write(tmp_path, "sources: [a, b"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")


def test_cli_reports_bad_recipe_as_one_line_exit_2(tmp_path, monkeypatch, capsys):
    import sys

    from collectivesft.cli.main import main

    path = _write(tmp_path, {"sources": [dict(GOOD_SOURCE, capp=5)]})
    monkeypatch.setattr(sys, "argv", ["collectivesft", "data", "mix", str(path), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert "sources.0.capp: unknown key" in capsys.readouterr().err


def test_missing_records_folder_is_a_clear_error(tmp_path):
    recipe = load_recipe(_write(tmp_path, {"sources": [{"name": "a", "records": str(tmp_path / "none")}]}))
    with pytest.raises(Exception, match="records .* not found"):
        build_mixture(recipe, tmp_path / "out")


def test_overrides_and_run_recipe_sections(tmp_path):
    recipe = load_recipe(_write(tmp_path, {"mix": {"sources": [GOOD_SOURCE]}, "train": {"lr": 1e-5}}),
                         ["seed=5", "sources.0.cap=3", "dedup.threshold=0.9"])
    assert (recipe.seed, recipe.sources[0].cap, recipe.dedup.threshold) == (5, 3, 0.9)
    with pytest.raises(ConfigError, match=r"section mix\): invalid mix recipe: cap"):
        load_recipe(_write(tmp_path, {"mix": {"sources": [GOOD_SOURCE], "cap": "x"}}))
    # A run recipe whose mix.sources only add settings: origins come from the top-level sources.
    run = {"sources": [{"name": "medqa", "input": "raw/medqa", "options": {"region": "US"}}, {"name": "cmb", "hub": "x"}],
           "mix": {"cap": 50, "sources": [{"name": "cmb", "stratify_by": ["exam_class"]}]}, "model": {"path": "m"}}
    recipe = load_recipe(_write(tmp_path, run))
    assert [(s.name, s.input, s.hub, s.options, s.stratify_by) for s in recipe.sources] == [
        ("medqa", "raw/medqa", None, {"region": "US"}, []), ("cmb", None, "x", {}, ["exam_class"])]


def test_shipped_example_recipe_validates_and_builds(raw_fixtures, tmp_path, cli):
    example = REPO / "recipes" / "mix-example.yaml"
    recipe = load_recipe(example)
    assert recipe.strategy == "temperature" and recipe.sources[0].stratify_by == ["exam_type", "exam_class"]
    # Point it at the session fixtures and build it through the CLI.
    from collectivesft.sources.convert import convert_source

    convert_source("cmb", tmp_path / "converted" / "cmb", input=raw_fixtures / "cmb")
    text = example.read_text(encoding="utf-8").replace("runs/fixtures/raw", str(raw_fixtures)) \
        .replace("runs/fixtures/converted", str(tmp_path / "converted"))
    path = tmp_path / "example.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli(["data", "mix", path, "--out", tmp_path / "out", "--set", "total=120"])
    assert result.exit_code == 0, result.output
    import json

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["identity_holds"] and manifest["totals"]["train"] + manifest["totals"]["val"] == 120
    assert {s["name"] for s in manifest["sources"]} == {s.name for s in recipe.sources}


def test_numeric_converter_options_are_read_as_text(tmp_path):
    # YAML reads `max_row_mb: 256` as a number; converter options are text (`--set max_row_mb=256`).
    recipe = load_recipe(_write(tmp_path, {"sources": [{"name": "cmid", "input": "raw/cmid",
                                                        "options": {"max_row_mb": 256, "max_depth": 128}}]}))
    assert recipe.sources[0].options == {"max_row_mb": "256", "max_depth": "128"}
