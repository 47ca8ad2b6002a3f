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
