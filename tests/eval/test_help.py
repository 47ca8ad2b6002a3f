"""`eval` help at the widths people use: nothing cut with '…', every option name whole, and
`eval cmb --help` showing the eval config's own defaults (read from its fields, so they cannot drift)."""

import json
import re

import pytest
import typer

from collectivesft.eval.config import CMBEvalConfig


def _eval_commands():
    from collectivesft.cli.main import app

    group = typer.main.get_command(app).commands["eval"]
    return [[]] + [[name] for name in sorted(group.commands)]


def _option_names(path):
    from collectivesft.cli.main import app

    command = typer.main.get_command(app).commands["eval"]
    for name in path:
        command = command.commands[name]
    return [opt for param in command.params for opt in (*param.opts, *param.secondary_opts) if opt.startswith("--")]


@pytest.mark.parametrize("columns", [120, 80])
@pytest.mark.parametrize("path", _eval_commands(), ids=lambda p: " ".join(["eval", *p]))
def test_help_cuts_nothing(cli, monkeypatch, path, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    result = cli(["eval", *path, "--help"])
    assert result.exit_code == 0
    assert "…" not in result.output, result.output
    words = set(re.findall(r"--[a-z][a-z0-9-]*", result.output))
    missing = [name for name in _option_names(path) if name not in words]
    assert not missing, f"option names broken across lines: {missing}\n{result.output}"
    assert max(len(line) for line in result.output.splitlines()) <= columns


@pytest.mark.parametrize("option, field", [
    ("--method", "method"), ("--split", "split"), ("--batch-size", "batch_size"),
    ("--max-new-tokens", "max_new_tokens"), ("--protocol", "protocol"), ("--backend", "backend"),
    ("--data", "data"), ("--shots", "shots"), ("--temperature", "temperature"), ("--fewshot-seed", "fewshot_seed"),
    ("--seed", "sample_seed"), ("--device", "device"), ("--concurrency", "concurrency"),
])
def test_cmb_help_shows_the_config_defaults(cli, monkeypatch, option, field):
    monkeypatch.setenv("COLUMNS", "200")
    output = cli(["eval", "cmb", "--help"]).output
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"\W+{re.escape(option)}\s", line))
    end = next(i for i in range(start + 1, len(lines)) if re.match(r"\W+--", lines[i]))
    block = " ".join(" ".join(line.strip("│ ").split()) for line in lines[start:end])  # the option's rows, unwrapped
    assert f"[default: {CMBEvalConfig.model_fields[field].default}]" in block, block


def test_shown_defaults_do_not_override_a_config_file(cmb_data, tiny_model, tmp_path, cli, monkeypatch):
    """Help shows the defaults; parsing still leaves unset options to the config file."""
    monkeypatch.setenv("COLUMNS", "200")
    assert "[default: generate]" in cli(["eval", "cmb", "--help"]).output
    recipe = tmp_path / "eval.yaml"
    recipe.write_text(f"data: {cmb_data}\nmethod: loglik\nbatch_size: 3\ndevice: cpu\n", encoding="utf-8")
    result = cli(["eval", "cmb", "--config", recipe, "--model", tiny_model, "--limit", 2, "--out", tmp_path / "r"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "r/run.json").read_text())["config"]
    assert config["method"] == "loglik" and config["batch_size"] == 3
