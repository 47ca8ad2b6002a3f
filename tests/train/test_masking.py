"""Label masks: exactly the assistant turns (and their end-of-turn token) under each template;
truncation rules; records with nothing trainable are dropped and counted."""

from __future__ import annotations

import pytest

from collectivesft.errors import ConfigError
from collectivesft.train.masking import (
    DROP_NO_ASSISTANT,
    DROP_PROMPT_TOO_LONG,
    IGNORE,
    encode_messages,
    encode_records,
    truncate,
)
from collectivesft.train.templates import INTERN2_DEFAULT_SYSTEM, apply_template, get_template

SINGLE = [
    {"role": "user", "content": "治疗高血压的首选药物是\nA. 氨氯地平\nB. 华法林"},
    {"role": "assistant", "content": "答案是A。氨氯地平"},
]
MULTI = [
    {"role": "system", "content": "你是一名医生。"},
    {"role": "user", "content": "医生您好，我最近头晕头痛。"},
    {"role": "assistant", "content": "您好，可能是高血压，建议到心内科就诊。"},
    {"role": "user", "content": "需要吃什么药？"},
    {"role": "assistant", "content": "可以在医生指导下使用氨氯地平。"},
]

END_OF_TURN = {"chatml": "<|im_end|>", "qwen": "<|im_end|>", "intern2": "<|im_end|>", "llama3": "<|eot_id|>"}


def runs(ids: list[int], mask: list[int]) -> tuple[list[list[int]], list[list[int]]]:
    """Split ids into maximal masked runs and unmasked runs."""
    on, off, cur, state = [], [], [], None
    for i, m in zip(ids, mask):
        if state is not None and m != state:
            (on if state else off).append(cur)
            cur = []
        cur.append(i)
        state = m
    if cur:
        (on if state else off).append(cur)
    return on, off


@pytest.fixture()
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.mark.parametrize("name", ["chatml", "qwen", "intern2", "llama3"])
@pytest.mark.parametrize("messages", [SINGLE, MULTI], ids=["single-turn", "multi-turn"])
def test_mask_covers_exactly_each_assistant_turn_and_its_end_token(tokenizer, name, messages):
    apply_template(tokenizer, name)
    ids, mask = encode_messages(tokenizer, messages)
    on, off = runs(ids, mask)
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    assert [tokenizer.decode(r) for r in on] == [a + END_OF_TURN[name] for a in answers]
    # The rest is prompt framing: every user/system text appears there, no answer text does.
    prompt = "".join(tokenizer.decode(r) for r in off)
    for m in messages:
        if m["role"] != "assistant":
            assert m["content"] in prompt
    assert not any(a in prompt for a in answers)


def test_intern2_adds_bos_and_default_system_like_llama_factory(tokenizer):
    apply_template(tokenizer, "intern2")
    text = tokenizer.apply_chat_template(SINGLE, tokenize=False)
    assert text.startswith(f"{tokenizer.bos_token or ''}<|im_start|>system\n{INTERN2_DEFAULT_SYSTEM}<|im_end|>\n")
    with_system = tokenizer.apply_chat_template(MULTI, tokenize=False)
    assert "InternLM" not in with_system


QWEN25_SYSTEM = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"


@pytest.mark.parametrize("name, messages, expected", [
    # What Qwen2.5's own template renders: its default system turn when the chat has none.
    ("qwen", SINGLE[:1] + [{"role": "assistant", "content": "答"}],
     QWEN25_SYSTEM + f"<|im_start|>user\n{SINGLE[0]['content']}<|im_end|>\n<|im_start|>assistant\n答<|im_end|>\n"),
    ("qwen", [{"role": "system", "content": "你是一名医生。"}, {"role": "user", "content": "问"}],
     "<|im_start|>system\n你是一名医生。<|im_end|>\n<|im_start|>user\n问<|im_end|>\n"),
    # chatml stays plain: no system turn is invented.
    ("chatml", [{"role": "user", "content": "问"}], "<|im_start|>user\n问<|im_end|>\n"),
], ids=["qwen-default-system", "qwen-own-system", "chatml-plain"])
def test_named_template_text(tokenizer, name, messages, expected):
    apply_template(tokenizer, name)
    assert tokenizer.apply_chat_template(messages, tokenize=False) == expected


