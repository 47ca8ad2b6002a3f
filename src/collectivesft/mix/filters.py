"""Row filters: each answers "why drop this record?" with a short reason, or None to keep it.

Reasons are counted as `filter:<reason>` in the manifest, so a filter that removes too
much is visible. Token bounds batch a whole chunk through the tokenizer.
"""

from __future__ import annotations

from typing import Any, Callable

from collectivesft.benchmarks.cmb.format import is_valid_answer
from collectivesft.mix.recipe import FilterSpec



def record_chars(rec: dict[str, Any]) -> int:
    """Characters over all turns (the length the filters and the report use)."""
    return sum(len(m["content"]) for m in rec["messages"])


def mcq_answer_problem(meta: dict[str, Any]) -> str | None:
    """Why an MCQ's meta.answer is unusable (missing, not letters A-F, not among its options)."""
    answer = meta.get("answer")
    if not isinstance(answer, str) or not answer:
        return "mcq-answer-missing"
    if not is_valid_answer(answer):
        return "mcq-answer-invalid"
    options = meta.get("options")
    if isinstance(options, dict) and options and any(letter not in options for letter in answer):
        return "mcq-answer-not-in-options"
    return None


def make_filter(spec: FilterSpec) -> Callable[[dict[str, Any], int], str | None]:
    """One function applying every enabled character-level filter in a fixed order; it takes a
    record and its record_chars (which the caller has computed already)."""
    langs = set(spec.langs) if spec.langs is not None else None

    def check(rec: dict[str, Any], chars: int) -> str | None:
        if langs is not None and rec["lang"] not in langs:
            return "lang"
        if spec.drop_empty_turns:
            for m in rec["messages"]:
                if not m["content"].strip():
                    return "empty-turn"
        if chars < spec.min_chars:
            return "too-short-chars"
        if spec.max_chars is not None and chars > spec.max_chars:
            return "too-long-chars"
        if spec.valid_mcq_answers and rec["task"] == "mcq":
            return mcq_answer_problem(rec["meta"])
        return None

    return check


class TokenCounter:
    """Counts tokens of whole conversations with a Hugging Face tokenizer (loaded once)."""

    def __init__(self, path: str):
        from transformers import AutoTokenizer

        from collectivesft.errors import ConfigError

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"filters.tokenizer: cannot load tokenizer {path!r} ({exc})") from None

    def count(self, recs: list[dict[str, Any]]) -> list[int]:
        texts = ["\n".join(m["content"] for m in rec["messages"]) for rec in recs]
        if not texts:
            return []
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(x) for x in ids]


def token_problem(n_tokens: int, spec: FilterSpec) -> str | None:
    if n_tokens < spec.min_tokens:
        return "too-short-tokens"
    if spec.max_tokens is not None and n_tokens > spec.max_tokens:
        return "too-long-tokens"
    return None
