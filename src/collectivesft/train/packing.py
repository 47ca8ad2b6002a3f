"""Packing encoded records into rows without attention across records, for CPU training.

On a GPU, TRL's padding-free packing flattens a whole batch into one sequence and the
flash-attention variable-length kernels attend within each record only. On CPU the SDPA
kernel has no variable-length path: it materialises a dense mask over the flattened
sequence, so its cost grows with (batch tokens)^2 and packing ends up slower than padding.
Here records are packed, in a shuffled order, into rows of `row_length` tokens (the cutoff
unless `pack_length` says otherwise) that stay a [rows, row_length] batch; each row carries
per-record position ids and no attention mask. With transformers' SDPA that builds a
block-diagonal mask per row (cost rows x row_length^2); the trainer instead uses segment
attention (segment_attention.py), whose cost is the sum of the records' squared lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectivesft.train.masking import IGNORE


def pack_rows(dataset, row_length: int, seed: int = 0, open_rows: int = 64):
    """Pack a Dataset of {"input_ids", "labels"} into rows of at most `row_length` tokens (no
    record is split or cut), adding "seq_lengths" per row.

    Records are taken in a seeded shuffled order and each goes into the first of the last
    `open_rows` rows it fits (first-fit over a bounded window: linear time). Rows therefore hold
    records of all lengths and sources in proportion. Length-sorted packing (best-fit
    decreasing, TRL's "bfd") groups records of equal length, which in a mixture built from a few
    templates per source means one source per row: with a small batch every optimizer step then
    sees one source, and on the demo the model learned none of the facts that the same records
    taught it unpacked.
    """
    import random

    from datasets import Dataset

    ids_col, labels_col = dataset["input_ids"], dataset["labels"]
    longest = max((len(ids) for ids in ids_col), default=0)
    if longest > row_length:
        raise ValueError(f"row_length {row_length} is shorter than the longest record ({longest} tokens)")
    order = list(range(len(ids_col)))
    random.Random(seed).shuffle(order)
    rows: list[list[int]] = []  # record indices per row
    free: list[int] = []  # tokens left per row
    window_start = 0
    for i in order:
        n = len(ids_col[i])
        for r in range(window_start, len(rows)):
            if free[r] >= n:
                rows[r].append(i)
                free[r] -= n
                break
        else:
            rows.append([i])
            free.append(row_length - n)
            window_start = max(0, len(rows) - open_rows)
    return Dataset.from_dict({
        "input_ids": [[t for i in row for t in ids_col[i]] for row in rows],
        "labels": [[t for i in row for t in labels_col[i]] for row in rows],
        "seq_lengths": [[len(ids_col[i]) for i in row] for row in rows],
    })


def row_length_for(lengths: list[int], cutoff: int, pack_length: int | None = None) -> int:
    """Tokens per packed row: the cutoff (rows filled up to it, as LLaMA-Factory's neat_packing
    does), or `pack_length` when given, raised to the longest record and capped at the cutoff.

    Long rows cost nothing extra in attention with segment attention (segment_attention.py:
    each record attends within itself at the cost of its own length), and fewer, fuller rows
    mean fewer pads and more tokens per optimizer step. (Before, rows were max(256, longest
    record): short rows kept the dense block-diagonal mask's rows x length^2 small;
    `pack_length: 256` gives those rows again.)"""
    if pack_length is None:
        return cutoff
    return min(cutoff, max(pack_length, max(lengths, default=0)))


@dataclass
class RowPackingCollator:
    """Collate packed rows into input_ids / labels / position_ids, right-padded, no attention mask.

    Positions restart at 0 for each record, which is how the model tells records apart; pads
    get position 0 (each pad is then a record of its own) and label -100. A record's first
    token is never a target, so nothing is predicted across a record boundary.
    """

    pad_token_id: int

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        for j, row in enumerate(rows):
            n = len(row["input_ids"])
            ids[j, :n] = torch.tensor(row["input_ids"])
            labels[j, :n] = torch.tensor(row["labels"])
            lengths = row.get("seq_lengths") or [n]
            positions[j, :n] = torch.cat([torch.arange(k) for k in lengths])
        labels[positions == 0] = IGNORE
        return {"input_ids": ids, "labels": labels, "position_ids": positions}
