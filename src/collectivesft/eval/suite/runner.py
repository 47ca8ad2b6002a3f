"""Run a model on any registered benchmark: resumable, batched, through any registered back-end.

The shared runner of the suite (every Benchmark without its own `evaluate`): items of the split
(config.split, else the benchmark's eval split), shots from its shots split, chats from its
declared prompt (eval/suite/prompts.py), then generate / loglik / cloze as CMB's runner does
them (eval/cmb/runner.py: the same back-ends, extraction, loglik letter sets and cloze rule).
Every answer is appended to OUT/predictions.partial.jsonl as it comes (eval/resume.py), so a
killed run resumes; a run folder whose answers came from other settings is refused.

Writes OUT/predictions.jsonl, scores.json + scores.md (when the split has answers),
submission.json (when it has none and the benchmark has a submission format), run.json,
generation.json and explorer.html (unless config.explorer is off).
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from collectivesft.benchmarks.base import Benchmark, Item
from collectivesft.benchmarks.cmb.format import MULTI, SINGLE
from collectivesft.errors import ConfigError
from collectivesft.eval.parallel import Shard, coordinates
from collectivesft.eval.resume import check_fingerprint, read_partial, say_resumed
from collectivesft.eval.suite import prompts
from collectivesft.io import write_json

PARTIAL = "predictions.partial.jsonl"
# Settings that change the answers: a resumed run must match them.
_FINGERPRINT = ("benchmark", "model", "adapter", "backend", "data", "split", "method", "shots", "system",
                "max_new_tokens", "temperature")


def question_type(item: Item) -> str:
    """The extraction rule's question kind: several letters allowed only for a multi-answer item."""
    return MULTI if item.multi else SINGLE


def answer_batch(backend: Any, config: Any, benchmark: Benchmark, batch: list[Item],
                 chats: list[list[dict[str, str]]]) -> list[dict[str, Any]]:
    """Prediction rows for a batch of items (and their chats) with the configured method."""
    from collectivesft.eval.answering import answer_rows

    return answer_rows(backend, batch, chats, method=config.method, protocol="collectivesft",
                       answer_prefix=benchmark.prompt.answer_prefix, question_type=question_type,
                       max_new_tokens=config.max_new_tokens, temperature=config.temperature)


def choose(benchmark: Benchmark, items: list[Item], config: Any) -> tuple[list[int], dict[str, Any]]:
    """Indices of the items a run answers (all, the first N, or a sample stratified by the primary
    category), in file order, and how they were chosen (`subset` in run.json and scores.json)."""
    import random

    from collectivesft.eval.cmb.subset import allocate

    m = len(items)
    if config.sample is not None and config.sample < m:
        key = benchmark.categories[0] if benchmark.categories else None
        strata: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            strata.setdefault(item.groups.get(key, "-") if key else "all", []).append(i)
        taken = allocate({k: len(v) for k, v in strata.items()}, config.sample, config.sample_seed)
        chosen: list[int] = []
        for k, indices in strata.items():
            order = list(indices)
            random.Random(f"{config.sample_seed}:{k}").shuffle(order)
            chosen += order[:taken[k]]
        chosen.sort()
        return chosen, {"kind": "sample", "n": len(chosen), "of": m, "seed": config.sample_seed,
                        "stratified_by": key or "nothing"}
    if config.limit is not None and config.limit < m:
        return list(range(config.limit)), {"kind": "first", "n": config.limit, "of": m}
    return list(range(m)), {"kind": "all", "n": m, "of": m}


def _data(benchmark: Benchmark, config: Any) -> str:
    data = config.data or benchmark.default_data()
    if not data:
        raise ConfigError(f"{benchmark.name}: no data given and no hub id to fall back on; pass --data "
                          f"{benchmark.name}=PATH ({benchmark.layout}). {benchmark.how_to_get}".rstrip())
    return str(data)


