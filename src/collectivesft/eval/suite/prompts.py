"""Chats for a benchmark's items, from its declared `Prompt` (benchmarks/base.py).

generate and loglik ask the published prompt as one user turn: the header once, each shot as
item text + answer prefix + its letters + a blank line (CMMLU's and C-Eval's few-shot form),
then the item. generate ends the turn with the answer prefix, as the published prompt does
("…\\n答案是："), and extracts the answer from the reply; loglik leaves it out of the user turn
and scores prefix + letters as the assistant's first words (as CMB's loglik scores "答案是A").
cloze asks the question alone (no options, no instruction) and scores each option's text, as
eval/cmb/cloze.py does for CMB.
"""

from __future__ import annotations

from typing import Any

from collectivesft.benchmarks.base import Benchmark, Item


def pick_shots(item: Item, pool: list[Item], k: int, key: str | None) -> list[Item]:
    """Up to k shots with answers: the same value of the primary category first (CMMLU: the
    subject's first dev rows), then the rest, in file order; never the item itself."""
    if k <= 0:
        return []
    usable = [p for p in pool if p.answer and p.question != item.question]
    if key is None:
        return usable[:k]
    same = [p for p in usable if p.groups.get(key) == item.groups.get(key)]
    return (same + [p for p in usable if p not in same])[:k]


def header(benchmark: Benchmark, item: Item) -> str:
    """The prompt header for `item`: {subject} is its subject_name group, else the benchmark's title."""
    prompt = benchmark.prompt
    text = prompt.multi_header if item.multi and prompt.multi_header else prompt.header
    return text.format(subject=item.groups.get("subject_name") or benchmark.title)


def item_text(benchmark: Benchmark, item: Item) -> str:
    """The item as the prompt asks it: question and option lines, without the answer prefix."""
    prompt = benchmark.prompt
    options = "\n".join(prompt.option_line.format(letter=k, text=v) for k, v in item.options.items())
    return prompt.item.format(question=item.question, options=options)


def user_text(benchmark: Benchmark, item: Item, shots: list[Item], with_prefix: bool) -> str:
    """Header, shots with their answers, then the item (ending in the answer prefix when asked)."""
    prefix = benchmark.prompt.answer_prefix
    text = header(benchmark, item)
    for s in shots:
        text += item_text(benchmark, s) + prefix + (s.answer or "") + "\n\n"
    return text + item_text(benchmark, item) + (prefix if with_prefix else "")


def chat(benchmark: Benchmark, item: Item, shots: list[Item], method: str,
         system: str | None = None) -> list[dict[str, str]]:
    """The chat for one item under `method` (generate, loglik or cloze)."""
    turns: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    if method == "cloze":
        for s in shots:
            right = "；".join(s.options[k] for k in s.answer or "" if k in s.options)
            turns += [{"role": "user", "content": s.question}, {"role": "assistant", "content": right}]
        return turns + [{"role": "user", "content": item.question}]
    return turns + [{"role": "user", "content": user_text(benchmark, item, shots, with_prefix=method == "generate")}]