def test_llama3_template_adds_its_special_tokens_to_a_chatml_vocab(tokenizer):
    added = apply_template(tokenizer, "llama3")
    assert set(added) == {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}
    assert tokenizer.tokenize("<|eot_id|>") == ["<|eot_id|>"]


@pytest.mark.parametrize("messages", [SINGLE, MULTI], ids=["single-turn", "multi-turn"])
def test_template_without_generation_markers_is_masked_by_turn_renders(tokenizer, messages):
    """A tokenizer's own template (like Qwen2.5's) has no generation markers: same mask anyway."""
    apply_template(tokenizer, "chatml")
    expected = encode_messages(tokenizer, messages)
    tokenizer.chat_template = get_template("chatml").jinja.replace("{%- generation -%}", "").replace(
        "{%- endgeneration -%}", "")
    assert "endgeneration" not in tokenizer.chat_template
    assert encode_messages(tokenizer, messages) == expected


def test_template_that_rewrites_history_is_reported(tokenizer):
    # Renders the turn count up front, so earlier renders are not prefixes of later ones.
    tokenizer.chat_template = ("{{ messages | length }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
                               "{{ m['content'] }}<|im_end|>\n{% endfor %}"
                               "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    with pytest.raises(ConfigError, match="chat_template"):
        encode_messages(tokenizer, MULTI)


def test_tokenizer_without_template_needs_a_named_one(tokenizer):
    tokenizer.chat_template = None
    with pytest.raises(ConfigError, match="no chat template.*chatml"):
        apply_template(tokenizer, None)
    with pytest.raises(ConfigError, match="unknown chat template"):
        apply_template(tokenizer, "vicuna")


# Truncation rules, one row per case: (ids mask, cutoff) -> (kept mask, outcome).
TRUNCATION_CASES = [
    ("fits", [0, 0, 1, 1, 0, 1], 6, [0, 0, 1, 1, 0, 1], "kept"),
    ("cut after the last whole answer", [0, 0, 1, 1, 0, 0, 1, 1], 7, [0, 0, 1, 1], "truncated_at_turn"),
    ("answer ends exactly at cutoff", [0, 1, 1, 0, 1, 1], 3, [0, 1, 1], "truncated_at_turn"),
    ("first answer too long: partial answer", [0, 0, 1, 1, 1, 1], 4, [0, 0, 1, 1], "truncated_in_answer"),
    ("prompt fills the cutoff", [0, 0, 0, 0, 1, 1], 4, [], DROP_PROMPT_TOO_LONG),
    ("no assistant tokens at all", [0, 0, 0], 8, [], DROP_NO_ASSISTANT),
]


@pytest.mark.parametrize("name,mask,cutoff,kept,outcome", TRUNCATION_CASES, ids=[c[0] for c in TRUNCATION_CASES])
def test_truncation_rules(name, mask, cutoff, kept, outcome):
    ids = list(range(100, 100 + len(mask)))
    out_ids, out_mask, got = truncate(ids, mask, cutoff)
    assert (out_mask, got) == (kept, outcome)
    assert out_ids == ids[: len(kept)]
    assert len(out_ids) <= cutoff


def test_encode_records_drops_and_counts_untrainable_records(tokenizer):
    apply_template(tokenizer, "chatml")
    long_prompt = [{"role": "user", "content": "头晕" * 400}, {"role": "assistant", "content": "答案是A"}]
    records = [{"messages": SINGLE}, {"messages": MULTI}, {"messages": long_prompt}]
    columns, stats = encode_records(records, tokenizer, cutoff=64)
    assert stats.records == 3 and stats.kept == 2
    assert stats.dropped == {DROP_PROMPT_TOO_LONG: 1}
    assert len(columns["input_ids"]) == 2
    for ids, labels in zip(columns["input_ids"], columns["labels"]):
        assert len(ids) == len(labels) <= 64
        assert any(label != IGNORE for label in labels)
        assert all(label in (IGNORE, tok) for tok, label in zip(ids, labels))
    assert stats.trainable_tokens == sum(label != IGNORE for labels in columns["labels"] for label in labels)
