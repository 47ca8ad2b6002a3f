"""Token ids and labels built LLaMA-Factory's way: one (source, target) pair per assistant turn.

LLaMA-Factory (v0.8.3, the release the CollectiveSFT paper trained with) encodes a conversation
as pairs: the source is everything before an answer (template framing and the user's text), the
target is the answer. This module builds those pairs and joins them into ids and labels:

- `intern2_pairs`: v0.8.3's `intern2` template, which our `intern2-llamafactory-0.8` names:
  bos, no default system prompt, `<|im_start|>user\\n{user}<|im_end|>\\n<|im_start|>assistant\\n`,
  the answer, and `<|im_end|>\\n` at the start of every later source. Each string piece is
  tokenised on its own, as LLaMA-Factory does (it matters for sentencepiece tokenizers, which
  prefix every call with "▁").
- `mask_pairs`: the pairs of any other template, from its assistant mask (masking.py).
- `join_pairs`: ids and labels under a truncation rule. With `efficient_eos` (intern2) no
  `<|im_end|>` is trained after an answer: the label of the first token of the next source is
  the tokenizer's eos, and a final eos closes the record.

`infer_seqlen` (LLaMA-Factory's cutoff rule), pair by pair with the budget left: a target
shorter than half the budget is kept whole and the source cut; else a source shorter than half
is kept whole and the target cut; else both are cut in proportion. Cuts keep the start. Once
the budget is spent, later pairs are dropped. Nothing is ever dropped whole.
"""

from __future__ import annotations

from typing import Sequence

IGNORE = -100

Pair = tuple[list[int], list[int]]

DROP_PROMPT_TOO_LONG = "prompt longer than cutoff"
DROP_NOT_ALTERNATING = "turns do not alternate user/assistant"

# v0.8.3's intern2 slots, verbatim (src/llamafactory/data/template.py).
INTERN2_USER = "<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"
INTERN2_SYSTEM = "<|im_start|>system\n{content}<|im_end|>\n"
INTERN2_SEPARATOR = "<|im_end|>\n"


def _encode(tokenizer, text: str) -> list[int]:
    # LLaMA-Factory skips empty pieces (an empty answer has no tokens).
    return tokenizer.encode(text, add_special_tokens=False) if text else []


def intern2_pairs(tokenizer, messages: Sequence[dict[str, str]]) -> list[Pair] | None:
    """The (source, target) token pairs of LLaMA-Factory v0.8.3's intern2 template; None when
    the turns are not [system] user assistant (user assistant)... (LLaMA-Factory drops those)."""
    system = ""
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    if not messages or len(messages) % 2 or any(
            m["role"] != ("user" if i % 2 == 0 else "assistant") for i, m in enumerate(messages)):
        return None
    pairs = []
    for i in range(0, len(messages), 2):
        source: list[int] = []
        if i == 0:
            if tokenizer.bos_token_id is not None:
                source.append(tokenizer.bos_token_id)
            if system:
                source += _encode(tokenizer, INTERN2_SYSTEM.format(content=system))
        else:
            source += _encode(tokenizer, INTERN2_SEPARATOR)
        source += _encode(tokenizer, INTERN2_USER.format(content=messages[i]["content"]))
        pairs.append((source, _encode(tokenizer, messages[i + 1]["content"])))
    return pairs


def mask_pairs(ids: Sequence[int], mask: Sequence[int]) -> list[Pair]:
    """Pairs from an assistant mask: each run of answer tokens with the prompt tokens before it.
    Tokens after the last answer carry no loss and are left out, as LLaMA-Factory has none."""
    pairs, start, n = [], 0, len(ids)
    while start < n:
        first = start
        while first < n and not mask[first]:
            first += 1
        if first == n:
            break
        end = first
        while end < n and mask[end]:
            end += 1
        pairs.append((list(ids[start:first]), list(ids[first:end])))
        start = end
    return pairs


def infer_seqlen(source_len: int, target_len: int, cutoff_len: int) -> tuple[int, int]:
    """LLaMA-Factory's (source, target) lengths after truncation to `cutoff_len`."""
    if target_len * 2 < cutoff_len:
        max_target_len = cutoff_len
    elif source_len * 2 < cutoff_len:
        max_target_len = cutoff_len - source_len
    else:
        max_target_len = int(cutoff_len * (target_len / (source_len + target_len)))
    new_target_len = min(max_target_len, target_len)
    new_source_len = min(max(cutoff_len - new_target_len, 0), source_len)
    return new_source_len, new_target_len


def _cut_infer_seqlen(pairs: list[Pair], budget: int, reserved: int) -> list[Pair]:
    total, kept = reserved, []
    for source, target in pairs:
        if total >= budget:
            break
        source_len, target_len = infer_seqlen(len(source), len(target), budget - total)
        kept.append((source[:source_len], target[:target_len]))
        total += source_len + target_len
    return kept


def _cut_at_turn(pairs: list[Pair], budget: int) -> list[Pair] | None:
    """Our rule on pairs: whole pairs while they fit; else the first answer cut; None when even
    the first source does not fit."""
    kept, total = [], 0
    for source, target in pairs:
        if total + len(source) + len(target) > budget:
            break
        kept.append((source, target))
        total += len(source) + len(target)
    if kept:
        return kept
    source, target = pairs[0]
    if len(source) >= budget:
        return None
    return [(source, target[: budget - len(source)])]


def join_pairs(pairs: list[Pair], cutoff: int, truncation: str, efficient_eos: bool,
               eos_token_id: int | None) -> tuple[list[int], list[int], str]:
    """(ids, labels, outcome) of `pairs` cut to `cutoff` tokens by `truncation` ("infer_seqlen"
    or "turn"); outcome is "kept", "truncated_per_turn", "truncated_at_turn",
    "truncated_in_answer" or "prompt longer than cutoff" (ids empty then)."""
    reserved = 1 if efficient_eos else 0  # the closing eos
    if truncation == "infer_seqlen":
        cut = _cut_infer_seqlen(pairs, cutoff, reserved)
    else:
        cut = _cut_at_turn(pairs, cutoff - reserved)
        if cut is None:
            return [], [], DROP_PROMPT_TOO_LONG
    ids: list[int] = []
    labels: list[int] = []
    for turn, (source, target) in enumerate(cut):
        ids += source + target
        if efficient_eos and turn > 0:
            # The eos that ends the previous answer is learnt at the next source's first token.
            labels += [eos_token_id] + [IGNORE] * (len(source) - 1)
        else:
            labels += [IGNORE] * len(source)
        labels += target
    if efficient_eos:
        ids.append(eos_token_id)
        labels.append(eos_token_id)
    whole = sum(len(s) + len(t) for s, t in pairs) + reserved
    if len(ids) == whole:
        return ids, labels, "kept"
    if truncation == "infer_seqlen":
        return ids, labels, "truncated_per_turn"
    if len(cut) < len(pairs) and cut[-1][1] == pairs[len(cut) - 1][1]:
        return ids, labels, "truncated_at_turn"
    return ids, labels, "truncated_in_answer"
