"""Records -> token ids and labels with loss on assistant turns only, and the truncation rules.

Which tokens are "assistant" comes from the chat template:
- a template with `{% generation %}` markers (our named templates) says so itself;
- any other template (e.g. Qwen2.5's own) is rendered turn by turn: the text between the
  prompt rendered with `add_generation_prompt=True` and the conversation rendered through
  that assistant turn is the answer plus its end-of-turn token. A template whose renders are
  not prefixes of one another cannot be masked this way and is reported.

Truncation to `cutoff` tokens keeps the start of the record and never trains on a prompt
without its answer:
- fits: kept whole;
- longer, and at least one assistant turn ends within the cutoff: cut after the last
  assistant turn that fits (later turns are lost, no half answers);
- longer, and even the first answer does not fit: cut at the cutoff (a partial answer);
- the prompt before the first answer is itself >= cutoff: nothing trainable, dropped.
Every outcome is counted.

`truncation: infer_seqlen` is LLaMA-Factory's rule instead (pairs.py): prompt and answer of each
turn trimmed, later turns dropped, nothing dropped whole. Templates that encode through turn
pairs (`intern2-llamafactory-0.8`) build their ids and labels in pairs.py under either rule.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from collectivesft.errors import ConfigError
from collectivesft.train import pairs as P
from collectivesft.train.pairs import DROP_PROMPT_TOO_LONG, IGNORE

DROP_NO_ASSISTANT = "no assistant tokens after templating"


@dataclass
class EncodeStats:
    """What happened to each record on its way to token ids."""

    records: int = 0
    kept: int = 0
    truncated_at_turn: int = 0
    truncated_in_answer: int = 0
    truncated_per_turn: int = 0  # infer_seqlen: trimmed prompt/answer or dropped later turns
    dropped: Counter = field(default_factory=Counter)
    tokens: int = 0
    trainable_tokens: int = 0
    shortest_prompt: int | None = None  # tokens before the first answer, over all records

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "kept": self.kept, "truncated_at_turn": self.truncated_at_turn,
                "truncated_in_answer": self.truncated_in_answer,
                "truncated_per_turn": self.truncated_per_turn, "dropped": dict(self.dropped),
                "tokens": self.tokens, "trainable_tokens": self.trainable_tokens}


def has_generation_markers(template: str | None) -> bool:
    """True when the Jinja template wraps assistant output in generation blocks."""
    import re

    return bool(template) and re.search(r"\{%-?\s*generation\s*-?%\}", template) is not None


def _render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _mask_by_prefixes(tokenizer, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Assistant mask for a template without generation markers, from turn-by-turn renders."""
    text = _render(tokenizer, messages)
    spans: list[tuple[int, int]] = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], add_generation_prompt=True)
        through = _render(tokenizer, messages[: i + 1])
        if not (through.startswith(before) and text.startswith(through)):
            raise ConfigError(
                "the tokenizer's chat template renders earlier turns differently once later turns are added, "
                "so assistant turns cannot be located for loss masking; set chat_template: to a named "
                "template (chatml, intern2, llama3)")
        # Trailing whitespace after the end-of-turn token belongs to the next turn's framing.
        spans.append((len(before), len(through.rstrip())))
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [0] * len(enc["input_ids"])
    for t, (start, _end) in enumerate(enc["offset_mapping"]):
        if any(s <= start < e for s, e in spans):
            mask[t] = 1
    return enc["input_ids"], mask