def _split(benchmark: Benchmark, config: Any) -> str:
    split = config.split or benchmark.eval_split
    if split not in benchmark.splits:
        raise ConfigError(f"{benchmark.name}: split {split!r} is not one of {', '.join(benchmark.splits)}")
    return split


def _prediction(item: Item, row: dict[str, Any], method: str) -> dict[str, Any]:
    """The predictions.jsonl row of an item from its answer row (outputs re-extracted)."""
    from collectivesft.eval.cmb.outputs import extraction_rule, model_answer

    if "output" in row:  # re-extract: extraction may have improved since the row was written
        answer = model_answer(row, "collectivesft", question_type(item), item.options)
    else:
        answer = row.get("model_answer", "")
    pred: dict[str, Any] = {"id": item.id, "model_answer": answer,
                            "correct": None if item.answer is None else answer == item.answer,
                            "answer": item.answer, "groups": dict(item.groups)}
    if item.answer is None:
        pred["unscored"] = item.raw.get("problem") or "no published answer"
    pred.update({k: row[k] for k in ("prompt", "output") if k in row})
    pred["extraction"] = extraction_rule(row, method, "collectivesft", question_type(item), item.options)
    pred.update({k: row[k] for k in ("cut_off", "logprobs") if k in row})
    return pred


def run_shard(task: dict[str, Any]) -> None:
    """A spawned worker's entry (eval/parallel.py): one benchmark on this worker's shard of the items."""
    from collectivesft.benchmarks.base import get_benchmark
    from collectivesft.eval.config import build_config
    from collectivesft.eval.suite.config import SuiteBenchmarkConfig

    config = build_config(SuiteBenchmarkConfig, task["config"], f"shard task {task['out']}")
    evaluate_benchmark(get_benchmark(task["benchmark"]), config, task["out"],
                       Shard(task["index"], task["count"], launched=False, local=task["index"]))


