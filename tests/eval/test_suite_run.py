"""The suite runner on the tiny model: every registered benchmark through generate / loglik / cloze,
resume, the `eval suite` command end to end (CMB byte-identical to `eval cmb`), `eval benchmarks`."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from collectivesft.benchmarks.base import benchmark_names, get_benchmark
from collectivesft.errors import ConfigError
from collectivesft.eval.suite.config import SuiteBenchmarkConfig
from collectivesft.eval.suite.scoring import metric_value


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory) -> dict[str, Path]:
    """Every registered benchmark's fixture files (its own writer, its published layout)."""
    root = tmp_path_factory.mktemp("suite-data")
    return {name: get_benchmark(name).write_fixture(root / name, random.Random(f"0:{name}"), 24)
            for name in benchmark_names()}


def config(model: Path, data: Path, **values) -> SuiteBenchmarkConfig:
    return SuiteBenchmarkConfig(model=str(model), data=str(data), device="cpu", batch_size=4,
                                **{"max_new_tokens": 8, **values})


@pytest.mark.parametrize("method", ["generate", "loglik", "cloze"])
@pytest.mark.parametrize("name", benchmark_names())
def test_every_benchmark_writes_a_fixture_that_loads_and_runs(name, method, fixture_data, tiny_model, tmp_path):
    benchmark = get_benchmark(name)
    items = benchmark.load(fixture_data[name], benchmark.eval_split)
    assert items and len({i.id for i in items}) == len(items)
    assert all(set(i.answer or "") <= set(i.options) for i in items)
    run = config(tiny_model, fixture_data[name], method=method, limit=6, max_new_tokens=4, explorer=False)
    scores = benchmark.evaluate(run, tmp_path)
    preds = rows(tmp_path / "predictions.jsonl")
    assert len(preds) == 6
    for p in preds:
        assert p["model_answer"] == "" or set(p["model_answer"]) <= set("ABCDEF")
    score, interval = benchmark.headline(scores)
    assert score is not None and interval[0] <= score <= interval[1]


@pytest.mark.parametrize("method", ["generate", "loglik", "cloze"])
def test_cmmlu_scores_are_what_the_predictions_earn(method, fixture_data, tiny_model, tmp_path):
    benchmark = get_benchmark("cmmlu-medical")
    items = {i.id: i for i in benchmark.load(fixture_data["cmmlu-medical"], "test")}
    scores = benchmark.evaluate(config(tiny_model, fixture_data["cmmlu-medical"], method=method, shots=1,
                                       explorer=method == "loglik"), tmp_path)
    preds = rows(tmp_path / "predictions.jsonl")
    assert [p["id"] for p in preds] == list(items)
    for p in preds:
        item = items[p["id"]]
        assert p["answer"] == item.answer and p["groups"]["subject"] == item.groups["subject"]
        assert p["correct"] == (None if item.answer is None else p["model_answer"] == item.answer)
        assert len(p["model_answer"]) <= 1 and p["extraction"] and "prompt" in p
        if method == "generate":
            assert "output" in p and p["prompt"].count("答案是：") == 2  # one shot, then the question
        else:
            assert p["logprobs"]
    scored = [(p["groups"], int(p["correct"])) for p in preds if p["correct"] is not None]
    assert scores["score"] == pytest.approx(metric_value(benchmark, scored))
    assert len(scores["unscored"]) == 2 and scores["n"] == len(items) - 2
    assert (tmp_path / "scores.md").read_text(encoding="utf-8").count("not scored: 2 item(s)") == 1
    assert (tmp_path / "explorer.html").is_file() == (method == "loglik") and json.loads((tmp_path / "run.json").read_text())["status"] == "done"
    if method == "loglik":
        for p in preds:
            assert p["logprobs"][p["model_answer"]] == max(p["logprobs"].values())


