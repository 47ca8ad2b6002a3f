"""The tiny offline model loads like a hub checkpoint, generates, and masks assistant turns."""

from __future__ import annotations

import json

import pytest

MESSAGES = [
    {"role": "system", "content": "你是一名医生。"},
    {"role": "user", "content": "治疗高血压的首选药物是\nA. 氨氯地平\nB. 华法林"},
    {"role": "assistant", "content": "答案是A。氨氯地平"},
    {"role": "user", "content": "What about gout?"},
    {"role": "assistant", "content": "The answer is B."},
]


def assistant_text(tok, messages):
    enc = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    return tok.decode([i for i, m in zip(enc["input_ids"], enc["assistant_masks"]) if m])


def test_tiny_model_loads_with_auto_classes_and_generates(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert model.config.model_type == "qwen2"
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert model.config.vocab_size >= len(tok)
    prompt = tok.apply_chat_template(MESSAGES[1:2], add_generation_prompt=True, return_dict=True,
                                     return_tensors="pt")
    out = model.generate(**prompt, max_new_tokens=6, do_sample=False)
    n = prompt["input_ids"].shape[1]
    assert out.shape[1] > n
    # The generated sequence continues the prompt, and the prompt decodes to the rendered chat.
    assert out[0, :n].tolist() == prompt["input_ids"][0].tolist()
    assert tok.decode(out[0, :n]) == tok.apply_chat_template(MESSAGES[1:2], add_generation_prompt=True,
                                                              tokenize=False)


def test_tiny_tokenizer_round_trips_chinese_digits_and_letters(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    text = "答案是ACE。患者血压160/100 mmHg，首选氨氯地平 (amlodipine)."
    assert tok.decode(tok(text)["input_ids"]) == text
    # Option letters stay apart from the Chinese before them, so "答案是" + letter is learnable.
    tokens = tok.tokenize("答案是AC")
    assert any(tok.convert_tokens_to_string(tokens[i:]) == "AC" for i in range(len(tokens)))


def test_tiny_tokenizer_round_trips_the_fixture_world_text(tiny_model):
    from transformers import AutoTokenizer

    from collectivesft.fixtures.tiny_model import world_corpus

    tok = AutoTokenizer.from_pretrained(tiny_model)
    texts = list(world_corpus())
    assert any("答案是" in t for t in texts) and any("first-line treatment" in t for t in texts)
    for text in texts:
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_tiny_chat_template_masks_every_assistant_turn_and_nothing_else(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    assert assistant_text(tok, MESSAGES) == "答案是A。氨氯地平<|im_end|>The answer is B.<|im_end|>"
    enc = tok.apply_chat_template(MESSAGES, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = enc["input_ids"], enc["assistant_masks"]
    assert tok.decode(ids) == tok.apply_chat_template(MESSAGES, tokenize=False)
    # Each masked span is one assistant turn, starting right after its assistant header.
    starts = [i for i, m in enumerate(mask) if m and (i == 0 or not mask[i - 1])]
    ends = [i + 1 for i, m in enumerate(mask) if m and (i + 1 == len(mask) or not mask[i + 1])]
    replies = [m["content"] for m in MESSAGES if m["role"] == "assistant"]
    assert [tok.decode(ids[s:e]) for s, e in zip(starts, ends)] == [r + "<|im_end|>" for r in replies]
    for s in starts:
        assert tok.decode(ids[:s]).endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("arch,eot", [("llama", "<|eot_id|>"), ("qwen2", "<|im_end|>")])
def test_model_tiny_cli_writes_hf_layout(cli, tmp_path, arch, eot):
    from transformers import AutoConfig, AutoTokenizer

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"messages": [{"role": "user", "content": "支气管哮喘用沙丁胺醇"}]},
                                 ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    result = cli(["model", "tiny", out, "--arch", arch, "--corpus", corpus])
    assert result.exit_code == 0, result.output
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in out.iterdir()}
    assert AutoConfig.from_pretrained(out).model_type == arch
    tok = AutoTokenizer.from_pretrained(out)
    assert assistant_text(tok, MESSAGES[1:3]) == "答案是A。氨氯地平" + eot


def test_model_tiny_rejects_unknown_arch(tmp_path):
    from collectivesft.errors import ConfigError
    from collectivesft.fixtures.tiny_model import build_tiny_model

    with pytest.raises(ConfigError, match="arch"):
        build_tiny_model(tmp_path / "m", arch="gpt2")


AGREEMENT_TEXTS = [
    "\n\n", "你好\n\n医生：头痛三天", "a  b\n\n\nc", "答案是AC。\n\n解析：", " \n \n", "患者，男，45岁。\r\n\r\n",
    "e\u0301 versus \u00e9", "Ｑｗｅｎ２ full width", "1234567 mg\t\t", "Spanish: ¿Cuál es la respuesta?\n\n",
]


def test_auto_tokenizer_and_the_saved_tokenizer_file_encode_alike(tiny_model):
    """transformers may load a qwen2 tokenizer as Qwen2Tokenizer, which rebuilds its own normalizer
    and pre-tokenizer; the saved file must already be that, or ids differ by environment."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(tiny_model)
    plain = Tokenizer.from_file(str(tiny_model / "tokenizer.json"))
    for text in AGREEMENT_TEXTS:
        assert auto.encode(text, add_special_tokens=False) == plain.encode(text, add_special_tokens=False).ids, text