def evaluate_benchmark(benchmark: Benchmark, config: Any, out: str | Path, shard: Shard | None = None) -> dict[str, Any]:
    """Evaluate `config.model` on `benchmark` into `out`; return the scores (or counts when the split
    has no answers). config.data_parallel > 1 shares the items over that many processes, batch by
    batch as one process cuts them (eval/parallel.py), so the files are the same bytes."""
    from collectivesft.io import write_jsonl

    from collectivesft.eval.suite.scoring import score_predictions, scores_markdown

    if config.limit and config.sample:
        raise ConfigError("limit and sample both cut the items (the first N, or a stratified random N): give one")
    benchmark.check_options(config.options)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data, split = _data(benchmark, config), _split(benchmark, config)
    items = benchmark.load(data, split)
    if not items:
        raise ConfigError(f"{benchmark.name}: {data} holds no {split} items")
    pool: list[Item] = []
    if config.shots:
        if not benchmark.shots_split:
            raise ConfigError(f"{benchmark.name} has no split to draw few-shot examples from: use shots 0")
        pool = benchmark.load(data, benchmark.shots_split)
    chosen, subset = choose(benchmark, items, config)
    items = [items[i] for i in chosen]
    key = benchmark.categories[0] if benchmark.categories else None
    chats = {item.id: prompts.chat(benchmark, item, prompts.pick_shots(item, pool, config.shots, key),
                                   config.method, config.system) for item in items}
    if len(chats) != len(items):
        raise ConfigError(f"{benchmark.name}: {data} ({split}) repeats item ids; ids must be unique")
    fingerprint = SimpleNamespace(benchmark=benchmark.name, data=data, split=split,
                                  **{k: getattr(config, k) for k in _FINGERPRINT if k not in ("benchmark", "data", "split")})
    if coordinates(shard):
        check_fingerprint(out, fingerprint, _FINGERPRINT, PARTIAL)
    sharded = None
    if shard is not None or config.data_parallel > 1:
        from collectivesft.eval import parallel

        parallel.refuse_unplaced(config.backend)
        job = parallel.Job(out, PARTIAL, items, key=lambda item: str(item.id), row_key=lambda row: str(row["id"]),
                           batch_size=config.batch_size, config=fingerprint, fingerprint_keys=_FINGERPRINT,
                           answerer=parallel.backend_answerer(config, shard, lambda backend, batch: answer_batch(
                               backend, config, benchmark, batch, [chats[i.id] for i in batch])),
                           task={"entry": "collectivesft.eval.suite.runner:run_shard",
                                 "config": config.model_dump(mode="json"), "benchmark": benchmark.name})
        sharded = parallel.run(job, shard, config.data_parallel)
        if sharded is None:
            return {"shard": shard.index, "count": shard.count}
    done = {str(row["id"]): row for row in read_partial(out / PARTIAL)}
    pending = [item for item in items if str(item.id) not in done]
    if sharded is not None and pending:
        raise RuntimeError(f"data-parallel run left {len(pending)} items unanswered (first: {pending[0].id})")
    answered_now = sharded.answered if sharded is not None else len(pending)
    say_resumed(len(items) - answered_now, len(items), out / PARTIAL)
    elapsed = cpu = 0.0
    if sharded is not None:
        elapsed, cpu = sharded.seconds, sharded.cpu_seconds
    estimate = None
    if pending:
        from collectivesft.eval.answering import answer_pending

        elapsed, cpu, estimate = answer_pending(
            config, out, pending, len(items), f"{benchmark.name} {config.method}", lambda row: str(row["id"]),
            lambda backend, batch: answer_batch(backend, config, benchmark, batch, [chats[i.id] for i in batch]),
            PARTIAL, subset["of"], subset["kind"] == "all", done)
    predictions = [_prediction(item, done.get(str(item.id), {}), config.method) for item in items]
    write_jsonl(out / "predictions.jsonl", predictions)
    result: dict[str, Any]
    if any(p["correct"] is not None for p in predictions):
        result = score_predictions(benchmark, predictions)
        result.update({"split": split, "method": config.method, "subset": subset})
        write_json(out / "scores.json", result)
        from collectivesft.eval.cmb.subset import describe
        from collectivesft.io import atomic_write

        with atomic_write(out / "scores.md") as fh:
            fh.write(scores_markdown(result, describe(subset).replace("questions", "items")))
        unscored = result["unscored"]
        if unscored:
            print(f"{benchmark.name}: {len(unscored)} item(s) not scored (first: {unscored[0]['id']}: "
                  f"{unscored[0]['reason']}); listed in {out / 'scores.json'}", file=sys.stderr)
    else:
        result = {"benchmark": benchmark.name, "split": split, "n_items": len(items), "score": None, "ci95": None,
                  "n_answered": sum(1 for p in predictions if p["model_answer"]), "subset": subset}
    submission = None if any(item.answer for item in items) else benchmark.submission(
        items, {str(p["id"]): p["model_answer"] for p in predictions})
    if submission is not None:
        write_json(out / "submission.json", submission)
    write_json(out / "run.json", {
        "fingerprint": {k: getattr(fingerprint, k) for k in _FINGERPRINT}, "benchmark": benchmark.name,
        "config": dict(config.model_dump(), data=data, split=split), "status": "done", "n_questions": len(items),
        "subset": subset, "n_answered_this_session": answered_now, "n_reused": len(items) - answered_now,
        "seconds_this_session": round(elapsed, 3),
        "questions_per_second": round(answered_now / elapsed, 3) if answered_now and elapsed > 0 else None,
        "cpu_seconds_this_session": round(cpu, 3), "estimate": estimate,
        **({"data_parallel": sharded.to_json()} if sharded is not None else {}),
    })
    if config.explorer:
        from collectivesft.report.explorer import write_explorer

        write_explorer([out], out / "explorer.html")
    return result
