"""One batch of multiple-choice questions answered by a back-end, the same way for every benchmark.

CMB's runner and the suite's runner both hand over the items (anything with `id`, `options`
and `multi`), their chats and the method; the rows that come back are what predictions.partial.jsonl
keeps: the output and the extracted answer (generate), the letter likelihoods (loglik) or the
option-text likelihoods (cloze), with the prompt as the model saw it and whether it was cut off.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence


def prompt_text(backend: Any, chat: list[dict[str, str]]) -> str:
    """The prompt as the back-end sees it: rendered with its tokenizer's template when it has one,
    else the messages joined (an HTTP endpoint renders the chat itself)."""
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is not None:
        from collectivesft.eval.chat import render_chat

        return render_chat(tokenizer, chat)
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in chat)


def answer_rows(backend: Any, items: Sequence[Any], chats: list[list[dict[str, str]]], *, method: str,
                protocol: str, answer_prefix: str, question_type: Callable[[Any], str], max_new_tokens: int,
                temperature: float) -> list[dict[str, Any]]:
    """Prediction rows for `items` and their chats with `method` (generate, loglik or cloze).

    generate reads the answer with `protocol`'s extraction for the item's `question_type`; loglik
    scores `answer_prefix` + each candidate letter string (every letter subset for a multi-answer
    item) as the assistant's first words."""
    from collectivesft.eval.backends.registry import ScoreRequest
    from collectivesft.eval.cmb.outputs import model_answer
    from collectivesft.eval.cmb.prompts import answer_candidates

    if method == "cloze":
        from collectivesft.eval.cmb.cloze import cloze_rows

        return [{**row, "prompt": prompt_text(backend, chat), "cut_off": False}
                for row, chat in zip(cloze_rows(backend, items, chats), chats)]
    if method == "generate":
        replies = backend.complete(chats, max_new_tokens=max_new_tokens, temperature=temperature)
        return [{"id": item.id, "output": g.text,
                 "model_answer": model_answer({"output": g.text}, protocol, question_type(item), item.options),
                 "prompt": prompt_text(backend, chat), "cut_off": g.finish_reason == "length"}
                for item, g, chat in zip(items, replies, chats)]
    requests = [ScoreRequest(chat, [answer_prefix + c for c in answer_candidates(item)], end_term=item.multi)
                for item, chat in zip(items, chats)]
    rows = []
    for item, req, scores in zip(items, requests, backend.score(requests)):
        ranked = sorted(zip(req.continuations, scores), key=lambda kv: -kv[1])
        rows.append({"id": item.id, "model_answer": ranked[0][0][len(answer_prefix):],
                     "logprobs": {c[len(answer_prefix):]: round(s, 4) for c, s in ranked[:6]},
                     "prompt": prompt_text(backend, req.chat), "cut_off": False})
    return rows


def answer_pending(config: Any, out: Any, pending: Sequence[Any], total: int, label: str, key: Callable[[Any], str],
                   answer: Callable[[Any, list[Any]], list[dict[str, Any]]], partial: str, subset_of: int,
                   whole_split: bool, done: dict[str, dict[str, Any]]) -> tuple[float, float, dict[str, Any] | None]:
    """Load config's back-end, answer `pending` batch by batch with `answer(backend, batch)`, append each
    row to OUT/`partial` as it comes (a kill loses at most the batch in flight) and into `done`, with a
    progress bar over `total` and a cost forecast after the first batches. Returns (answering seconds,
    CPU seconds, forecast); model loading is not counted."""
    import sys
    import time
    from pathlib import Path

    from collectivesft.eval.backends.registry import get_backend
    from collectivesft.eval.cmb.cost import WARMUP, forecast, forecast_line
    from collectivesft.eval.resume import PartialWriter
    from collectivesft.io import write_json
    from collectivesft.progress import progress

    out = Path(out)
    backend = get_backend(config)
    # How replies are produced (template, decoding config): the record that greedy was greedy.
    write_json(out / "generation.json", backend.describe(config.max_new_tokens, config.temperature))
    estimate = None
    started, cpu_started = time.perf_counter(), time.process_time()
    writer = PartialWriter(out / partial)
    try:
        with progress(total, label, "q", total - len(pending)) as bar:
            answered = 0
            for start in range(0, len(pending), config.batch_size):
                batch = list(pending[start:start + config.batch_size])
                for row in answer(backend, batch):
                    writer.append(row)
                    done[key(row)] = row
                bar.update(len(batch))
                answered += len(batch)
                if estimate is None and answered >= min(WARMUP, len(pending)):
                    estimate = forecast(answered, time.perf_counter() - started, time.process_time() - cpu_started,
                                        len(pending) - answered, subset_of, whole_split)
                    bar.write(forecast_line(estimate), file=sys.stderr)
    finally:
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        writer.close()
        backend.close()
    return elapsed, cpu, estimate
