"""Fault campaign, part 5: recipes (YAML alias bombs, every unknown key), output folders that cannot
be written, and model folders that cannot be models. Each case ends in exit 2 with one line
naming the file and what to do: no traceback, nothing half-written."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fault_checks import run_main

RECIPE = {
    "name": "faults",
    "fixtures": {"rows": 8, "seed": 0, "cmb_test": 12},
    "sources": [{"name": "cmb"}],
    "mix": {"cap": 10},
    "model": {"tiny": {"arch": "qwen2", "size": "tiny"}},
    "train": {"max_steps": 1, "validation": False},
    "eval": {"split": "test", "method": "loglik", "limit": 4},
}


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A ~1 KB YAML value that expands to width**levels strings through anchors and aliases."""
    lines = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines)


def _bombed(section: str) -> str:
    """The recipe with a bomb under a key the section accepts (so validation has to walk it)."""
    text = yaml.safe_dump({k: v for k, v in RECIPE.items() if k != section})
    if section == "train":
        return text + "train:\n  max_steps: 1\n  anchors:\n" + alias_bomb() + "\n  lora:\n    target_modules: *l8\n"
    return text + f"{section}:\n  cap: 10\n  anchors:\n" + alias_bomb() + "\n  sources: *l8\n"


@pytest.mark.parametrize("command, section", [
    (["run"], "train"), (["run"], "mix"), (["data", "mix"], "mix"), (["ablate", "--only", "cmb"], "train"),
    (["train"], "train"),
])
def test_an_alias_bomb_is_refused_at_once_wherever_a_recipe_is_read(command, section, tmp_path):
    """Under a 1.5 GB address-space limit: expanding it would take minutes and tens of GB."""
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text(_bombed(section), encoding="utf-8")
    args = [*command, str(recipe), "--out", str(tmp_path / "out")]
    if command == ["train"]:
        args += ["--mixture", str(tmp_path)]
    script = ("import resource, sys\n"
              "resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))\n"
              "from collectivesft.cli.main import main\n"
              "sys.argv = ['collectivesft'] + sys.argv[1:]\n"
              "main()\n")
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-1500:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "alias" in last and str(recipe) in last, last


def test_a_recipe_that_refers_to_itself_is_refused(tmp_path, monkeypatch, capsys):
    recipe = tmp_path / "loop.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE) + "anchors: &loop [1, *loop]\n", encoding="utf-8")
    code, _, err = run_main(["run", recipe, "--out", tmp_path / "out"], monkeypatch, capsys)
    assert code == 2 and "refers to itself" in err


def test_every_unknown_key_of_a_run_recipe_is_named_with_its_path(tmp_path, monkeypatch, capsys):
    data = json.loads(json.dumps(RECIPE))
    data["bogus_top"] = 1
    data["sources"][0]["bogus_source"] = 1
    data["mix"]["bogus_mix"] = 1
    data["train"]["bogus_train"] = 1
    data["eval"]["bogus_eval"] = 1
    recipe = tmp_path / "unknown.yaml"
    recipe.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, _, err = run_main(["run", recipe, "--out", tmp_path / "out"], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert "bogus_top: unknown key" in err and "sources.0.bogus_source: unknown key" in err
    for section in ("mix", "train", "eval"):  # one line per section, naming it and its key
        assert any(f"({section}:)" in line and f"bogus_{section}: unknown key" in line for line in err.splitlines())
    assert not (tmp_path / "out").exists()


def _fixture_data(tmp_path: Path) -> Path:
    from collectivesft.fixtures.writer import write_fixtures

    write_fixtures(tmp_path / "raw", rows=5, seed=0)
    return tmp_path / "raw" / "cmid"


@pytest.mark.parametrize("out", ["a file", "/dev/null", "/proc/collectivesft-out", "under a file"])
def test_an_out_that_cannot_be_a_folder_is_refused_in_one_line(out, tmp_path, monkeypatch, capsys):
    raw = _fixture_data(tmp_path)
    target = {"a file": tmp_path / "taken", "under a file": tmp_path / "taken" / "sub"}.get(out, Path(out))
    (tmp_path / "taken").write_text("a file", encoding="utf-8")
    code, _, err = run_main(["data", "convert", "cmid", "--input", raw, "--out", target], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error:") and str(target) in err


@pytest.mark.parametrize("error, words", [(errno.ENOSPC, "No space left"), (errno.EROFS, "Read-only")])
def test_a_full_or_read_only_disk_is_one_line_naming_the_file(error, words, tmp_path, monkeypatch, capsys):
    import collectivesft.io as io_module

    raw = _fixture_data(tmp_path)
    real = io_module.atomic_write

    def failing(path, *args, **kwargs):
        raise OSError(error, __import__("os").strerror(error), str(path))

    monkeypatch.setattr(io_module, "atomic_write", failing)
    code, _, err = run_main(["data", "convert", "cmid", "--input", raw, "--out", tmp_path / "out"], monkeypatch,
                            capsys)
    monkeypatch.setattr(io_module, "atomic_write", real)
    assert code == 2 and "Traceback" not in err and words in err and str(tmp_path / "out") in err


def _folder(tmp_path: Path, name: str, files: dict[str, object]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file, content in files.items():
        (folder / file).write_text(json.dumps(content), encoding="utf-8")
    return folder


def test_model_folders_that_cannot_be_models(tmp_path, monkeypatch, capsys):
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    cmb = write_cmb_eval(tmp_path / "CMB", n_test=28, seed=0)
    empty = _folder(tmp_path, "empty", {})
    listed = _folder(tmp_path, "listed", {"config.json": {"model_type": "x", "auto_map": ["modeling_x.X"]}})
    a = tmp_path / "a"
    b = _folder(tmp_path, "b", {"adapter_config.json": {"base_model_name_or_path": str(a)}})
    _folder(tmp_path, "a", {"adapter_config.json": {"base_model_name_or_path": str(b)}})
    for model, words in ((empty, "no config.json"), (listed, "auto_map"), (a, "names each other")):
        code, _, err = run_main(["eval", "cmb", "--model", model, "--data", cmb, "--limit", 2, "--out",
                                 tmp_path / f"out-{model.name}", "--device", "cpu", "--trust-remote-code"],
                                monkeypatch, capsys)
        assert code == 2 and "Traceback" not in err and words in err and str(model) in err, err
        assert not (tmp_path / f"out-{model.name}" / "predictions.jsonl").exists()
