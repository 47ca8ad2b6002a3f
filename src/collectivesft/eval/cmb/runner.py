"""Run a model on CMB-Exam: resumable, batched, through any registered back-end.

Every answer is appended to OUT/predictions.partial.jsonl as soon as it exists (flushed and
fsynced), so a run killed at any point, even by SIGKILL, restarts where it stopped: done ids
are skipped, a torn last line is dropped. The final files are written atomically at the end:
predictions.jsonl, submission.json (every id), explorer.html, scores.json / scores.md / chart when the key is
known, run.json (settings, timings, which questions: `subset`, the cost forecast: `estimate`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collectivesft.errors import ConfigError
from collectivesft.benchmarks.cmb.format import id_key
from collectivesft.benchmarks.cmb.load import KeyRow, Question, key_from_questions, load_key, load_questions, locate_key
from collectivesft.benchmarks.cmb.render import ANSWER_PREFIX
from collectivesft.eval.cmb import protocol as protocols
from collectivesft.eval.cmb import subset as subsets
from collectivesft.eval.cmb.outputs import extraction_rule, model_answer
from collectivesft.eval.config import CMBEvalConfig
from collectivesft.eval.parallel import Outcome, Shard, coordinates
from collectivesft.eval.resume import check_fingerprint, read_partial, say_resumed
from collectivesft.io import write_json

PARTIAL = "predictions.partial.jsonl"
# Settings that change the answers: a resumed run must match them.
_FINGERPRINT = ("model", "backend", "data", "split", "protocol", "method", "shots", "cot", "fewshot_seed", "system",
                "max_new_tokens", "temperature")

__all__ = ["CMBEvalConfig", "evaluate_cmb"]


def answer_batch(backend: Any, config: CMBEvalConfig, batch: list[Question],
                 chats: list[list[dict[str, str]]]) -> list[dict[str, Any]]:
    """Prediction rows for a batch of questions (and their chats) with the configured method."""
    from collectivesft.eval.answering import answer_rows

    return answer_rows(backend, batch, chats, method=config.method, protocol=config.protocol,
                       answer_prefix=ANSWER_PREFIX, question_type=lambda q: q.question_type,
                       max_new_tokens=config.max_new_tokens, temperature=config.temperature)


def run_settings(config: CMBEvalConfig, out: Path) -> dict[str, Any]:
    """The settings that move a score (diagnostics), with the chat template from generation.json."""
    import json

    settings = {k: getattr(config, k) for k in _FINGERPRINT}
    described = out / "generation.json"
    if described.is_file():
        settings["template"] = json.loads(described.read_text(encoding="utf-8")).get("chat_template")
    return settings


def resolve_key(config: CMBEvalConfig, questions: list[Question]) -> list[KeyRow] | None:
    """The answer key: --key, else the key shipped in a local release (test), else val's own answers."""
    if config.key:
        return load_key(config.key)
    if config.split == "val":
        return key_from_questions(questions) or None
    shipped = locate_key(config.data)
    return load_key(shipped) if shipped else None


def _data_parallel(config: CMBEvalConfig, out: Path, questions: list[Question],
                   chat_of: dict[str, list[dict[str, str]]], shard: Shard | None) -> Outcome | None:
    """Answer the questions over config.data_parallel processes (shard None: this is the parent), or
    this process's share of them (a spawned worker or a launched rank); eval/parallel.py."""
    from collectivesft.eval import parallel

    parallel.refuse_unplaced(config.backend)
    job = parallel.Job(out, PARTIAL, questions, key=lambda q: id_key(q.id), row_key=lambda r: id_key(r["id"]),
                       batch_size=config.batch_size, config=config, fingerprint_keys=_FINGERPRINT,
                       answerer=parallel.backend_answerer(config, shard, lambda backend, batch: answer_batch(
                           backend, config, batch, [chat_of[id_key(q.id)] for q in batch])),
                       task={"entry": "collectivesft.eval.cmb.runner:run_shard",
                             "config": config.model_dump(mode="json")})
    return parallel.run(job, shard, config.data_parallel)


def run_shard(task: dict[str, Any]) -> None:
    """A spawned worker's entry (eval/parallel.py): evaluate_cmb on its shard of the questions."""
    from collectivesft.eval.config import build_config

    config = build_config(CMBEvalConfig, task["config"], f"shard task {task['out']}")
    evaluate_cmb(config, task["out"], Shard(task["index"], task["count"], launched=False, local=task["index"]))


