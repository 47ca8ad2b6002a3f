"""The tiny offline model: a randomly initialised causal LM of a real architecture.

There is no model hub on CI or on this machine, so tests, the demo and benchmarks train
and evaluate a model the project builds itself in seconds: a Qwen2 or Llama architecture a
few layers deep, with a byte-level BPE tokenizer trained on the fixture corpus and a chat
template that marks assistant turns. It is saved with `save_pretrained`, so the code path
that loads `Qwen/Qwen2.5-7B` (AutoModelForCausalLM / AutoTokenizer) loads it unchanged.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Iterable, Iterator

from collectivesft.errors import ConfigError, InputLayoutError

# Architecture shapes by size. `tiny` is for unit tests (builds and trains in seconds);
# `small` learns the fixture facts in the CPU demo.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 2048},
    "small": {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 4096},
    "base": {"hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 6,
             "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 8192},
}

# Per architecture: model class name, chat template name, and the special tokens.
ARCHS: dict[str, dict[str, str | None]] = {
    "qwen2": {"template": "chatml", "bos": None, "eos": "<|im_end|>", "pad": "<|endoftext|>"},
    "llama": {"template": "llama3", "bos": "<|begin_of_text|>", "eos": "<|eot_id|>",
              "pad": "<|finetune_right_pad_id|>"},
}

MAX_POSITIONS = 2048


def world_corpus() -> Iterator[str]:
    """Text of the fixture world in the shapes records take: Chinese MCQs with "答案是X",
    English/Spanish answers, QA and dialogue sentences, digits and option letters A-F."""
    from collectivesft.fixtures import world

    rng = random.Random(0)
    yield "0123456789 ABCDEF abcdef 答案是A 答案是B 答案是C 答案是D 答案是E 答案是F 答案是AC 答案是BDE"
    for fact in world.FACTS:
        for ask in (world.drug_question, world.department_question, world.symptom_question):
            for _ in range(2):
                question, options, answer = ask(fact, rng)
                lines = "\n".join(f"{k}. {v}" for k, v in options.items())
                yield f"以下是中国医学考试的单项选择题，请选出正确答案。\n{question}\n{lines}"
                yield f"答案是{answer}。{options[answer]}"
        yield (f"{fact.disease}的典型表现是{fact.symptom}，应就诊于{fact.department}，"
               f"首选药物是{fact.drug}。")
        yield f"患者：医生您好，我最近{fact.symptom}，是怎么回事？"
        yield f"医生：您好，这可能是{fact.disease}，建议到{fact.department}就诊，可以使用{fact.drug}治疗。"
        yield (f"The first-line treatment of {fact.disease_en} is {fact.drug_en}; "
               f"patients present with {fact.symptom_en}. The answer is B.")
        yield f"La respuesta es C. El tratamiento de {fact.disease_en} es {fact.drug_en}."


def fixture_corpus(rows: int = 20) -> Iterator[str]:
    """Message texts of every registered source's fixture records (raw fixtures written to a
    temporary folder and converted), so the tokenizer knows each source's wording.

    A source whose fixture fails to convert is left out with a warning naming it: the tiny
    model must not depend on every converter being healthy.
    """
    import tempfile
    import warnings

    from collectivesft.fixtures.writer import write_fixtures
    from collectivesft.io import read_jsonl
    from collectivesft.sources.convert import convert_source
    from collectivesft.sources.registry import source_names

    with tempfile.TemporaryDirectory(prefix="tiny-corpus-") as tmp:
        failed = []
        for name in source_names():
            try:
                raw = write_fixtures(Path(tmp) / "raw", rows=rows, seed=0, sources=[name])[name]
                convert_source(name, Path(tmp) / "conv" / name, input=raw)
            except Exception as exc:  # noqa: BLE001 - counted and reported below, never silent
                failed.append(f"{name} ({type(exc).__name__}: {exc})")
                continue
            for rec in read_jsonl(Path(tmp) / "conv" / name / "records.jsonl"):
                yield from (m["content"] for m in rec["messages"])
        if failed:
            warnings.warn(f"tiny-model corpus: {len(failed)} source fixture(s) left out: {'; '.join(failed)}")


def corpus_from_file(path: Path) -> Iterator[str]:
    """Lines of text from `path`: for .jsonl, each record's message contents (or its "text");
    otherwise each non-empty line."""
    if not path.is_file():
        raise InputLayoutError(f"corpus file not found: {path}")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            if path.suffix != ".jsonl":
                yield line
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputLayoutError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
            if isinstance(obj, dict) and isinstance(obj.get("messages"), list):
                yield from (m["content"] for m in obj["messages"] if isinstance(m, dict) and m.get("content"))
            elif isinstance(obj, dict) and isinstance(obj.get("text"), str):
                yield obj["text"]


def train_tokenizer(corpus: Iterable[str], vocab_size: int, arch: str):
    """A byte-level BPE PreTrainedTokenizerFast trained on `corpus`, with `arch`'s special
    tokens and chat template (assistant turns wrapped in generation markers)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from collectivesft.train.templates import get_template

    spec = ARCHS[arch]
    template = get_template(str(spec["template"]))
    specials = list(dict.fromkeys(
        t for t in (spec["pad"], spec["bos"], spec["eos"], *template.special_tokens) if t))

    tok = Tokenizer(models.BPE())
    # Latin words are split from CJK runs (the GPT-2 split sees both as one \p{L}+ run, and
    # "答案是AC" would become one token); digits are split one by one, as Qwen2 does.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[^\S\r\n]?[A-Za-z]+"), behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(corpus), trainer=trainer)
    bos = spec["bos"]
    if bos:
        # Llama-style: plain encode() starts with bos; apply_chat_template gets it from the template.
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=spec["eos"],
        pad_token=spec["pad"],
        additional_special_tokens=[t for t in template.special_tokens if t not in (spec["eos"],)],
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = template.jinja
    return fast


def build_tiny_model(
    out: Path,
    corpus: Iterable[str] | None = None,
    arch: str = "qwen2",
    size: str = "tiny",
    seed: int = 0,
) -> Path:
    """Build and save a randomly initialised `arch` causal LM of `size` with a tokenizer
    trained on the fixture world, every source's fixture records, and `corpus` if given,
    into `out`; return `out`.

    Deterministic for (corpus, arch, size, seed).
    """
    if arch not in ARCHS:
        raise ConfigError(f"unknown tiny-model arch {arch!r}; known: {', '.join(ARCHS)}")
    if size not in SIZES:
        raise ConfigError(f"unknown tiny-model size {size!r}; known: {', '.join(SIZES)}")
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    out = Path(out)
    texts = list(world_corpus()) + list(fixture_corpus()) + (list(corpus) if corpus is not None else [])
    shape = dict(SIZES[size])
    tokenizer = train_tokenizer(texts, shape.pop("vocab_size"), arch)
    vocab = len(tokenizer)
    # Pad the embedding to a multiple of 64, as real checkpoints do, for friendly matmul shapes.
    vocab_padded = (vocab + 63) // 64 * 64
    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    config_cls, model_cls = (Qwen2Config, Qwen2ForCausalLM) if arch == "qwen2" else (LlamaConfig, LlamaForCausalLM)
    config = config_cls(vocab_size=vocab_padded, max_position_embeddings=MAX_POSITIONS,
                        tie_word_embeddings=True, **shape, **ids)
    torch.manual_seed(seed)
    model = model_cls(config)
    model.generation_config = GenerationConfig(**ids, max_new_tokens=64, do_sample=False)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
