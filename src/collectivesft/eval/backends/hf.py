"""The `hf` back-end: transformers on CPU or GPU; batched left-padded generation and loglik.

Loglik scores a continuation c (e.g. "答案是AC") as log P(c | prompt), tokenising the prompt
and c separately, as the model would generate them. When every candidate of a request is
the same token prefix plus one different last token (single-answer letters, usually), one
row per question gives all of them from the last position's distribution, and questions are
batched. Otherwise (multi-answer letter sets) the prompt runs once and its KV cache is
repeated for the candidate rows, so only the few candidate tokens are computed per set.
Only the last few positions' logits are computed (`logits_to_keep`).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from collectivesft.errors import ConfigError
from collectivesft.model_ref import check_model_ref
from collectivesft.progress import quiet_libraries
from collectivesft.eval.backends.registry import Backend, Generation, ScoreRequest, register_backend
from collectivesft.eval.chat import render_chat

# A token that continues a letter answer: optional separator, then option letters.
_LETTER_TOKEN = re.compile(r"[\s、,，]*[A-F]{1,6}")
# Where configs keep the model's positions (llama/qwen/internlm, gpt2, a few others).
POSITION_FIELDS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def _has_tokenizer(folder: str) -> bool:
    from pathlib import Path

    return any((Path(folder) / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))


def _with_adapter(model: Any, adapter: str, vocab: int) -> Any:
    """`model` with the LoRA adapter in folder `adapter` applied (an explicit base, as LLaMA-Factory's
    model_name_or_path + adapter_name_or_path); the embeddings grown first if training added tokens."""
    from pathlib import Path

    from collectivesft.errors import InputLayoutError

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise InputLayoutError(f"adapter {adapter!r} has no adapter_config.json: not a LoRA adapter folder")
    from peft import PeftModel

    if vocab > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(vocab, pad_to_multiple_of=64)
    return PeftModel.from_pretrained(model, adapter).eval()


@register_backend("hf")
class HFBackend(Backend):
    supports_loglik = True

    def __init__(self, config: Any):
        super().__init__(config)
        import torch

        from collectivesft.models.loading import load_causal_lm, load_tokenizer

        device = config.device
        cuda = torch.cuda.is_available()
        if device == "auto":
            device = "cuda" if cuda else "cpu"
        dtype = config.dtype
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"dtype {dtype!r} is not one of auto, float32, bfloat16, float16")
        check_model_ref(config.model)
        if getattr(config, "adapter", None):
            check_model_ref(config.adapter, "adapter")
        quiet_libraries()
        trust = bool(getattr(config, "trust_remote_code", False))
        kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype)}
        # On a CPU: a thread count for this machine's load (spinning OpenMP threads burn CPU on a
        # shared machine); on a GPU torch's CPU threads hardly matter.
        self.threads = None
        if device == "cpu":
            from collectivesft.eval.threads import apply_threads

            self.threads = apply_threads(getattr(config, "threads", None))
        if device.startswith("cuda"):
            # Weights go straight to the GPUs ("auto" shards a 70B model over all of them),
            # never through host RAM and .to(device).
            kwargs["device_map"] = "auto" if config.device == "auto" else {"": device}
        try:
            adapter = getattr(config, "adapter", None)
            # An adapter folder saved by training has the tokenizer it was trained with; else the base's.
            tokenizer_source = adapter if adapter and _has_tokenizer(adapter) else config.model
            self.tokenizer = load_tokenizer(tokenizer_source, trust, padding_side="left")
            self.model = load_causal_lm(config.model, trust, **kwargs)
            if adapter:
                self.model = _with_adapter(self.model, adapter, len(self.tokenizer))
        except OSError as exc:
            raise ConfigError(f"cannot load model {config.model!r} with transformers: {exc}") from None
        self.model.eval()
        self.device = self.model.get_input_embeddings().weight.device
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.has_template = bool(getattr(self.tokenizer, "chat_template", None))
        self._letter_mask = None
        # transformers 5 names the KV-cache argument `cache`; remote-code models still use past_key_values.
        self._cache_arg = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        from collectivesft.models.generation import end_ids

        self.end_ids = end_ids(getattr(config, "adapter", None) or config.model, self.model, self.tokenizer)

    def describe(self, max_new_tokens: int, temperature: float) -> dict[str, Any]:
        from collectivesft.models.generation import recorded

        return {"backend": self.name, "model": self.config.model,
                "chat_template": "the tokenizer's own" if self.has_template else "none: plain 问/答 transcript",
                "device": str(self.device), "dtype": str(self.model.dtype).removeprefix("torch."),
                "threads": self.threads,
                "generation_config": recorded(self._decoding(max_new_tokens, temperature, None))}

    def context_length(self) -> int | None:
        """The model config's positions, else the tokenizer's model_max_length; None when neither is
        a plausible number (transformers writes 1e30 for "unknown")."""
        config = self.model.config
        config = config.get_text_config() if hasattr(config, "get_text_config") else config
        candidates = [getattr(config, name, None) for name in POSITION_FIELDS]
        candidates.append(getattr(self.tokenizer, "model_max_length", None))
        return next((n for n in candidates if isinstance(n, int) and 0 < n <= 10**8), None)

    def _decoding(self, max_new_tokens: int, temperature: float, stop: list[str] | None):
        from collectivesft.models.generation import decoding_config

        return decoding_config(self.end_ids, self.tokenizer.pad_token_id, max_new_tokens, temperature, stop)

    # -- shared helpers -------------------------------------------------------------

    def _ids(self, text: str, special: bool) -> list[int]:
        return self.tokenizer(text, add_special_tokens=special).input_ids

    def _batch(self, rows: list[list[int]]):
        """Left-pad token rows into (input_ids, attention_mask, position_ids) tensors."""
        import torch

        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids.to(self.device), mask.to(self.device), positions.to(self.device)

    # -- generation -----------------------------------------------------------------

    def generate(self, chats: list[list[dict[str, str]]], max_new_tokens: int = 512,
                 temperature: float = 0.0, stop: list[str] | None = None) -> list[str]:
        return [g.text for g in self.complete(chats, max_new_tokens, temperature, stop)]

    def complete(self, chats: list[list[dict[str, str]]], max_new_tokens: int = 512,
                 temperature: float = 0.0, stop: list[str] | None = None) -> list[Generation]:
        import torch

        from collectivesft.models.generation import cut_at_stop, trim_incomplete_char

        decoding = self._decoding(max_new_tokens, temperature, stop)
        # The model's own generation config would fill in whatever ours leaves unset.
        self.model.generation_config = decoding
        texts = [render_chat(self.tokenizer, c) for c in chats]
        results: list[Generation] = []
        step = self.config.batch_size
        ends = set(self.end_ids)
        for start in range(0, len(texts), step):
            rows = [self._ids(t, not self.has_template) for t in texts[start:start + step]]
            ids, mask, _ = self._batch(rows)
            with torch.inference_mode():
                out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=decoding,
                                          tokenizer=self.tokenizer if stop else None)
            for row, new in zip(rows, out[:, ids.shape[1]:].tolist()):
                # A finished row is padded to the batch's length: count up to its end token.
                end = next((i for i, t in enumerate(new) if t in ends), None)
                kept = new if end is None else new[:end]
                text = trim_incomplete_char(self.tokenizer.decode(kept, skip_special_tokens=True))
                text, stopped = cut_at_stop(text, stop)
                finished = end is not None or stopped or len(new) < max_new_tokens
                results.append(Generation(text, len(row), len(new) if end is None else end + 1,
                                          "stop" if finished else "length"))
        return results

    # -- loglik ---------------------------------------------------------------------

    def letter_mask(self, size: int):
        """Boolean mask over the vocabulary: tokens that would continue a letter answer."""
        import torch

        if self._letter_mask is None or self._letter_mask.shape[0] != size:
            mask = torch.zeros(size, dtype=torch.bool)
            for i in range(min(size, len(self.tokenizer))):
                if _LETTER_TOKEN.fullmatch(self.tokenizer.decode([i])):
                    mask[i] = True
            self._letter_mask = mask.to(self.device)
        return self._letter_mask

    def _one_row(self, context: list[int], conts: list[list[int]], end_term: bool):
        """(row tokens, shared prefix length, last tokens) when one row scores every candidate."""
        shared = conts[0][:-1] if conts and conts[0] else None
        if (end_term or shared is None or len({c[-1] for c in conts}) != len(conts)
                or not all(len(c) == len(shared) + 1 and c[:-1] == shared for c in conts)):
            return None
        return context + shared, len(shared), [c[-1] for c in conts]

    def score(self, requests: list[ScoreRequest]) -> list[list[float]]:
        import torch

        results: list[list[float]] = [[] for _ in requests]
        batched = []  # (request index, row, n scored, candidate tokens)
        for qi, req in enumerate(requests):
            context = self._ids(render_chat(self.tokenizer, req.chat), not self.has_template)
            conts = [self._ids(c, False) for c in req.continuations]
            plan = self._one_row(context, conts, req.end_term)
            if plan is None:
                results[qi] = self._score_shared(context, conts, req.end_term)
            else:
                batched.append((qi, *plan))
        step = self.config.batch_size
        for start in range(0, len(batched), step):
            chunk = batched[start:start + step]
            ids, mask, positions = self._batch([row for _, row, _, _ in chunk])
            keep = max(n for _, _, n, _ in chunk) + 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                    logits_to_keep=keep).logits.float()
            logprobs = torch.log_softmax(logits, dim=-1)  # [rows, keep, vocab]: the last `keep` positions
            for b, (qi, row, n, last_tokens) in enumerate(chunk):
                # The shared tokens sit at the end of the row; each is predicted one position earlier.
                scored = torch.tensor(row[len(row) - n:], dtype=torch.long, device=logprobs.device)
                base = logprobs[b, keep - 1 - n: keep - 1].gather(-1, scored[:, None]).sum().item() if n else 0.0
                results[qi] = [base + logprobs[b, keep - 1, t].item() for t in last_tokens]
        return results

    def _score_shared(self, context: list[int], conts: list[list[int]], end_term: bool) -> list[float]:
        """Score candidates of different token lengths: the prompt runs once, its KV cache is
        repeated for the candidate rows, and only the few candidate tokens are computed again."""
        import copy

        import torch

        with torch.inference_mode():
            first = self.model(input_ids=torch.tensor([context], device=self.device), use_cache=True)
            cache = getattr(first, "cache", None) or first.past_key_values
            first_lp = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
            scores: list[float] = []
            # Candidate rows are a few tokens each; all 63 sets of a six-option question fit one pass.
            step = max(self.config.batch_size, 64)
            for start in range(0, len(conts), step):
                chunk = conts[start:start + step]
                width = max(len(c) for c in chunk)
                ids = torch.full((len(chunk), width), self.tokenizer.pad_token_id, dtype=torch.long)
                cont_mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for i, c in enumerate(chunk):  # right-padded: pads come after every scored position
                    ids[i, :len(c)] = torch.tensor(c, dtype=torch.long)
                    cont_mask[i, :len(c)] = 1
                mask = torch.cat([torch.ones((len(chunk), len(context)), dtype=torch.long), cont_mask], dim=1)
                positions = (len(context) + torch.arange(width)).expand(len(chunk), width)
                rows_cache = copy.deepcopy(cache)
                rows_cache.batch_repeat_interleave(len(chunk))
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                    position_ids=positions.to(self.device), **{self._cache_arg: rows_cache}).logits.float()
                logprobs = torch.log_softmax(logits, dim=-1)
                for i, c in enumerate(chunk):
                    total = first_lp[c[0]].item()
                    if len(c) > 1:
                        nxt = torch.tensor(c[1:], dtype=torch.long, device=logprobs.device)
                        total += logprobs[i, : len(c) - 1].gather(-1, nxt[:, None]).sum().item()
                    if end_term:
                        last = logprobs[i, len(c) - 1]
                        letters = torch.logsumexp(last[self.letter_mask(last.shape[0])], dim=0).clamp(max=-1e-6)
                        total += torch.log1p(-letters.exp()).item()
                    scores.append(total)
        return scores