def test_a_killed_run_resumes_and_other_settings_are_refused(fixture_data, tiny_model, tmp_path):
    benchmark = get_benchmark("cmmlu-general")
    cfg = config(tiny_model, fixture_data["cmmlu-general"], method="loglik", limit=9, explorer=False)
    benchmark.evaluate(cfg, tmp_path / "full")
    out = tmp_path / "resumed"
    benchmark.evaluate(cfg, out)
    partial = out / "predictions.partial.jsonl"
    lines = partial.read_text(encoding="utf-8").splitlines(keepends=True)
    partial.write_text("".join(lines[:4]) + lines[4][:20], encoding="utf-8")  # killed mid-write
    (out / "predictions.jsonl").unlink()
    benchmark.evaluate(cfg, out)
    run = json.loads((out / "run.json").read_text())
    assert run["n_reused"] == 4 and run["n_answered_this_session"] == 5
    strip = lambda ps: [{k: v for k, v in p.items()} for p in ps]  # noqa: E731
    assert strip(rows(out / "predictions.jsonl")) == strip(rows(tmp_path / "full" / "predictions.jsonl"))
    with pytest.raises(ConfigError, match="different settings"):
        benchmark.evaluate(config(tiny_model, fixture_data["cmmlu-general"], method="generate", limit=9), out)


def test_options_and_bad_settings_are_refused(fixture_data, tiny_model, tmp_path):
    medical = get_benchmark("cmmlu-medical")
    with pytest.raises(ConfigError, match="takes no options"):
        medical.evaluate(config(tiny_model, fixture_data["cmmlu-medical"], options={"protocol": "official"}), tmp_path)
    with pytest.raises(ConfigError, match="split 'val'"):
        medical.evaluate(config(tiny_model, fixture_data["cmmlu-medical"], split="val"), tmp_path)
    with pytest.raises(ConfigError, match="unknown option 'circular'"):
        get_benchmark("cmb").evaluate(config(tiny_model, fixture_data["cmb"], options={"circular": True}), tmp_path)


def test_eval_suite_command_end_to_end(cli, cmb_data, fixture_data, tiny_model, tmp_path):
    args = ["eval", "suite", "--model", tiny_model, "--benchmarks", "cmb,cmmlu-medical,cmmlu-general",
            "--data", f"cmb={cmb_data}", "--data", f"cmmlu-medical={fixture_data['cmmlu-medical']}",
            "--data", f"cmmlu-general={fixture_data['cmmlu-general'].parent}", "--method", "loglik",
            "--sample", 12, "--device", "cpu", "--out", tmp_path / "suite"]
    result = cli(args)
    assert result.exit_code == 0, result.output
    suite = json.loads((tmp_path / "suite" / "suite.json").read_text())
    assert [r["benchmark"] for r in suite["benchmarks"]] == ["cmb", "cmmlu-medical", "cmmlu-general"]
    for row in suite["benchmarks"]:
        scores = json.loads((tmp_path / "suite" / row["benchmark"] / "scores.json").read_text())
        assert (row["score"], row["ci95"]) == get_benchmark(row["benchmark"]).headline(scores)
        assert f"{100 * row['score']:.2f}" in (tmp_path / "suite" / "suite.md").read_text(encoding="utf-8")
    medical = json.loads((tmp_path / "suite" / "cmmlu-medical" / "scores.json").read_text())
    assert medical["subset"]["kind"] == "sample" and medical["n"] + len(medical["unscored"]) == 12
    # The suite's CMB folder holds what `eval cmb` writes for the same settings, byte for byte.
    assert cli(["eval", "cmb", "--model", tiny_model, "--data", cmb_data, "--method", "loglik", "--sample", 12,
                "--device", "cpu", "--out", tmp_path / "cmb"]).exit_code == 0
    for name in ("predictions.jsonl", "scores.json", "scores.md", "submission.json"):
        assert (tmp_path / "suite" / "cmb" / name).read_bytes() == (tmp_path / "cmb" / name).read_bytes(), name


def test_eval_benchmarks_lists_every_registered_benchmark(cli):
    result = cli(["eval", "benchmarks"])
    assert result.exit_code == 0
    for name in benchmark_names():
        assert f"{name}: " in result.output
    assert "macro:subject" in result.output and "haonan-li/cmmlu" in result.output
