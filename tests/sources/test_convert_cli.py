"""`collectivesft data convert` and `collectivesft sources` through the real CLI, for every source."""

import json
import sys

import pytest

from collectivesft.cli.main import main
from collectivesft.records import record_problems
from collectivesft.sources.registry import source_class, source_names


def run_main(args, monkeypatch, capsys):
    """Run the console entry point in-process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["collectivesft", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    return exc.value.code or 0, captured.out, captured.err


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("name", source_names())
def test_every_source_converts_its_fixture(cli, raw_fixtures, tmp_path, name):
    out = tmp_path / "out"
    result = cli(["data", "convert", name, "--input", raw_fixtures / name, "--out", out])
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["read"] == stats["kept"] + stats["quarantined"] + sum(stats["skipped"].values())
    assert stats["kept"] > 0
    # Every fixture carries a few deliberately broken rows; they are quarantined with where/why.
    quarantine = read_jsonl(out / "quarantine.jsonl")
    assert stats["quarantined"] == len(quarantine) >= 1
    assert all(q["where"] and q["reason"] for q in quarantine)
    records = read_jsonl(out / "records.jsonl")
    assert len(records) == stats["kept"]
    for rec in records:
        assert record_problems(rec) == [], rec["id"]
        assert rec["source"] == name
    assert len({r["id"] for r in records}) == len(records), "record ids must be unique within a source"
    assert name in result.output and str(stats["kept"]) in result.output


def test_sources_command_lists_every_source(cli):
    result = cli(["sources"])
    assert result.exit_code == 0
    # Wrapped cells continue on lines that start with spaces; a source's line starts with its name.
    listed = {line.split()[0] for line in result.output.splitlines()[2:] if line.strip() and not line[0].isspace()}
    assert listed == set(source_names())
    assert len(listed) == 12


@pytest.mark.parametrize("name", source_names())
def test_unusable_inputs_exit_nonzero_naming_the_layout(raw_fixtures, tmp_path, monkeypatch, capsys, name):
    layout = source_class(name).info.layout
    empty = tmp_path / "empty"
    empty.mkdir()
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "README.txt").write_text("downloaded the wrong thing\n", encoding="utf-8")
    for bad_input in (tmp_path / "missing", empty, unrelated):
        code, _, err = run_main(["data", "convert", name, "--input", bad_input, "--out", tmp_path / "out"],
                                monkeypatch, capsys)
        assert code == 2, (name, bad_input)
        assert err.splitlines()[-1].startswith("error:") and "expected" in err and layout in err
        assert not (tmp_path / "out" / "records.jsonl").exists()


@pytest.mark.parametrize("name, other", [
    ("medqa", "mlecqa"), ("mlecqa", "medqa"), ("nlpec", "medmcqa"), ("medicaldialogue", "mlecqa"),
    ("webmedqa", "nlpec"), ("medmcqa", "medqa"),
])
def test_another_sources_files_are_refused(raw_fixtures, tmp_path, monkeypatch, capsys, name, other):
    code, _, err = run_main(["data", "convert", name, "--input", raw_fixtures / other, "--out", tmp_path / "out"],
                            monkeypatch, capsys)
    assert code == 2 and "expected" in err


def test_truncated_zip_exits_nonzero(raw_fixtures, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "webmedqa"
    folder.mkdir()
    data = (raw_fixtures / "webmedqa" / "train.zip").read_bytes()
    (folder / "train.zip").write_bytes(data[: len(data) * 2 // 3])
    code, _, err = run_main(["data", "convert", "webmedqa", "--input", folder, "--out", tmp_path / "out"],
                            monkeypatch, capsys)
    assert code == 2 and "zip" in err and "expected" in err


@pytest.mark.parametrize("option, message", [
    ("continent=Asia", "has no option 'continent'"),
    ("region=Europe", "not one of"),
    ("region", "override must be key=value, got 'region'"),
])
@pytest.mark.parametrize("flag", ["--set", "--option"])
def test_bad_options(raw_fixtures, tmp_path, monkeypatch, capsys, option, message, flag):
    code, _, err = run_main(["data", "convert", "medqa", "--input", raw_fixtures / "medqa", "--out", tmp_path / "o",
                             flag, option], monkeypatch, capsys)
    assert code == 2 and message in err


def test_unknown_source_names_the_known_ones(tmp_path, monkeypatch, capsys):
    code, _, err = run_main(["data", "convert", "pubmedqa", "--input", tmp_path, "--out", tmp_path / "o"],
                            monkeypatch, capsys)
    assert code == 2 and "unknown source 'pubmedqa'" in err and "medqa" in err


@pytest.mark.parametrize("flags", [["--set", "region=Taiwan", "--set", "split=all"],
                                   ["--option", "region=Taiwan", "-O", "split=all"]], ids=["set", "deprecated-option"])
def test_options_reach_the_converter(cli, raw_fixtures, tmp_path, flags):
    out = tmp_path / "out"
    result = cli(["data", "convert", "medqa", "--input", raw_fixtures / "medqa", "--out", out, *flags])
    assert result.exit_code == 0, result.output
    assert ("deprecated" in result.output) == (flags[0] == "--option")
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["options"] == {"region": "Taiwan", "split": "all", "us_options": "5"}
    assert {r["meta"]["region"] for r in read_jsonl(out / "records.jsonl")} == {"Taiwan"}


def _write_parquet(folder, split, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / f"{split}-00000-of-00001.parquet")


def test_hub_path_reads_a_local_folder_in_hub_layout(cli, tmp_path):
    # The bigbio/med_qa source schema: options as a list of {key, value}; splits as parquet shards.
    row = {"meta_info": "step1", "question": "Which drug is first-line for gout flares?", "answer_idx": "B",
           "answer": "colchicine", "options": [{"key": "A", "value": "warfarin"}, {"key": "B", "value": "colchicine"},
                                               {"key": "C", "value": "metformin"}]}
    hub = tmp_path / "med_qa"
    _write_parquet(hub / "data", "train", [row, dict(row, answer_idx="D")])
    _write_parquet(hub / "data", "validation", [row])
    out = tmp_path / "out"
    result = cli(["data", "convert", "medqa", "--hub", hub, "--out", out, "-O", "region=US", "-O", "split=all"])
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert (stats["read"], stats["kept"], stats["quarantined"]) == (3, 2, 1)
    assert stats["input"] == f"hub:{hub}"
    records = read_jsonl(out / "records.jsonl")
    assert [r["meta"]["split"] for r in records] == ["train", "dev"]
    assert records[0]["messages"][-1]["content"] == "The answer is B. colchicine"
    assert read_jsonl(out / "quarantine.jsonl")[0]["where"].startswith(f"hub:{hub}/US/train#1")


def test_hub_path_for_medmcqa(cli, tmp_path):
    row = {"id": "h1", "question": "Drug of choice for malaria?", "opa": "artemisinin", "opb": "warfarin",
           "opc": "insulin", "opd": "aspirin", "cop": 0, "choice_type": "single", "exp": "",
           "subject_name": "Pharmacology", "topic_name": "malaria"}
    hub = tmp_path / "medmcqa"
    _write_parquet(hub / "data", "train", [row, dict(row, id="h2", cop=-1)])
    out = tmp_path / "out"
    result = cli(["data", "convert", "medmcqa", "--hub", hub, "--out", out])
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["kept"] == 1 and sum(stats["skipped"].values()) == 1


def test_hub_folder_without_region_needs_the_option(tmp_path, monkeypatch, capsys):
    hub = tmp_path / "hub"
    _write_parquet(hub / "data", "train", [{"question": "q", "options": [{"key": "A", "value": "a"}], "answer_idx": "A"}])
    code, _, err = run_main(["data", "convert", "medqa", "--hub", hub, "--out", tmp_path / "o"], monkeypatch, capsys)
    assert code == 2 and "--option region=" in err


def test_input_and_hub_are_exclusive(tmp_path, monkeypatch, capsys):
    code, _, err = run_main(["data", "convert", "medqa", "--out", tmp_path / "o"], monkeypatch, capsys)
    assert code == 2 and "exactly one of --input" in err


def test_sources_fits_a_100_column_terminal_and_wide_keeps_one_line_per_source(cli, monkeypatch):
    from collectivesft.cli.display import _width

    monkeypatch.setenv("COLUMNS", "100")
    lines = cli(["sources"]).output.splitlines()
    assert max(_width(line) for line in lines) <= 100
    assert "FreedomIntelligence/CMB" in "\n".join(lines)  # hub ids are not cut
    wide = cli(["sources", "--wide"]).output.splitlines()
    assert len(wide) == 2 + len(source_names()) and max(_width(line) for line in wide) > 100


def _all_commands():
    import typer

    from collectivesft.cli.main import app

    def walk(command, path):
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "collectivesft")
def test_help_reads_like_its_peers(cli, path, monkeypatch):
    """No `<bool>` after a flag or `<list[str]>` for a repeatable option; every option says what it does."""
    monkeypatch.setenv("COLUMNS", "200")
    result = cli([*path, "--help"])
    assert result.exit_code == 0
    assert "<bool>" not in result.output and "<list[" not in result.output
    import typer

    from collectivesft.cli.main import app

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    for param in command.params:
        if not getattr(param, "hidden", False):
            assert (param.help or "").strip(), f"{' '.join(path)} {param.name}: no help text"
