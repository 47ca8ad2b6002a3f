"""Decoding: greedy ignores a checkpoint's own sampling settings and is recorded; a LoRA run
folder keeps the template's end token so generation stops; cut characters are trimmed;
the server batches concurrent requests, fills usage and honours stop."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from collectivesft.eval.backends.registry import get_backend
from collectivesft.eval.config import InferenceConfig

CHAT = [{"role": "user", "content": "高血压的首选药物是什么？"}]


def _greedy_by_hand(folder: Path, chat, n: int) -> list[int]:
    """Argmax decoding written out, with nothing from any generation config."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    out: list[int] = []
    with torch.inference_mode():
        for _ in range(n):
            nxt = int(model(input_ids=ids).logits[0, -1].argmax())
            out.append(nxt)
            if nxt == tok.eos_token_id:
                break
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return out


def test_greedy_ignores_the_checkpoints_penalties_and_is_recorded(tiny_model, tmp_path):
    from transformers import AutoTokenizer, GenerationConfig

    folder = tmp_path / "penalised"
    shutil.copytree(tiny_model, folder)
    config = GenerationConfig.from_pretrained(folder)
    config.repetition_penalty, config.no_repeat_ngram_size = 5.0, 1
    config.save_pretrained(folder)
    backend = get_backend(InferenceConfig(model=str(folder), device="cpu"))
    reply = backend.complete([CHAT], max_new_tokens=12)[0]
    expected = _greedy_by_hand(folder, CHAT, 12)
    tok = AutoTokenizer.from_pretrained(folder)
    assert reply.text == tok.decode([t for t in expected if t != tok.eos_token_id], skip_special_tokens=True)
    # The hand-written loop repeats tokens; with the checkpoint's penalties active it could not.
    assert len(set(expected)) < len(expected)
    recorded = backend.describe(12, 0.0)["generation_config"]
    assert recorded["do_sample"] is False and recorded["repetition_penalty"] == 1.0
    assert "no_repeat_ngram_size" not in recorded


def test_eval_folder_records_how_replies_were_made(cli, tiny_model, tmp_path):
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    cmb = write_cmb_eval(tmp_path / "CMB", n_test=28, seed=0)
    cli(["eval", "cmb", "--model", tiny_model, "--data", cmb, "--limit", 2, "--out", tmp_path / "eval",
         "--device", "cpu", "--max-new-tokens", 5])
    record = json.loads((tmp_path / "eval" / "generation.json").read_text())
    assert record["chat_template"] == "the tokenizer's own"
    assert record["generation_config"]["max_new_tokens"] == 5 and record["generation_config"]["do_sample"] is False


@pytest.mark.parametrize("text, expected", [
    ("高血压的\ufffd", "高血压的"),          # one cut 3-byte character
    ("高血压的\ufffd\ufffd", "高血压的"),    # two partial bytes decoded apart
    ("答案是A", "答案是A"),                  # nothing cut
    ("", ""),
])
def test_trim_incomplete_char(text, expected):
    from collectivesft.models.generation import trim_incomplete_char

    assert trim_incomplete_char(text) == expected


def test_a_reply_cut_inside_a_chinese_character_ends_at_the_last_whole_one(tiny_model):
    """Byte-level tokens of "高血压" cut after the first byte of 压: the decoded text has U+FFFD."""
    from transformers import AutoTokenizer

    from collectivesft.models.generation import trim_incomplete_char

    tok = AutoTokenizer.from_pretrained(tiny_model)
    whole = tok("高血", add_special_tokens=False).input_ids
    byte_token = tok.convert_tokens_to_ids("å")  # byte-level alphabet: 0xE5, the first byte of 压
    cut = tok.decode(whole + [byte_token])
    assert cut.endswith("\ufffd") and trim_incomplete_char(cut) == "高血"


@pytest.fixture(scope="module")
def eos_less_base(tiny_model, tmp_path_factory) -> Path:
    """The tiny model as a Qwen2.5 *base* model looks: eos <|endoftext|>, so <|im_end|> does not stop it."""
    from transformers import AutoTokenizer, GenerationConfig

    folder = tmp_path_factory.mktemp("base") / "model"
    shutil.copytree(tiny_model, folder)
    tok = AutoTokenizer.from_pretrained(folder)
    tok.eos_token = "<|endoftext|>"
    tok.save_pretrained(folder)
    config = GenerationConfig.from_pretrained(folder)
    config.eos_token_id = tok.eos_token_id
    config.save_pretrained(folder)
    return folder


