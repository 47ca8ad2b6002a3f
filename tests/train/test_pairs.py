"""The LLaMA-Factory v0.8.3 encoding: `intern2-llamafactory-0.8` and `truncation: infer_seqlen`.

Expected values come from LLaMA-Factory itself (v0.8.3, transformers 4.43.4, datasets 2.20.0;
its `get_dataset` run outside the repository on the records in tests/assets/llamafactory-0.8.3):
token ids and labels are pinned literally for one record and as digests for 194 more. The
tokenizers there are tiny and InternLM2-like (bos <s>, eos </s>, <|im_start|>/<|im_end|>
special); `tokenizer_spm` prefixes every encode call with "▁" as sentencepiece does, so only a
piece-by-piece encoding like LLaMA-Factory's matches.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from collectivesft.train.masking import IGNORE, encode_records
from collectivesft.train.pairs import DROP_NOT_ALTERNATING, DROP_PROMPT_TOO_LONG, infer_seqlen
from collectivesft.train.templates import apply_template

ASSETS = Path(__file__).parents[1] / "assets" / "llamafactory-0.8.3"
EXPECTED = json.loads((ASSETS / "expected.json").read_text(encoding="utf-8"))
TEMPLATE = "intern2-llamafactory-0.8"

# history ["患者男性，45岁", "答案是B。"], then instruction "最可能的诊断是什么？", output "十二指肠溃疡".
TWO_TURNS = [
    {"role": "user", "content": "患者男性，45岁"},
    {"role": "assistant", "content": "答案是B。"},
    {"role": "user", "content": "最可能的诊断是什么？"},
    {"role": "assistant", "content": "十二指肠溃疡"},
]


def tokenizer(name: str, template: str = TEMPLATE):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ASSETS / name)
    apply_template(tok, template)
    return tok


def layout(tok, ids: list[int], labels: list[int]) -> list[tuple[str, str | int]]:
    return [(t, tok.convert_ids_to_tokens(lab) if lab != IGNORE else IGNORE)
            for t, lab in zip(tok.convert_ids_to_tokens(ids), labels)]


def test_two_turn_layout_is_llamafactorys_token_for_token():
    tok = tokenizer("tokenizer_spm")
    columns, stats = encode_records([{"messages": TWO_TURNS}], tok, cutoff=1024, template=TEMPLATE)
    ids, labels = columns["input_ids"][0], columns["labels"][0]
    x = IGNORE
    # The answer is trained to end with eos </s>: at the position of the <|im_end|> that follows
    # it (efficient_eos), and once more at the very end. No default system prompt.
    assert layout(tok, ids, labels) == [
        ("<s>", x), ("<|im_start|>", x), ("▁user", x), ("\n", x), ("患者男性，", x), ("45", x), ("岁", x),
        ("<|im_end|>", x), ("▁", x), ("\n", x), ("<|im_start|>", x), ("▁assistant", x), ("\n", x),
        ("▁答案是", "▁答案是"), ("B", "B"), ("。", "。"),
        ("<|im_end|>", "</s>"), ("▁", x), ("\n", x), ("<|im_start|>", x), ("▁user", x), ("\n", x),
        ("最可能的诊断是什么？", x), ("<|im_end|>", x), ("▁", x), ("\n", x), ("<|im_start|>", x),
        ("▁assistant", x), ("\n", x),
        ("▁", "▁"), ("十二指肠溃疡", "十二指肠溃疡"), ("</s>", "</s>")]
    assert ids == [1, 3, 691, 5, 349, 327, 102, 4, 59, 5, 3, 800, 5, 594, 24, 61, 4, 59, 5, 3, 691, 5, 433, 4,
                   59, 5, 3, 800, 5, 59, 269, 2]
    assert stats.as_dict()["truncated_per_turn"] == 0


def test_infer_seqlen_cuts_the_prompt_first_and_drops_later_turns_like_llamafactory():
    tok = tokenizer("tokenizer_spm")
    columns, stats = encode_records([{"messages": TWO_TURNS}], tok, cutoff=12, template=TEMPLATE)
    # LLaMA-Factory's own output at cutoff_len 12: the first source lost its assistant header,
    # the second turn is gone, the record is kept.
    assert columns["input_ids"] == [[1, 3, 691, 5, 349, 327, 102, 4, 594, 24, 61, 2]]
    assert columns["labels"] == [[IGNORE] * 8 + [594, 24, 61, 2]]
    assert (stats.kept, stats.truncated_per_turn, dict(stats.dropped)) == (1, 1, {})


@pytest.mark.parametrize("run", EXPECTED["runs"], ids=lambda r: f"{r['template']}-{r['tokenizer']}-{r['cutoff']}")
def test_ids_and_labels_equal_llamafactory_0_8_3(run):
    """Every record, at cutoffs that trigger each infer_seqlen branch (and none)."""
    tok = tokenizer(run["tokenizer"], run["template"])
    records = [{"messages": m} for m in EXPECTED["records"][run["records"]]]
    template = run["template"] if run["template"] == TEMPLATE else None
    columns, _ = encode_records(records, tok, run["cutoff"], template=template, truncation="infer_seqlen")
    got = [hashlib.sha256(json.dumps([i, lab]).encode()).hexdigest()[:16]
           for i, lab in zip(columns["input_ids"], columns["labels"])]
    assert [len(i) for i in columns["input_ids"]] == run["lengths"]
    assert got == run["digests"]


@pytest.mark.parametrize(("source", "target", "cutoff", "expected"), [
    (10, 10, 100, (10, 10)),      # fits
    (300, 20, 100, (80, 20)),     # short answer: the prompt is cut
    (20, 300, 100, (20, 80)),     # short prompt: the answer is cut
    (300, 300, 100, (50, 50)),    # both long: cut in proportion
    (300, 200, 100, (60, 40)),
    (49, 60, 100, (49, 51)),
    (7, 7, 1, (1, 0)),            # one token left: it goes to the prompt
    (5, 0, 3, (3, 0)),
])
def test_infer_seqlen_table(source, target, cutoff, expected):
    # Values from LLaMA-Factory v0.8.3's processor_utils.infer_seqlen.
    assert infer_seqlen(source, target, cutoff) == expected


def test_turn_truncation_with_the_llamafactory_template_keeps_whole_turns_or_drops():
    tok = tokenizer("tokenizer_spm")
    records = [{"messages": TWO_TURNS}]
    full, _ = encode_records(records, tok, cutoff=1024, template=TEMPLATE)
    whole = full["input_ids"][0]
    first_turn = whole.index(tok.convert_tokens_to_ids("<|im_end|>"), 13)  # the one after the first answer
    columns, stats = encode_records(records, tok, cutoff=len(whole) - 1, template=TEMPLATE, truncation="turn")
    # The second turn does not fit: cut after the first answer, closed by eos.
    assert columns["input_ids"] == [whole[:first_turn] + [tok.eos_token_id]]
    assert columns["labels"][0][-4:] == [594, 24, 61, tok.eos_token_id]
    assert stats.truncated_at_turn == 1
    columns, stats = encode_records(records, tok, cutoff=13, template=TEMPLATE, truncation="turn")
    assert columns["input_ids"] == [] and stats.dropped == {DROP_PROMPT_TOO_LONG: 1}


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": "a"}],
    [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}],
    [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}],
], ids=["no-answer", "starts-with-assistant", "two-user-turns"])
def test_records_llamafactory_cannot_pair_are_dropped_and_counted(messages):
    tok = tokenizer("tokenizer_spm")
    columns, stats = encode_records([{"messages": messages}], tok, cutoff=64, template=TEMPLATE)
    assert columns["input_ids"] == [] and stats.dropped == {DROP_NOT_ALTERNATING: 1}


def test_system_turn_is_rendered_and_no_default_system_is_added():
    tok = tokenizer("tokenizer_bytelevel")
    with_system = [{"role": "system", "content": "你是一名医生。"}, *TWO_TURNS[:2]]
    text = tok.decode(encode_records([{"messages": with_system}], tok, 64, template=TEMPLATE)[0]["input_ids"][0])
    assert text.startswith("<s><|im_start|>system\n你是一名医生。<|im_end|>\n<|im_start|>user\n")
    bare = tok.decode(encode_records([{"messages": TWO_TURNS[:2]}], tok, 64, template=TEMPLATE)[0]["input_ids"][0])
    assert bare == "<s><|im_start|>user\n患者男性，45岁<|im_end|>\n<|im_start|>assistant\n答案是B。</s>"


def test_inference_prompt_is_llamafactorys_intern2_chat_template():
    tok = tokenizer("tokenizer_bytelevel")
    prompt = tok.apply_chat_template(TWO_TURNS[:3], tokenize=False, add_generation_prompt=True)
    assert prompt == ("<s><|im_start|>user\n患者男性，45岁<|im_end|>\n<|im_start|>assistant\n答案是B。<|im_end|>\n"
                      "<|im_start|>user\n最可能的诊断是什么？<|im_end|>\n<|im_start|>assistant\n")


def test_train_config_truncation_defaults_to_the_templates_rule():
    from collectivesft.errors import ConfigError
    from collectivesft.train.config import config_from_dict

    assert config_from_dict({"model": "m", "chat_template": TEMPLATE}).truncation_rule == "infer_seqlen"
    assert config_from_dict({"model": "m", "chat_template": "intern2"}).truncation_rule == "turn"
    assert config_from_dict({"model": "m", "chat_template": TEMPLATE, "truncation": "turn"}).truncation_rule == "turn"
    with pytest.raises(ConfigError, match="truncation"):
        config_from_dict({"model": "m", "truncation": "middle"})
    with pytest.raises(ConfigError, match="unknown template 'intern3'"):
        config_from_dict({"model": "m", "chat_template": "intern3"})
