"""TrainConfig: paper defaults, bare or run-recipe YAML, key=value overrides, clear errors."""

from __future__ import annotations

import pytest

from collectivesft.errors import ConfigError
from collectivesft.train.config import load_config


def test_defaults_are_the_papers(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("model: internlm/internlm2_5-7b\nchat_template: intern2\ntrust_remote_code: true\n")
    c = load_config(path)
    assert (c.finetuning, c.lr, c.epochs, c.scheduler, c.warmup_ratio) == ("full", 2e-5, 3.0, "cosine", 0.05)
    assert (c.batch_size, c.grad_accum, c.cutoff, c.precision) == (16, 2, 1024, "auto")


def test_run_recipe_train_section_and_nested_overrides(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("mix: {seed: 1}\ntrain:\n  model: m\n  finetuning: lora\n  lora: {r: 4}\n")
    c = load_config(path, ["lr=1e-4", "epochs=1", "lora.alpha=8", "packing=true", "chat_template=chatml"])
    assert (c.model, c.lr, c.epochs, c.lora.r, c.lora.alpha, c.packing) == ("m", 1e-4, 1.0, 4, 8, True)
    assert load_config(None, ["model=x"]).model == "x"


@pytest.mark.parametrize("text,overrides,match", [
    ("model: m\nlearning_rate: 1e-4\n", [], r"train.yaml: invalid train config: learning_rate: unknown key"),
    ("model: m\n", ["lr=fast"], r"with overrides: invalid train config: lr:"),
    ("model: m\n", ["cutoff=0"], r"cutoff: Input should be greater than 1"),
    ("model: m\nmerge_lora: true\n", [], r"merge_lora applies to finetuning: lora or qlora"),
    ("lr: 1e-4\n", [], r"model: Field required"),
    ("model: m\n", ["lr"], r"override must be key=value"),
    ("- model\n", [], r"expected a mapping"),
    ("sources: {}\nmix: {}\n", [], r"run recipe has no train: section"),
])
def test_config_errors_name_the_key_and_file(tmp_path, text, overrides, match):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(path, overrides)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name,kind", [("zero2", "DEEPSPEED"), ("zero3", "DEEPSPEED"), ("fsdp", "FSDP")])
def test_shipped_accelerate_configs_load(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    from collectivesft.train.config import accelerate_config_path

    config = load_config_from_file(str(accelerate_config_path(name)))
    assert config.distributed_type.name == kind
    assert config.mixed_precision == "bf16"


def test_accelerate_config_path_rejects_unknown_names():
    from collectivesft.train.config import accelerate_config_path

    with pytest.raises(ConfigError, match="zero2"):
        accelerate_config_path("zero1")


def test_run_recipe_train_section_takes_the_top_level_model(tmp_path):
    from collectivesft.train.config import load_config

    recipe = tmp_path / "run.yaml"
    recipe.write_text("sources: [{name: cmb}]\nmodel: {path: Qwen/Qwen2.5-7B}\ntrain: {lr: 1.0e-4}\n")
    config = load_config(recipe)
    assert config.model == "Qwen/Qwen2.5-7B" and config.lr == 1e-4


def test_overrides_as_a_mapping_merge_into_nested_keys(tmp_path):
    # The Python API also takes overrides as a mapping; nested ones merge key by key.
    path = tmp_path / "train.yaml"
    path.write_text("model: m\nlora: {r: 4, alpha: 8}\n", encoding="utf-8")
    c = load_config(path, {"lora": {"r": 16}, "lr": 1e-4})
    assert (c.lora.r, c.lora.alpha, c.lr) == (16, 8, 1e-4)
