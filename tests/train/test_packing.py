"""Row packing fills rows to the cutoff, and segment attention keeps each packed record apart
(its logits and loss are the ones it has alone), on the tiny model."""

from __future__ import annotations

import pytest


def _records(lengths, seed):
    import torch

    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(10, 1000, (n,), generator=gen).tolist() for n in lengths]


@pytest.mark.parametrize("lengths, cutoff, pack_length, expected", [
    ([30, 140, 57], 512, None, 512),   # default: the cutoff
    ([30, 140, 57], 512, 256, 256),    # the former rows: max(256, longest record)
    ([30, 300, 57], 512, 256, 300),    # never shorter than the longest record
    ([30, 300, 57], 384, 1024, 384),   # never longer than the cutoff
])
def test_row_length(lengths, cutoff, pack_length, expected):
    from collectivesft.train.packing import row_length_for

    assert row_length_for(lengths, cutoff, pack_length) == expected


def test_rows_are_filled_to_the_cutoff_and_still_mix_lengths():
    import random

    from datasets import Dataset

    from collectivesft.train.packing import pack_rows, row_length_for

    rng = random.Random(0)
    lengths = [rng.choice([12, 20, 45, 90]) for _ in range(400)]
    records = [[7] * n for n in lengths]
    cutoff = 512
    rows = pack_rows(Dataset.from_dict({"input_ids": records, "labels": records}),
                     row_length_for(lengths, cutoff), seed=0).to_list()
    sizes = [len(r["input_ids"]) for r in rows]
    assert max(sizes) <= cutoff and sum(sizes) == sum(lengths)
    assert sum(sizes[:-1]) / (cutoff * (len(rows) - 1)) >= 0.97, sizes  # full rows, one partial at most
    assert sum(len(set(r["seq_lengths"])) >= 3 for r in rows) >= len(rows) - 1


@pytest.fixture(scope="module")
def model_pair(tiny_model):
    """The tiny model twice: transformers' SDPA and segment attention."""
    from transformers import AutoModelForCausalLM

    from collectivesft.train.segment_attention import register

    plain = AutoModelForCausalLM.from_pretrained(tiny_model)
    segmented = AutoModelForCausalLM.from_pretrained(tiny_model)
    segmented.set_attn_implementation(register())
    for m in (plain, segmented):
        m.config.use_cache = False
    return plain, segmented


def test_segment_attention_keeps_packed_records_apart(model_pair):
    """Rows filled to the cutoff (records of several length classes, pads at the end of the last
    row): each record's logits equal its logits alone, and the packed loss equals the loss of the
    records fed one by one."""
    import torch
    from datasets import Dataset

    from collectivesft.train.packing import RowPackingCollator, pack_rows

    plain, segmented = model_pair
    records = _records([9, 14, 6, 31, 3, 17, 40, 2, 25, 11], seed=2)
    rows = pack_rows(Dataset.from_dict({"input_ids": records, "labels": records}), 64).to_list()
    batch = RowPackingCollator(pad_token_id=0)(rows)
    assert batch["input_ids"].shape[1] == max(len(r["input_ids"]) for r in rows)
    assert any(len(r["input_ids"]) < batch["input_ids"].shape[1] for r in rows)  # pads present
    with torch.no_grad():
        out = segmented(**batch)
        token_losses = []
        for j, row in enumerate(rows):
            start = 0
            for n in row["seq_lengths"]:
                ids = batch["input_ids"][j:j + 1, start:start + n]
                alone = plain(input_ids=ids)
                assert torch.allclose(out.logits[j, start:start + n], alone.logits[0], atol=1e-4)
                logp = torch.log_softmax(alone.logits[0, :-1], -1)
                token_losses.append(-logp.gather(1, ids[0, 1:, None]).squeeze(1))
                start += n
        assert torch.allclose(out.loss, torch.cat(token_losses).mean(), atol=1e-5)


def test_segment_attention_gradients_match_dense_masking(model_pair):
    """The same packed batch trains the same: gradients equal those of SDPA's block-diagonal mask."""
    import torch

    plain, segmented = model_pair
    records = _records([5, 12, 7, 20, 4], seed=3)
    ids = torch.tensor([records[0] + records[1] + records[2] + [0] * 8, records[3] + records[4] + [0] * 8])
    pos = torch.tensor([list(range(5)) + list(range(12)) + list(range(7)) + [0] * 8,
                        list(range(20)) + list(range(4)) + [0] * 8])
    labels = ids.masked_fill(pos == 0, -100)
    grads = []
    for m in (plain, segmented):
        m.zero_grad()
        m(input_ids=ids, position_ids=pos, labels=labels).loss.backward()
        grads.append({n: p.grad.clone() for n, p in m.named_parameters()})
        m.zero_grad()
    for name, g in grads[0].items():
        assert torch.allclose(g, grads[1][name], atol=1e-5), name


def test_segment_attention_is_sdpa_for_padded_batches_and_generation(model_pair):
    """With a padding mask (and in generate) the model attends exactly as with SDPA."""
    import torch

    plain, segmented = model_pair
    ids = torch.tensor([[5, 6, 7, 8, 9], [0, 0, 11, 12, 13]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])
    with torch.no_grad():
        a = plain(input_ids=ids, attention_mask=mask).logits
        b = segmented(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(a[mask.bool()], b[mask.bool()], atol=1e-5)
    plain.config.use_cache = segmented.config.use_cache = True
    try:
        kw = dict(max_new_tokens=6, do_sample=False, pad_token_id=0)
        assert torch.equal(plain.generate(input_ids=ids, attention_mask=mask, **kw),
                           segmented.generate(input_ids=ids, attention_mask=mask, **kw))
    finally:
        plain.config.use_cache = segmented.config.use_cache = False


@pytest.mark.parametrize("count", [None, 37])
def test_labelled_loss_equals_the_models_loss(model_pair, count):
    """The head on target positions only: the model's own loss and gradients (padded batch with a
    mask, and packed rows), with and without num_items_in_batch."""
    import torch

    from collectivesft.train.labelled_loss import labelled_loss, supports

    plain, segmented = model_pair
    assert supports(plain)
    ids = torch.randint(10, 1000, (2, 24), generator=torch.Generator().manual_seed(4))
    labels = ids.clone()
    labels[:, :9] = -100  # the prompt
    padded = {"input_ids": ids, "labels": labels, "attention_mask": torch.ones_like(ids)}
    padded["attention_mask"][1, :3] = 0
    padded["labels"][1, :3] = -100
    pos = torch.tensor([list(range(10)) + list(range(14)), list(range(24))])
    packed = {"input_ids": ids, "labels": labels.masked_fill(pos == 0, -100), "position_ids": pos}
    for m, batch in ((plain, padded), (segmented, packed)):
        kwargs = {} if count is None else {"num_items_in_batch": torch.tensor(count)}
        m.zero_grad()
        reference = m(**batch, **kwargs).loss
        reference.backward()
        expected = {n: p.grad.clone() for n, p in m.named_parameters()}
        m.zero_grad()
        loss = labelled_loss(m, batch, kwargs.get("num_items_in_batch"))
        loss.backward()
        assert torch.allclose(loss, reference, atol=1e-6)
        for n, p in m.named_parameters():
            assert torch.allclose(p.grad, expected[n], atol=1e-6), n
        m.zero_grad()