def evaluate_cmb(config: CMBEvalConfig, out: str | Path, shard: Shard | None = None) -> dict[str, Any]:
    """Evaluate `config.model` on CMB-Exam into `out`; return the scores (or counts when no key).

    config.data_parallel > 1 shares the questions over that many processes; `shard` says this
    process is one of them (a spawned worker, or a rank of accelerate launch: rank 0 writes the
    final files, other shards return {"shard": i, "count": N})."""
    from collectivesft.eval.cmb.scoring import score_answers
    from collectivesft.eval.cmb.summary import write_score_files

    config = config.model_copy(update={"cot": config.use_cot()})
    if config.cot and config.method != "generate":
        raise ConfigError(f"cot needs method=generate ({config.method} scores the answer directly); "
                          "the official protocol has CoT on by default: add --no-cot")
    if config.protocol == "official" and config.method != "generate":
        raise ConfigError(f"the official protocol generates and extracts answers: use method=generate "
                          f"({config.method} is a collectivesft method)")
    if config.limit and config.sample:
        raise ConfigError("limit and sample both cut the questions (the first N, or a stratified random N): give one")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    questions = load_questions(config.data, config.split)
    pool = load_questions(config.data, "val") if config.shots else []
    # Chats for the whole split, then the cut: official shot draws depend on every earlier question.
    if config.method == "cloze":
        from collectivesft.eval.cmb.cloze import cloze_chat
        from collectivesft.eval.cmb.prompts import pick_shots

        chats = [cloze_chat(q, pick_shots(q, pool, config.shots), config.system) for q in questions]
    else:
        chats = protocols.chats(questions, pool, config.protocol, config.shots, config.cot, config.system,
                                config.fewshot_seed)
    chosen, subset = subsets.choose(questions, config.limit, config.sample, config.sample_seed)
    questions, chats = [questions[i] for i in chosen], [chats[i] for i in chosen]
    chat_of = {id_key(q.id): c for q, c in zip(questions, chats)}
    key = resolve_key(config, questions)
    if coordinates(shard):
        check_fingerprint(out, config, _FINGERPRINT, PARTIAL)
    sharded = None
    if shard is not None or config.data_parallel > 1:
        sharded = _data_parallel(config, out, questions, chat_of, shard)
        if sharded is None:
            return {"shard": shard.index, "count": shard.count}
    done = {id_key(row["id"]): row for row in read_partial(out / PARTIAL)}
    pending = [q for q in questions if id_key(q.id) not in done]
    if sharded is not None and pending:
        raise RuntimeError(f"data-parallel run left {len(pending)} questions unanswered (first: {pending[0].id})")
    answered_now = sharded.answered if sharded is not None else len(pending)
    say_resumed(len(questions) - answered_now, len(questions), out / PARTIAL)
    elapsed = cpu = 0.0
    if sharded is not None:
        elapsed, cpu = sharded.seconds, sharded.cpu_seconds
    estimate = None
    if pending:
        from collectivesft.eval.answering import answer_pending

        elapsed, cpu, estimate = answer_pending(
            config, out, pending, len(questions), f"CMB {config.method}", lambda row: id_key(row["id"]),
            lambda backend, batch: answer_batch(backend, config, batch, [chat_of[id_key(q.id)] for q in batch]),
            PARTIAL, subset.of, subset.kind == "all", done)
    answers = {}
    for q in questions:
        row = done.get(id_key(q.id), {})
        if "output" in row:  # re-extract: extraction may have improved since the row was written
            entry = {"model_answer": model_answer(row, config.protocol, q.question_type, q.options),
                     "output": row["output"]}
        else:
            entry = {"model_answer": row.get("model_answer", "")}
        entry.update({k: row[k] for k in ("prompt", "cut_off") if k in row})
        entry["extraction"] = extraction_rule(row, config.method, config.protocol, q.question_type, q.options)
        answers[id_key(q.id)] = entry
    write_json(out / "submission.json", [{"id": q.id, "model_answer": answers[id_key(q.id)]["model_answer"]}
                                         for q in questions])
    result: dict[str, Any]
    if key:
        wanted = {id_key(q.id) for q in questions}
        scores, predictions = score_answers(answers, [k for k in key if id_key(k.id) in wanted], config.protocol)
        for pred in predictions:
            if "logprobs" in done.get(id_key(pred["id"]), {}):
                pred["logprobs"] = done[id_key(pred["id"])]["logprobs"]
        scores["subset"] = subset.to_json()
        write_score_files(out, scores, predictions, run_settings(config, out))
        result = scores
    else:
        from collectivesft.io import write_jsonl

        write_jsonl(out / "predictions.jsonl", [{"id": q.id, **answers[id_key(q.id)],
                                                 **({"logprobs": done[id_key(q.id)]["logprobs"]}
                                                    if "logprobs" in done.get(id_key(q.id), {}) else {})}
                                                for q in questions])
        result = {"n": len(questions), "n_answered": sum(1 for a in answers.values() if a["model_answer"]),
                  "subset": subset.to_json()}
    write_json(out / "run.json", {
        "fingerprint": {k: getattr(config, k) for k in _FINGERPRINT},
        "config": config.model_dump(), "status": "done", "n_questions": len(questions), "subset": subset.to_json(),
        "n_answered_this_session": answered_now, "n_reused": len(questions) - answered_now,
        "seconds_this_session": round(elapsed, 3),
        "questions_per_second": round(answered_now / elapsed, 3) if answered_now and elapsed > 0 else None,
        "cpu_seconds_this_session": round(cpu, 3), "estimate": estimate,
        **({"data_parallel": sharded.to_json()} if sharded is not None else {}),
    })
    # Every question, how its answer was read and whether it was right, in one page a browser opens.
    from collectivesft.report.explorer import write_explorer

    write_explorer([out], out / "explorer.html")
    return result
