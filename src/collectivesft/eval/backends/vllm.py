"""The `vllm` back-end (GPU; optional extra `pip install collectivesft[gpu]`).

Generation through `LLM.chat` with greedy sampling. Loglik uses prompt log-probabilities of
each candidate row (the same definition as the hf back-end); the end term of multi-answer
sets is read from the top-20 log-probabilities of the next token. A LoRA run folder is served
as its base model plus the adapter (enable_lora), stopping at the folder's eos ids.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from collectivesft.errors import ConfigError
from collectivesft.eval.backends.registry import Backend, Generation, ScoreRequest, register_backend


def _require_vllm():
    try:
        import vllm
    except ImportError:
        raise ConfigError("the vllm back-end needs the optional package vllm (GPU only): "
                          "pip install 'collectivesft[gpu]' or pip install vllm; "
                          "on CPU use --backend hf") from None
    return vllm


@register_backend("vllm")
class VLLMBackend(Backend):
    supports_loglik = True

    def __init__(self, config: Any):
        super().__init__(config)
        from collectivesft.models.remote_code import check_remote_code, remote_code_errors

        trust = bool(getattr(config, "trust_remote_code", False))
        check_remote_code(config.model, trust)
        vllm = _require_vllm()
        dtype = "auto" if config.dtype == "auto" else config.dtype
        model, extra, self.lora, self.stop_ids = config.model, {}, None, None
        folder = getattr(config, "adapter", None) or config.model
        adapter = Path(folder) / "adapter_config.json"
        if adapter.is_file():
            # A LoRA run folder: vLLM loads the base model and applies the adapter per request;
            # the folder's generation_config.json carries the template's end token.
            from vllm.lora.request import LoRARequest

            spec = json.loads(adapter.read_text(encoding="utf-8"))
            # An explicit --adapter applies to --model as the base; a bare adapter folder names its own.
            model = config.model if getattr(config, "adapter", None) else spec["base_model_name_or_path"]
            extra = {"enable_lora": True, "max_lora_rank": max(16, int(spec.get("r") or 16))}
            self.lora = LoRARequest("adapter", 1, str(folder))
            if (Path(folder) / "generation_config.json").is_file():
                eos = json.loads((Path(folder) / "generation_config.json").read_text()).get("eos_token_id")
                self.stop_ids = [eos] if isinstance(eos, int) else list(eos or []) or None
        with remote_code_errors(config.model):
            self.llm = vllm.LLM(model=model, dtype=dtype, tensor_parallel_size=config.tensor_parallel_size,
                                gpu_memory_utilization=config.gpu_memory_utilization, trust_remote_code=trust,
                                tokenizer=str(folder) if self.lora else None, **extra)
        self.tokenizer = self.llm.get_tokenizer()
        self.vllm = vllm

    def _sampling(self, max_new_tokens: int, temperature: float, stop: list[str] | None):
        # Only our settings: vLLM would otherwise take the checkpoint's generation_config defaults.
        return self.vllm.SamplingParams(temperature=temperature, max_tokens=max_new_tokens, stop=stop or None,
                                        top_p=1.0, top_k=-1, repetition_penalty=1.0, stop_token_ids=self.stop_ids)

    def context_length(self) -> int | None:
        """vLLM's max_model_len (the model's positions, or less when the KV cache cannot hold them)."""
        config = getattr(getattr(self.llm, "llm_engine", None), "model_config", None)
        return getattr(config, "max_model_len", None)

    def describe(self, max_new_tokens: int, temperature: float) -> dict[str, Any]:
        return {"backend": self.name, "model": self.config.model,
                "chat_template": "the tokenizer's own (LLM.chat)", "sampling_params": repr(
                    self._sampling(max_new_tokens, temperature, None))}

    def generate(self, chats: list[list[dict[str, str]]], max_new_tokens: int = 512,
                 temperature: float = 0.0, stop: list[str] | None = None) -> list[str]:
        return [g.text for g in self.complete(chats, max_new_tokens, temperature, stop)]

    def complete(self, chats: list[list[dict[str, str]]], max_new_tokens: int = 512,
                 temperature: float = 0.0, stop: list[str] | None = None) -> list[Generation]:
        from collectivesft.models.generation import trim_incomplete_char

        params = self._sampling(max_new_tokens, temperature, stop)
        outs = self.llm.chat(chats, params, use_tqdm=False, lora_request=self.lora)
        return [Generation(trim_incomplete_char(o.outputs[0].text), len(o.prompt_token_ids or []),
                           len(o.outputs[0].token_ids), "length" if o.outputs[0].finish_reason == "length" else "stop")
                for o in outs]

    def score(self, requests: list[ScoreRequest]) -> list[list[float]]:
        from collectivesft.eval.chat import render_chat

        prompts, spans = [], []
        for req in requests:
            context = self.tokenizer(render_chat(self.tokenizer, req.chat), add_special_tokens=False).input_ids
            for cont in req.continuations:
                ids = self.tokenizer(cont, add_special_tokens=False).input_ids
                prompts.append({"prompt_token_ids": context + ids})
                spans.append(len(ids))
        params = self.vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, logprobs=20, temperature=0.0)
        outs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=self.lora)
        flat = []
        for out, n, prompt in zip(outs, spans, prompts):
            tokens = prompt["prompt_token_ids"][-n:]
            lps = out.prompt_logprobs[-n:]
            flat.append((sum(lp[t].logprob for lp, t in zip(lps, tokens)), out.outputs[0].logprobs[0]))
        results, i = [], 0
        for req in requests:
            row = []
            for _ in req.continuations:
                base, top = flat[i]
                i += 1
                if req.end_term:
                    letters = sum(math.exp(v.logprob) for v in top.values()
                                  if (v.decoded_token or "").strip()[:1] in "ABCDEF" and (v.decoded_token or "").strip())
                    base += math.log(max(1e-9, 1.0 - letters))
                row.append(base)
            results.append(row)
        return results
