"""Packing encoded records into rows without attention across records, for CPU training.

On a GPU, TRL's padding-free packing flattens a whole batch into one sequence and the
flash-attention variable-length kernels attend within each record only. On CPU the SDPA
kernel has no variable-length path: it materialises a dense mask over the flattened
sequence, so its cost grows with (batch tokens)^2 and packing ends up slower than padding.
Here records are packed best-fit-decreasing into rows of `row_length` tokens that stay a
[rows, row_length] batch; each row carries per-record position ids and no attention mask, so
transformers builds a block-diagonal mask per row (cost rows x row_length^2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectivesft.train.masking import IGNORE


def pack_rows(dataset, row_length: int):
    """Pack a Dataset of {"input_ids", "labels"} into rows of at most `row_length` tokens
    (best-fit decreasing; no record is split or cut), adding "seq_lengths" per row."""
    from trl.data_utils import pack_dataset

    longest = max((len(ids) for ids in dataset["input_ids"]), default=0)
    if longest > row_length:
        raise ValueError(f"row_length {row_length} is shorter than the longest record ({longest} tokens)")
    return pack_dataset(dataset.select_columns(["input_ids", "labels"]), row_length, "bfd", {})


def row_length_for(lengths: list[int], cutoff: int) -> int:
    """Rows just long enough for the longest record, at least 256 tokens, at most `cutoff`:
    short rows keep the per-row attention cost small, long enough rows keep padding rare."""
    return min(cutoff, max(256, max(lengths, default=0)))


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
