"""Diversity measures of a mixture: source and task entropy, distinct-n, duplicate rates.

Entropy is in bits, also given normalised by log2(number of categories) (1.0 = perfectly
even). distinct-n is the share of distinct character n-grams among all n-grams of the
normalised text, over at most `max_records` records (a fixed, deterministic sample).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable

import numpy as np

from collectivesft.mix import ledger as L
from collectivesft.mix.text import ngram_hashes, normalize_text, sorted_unique
from collectivesft.records import TASKS

DISTINCT_N = (1, 2, 4)


def entropy(counts: Iterable[int]) -> dict[str, float]:
    """Shannon entropy in bits of a count vector, and the same divided by its maximum."""
    values = [c for c in counts if c > 0]
    total = sum(values)
    if total == 0:
        return {"bits": 0.0, "normalised": 0.0}
    bits = -sum(c / total * math.log2(c / total) for c in values)
    return {"bits": round(bits, 4), "normalised": round(bits / math.log2(len(values)), 4) if len(values) > 1 else 0.0}


class DistinctCounter:
    """Collects n-gram hashes of up to `max_records` records for distinct-n."""

    max_records = 10000

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, rec: dict[str, Any]) -> None:
        if len(self.texts) < self.max_records:
            self.texts.append(normalize_text("\n".join(m["content"] for m in rec["messages"])))

    def extend(self, texts: list[str]) -> None:
        """Add already normalised texts (as add() normalises a record's turns), up to max_records."""
        self.texts.extend(texts[: max(0, self.max_records - len(self.texts))])

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"records": len(self.texts)}
        for n in DISTINCT_N:
            hashes, counts = ngram_hashes(self.texts, n)
            # Texts shorter than n contribute one whole-text "n-gram"; leave those out.
            lengths = np.fromiter((len(t) for t in self.texts), dtype=np.int64, count=len(self.texts))
            full = np.repeat(lengths >= n, counts)
            grams = hashes[full]
            out[f"distinct_{n}"] = round(len(sorted_unique(grams)) / len(grams), 4) if len(grams) else 0.0
        return out


def diversity_summary(ledger: L.Ledger, names: list[str], distinct: dict[str, Any]) -> dict[str, Any]:
    """Entropy before (all input) and after (train + val), duplicate rates, distinct-n."""
    kept = np.frombuffer(bytes(ledger.fate), dtype=np.uint8)
    entries = np.frombuffer(ledger.entry.tobytes(), dtype=np.int16)
    tasks = np.frombuffer(ledger.task.tobytes(), dtype=np.int8)
    in_mix = (kept == L.TRAIN) | (kept == L.VAL)
    n = len(ledger)
    fates = Counter(ledger.fate)
    return {
        "source_entropy": {"before": entropy(np.bincount(entries, minlength=len(names)).tolist()),
                           "after": entropy(np.bincount(entries[in_mix], minlength=len(names)).tolist())},
        "task_entropy": {"before": entropy(np.bincount(tasks, minlength=len(TASKS)).tolist()),
                         "after": entropy(np.bincount(tasks[in_mix], minlength=len(TASKS)).tolist())},
        "exact_duplicate_rate": round(fates.get(L.DUPLICATE, 0) / n, 4) if n else 0.0,
        "near_duplicate_rate": round(fates.get(L.NEAR_DUPLICATE, 0) / n, 4) if n else 0.0,
        "distinct": distinct,
    }
