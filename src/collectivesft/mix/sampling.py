"""How many records each source contributes, and which ones.

`source_quotas` turns a strategy into per-source counts; `select` picks that many of a
source's surviving records (random, stratified, or the paper's first-N in file order;
`first_rows` for paper-style records, whose first N counts the paper file's rows);
`split_validation` holds out each source's own validation share; `llamafactory_split` is the
paper's one global split instead (LLaMA-Factory's `val_size`).
All randomness comes from random.Random seeded with "<seed>:<source name>[:purpose]", so a
source's sample does not change when another source is added or removed.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Hashable, Sequence

from collectivesft.mix.recipe import MixRecipe


def allocate(limits: Sequence[int], shares: Sequence[float], total: int) -> list[int]:
    """Split `total` over slots in proportion to `shares`, never above `limits` (water-filling).

    What a full slot cannot take goes to the others in proportion to their shares. Integer
    counts come from largest remainders (ties to the earlier slot). The result sums to
    min(total, sum of limits over slots with a positive share).
    """
    n = len(limits)
    quota = [0.0] * n
    active = [i for i in range(n) if shares[i] > 0 and limits[i] > 0]
    remaining = float(min(total, sum(limits[i] for i in active)))
    while active and remaining > 1e-9:
        weight = sum(shares[i] for i in active)
        full = [i for i in active if remaining * shares[i] / weight >= limits[i] - quota[i] - 1e-9]
        if not full:
            for i in active:
                quota[i] += remaining * shares[i] / weight
            break
        for i in full:
            remaining -= limits[i] - quota[i]
            quota[i] = float(limits[i])
        active = [i for i in active if i not in full]
    counts = [min(limits[i], math.floor(quota[i] + 1e-9)) for i in range(n)]
    target = round(sum(quota))
    order = sorted(range(n), key=lambda i: (-(quota[i] - counts[i]), i))
    for i in order:
        if sum(counts) >= target:
            break
        if counts[i] < limits[i] and shares[i] > 0:
            counts[i] += 1
    return counts


def source_quotas(recipe: MixRecipe, available: Sequence[int]) -> list[int]:
    """Records to take from each source (recipe order) given how many survived cleaning."""
    limits = []
    for spec, n in zip(recipe.sources, available):
        cap = recipe.cap_of(spec)
        limits.append(n if cap is None else min(n, cap))
    if recipe.strategy == "cap":
        return limits
    if recipe.strategy == "proportional":
        shares = [float(n) for n in available]
    elif recipe.strategy == "temperature":
        shares = [float(n) ** recipe.alpha if n else 0.0 for n in available]
    elif recipe.strategy == "uniform":
        shares = [1.0] * len(available)
    else:  # weights
        shares = [spec.weight if spec.weight is not None else 1.0 for spec in recipe.sources]
    total = recipe.total
    if total is None:
        # The largest mixture that keeps the shares exact: the first source to run out of
        # records decides. Sources with nothing left cannot contribute and are ignored.
        usable = [i for i in range(len(limits)) if limits[i] > 0 and shares[i] > 0]
        if not usable:
            return [0] * len(limits)
        weight = sum(shares[i] for i in usable)
        total = math.floor(min(limits[i] * weight / shares[i] for i in usable) + 1e-6)
    return allocate(limits, shares, total)


def select(
    candidates: Sequence[int],
    quota: int,
    how: str,
    rng: random.Random,
    strata: Sequence[Hashable] | None = None,
) -> list[int]:
    """Pick `quota` of `candidates` (positions in file order), returned in file order.

    how="first": the first `quota` in file order (LLaMA-Factory's max_samples).
    how="random": a uniform sample; with `strata` (one label per candidate) the quota is
    spread evenly over the labels (a small stratum gives all it has, the rest go to others).
    """
    if quota >= len(candidates):
        return list(candidates)
    if how == "first":
        return list(candidates[:quota])
    if not strata:
        return sorted(rng.sample(list(candidates), quota))
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for cand, label in zip(candidates, strata):
        groups[label].append(cand)
    labels = sorted(groups, key=repr)
    counts = allocate([len(groups[g]) for g in labels], [1.0] * len(labels), quota)
    chosen: list[int] = []
    for label, k in zip(labels, counts):
        chosen.extend(rng.sample(groups[label], k))
    return sorted(chosen)


def first_rows(candidates: Sequence[int], rows: Sequence[int], limit: int | None) -> list[int]:
    """LLaMA-Factory's `max_samples` on a paper-style source: the candidates whose row in the
    paper script's output is below `limit`, in file order. Rows LLaMA-Factory later drops as
    invalid (no answer) count towards the limit, as they do there."""
    if limit is None:
        return list(candidates)
    return [c for c, row in zip(candidates, rows) if row < limit]


def split_validation(chosen: Sequence[int], fraction: float, rng: random.Random) -> set[int]:
    """The members of `chosen` held out for validation: round(fraction * n), never all of them."""
    n = len(chosen)
    k = min(int(fraction * n + 0.5), max(n - 1, 0))
    return set(rng.sample(list(chosen), k)) if k else set()


def llamafactory_split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """LLaMA-Factory's `val_size` split of `n` rows: `datasets`' `train_test_split(test_size=
    fraction, seed=seed)`, as v0.8.3 calls it on the concatenated datasets. Returns the row
    positions of the train and the validation part, each in the (shuffled) order it returns."""
    if n == 0 or fraction == 0:
        return list(range(n)), []
    from datasets import Dataset

    from collectivesft.errors import ConfigError

    try:
        parts = Dataset.from_dict({"row": list(range(n))}).train_test_split(test_size=fraction, seed=seed)
    except ValueError as exc:
        raise ConfigError(f"split llamafactory: val_fraction {fraction} of {n} records: {exc}") from None
    return list(parts["train"]["row"]), list(parts["test"]["row"])
