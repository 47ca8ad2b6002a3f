"""What a run costs: the time per question measured on the first questions, and what the rest
of the run and the whole split will take at that rate.

A user about to run 11,200 questions on a CPU needs to know it is two days before starting:
the runner prints one forecast line once WARMUP questions are answered (or at the end of a
shorter run) and records the numbers in run.json (`estimate`). The first batch includes
one-off costs (kernel selection, caches), so the forecast errs on the long side.
"""

from __future__ import annotations

from typing import Any

from collectivesft.progress import duration

WARMUP = 10  # questions answered before the forecast is made


def forecast(timed: int, seconds: float, cpu_seconds: float, remaining: int, split_size: int,
             whole_split: bool) -> dict[str, Any]:
    """Rates from `timed` questions answered in `seconds` (wall) / `cpu_seconds` (this process),
    and the forecast for the `remaining` questions of this run and, when the run is a subset,
    for all `split_size` questions of the split."""
    per = seconds / timed if timed else 0.0
    estimate = {"timed_questions": timed, "seconds_per_question": round(per, 4),
                "cpu_seconds_per_question": round(cpu_seconds / timed, 4) if timed else 0.0,
                "remaining_questions": remaining, "remaining_seconds": round(per * remaining, 1)}
    if not whole_split:
        estimate.update(split_questions=split_size, split_seconds=round(per * split_size, 1))
    return estimate


def forecast_line(estimate: dict[str, Any]) -> str:
    """'cost: about 2.3 s/question here (14 CPU s/question, 10 timed): the remaining 90 ≈ 3 min; all 11,200 ≈ 7.2 h'."""
    parts = []
    if estimate["remaining_questions"]:
        parts.append(f"the remaining {estimate['remaining_questions']:,} questions of this run "
                     f"≈ {duration(estimate['remaining_seconds'])}")
    if "split_questions" in estimate:
        parts.append(f"all {estimate['split_questions']:,} questions ≈ {duration(estimate['split_seconds'])}")
    head = (f"cost: about {_seconds(estimate['seconds_per_question'])} s/question here "
            f"({_seconds(estimate['cpu_seconds_per_question'])} CPU s/question, {estimate['timed_questions']} timed)")
    return head + (": " + "; ".join(parts) if parts else "")


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}" if value >= 1 else f"{value:.3f}"