def encode_messages(tokenizer, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids of the templated conversation and a 0/1 mask of the tokens to learn."""
    if has_generation_markers(tokenizer.chat_template):
        enc = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
        return list(enc["input_ids"]), list(enc["assistant_masks"])
    return _mask_by_prefixes(tokenizer, messages)


def truncate(ids: list[int], mask: list[int], cutoff: int) -> tuple[list[int], list[int], str]:
    """Apply the truncation rules; returns (ids, mask, outcome) where outcome is "kept",
    "truncated_at_turn", "truncated_in_answer" or a drop reason (ids empty then)."""
    if 1 not in mask:
        return [], [], DROP_NO_ASSISTANT
    if len(ids) <= cutoff:
        return ids, mask, "kept"
    first = mask.index(1)
    if first >= cutoff:
        return [], [], DROP_PROMPT_TOO_LONG
    # Ends (exclusive) of assistant runs; keep up to the last one inside the cutoff.
    ends = [i for i in range(1, len(mask) + 1) if mask[i - 1] == 1 and (i == len(mask) or mask[i] == 0)]
    fitting = [e for e in ends if e <= cutoff]
    if fitting:
        end = fitting[-1]
        return ids[:end], mask[:end], "truncated_at_turn"
    return ids[:cutoff], mask[:cutoff], "truncated_in_answer"


TRUNCATIONS = ("turn", "infer_seqlen")


def encode_record(tokenizer, messages: list[dict[str, str]], cutoff: int, template=None,
                  truncation: str = "turn") -> tuple[list[int], list[int], str, int | None]:
    """(ids, labels, outcome, prompt length) of one record; outcome as in `truncate` plus
    "truncated_per_turn" (infer_seqlen) and drop reasons (ids empty then)."""
    if template is not None and template.pair_encoding == "intern2":
        turns = P.intern2_pairs(tokenizer, messages)
        if turns is None:
            return [], [], P.DROP_NOT_ALTERNATING, None
        ids, labels, outcome = P.join_pairs(turns, cutoff, truncation, True, tokenizer.eos_token_id)
        return ids, labels, outcome, len(turns[0][0])
    ids, mask = encode_messages(tokenizer, messages)
    if 1 not in mask:
        return [], [], DROP_NO_ASSISTANT, None
    prompt = mask.index(1)
    if truncation == "infer_seqlen":
        ids, labels, outcome = P.join_pairs(P.mask_pairs(ids, mask), cutoff, truncation, False, None)
        return ids, labels, outcome, prompt
    ids, mask, outcome = truncate(ids, mask, cutoff)
    return ids, [t if m else IGNORE for t, m in zip(ids, mask)], outcome, prompt


def encode_records(
    records: Iterable[dict[str, Any]], tokenizer, cutoff: int, progress: str | None = None,
    template: str | None = None, truncation: str | None = None,
) -> tuple[dict[str, list[list[int]]], EncodeStats]:
    """Encode records into {"input_ids", "labels"} columns (labels -100 outside what is learnt)
    with the named `template`'s encoding (None: the tokenizer's chat template) under the
    `truncation` rule (None: the template's own); returns the columns and the counts."""
    from collectivesft.progress import iterate

    from collectivesft.train.templates import get_template

    spec = get_template(template) if template else None
    if truncation is None:
        truncation = spec.truncation if spec is not None else "turn"
    if truncation not in TRUNCATIONS:
        raise ConfigError(f"unknown truncation {truncation!r}; known: {', '.join(TRUNCATIONS)}")
    stats = EncodeStats()
    columns: dict[str, list[list[int]]] = {"input_ids": [], "labels": []}
    for rec in (records if progress is None else iterate(records, progress, "rec")):
        stats.records += 1
        ids, labels, outcome, prompt = encode_record(tokenizer, rec["messages"], cutoff, spec, truncation)
        if prompt is not None:
            stats.shortest_prompt = prompt if stats.shortest_prompt is None else min(stats.shortest_prompt, prompt)
        if not ids:
            stats.dropped[outcome] += 1
            continue
        stats.kept += 1
        if outcome != "kept":
            setattr(stats, outcome, getattr(stats, outcome) + 1)
        columns["input_ids"].append(ids)
        columns["labels"].append(labels)
        stats.tokens += len(ids)
        stats.trainable_tokens += sum(1 for t in labels if t != IGNORE)
    return columns, stats


def check_encoded(stats: EncodeStats, cutoff: int, where: str) -> None:
    """Stop the run when nothing trainable is left, saying why."""
    if stats.kept:
        return
    if stats.records == 0:
        raise ConfigError(f"{where}: no records to train on")
    if stats.dropped.get(DROP_NO_ASSISTANT) == stats.records:
        raise ConfigError(
            f"{where}: the chat template marked no assistant tokens in any record; the tokenizer has no usable "
            "chat template for loss masking: set chat_template: to chatml, intern2 or llama3")
    raise ConfigError(
        f"{where}: cutoff {cutoff} is shorter than the prompt of every record (shortest prompt "
        f"{stats.shortest_prompt} tokens before the first answer); raise cutoff")
