"""Data-parallel CMB evaluation: N processes give the bytes one process gives, and a killed shard resumes."""

import json
import os
import subprocess
import sys

import pytest

from collectivesft.errors import ConfigError
from collectivesft.eval.cmb.runner import evaluate_cmb
from collectivesft.eval.config import CMBEvalConfig
from collectivesft.eval.parallel import KILL_HOOK, Shard, ShardFailed, shard_batches, shard_device, shard_from_env

# 8 questions in batches of 2: shard 0 answers batches 0 and 2, shard 1 batches 1 and 3.
LIMIT, BATCH = 8, 2
# What may differ between a one-process and an N-process run of the same questions.
SESSION_FIELDS = ("seconds_this_session", "questions_per_second", "cpu_seconds_this_session", "estimate",
                  "data_parallel", "n_answered_this_session", "n_reused")


def settings(model, data, method, **extra):
    return CMBEvalConfig(model=str(model), data=str(data), method=method, max_new_tokens=16, batch_size=BATCH,
                         device="cpu", limit=LIMIT, **extra)


@pytest.fixture(scope="module")
def single(cmb_data, tiny_model, tmp_path_factory):
    """One-process runs, the reference: {method: run folder}."""
    runs = {}
    for method in ("generate", "loglik"):
        runs[method] = tmp_path_factory.mktemp(f"one-{method}")
        evaluate_cmb(settings(tiny_model, cmb_data, method), runs[method])
    return runs


