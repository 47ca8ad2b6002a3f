"""Every stage on a model folder in InternLM2's layout, through the CLI: shared by the stand-in tests
(tests/models/test_internlm2.py, every `make test`) and the real-code tier
(tests/real/test_internlm2_real.py, InternLM's own modeling code)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")
PAPER = Path(__file__).parents[1] / "recipes" / "paper-internlm2_5-7b.yaml"
TRAIN_QUICK = ["cutoff=128", "batch_size=4", "grad_accum=1", "logging_steps=1", "warmup_ratio=0.0", "cpu_threads=1",
               "max_steps=3", "lr=1e-3", "chat_template=intern2-llamafactory-0.8", "gradient_checkpointing=true",
               "precision=fp32", "trust_remote_code=true"]
PROBE = ["Hello world, 你好！", "第一行\n\n第二行", "  leading spaces and\ttabs", "罕见字𠀾与表情😀", "答案是AC"]


def sets(values: list[str]) -> list[str]:
    return [a for kv in values for a in ("--set", kv)]


def write_mixture(folder: Path) -> Path:
    from collectivesft.io import write_jsonl

    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"t/{i}", "source": "t", "task": "qa", "lang": "zh", "meta": {},
             "messages": [{"role": "user", "content": f"高血压首选什么药？病例{i}\n请回答。"},
                          {"role": "assistant", "content": "氨氯地平。Amlodipine is first line.\n\n答案是B"}]}
            for i in range(12)]
    write_jsonl(folder / "train.jsonl", rows)
    write_jsonl(folder / "val.jsonl", rows[:4])
    return folder


def eval_cmb(cli, model: Path, cmb: Path, out: Path, method: str) -> list[dict]:
    """`eval cmb` with --trust-remote-code; predictions with finite scores and text that decodes."""
    result = cli(["eval", "cmb", "--model", model, "--data", cmb, "--limit", 4, "--out", out, "--device", "cpu",
                  "--method", method, "--max-new-tokens", 8, "--trust-remote-code"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 4
    assert "NaN" not in (out / "scores.json").read_text(encoding="utf-8")
    for row in rows:
        assert not BYTE_TOKEN.search(row.get("output") or ""), row  # byte-fallback tokens decoded to text
    return rows


def train(cli, model: Path, mixture: Path, out: Path, finetuning: str) -> dict:
    result = cli(["train", *sets([f"model={model}", f"finetuning={finetuning}", *TRAIN_QUICK]),
                  "--mixture", mixture, "--out", out])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    losses = [p["loss"] for p in metrics["train_curve"]]
    assert losses and all(math.isfinite(x) for x in losses), losses
    assert math.isfinite(metrics["final"]["eval_loss"])
    return metrics


def reload_plain(folder: Path) -> None:
    """The saved folder reloads with plain AutoTokenizer (no remote code) and gives the
    sentencepiece model's ids; tokenizer.model is saved beside tokenizer.json."""
    import sentencepiece
    from transformers import AutoTokenizer

    assert (folder / "tokenizer.model").is_file() and (folder / "tokenizer.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    for text in PROBE:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert ids == sp.encode(text), (text, tokenizer.convert_ids_to_tokens(ids))
        assert tokenizer.decode(ids) == text


def serve_reply(model: Path, content: str = "你好", max_tokens: int = 6) -> tuple[str, str]:
    """One chat request to `eval serve`'s server on `model` (trust_remote_code), and the same chat
    generated in-process: (served, in-process)."""
    import httpx

    from collectivesft.eval.backends.registry import get_backend
    from collectivesft.eval.config import InferenceConfig
    from collectivesft.eval.server import start_in_thread

    backend = get_backend(InferenceConfig(model=str(model), device="cpu", trust_remote_code=True))
    server, url = start_in_thread(backend, "internlm2")
    messages = [{"role": "user", "content": content}]
    try:
        reply = httpx.post(url + "/chat/completions", json={"messages": messages, "max_tokens": max_tokens},
                           timeout=120).json()
    finally:
        server.shutdown()
        server.server_close()
    return reply["choices"][0]["message"]["content"], backend.generate([messages], max_tokens)[0]
