"""Which questions a run answers: all, the first N (--limit), or a random sample stratified by
exam class (--sample N --seed S), and the one line that says which.

The allocation rule of a sample of N from M questions in K exam classes (sizes m_c):

1. each class gets floor(N * m_c / M) questions, and at least one when N >= K;
2. the places still free go one each to the classes with the largest remainders
   N * m_c / M - n_c (ties, as in CMB's 400-per-class test, broken by a seeded order of the
   classes); places taken beyond N by rule 1's minimum come back from the classes holding the
   most above their quota;
3. inside a class the questions are a seeded random draw; the run keeps them in file order.

The same questions, seed and N give the same sample on every machine (random.Random is
seeded with text, which does not depend on PYTHONHASHSEED).
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from collectivesft.benchmarks.cmb.format import normalize_class
from collectivesft.benchmarks.cmb.load import Question


@dataclass
class Subset:
    """How the questions of a run were chosen (recorded in run.json and scores.json as `subset`)."""

    kind: str  # "all" | "first" | "sample"
    n: int  # questions in the run
    of: int  # questions in the split
    seed: Optional[int] = None
    stratified_by: Optional[str] = None
    allocation: dict[str, int] = field(default_factory=dict)  # "exam type/exam class" -> questions taken

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {})}


def stratum(q: Question) -> str:
    """The exam class a question is drawn under (classes spelled with 与 and 和 are one)."""
    return f"{q.exam_type}/{normalize_class(q.exam_class)}"


def allocate(sizes: dict[str, int], n: int, seed: int) -> dict[str, int]:
    """Questions per class for a sample of `n` (the module docstring's rule); sums to min(n, total)."""
    total = sum(sizes.values())
    n = min(n, total)
    order = sorted(sizes)
    random.Random(f"{seed}:classes").shuffle(order)  # the tie-break: a seeded order of the classes
    rank = {c: i for i, c in enumerate(order)}
    quota = {c: n * sizes[c] / total for c in sizes}
    floor = 1 if n >= len(sizes) else 0
    taken = {c: min(sizes[c], max(floor, math.floor(quota[c]))) for c in sizes}
    while sum(taken.values()) < n:
        free = [c for c in sizes if taken[c] < sizes[c]]
        best = max(free, key=lambda c: (quota[c] - taken[c], -rank[c]))
        taken[best] += 1
    while sum(taken.values()) > n:
        over = [c for c in sizes if taken[c] > floor]
        worst = min(over, key=lambda c: (quota[c] - taken[c], rank[c]))
        taken[worst] -= 1
    return taken


def stratified_sample(questions: list[Question], n: int, seed: int) -> tuple[list[int], Subset]:
    """Indices (file order) of a sample of `n` questions stratified by exam class, and its record."""
    by_class: dict[str, list[int]] = {}
    for i, q in enumerate(questions):
        by_class.setdefault(stratum(q), []).append(i)
    taken = allocate({c: len(ix) for c, ix in by_class.items()}, n, seed)
    chosen: list[int] = []
    for c, indices in by_class.items():
        order = list(indices)
        random.Random(f"{seed}:{c}").shuffle(order)  # a prefix of one shuffle: a larger N keeps a smaller N's draw
        chosen += order[:taken[c]]
    chosen.sort()
    return chosen, Subset("sample", len(chosen), len(questions), seed, "exam class",
                          {c: taken[c] for c in by_class if taken[c]})


def choose(questions: list[Question], limit: Optional[int], sample: Optional[int],
           seed: int) -> tuple[list[int], Subset]:
    """Indices of the questions a run answers, in file order, and how they were chosen."""
    m = len(questions)
    if sample is not None and sample < m:
        return stratified_sample(questions, sample, seed)
    if limit is not None and limit < m:
        return list(range(limit)), Subset("first", limit, m)
    return list(range(m)), Subset("all", m, m)


def describe(subset: dict[str, Any]) -> str:
    """'64 of 200 questions, sampled (stratified by exam class, seed 0)', '... (the first 64)', 'all 200 questions'."""
    n, of = subset["n"], subset["of"]
    if subset["kind"] == "sample":
        return f"{n:,} of {of:,} questions, sampled (stratified by {subset['stratified_by']}, seed {subset['seed']})"
    if subset["kind"] == "first":
        return f"{n:,} of {of:,} questions (the first {n:,})"
    return f"all {of:,} questions"


def caveat(subset: dict[str, Any]) -> str:
    """What a subset's scores stand for, in one sentence ('' for the whole split)."""
    if subset["kind"] == "sample":
        return ("a stratified sample estimates the full set's accuracy; the 95 % intervals are wider "
                "the fewer questions it has")
    if subset["kind"] == "first":
        return ("the first questions are no random draw (in CMB's test file they are one exam class): "
                "use --sample N for an estimate of the full set")
    return ""