def assert_same_results(a, b):
    for name in ("predictions.jsonl", "scores.json", "submission.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name

    def run(folder):
        data = json.loads((folder / "run.json").read_text())
        data["config"].pop("data_parallel")
        return {k: v for k, v in data.items() if k not in SESSION_FIELDS}

    assert run(a) == run(b)


@pytest.fixture()
def worker_env(monkeypatch):
    """Workers on one thread each (the test machine is small); no kill hook unless a test sets one."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv(KILL_HOOK, raising=False)
    return monkeypatch


def test_a_killed_shard_resumes_answering_only_what_is_missing(single, cmb_data, tiny_model, tmp_path, worker_env):
    config = settings(tiny_model, cmb_data, "loglik", data_parallel=2)
    worker_env.setenv(KILL_HOOK, "1:1")  # shard 1 dies (SIGKILL) after its first batch
    with pytest.raises(ShardFailed, match=r"shard 1 failed \(killed by signal 9\) after 2 answers; log: .*shards/1/log"):
        evaluate_cmb(config, tmp_path)
    kept = {i: (tmp_path / f"shards/{i}/predictions.partial.jsonl").read_text() for i in (0, 1)}
    assert [json.loads(line)["id"] for line in kept[0].splitlines()] == [1, 2, 5, 6]
    assert [json.loads(line)["id"] for line in kept[1].splitlines()] == [3, 4]

    # A changed setting must not mix with the shards' answers.
    with pytest.raises(ConfigError, match=r"shards/[01] holds shard answers with different settings \(shots\)"):
        evaluate_cmb(settings(tiny_model, cmb_data, "loglik", data_parallel=2, shots=1), tmp_path)

    worker_env.delenv(KILL_HOOK)
    evaluate_cmb(config, tmp_path)
    assert_same_results(single["loglik"], tmp_path)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["n_answered_this_session"] == 2  # batch 3 only: questions 7 and 8
    assert [(s["index"], s["answered"]) for s in run["data_parallel"]["shards"]] == [(1, 2)]
    assert {"load_seconds", "answer_seconds", "answer_cpu_seconds"} <= set(run["data_parallel"]["shards"][0])
    partial = [json.loads(line)["id"] for line in (tmp_path / "predictions.partial.jsonl").read_text().splitlines()]
    assert partial == list(range(1, LIMIT + 1))  # merged in question order, each once


def test_launched_ranks_generate_the_bytes_of_one(single, cmb_data, tiny_model, tmp_path, worker_env, cli):
    """As under accelerate launch / torchrun: RANK, LOCAL_RANK and WORLD_SIZE set, one shard per rank
    (rank 1 a subprocess, rank 0 in this process, which merges and writes the results)."""
    args = ["eval", "cmb", "--model", str(tiny_model), "--data", str(cmb_data), "--method", "generate",
            "--max-new-tokens", "16", "--batch-size", str(BATCH), "--device", "cpu", "--limit", str(LIMIT),
            "--out", str(tmp_path)]
    rank1 = subprocess.Popen([sys.executable, "-m", "collectivesft", *args],
                             env={**os.environ, "RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for name, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "2")):
            worker_env.setenv(name, value)
        result = cli(args)
    finally:
        log = rank1.communicate(timeout=300)[0]
    assert rank1.returncode == 0, log
    assert "rank 1 of 2: shard answered" in log
    assert result.exit_code == 0, result.output
    assert_same_results(single["generate"], tmp_path)
    assert json.loads((tmp_path / "run.json").read_text())["n_answered_this_session"] == LIMIT
    assert not list(tmp_path.glob("shards/*/predictions.partial.jsonl"))  # merged, then removed


@pytest.mark.parametrize("count, index, expected", [
    (1, 0, [[1, 2], [3, 4], [5]]),            # one process: the plain batches
    (2, 0, [[1, 2], [5]]),                    # batches 0 and 2
    (2, 1, [[3, 4]]),                         # batch 1
    (4, 3, []),                               # more shards than batches: nothing to do
], ids=["one-process", "shard-0-of-2", "shard-1-of-2", "idle-shard"])
def test_shards_take_whole_one_process_batches_in_turn(count, index, expected):
    assert shard_batches([1, 2, 3, 4, 5], 2, index, count) == expected


@pytest.mark.parametrize("env, expected", [
    ({}, None),                                                            # a plain process
    ({"WORLD_SIZE": "1", "RANK": "0"}, None),                              # a launcher of one
    ({"WORLD_SIZE": "2", "RANK": "1"}, Shard(1, 2, launched=True, local=1)),  # LOCAL_RANK defaults to RANK
    ({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}, Shard(3, 4, launched=True, local=1)),  # second node
], ids=["none", "world-of-one", "rank-1", "multi-node"])
def test_launcher_environment_names_the_shard(env, expected):
    assert shard_from_env(env) == expected


@pytest.mark.parametrize("env, message", [
    ({"WORLD_SIZE": "2"}, "RANK is not set"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK=2 is outside WORLD_SIZE=2"),
    ({"WORLD_SIZE": "two", "RANK": "0"}, "must be integers"),
], ids=["no-rank", "rank-too-big", "not-a-number"])
def test_a_broken_launcher_environment_is_refused(env, message):
    with pytest.raises(ConfigError, match=message):
        shard_from_env(env)


@pytest.mark.parametrize("device, backend", [("cpu", "hf"), ("cuda:1", "hf"), ("auto", "vllm"), ("auto", "openai")],
                         ids=["explicit-cpu", "explicit-gpu", "vllm", "openai"])
def test_explicit_devices_and_other_backends_are_not_moved(device, backend):
    assert shard_device(device, backend, 3) == device


def test_vllm_copies_are_not_stacked_on_one_gpu(cmb_data, tiny_model, tmp_path):
    with pytest.raises(ConfigError, match="with vllm use tensor_parallel_size"):
        evaluate_cmb(settings(tiny_model, cmb_data, "generate", backend="vllm", data_parallel=2), tmp_path)


def test_data_parallel_is_refused_for_cmb_clin(cmb_data, tiny_model, tmp_path):
    from collectivesft.eval.cmb.clin import evaluate_clin
    from collectivesft.eval.config import ClinEvalConfig

    with pytest.raises(ConfigError, match="CMB-Clin runs in one process"):
        evaluate_clin(ClinEvalConfig(model=str(tiny_model), data=str(cmb_data), data_parallel=2), tmp_path)


def test_suite_benchmarks_share_items_over_processes_with_the_bytes_of_one(tiny_model, tmp_path, worker_env):
    """eval suite --data-parallel 2 on a benchmark beyond CMB: the same files as one process."""
    import random

    from collectivesft.benchmarks.base import get_benchmark
    from collectivesft.eval.suite.config import SuiteBenchmarkConfig
    from collectivesft.eval.suite.runner import evaluate_benchmark

    benchmark = get_benchmark("cmmlu-medical")
    data = benchmark.write_fixture(tmp_path / "cmmlu", random.Random(0), 12)

    def run(out, n):
        config = SuiteBenchmarkConfig(model=str(tiny_model), data=str(data), method="loglik", device="cpu",
                                      batch_size=BATCH, limit=LIMIT, explorer=False, data_parallel=n)
        return evaluate_benchmark(benchmark, config, out)

    one, two = run(tmp_path / "one", 1), run(tmp_path / "two", 2)
    assert one == two
    for name in ("predictions.jsonl", "scores.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert json.loads((tmp_path / "two" / "run.json").read_text())["data_parallel"]["processes"] == 2
