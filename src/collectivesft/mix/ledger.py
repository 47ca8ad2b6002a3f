"""The ledger: one compact entry per input record, saying what happened to it and why.

Kept in flat arrays (not one dict per record) so a million records cost tens of MB.
The fate of every record ends as exactly one of FATES; the manifest's per-source counts
and accounting.jsonl are both read off the ledger, which is what makes the identity
input = train + val + filtered + contaminated + duplicate + near_duplicate + over_cap hold.
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Any

from collectivesft.records import TASKS

CANDIDATE, FILTERED, CONTAMINATED, DUPLICATE, NEAR_DUPLICATE, OVER_CAP, TRAIN, VAL = range(8)
FATES = {FILTERED: "filtered", CONTAMINATED: "contaminated", DUPLICATE: "duplicate",
         NEAR_DUPLICATE: "near_duplicate", OVER_CAP: "over_cap", TRAIN: "train", VAL: "val"}
_TASK_CODES = {task: i for i, task in enumerate(TASKS)}
REASONS = {FILTERED: "filter", CONTAMINATED: "contaminated-by", DUPLICATE: "duplicate-of",
           NEAR_DUPLICATE: "near-duplicate-of", OVER_CAP: "over-cap"}


# Fates whose accounting reason needs no lookup.
_PLAIN = {TRAIN: None, VAL: None, OVER_CAP: REASONS[OVER_CAP]}


class Ledger:
    """Per-record facts (source entry, id, task, length, stratum, paper row) and fate with its detail."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.entry = array("h")
        self.task = array("b")
        self.chars = array("i")
        self.stratum = array("i")
        # Row of the paper script's output file (meta.paper_row of --style paper records), -1 if none.
        self.row = array("q")
        self.fate = bytearray()
        self.filter_reason: dict[int, str] = {}
        self.duplicate_of: dict[int, int] = {}
        self.contaminated_by: dict[int, tuple[str, float]] = {}  # also kept when action=report
        self.stratum_labels: list[tuple[int, str]] = []  # code -> (entry, label)
        self._stratum_codes: dict[tuple[int, str], int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, entry: int, rid: str, task: str, chars: int, stratum: str, row: int = -1) -> int:
        """Register one input record; return its ledger index."""
        key = (entry, stratum)
        code = self._stratum_codes.get(key)
        if code is None:
            code = self._stratum_codes[key] = len(self.stratum_labels)
            self.stratum_labels.append(key)
        self.ids.append(rid)
        self.entry.append(entry)
        self.task.append(_TASK_CODES[task])
        self.chars.append(min(chars, 2**31 - 1))
        self.stratum.append(code)
        self.row.append(row)
        self.fate.append(CANDIDATE)
        return len(self.ids) - 1

    def add_many(self, entry: int, ids: list[str], tasks: list[str], chars: list[int], strata: list[str],
                 rows: list[int]) -> int:
        """Register records of one entry as add() does, in one go; return the first one's index."""
        first = len(self.ids)
        codes = {}
        for label in dict.fromkeys(strata):  # first-seen order, as add() numbers them
            key = (entry, label)
            code = self._stratum_codes.get(key)
            if code is None:
                code = self._stratum_codes[key] = len(self.stratum_labels)
                self.stratum_labels.append(key)
            codes[label] = code
        self.ids.extend(ids)
        self.entry.extend([entry] * len(ids))
        self.task.extend([_TASK_CODES[t] for t in tasks])
        self.chars.extend([min(c, 2**31 - 1) for c in chars])
        self.stratum.extend([codes[label] for label in strata])
        self.row.extend(rows)
        self.fate.extend(bytes(len(ids)))  # CANDIDATE
        return first

    def drop(self, index: int, fate: int, detail: Any = None) -> None:
        self.fate[index] = fate
        if fate == FILTERED:
            self.filter_reason[index] = detail
        elif fate in (DUPLICATE, NEAR_DUPLICATE):
            self.duplicate_of[index] = detail

    def candidates(self, entry: int, lo: int, hi: int) -> list[int]:
        """Indices in [lo, hi) (one entry's records) still waiting for sampling, in file order."""
        return [i for i in range(lo, hi) if self.fate[i] == CANDIDATE]

    def reason(self, index: int) -> tuple[str, str | None]:
        """(fate name for accounting, reason text or None) of one record."""
        fate = self.fate[index]
        if fate in (TRAIN, VAL):
            return FATES[fate], None
        if fate == FILTERED:
            return "dropped", f"filter:{self.filter_reason[index]}"
        if fate in (DUPLICATE, NEAR_DUPLICATE):
            return "dropped", f"{REASONS[fate]}:{self.ids[self.duplicate_of[index]]}"
        if fate == CONTAMINATED:
            return "dropped", f"contaminated-by:{self.contaminated_by[index][0]}"
        return "dropped", REASONS[fate]

    def reasons(self, lo: int, hi: int) -> list[str | None]:
        """reason(i)[1] for every i in [lo, hi)."""
        fate = self.fate
        return [self.reason(i)[1] if fate[i] not in _PLAIN else _PLAIN[fate[i]] for i in range(lo, hi)]

    def counts(self, lo: int, hi: int) -> dict[str, Any]:
        """Counts by fate (filter reasons broken out) for records [lo, hi)."""
        fates = Counter(self.fate[lo:hi])
        filters = Counter(self.filter_reason[i] for i in range(lo, hi) if i in self.filter_reason)
        return {"input": hi - lo,
                "filtered": dict(sorted(filters.items())),
                **{FATES[f]: fates.get(f, 0) for f in (CONTAMINATED, DUPLICATE, NEAR_DUPLICATE, OVER_CAP, TRAIN, VAL)}}


def identity_holds(counts: dict[str, Any]) -> bool:
    """input == train + val + sum(filtered) + contaminated + duplicate + near_duplicate + over_cap."""
    dropped = sum(counts["filtered"].values()) + sum(counts[k] for k in
                                                      ("contaminated", "duplicate", "near_duplicate", "over_cap"))
    return counts["input"] == counts["train"] + counts["val"] + dropped


def stage_counts(counts: dict[str, Any]) -> dict[str, int]:
    """Records left after each stage, in pipeline order (derived from the fate counts)."""
    left = counts["input"] - sum(counts["filtered"].values())
    stages = {"input": counts["input"], "after_filters": left}
    left -= counts["contaminated"]
    stages["after_decontamination"] = left
    left -= counts["duplicate"]
    stages["after_exact_dedup"] = left
    left -= counts["near_duplicate"]
    stages["after_near_dedup"] = left
    stages["selected"] = counts["train"] + counts["val"]
    stages["train"] = counts["train"]
    stages["val"] = counts["val"]
    return stages
