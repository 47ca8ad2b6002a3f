"""Attention within each packed record only, at the cost of the records, not of the row.

A packed row of `cutoff` tokens with a block-diagonal mask (what transformers builds from
per-record position ids for SDPA, and what LLaMA-Factory's `neat_packing` builds itself)
costs rows x cutoff^2 in attention, nearly all of it on masked-out pairs, and the masked SDPA
path on CPU is the slow one (the mask is materialised, no causal skipping). Here each record
is cut out of its row by its position ids (a record starts where the position goes back to
0), records of similar length are gathered into [records, length] groups, and each group
runs causal SDPA without a mask (the fused kernel); the outputs are put back in row order.
The cost is the sum over records of length^2, so rows can be filled to the cutoff.

A record's tokens see exactly the tokens before them in the same record, as with the
block-diagonal mask: the logits of a packed record equal its logits alone (tested).

Registered with transformers as the attention implementation `packed_sdpa` (and a mask
function returning None when no padding mask is given: no 4D mask is built). With a padding
mask, or without position ids (generation, a plain forward), it is transformers' SDPA.
"""

from __future__ import annotations

from typing import Any

NAME = "packed_sdpa"


class _Segments:
    """Where each record lies in the flattened [rows * length] batch, grouped by length.

    groups: (index [n, L] into the flattened tokens, L) per group; order: for every flattened
    token, its place in the concatenation of the groups' valid outputs.
    """

    def __init__(self, position_ids):
        import torch

        rows, width = position_ids.shape
        flat = position_ids.reshape(-1)
        step = torch.ones_like(flat, dtype=torch.bool)
        step[1:] = flat[1:] != flat[:-1] + 1
        step[::width] = True  # a record never spans two rows
        starts = step.nonzero().squeeze(1)
        lengths = torch.diff(starts, append=starts.new_tensor([flat.numel()]))
        # Groups by length class (powers of two): padding within a group stays under 2x per
        # record, and short records (or pads, each a record of its own) never pay for long ones.
        classes = torch.ceil(torch.log2(lengths.double())).long()
        self.groups: list[tuple[Any, Any]] = []
        gathered = []
        for c in torch.unique(classes).tolist():
            sel = (classes == c).nonzero().squeeze(1)
            g_starts, g_lengths = starts[sel], lengths[sel]
            span = int(g_lengths.max())
            offsets = torch.arange(span, device=flat.device)
            index = g_starts[:, None] + offsets[None, :]
            valid = offsets[None, :] < g_lengths[:, None]
            # Slots past a record's end read any token (the record's own start): under a causal
            # mask no real token attends to a later slot, and their outputs are dropped.
            index = torch.where(valid, index, g_starts[:, None])
            self.groups.append((index, valid))
            gathered.append(index[valid])
        order = torch.empty_like(flat)
        taken = torch.cat(gathered)
        order[taken] = torch.arange(taken.numel(), device=flat.device)
        self.order = order


_cache: dict[str, Any] = {"ids": None, "segments": None}


def _segments_for(position_ids) -> _Segments:
    """The segments of this forward pass: every layer gets the same position_ids tensor, so
    they are computed once per forward (and again in a checkpointed recomputation)."""
    if _cache["ids"] is not position_ids:
        _cache["ids"], _cache["segments"] = position_ids, _Segments(position_ids)
    return _cache["segments"]


def packed_sdpa_forward(module, query, key, value, attention_mask, dropout: float = 0.0,
                        scaling: float | None = None, is_causal: bool | None = None, **kwargs):
    """transformers' attention signature: query [B, H, L, D], key/value [B, Hkv, L, D];
    returns ([B, L, H, D], None)."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    position_ids = kwargs.get("position_ids")
    if (position_ids is None or attention_mask is not None or query.shape[2] != key.shape[2]
            or position_ids.shape != query.shape[:1] + query.shape[2:3]):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    segments = _segments_for(position_ids)
    batch, heads, length, dim = query.shape
    groups_kv = heads // key.shape[1]
    q = query.transpose(1, 2).reshape(batch * length, heads, dim)
    k = key.transpose(1, 2).reshape(batch * length, key.shape[1], dim)
    v = value.transpose(1, 2).reshape(batch * length, value.shape[1], dim)
    parts = []
    for index, valid in segments.groups:
        qg, kg, vg = (t[index].transpose(1, 2) for t in (q, k, v))  # [n, heads, span, dim]
        if groups_kv > 1:
            kg, vg = kg.repeat_interleave(groups_kv, dim=1), vg.repeat_interleave(groups_kv, dim=1)
        out = torch.nn.functional.scaled_dot_product_attention(
            qg, kg, vg, is_causal=True, scale=scaling, dropout_p=dropout if module.training else 0.0)
        parts.append(out.transpose(1, 2)[valid])  # [tokens, heads, dim]
    out = torch.cat(parts)[segments.order]
    return out.reshape(batch, length, heads, dim), None


def _mask(*args, **kwargs):
    """No 4D mask for packed rows (no 2D attention mask given); SDPA's mask for padded batches."""
    from transformers.masking_utils import sdpa_mask

    return None if kwargs.get("attention_mask") is None else sdpa_mask(*args, **kwargs)


def register() -> str:
    """Make `packed_sdpa` an attention implementation transformers accepts; returns its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, packed_sdpa_forward)
    AttentionMaskInterface.register(NAME, _mask)
    return NAME
