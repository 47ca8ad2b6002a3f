"""What models/compat.py supplies to transformers-4.x model code, checked against a direct
definition: the attention-mask helpers, the legacy cache API, tied-weight keys."""

from __future__ import annotations

import pytest
import torch

from collectivesft.models import compat

compat.install()
from transformers.modeling_attn_mask_utils import (  # noqa: E402 - supplied by install()
    AttentionMaskConverter, _prepare_4d_attention_mask, _prepare_4d_causal_attention_mask)

MIN = torch.finfo(torch.float32).min


def reference(padding: list[int], query: int, sliding_window: int | None = None) -> torch.Tensor:
    """Additive mask by definition: query i (absolute position past + i) sees key j iff j is not
    padding, j <= its position, and (with a window) j > position - window."""
    total = len(padding)
    past = total - query
    mask = torch.full((1, 1, query, total), MIN)
    for i in range(query):
        for j in range(total):
            seen = padding[j] == 1 and j <= past + i and (sliding_window is None or j > past + i - sliding_window)
            if seen:
                mask[0, 0, i, j] = 0.0
    return mask


@pytest.mark.parametrize("padding, query, window", [
    ([1, 1, 1, 1], 4, None),          # plain causal
    ([0, 0, 1, 1, 1], 5, None),       # left padding
    ([1, 1, 1, 0], 4, None),          # right padding
    ([1, 1, 1, 1, 1, 1], 2, None),    # two new tokens after four cached
    ([0, 1, 1, 1, 1, 1], 1, None),    # one decode step, left padded
    ([1, 1, 1, 1, 1, 1], 6, 3),       # sliding window
])
def test_the_causal_mask_helper_matches_its_definition(padding, query, window):
    embeds = torch.zeros(1, query, 8)
    got = _prepare_4d_causal_attention_mask(torch.tensor([padding]), (1, query), embeds, len(padding) - query,
                                            sliding_window=window)
    assert torch.equal(got, reference(padding, query, window))


def test_no_padding_mask_gives_the_causal_mask_and_the_plain_helper_only_masks_padding():
    embeds = torch.zeros(1, 3, 8)
    assert torch.equal(_prepare_4d_causal_attention_mask(None, (1, 3), embeds, 0), reference([1, 1, 1], 3))
    plain = _prepare_4d_attention_mask(torch.tensor([[0, 1, 1]]), torch.float32, tgt_len=2)
    assert plain.shape == (1, 1, 2, 3) and (plain[..., 0] == MIN).all() and (plain[..., 1:] == 0).all()


def test_fully_masked_rows_attend_everywhere_after_unmask_unattended():
    mask = reference([0, 0, 1], 3)
    out = AttentionMaskConverter._unmask_unattended(mask, MIN)
    assert (out[0, 0, 0] == 0).all()  # a padding query row would give NaN in SDPA's kernel
    assert torch.equal(out[0, 0, 2], mask[0, 0, 2])


def test_legacy_cache_round_trip():
    from transformers.cache_utils import DynamicCache

    layers = tuple((torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8)) for _ in range(3))
    cache = DynamicCache.from_legacy_cache(layers)
    assert cache.get_seq_length() == 5 and cache.seen_tokens == 5 and cache.get_usable_length(1) == 5
    back = cache.to_legacy_cache()
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(layers, back))
    assert DynamicCache.from_legacy_cache(None).get_seq_length() == 0


@pytest.mark.parametrize("tie, expected", [(False, {}), (True, {"output.weight": "model.tok_embeddings.weight"})])
def test_list_tied_weight_keys_become_the_mapping_transformers_5_expects(tmp_path, tie, expected):
    """The stand-in's class lists ["output.weight"], as InternLM2's does."""
    from transformers import AutoConfig
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    from collectivesft.fixtures.internlm2_model import build_internlm2

    folder = build_internlm2(tmp_path / "m")
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True, tie_word_embeddings=tie)
    model_class = get_class_from_dynamic_module(config.auto_map["AutoModelForCausalLM"], folder)
    mapping = compat._tied_mapping(model_class, ["output.weight"], config)
    assert mapping == expected
