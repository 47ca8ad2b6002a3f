"""The `hf` back-end: transformers on CPU or GPU; batched left-padded generation and loglik.

Loglik scores a continuation c (e.g. "答案是AC") as log P(c | prompt), tokenising the prompt
and c separately, as the model would generate them. When every candidate of a request is
the same token prefix plus one different last token (single-answer letters, usually), one
row per question gives all of them from the last position's distribution; otherwise each
candidate is its own row. Only the last few positions' logits are computed
(`logits_to_keep`), so long prompts with large vocabularies stay cheap.
"""

from __future__ import annotations

import re
from typing import Any

from collectivesft.errors import ConfigError
from collectivesft.eval.backends.registry import Backend, ScoreRequest, register_backend
from collectivesft.eval.cmb.prompts import render_chat

# A token that continues a letter answer: optional separator, then option letters.
_LETTER_TOKEN = re.compile(r"[\s、,，]*[A-F]{1,6}")


@register_backend("hf")
class HFBackend(Backend):
    supports_loglik = True

    def __init__(self, config: Any):
        super().__init__(config)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = config.dtype
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"dtype {dtype!r} is not one of auto, float32, bfloat16, float16")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(config.model, padding_side="left")
            self.model = AutoModelForCausalLM.from_pretrained(config.model, dtype=getattr(torch, dtype)).to(device)
        except OSError as exc:
            raise ConfigError(f"cannot load model {config.model!r} with transformers: {exc}") from None
        self.model.eval()
        self.device = device
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.has_template = bool(getattr(self.tokenizer, "chat_template", None))
        self._letter_mask = None

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
                 temperature: float = 0.0) -> list[str]:
        import torch

        texts = [render_chat(self.tokenizer, c) for c in chats]
        outputs: list[str] = []
        step = self.config.batch_size
        for start in range(0, len(texts), step):
            rows = [self._ids(t, not self.has_template) for t in texts[start:start + step]]
            ids, mask, _ = self._batch(rows)
            sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
            with torch.inference_mode():
                out = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                          pad_token_id=self.tokenizer.pad_token_id, top_p=None, top_k=None,
                                          **sampling)
            new = out[:, ids.shape[1]:]
            outputs += self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return outputs

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

    def _plan(self, request: ScoreRequest) -> list[tuple[list[int], int, Any]]:
        """Rows for one request: (tokens, n scored tokens at the end, tail) where tail is
        ("choices", [token per candidate]) for the one-row case, or ("end", k) / ("none", k)."""
        context = self._ids(render_chat(self.tokenizer, request.chat), not self.has_template)
        conts = [self._ids(c, False) for c in request.continuations]
        shared = conts[0][:-1] if conts and conts[0] else None
        one_row = (not request.end_term and shared is not None and
                   all(len(c) == len(shared) + 1 and c[:-1] == shared for c in conts) and
                   len({c[-1] for c in conts}) == len(conts))
        if one_row:
            return [(context + shared, len(shared), ("choices", [c[-1] for c in conts]))]
        return [(context + c, len(c), ("end" if request.end_term else "none", k)) for k, c in enumerate(conts)]

    def score(self, requests: list[ScoreRequest]) -> list[list[float]]:
        import torch

        plans = [self._plan(r) for r in requests]
        flat = [(qi, row) for qi, rows in enumerate(plans) for row in rows]
        results: list[list[float]] = [[0.0] * len(r.continuations) for r in requests]
        step = self.config.batch_size
        for start in range(0, len(flat), step):
            chunk = flat[start:start + step]
            ids, mask, positions = self._batch([row[0] for _, row in chunk])
            keep = max(row[1] for _, row in chunk) + 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                    logits_to_keep=keep).logits.float()
            logprobs = torch.log_softmax(logits, dim=-1)  # [rows, keep, vocab]: positions width-keep .. width-1
            for b, (qi, (tokens, n_scored, tail)) in enumerate(chunk):
                # Token t at index width-n_scored+j is predicted by the logits one position earlier.
                scored = torch.tensor(tokens[len(tokens) - n_scored:], dtype=torch.long, device=logprobs.device)
                rows_lp = logprobs[b, keep - 1 - n_scored: keep - 1]
                base = rows_lp.gather(-1, scored[:, None]).sum().item() if n_scored else 0.0
                last = logprobs[b, keep - 1]
                kind, arg = tail
                if kind == "choices":
                    results[qi] = [base + last[t].item() for t in arg]
                elif kind == "end":
                    letter_lp = torch.logsumexp(last[self.letter_mask(last.shape[0])], dim=0).clamp(max=-1e-6)
                    results[qi][arg] = base + torch.log1p(-letter_lp.exp()).item()
                else:
                    results[qi][arg] = base
        return results
