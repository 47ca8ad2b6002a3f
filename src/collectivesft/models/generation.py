"""Decoding settings built from ours alone, and decoded text cut at a whole character.

A checkpoint's generation_config.json may carry sampling or penalty settings
(repetition_penalty, no_repeat_ngram_size, top_p ...). transformers fills every setting we
leave unset from it, so greedy would not be greedy. The config used here starts from
nothing but our settings and the end-of-sequence ids, and replaces the model's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPLACEMENT = "\ufffd"


def end_ids(model_dir: str | Path, model: Any, tokenizer: Any) -> list[int]:
    """Token ids that end a reply: the folder's generation_config.json (a LoRA run folder writes
    one; transformers ignores it when it loads an adapter), the model's, and the tokenizer's eos."""
    from transformers import GenerationConfig

    found: list[int] = []
    sources = [getattr(model, "generation_config", None)]
    if (Path(model_dir) / "generation_config.json").is_file():
        sources.insert(0, GenerationConfig.from_pretrained(model_dir))
    for config in sources:
        eos = getattr(config, "eos_token_id", None)
        found += [eos] if isinstance(eos, int) else list(eos or [])
    if tokenizer.eos_token_id is not None:
        found.append(tokenizer.eos_token_id)
    return list(dict.fromkeys(found))


def decoding_config(eos: list[int], pad: int | None, max_new_tokens: int, temperature: float,
                    stop: list[str] | None = None):
    """A GenerationConfig holding only our settings: greedy at temperature 0, plain sampling
    (no top-p/top-k cut, no penalties) above it."""
    from transformers import GenerationConfig

    sampling: dict[str, Any] = ({"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
                                if temperature > 0 else {"do_sample": False})
    return GenerationConfig(max_new_tokens=max_new_tokens, eos_token_id=eos, pad_token_id=pad, num_beams=1,
                            repetition_penalty=1.0, stop_strings=stop or None, **sampling)


def recorded(config: Any) -> dict[str, Any]:
    """The settings of `config` that differ from transformers' defaults (what the eval folder records)."""
    return {k: v for k, v in config.to_diff_dict().items() if k != "transformers_version"}


def trim_incomplete_char(text: str) -> str:
    """`text` without trailing replacement characters: byte-level tokens cut by max_new_tokens
    can end inside a multi-byte character (Chinese is 3 bytes in UTF-8), which decodes to U+FFFD."""
    return text.rstrip(REPLACEMENT)


def cut_at_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    """`text` up to the first stop string (excluded, as the OpenAI API does), and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop or [] if s) if i >= 0]
    return (text[:min(cuts)], True) if cuts else (text, False)