def test_lora_run_folder_stops_at_the_templates_end_token(cli, eos_less_base, tmp_path):
    from collectivesft.io import write_jsonl

    rows = [{"id": f"t/{i}", "source": "t", "task": "qa", "lang": "zh", "meta": {},
             "messages": [CHAT[0], {"role": "assistant", "content": "氨氯地平"}]} for i in range(16)]
    write_jsonl(tmp_path / "mix" / "train.jsonl", rows)
    result = cli(["train", "--set", f"model={eos_less_base}", "--set", "chat_template=qwen", "--set", "finetuning=lora",
                  "--set", "lr=1e-2", "--set", "max_steps=40", "--set", "batch_size=8", "--set", "grad_accum=1",
                  "--set", "warmup_ratio=0", "--set", "validation=false", "--set", "cpu_threads=1",
                  "--set", "cutoff=128", "--mixture", tmp_path / "mix", "--out", tmp_path / "run"])
    assert result.exit_code == 0, result.output
    adapter = tmp_path / "run" / "model"
    assert (adapter / "adapter_config.json").is_file()
    from transformers import AutoTokenizer

    im_end = AutoTokenizer.from_pretrained(adapter).convert_tokens_to_ids("<|im_end|>")
    assert im_end in json.loads((adapter / "generation_config.json").read_text())["eos_token_id"]
    backend = get_backend(InferenceConfig(model=str(adapter), device="cpu"))
    reply = backend.complete([CHAT], max_new_tokens=24)[0]
    assert reply.text == "氨氯地平" and reply.finish_reason == "stop" and reply.completion_tokens < 24
    # Without the run folder's generation config the adapter runs on past <|im_end|>.
    (adapter / "generation_config.json").unlink()
    runaway = get_backend(InferenceConfig(model=str(adapter), device="cpu")).complete([CHAT], max_new_tokens=24)[0]
    assert runaway.finish_reason == "length"


def test_server_batches_concurrent_requests_fills_usage_and_honours_stop(tiny_model):
    from collectivesft.eval.server import start_in_thread

    backend = get_backend(InferenceConfig(model=str(tiny_model), device="cpu", batch_size=4))
    server, url = start_in_thread(backend, "tiny")
    chats = [[{"role": "user", "content": q}] for q in ("高血压", "糖尿病", "肺炎", "胃炎", "头痛", "发热")]
    try:
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda c: httpx.post(url + "/chat/completions", timeout=120, json={
                "messages": c, "max_tokens": 8}).json(), chats))
        full = replies[0]["choices"][0]["message"]["content"]
        stop = full[0]  # the untrained model's first character (a newline, as it happens)
        stopped = httpx.post(url + "/chat/completions", timeout=120, json={
            "messages": chats[0], "max_tokens": 8, "stop": stop}).json()
    finally:
        server.shutdown()
        server.server_close()
    assert [r["choices"][0]["message"]["content"] for r in replies] == backend.generate(chats, 8)
    usage = replies[0]["usage"]
    assert usage["prompt_tokens"] > 0 and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert replies[0]["choices"][0]["finish_reason"] == "length" and usage["completion_tokens"] == 8
    assert stopped["choices"][0]["message"]["content"] == ""
    assert stopped["choices"][0]["finish_reason"] == "stop" and stopped["usage"]["completion_tokens"] < 8


def test_batcher_answers_waiting_requests_in_one_call():
    """While one call runs, the requests that arrive wait; the next call takes them all (up to max_batch)."""
    import threading
    import time

    from collectivesft.eval.backends.registry import Generation
    from collectivesft.eval.server import Batcher

    release, calls = threading.Event(), []

    class Slow:
        def complete(self, chats, max_new_tokens, temperature, stop):
            calls.append([c[0]["content"] for c in chats])
            release.wait(30)
            return [Generation(c[0]["content"] + "!") for c in chats]

    batcher = Batcher(Slow(), max_batch=3)
    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(batcher.submit, [{"role": "user", "content": "q0"}], 4, 0.0, None)]
        while not calls:  # the first request is being answered
            time.sleep(0.01)
        futures += [pool.submit(batcher.submit, [{"role": "user", "content": f"q{i}"}], 4, 0.0, None)
                    for i in range(1, 5)]
        while batcher.pending.qsize() < 4:  # the other four wait in the queue
            time.sleep(0.01)
        release.set()
        texts = [f.result().text for f in futures]
    assert texts == ["q0!", "q1!", "q2!", "q3!", "q4!"]
    assert [len(c) for c in calls] == [1, 3, 1]
