"""The paper-style conversion loop: raw units -> paper rows -> one record per row, in order."""

from __future__ import annotations

from typing import Any, Iterator

from collectivesft.io import dumps
from collectivesft.records import make_record, record_problems
from collectivesft.sources.base import ConvertStats, Reject, Skip
from collectivesft.sources.paper.rules import DroppedByLlamaFactory, PaperRules, conversation
from collectivesft.sources.readers import snippet
from collectivesft.sources.rows import BadRow, RawRow


def iter_paper_records(
    rules: PaperRules, rows: Iterator[RawRow | BadRow], stats: ConvertStats
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ("record", rec) or ("quarantine", entry); a unit may give several records (one per turn).

    Ids are `<source>/paper-<n>`, n counting records in the paper script's output order.
    `meta.paper_row` is the record's row in the script's output file, where rows LLaMA-Factory
    drops (no answer) and the records that could not be made still count: the mix's first-N
    selection counts those rows, as LLaMA-Factory's `max_samples` does.
    """
    n = 0
    written = 0  # rows the paper script wrote so far
    for row in rows:
        stats.read += 1
        stats.last_where = row.where
        if isinstance(row, BadRow):
            stats.quarantined += 1
            yield "quarantine", {"where": row.where, "reason": row.reason, "snippet": row.snippet}
            continue
        try:
            paper_rows = rules.rows(row)
        except DroppedByLlamaFactory as exc:
            written += exc.rows
            stats.skipped[exc.reason] += 1
            continue
        except Skip as exc:
            stats.skipped[exc.reason] += 1
            continue
        except Reject as exc:
            stats.quarantined += 1
            yield "quarantine", {"where": row.where, "reason": exc.reason, "snippet": snippet(dumps(row.data))}
            continue
        if not paper_rows:
            stats.skipped["no paper row (the script writes nothing for it)"] += 1
            continue
        records = []
        first_row, written = written, written + len(paper_rows)
        for turn, prow in enumerate(paper_rows):
            meta = {"style": "paper", "where": row.where, "paper_row": first_row + turn, **prow.get("meta", {})}
            if len(paper_rows) > 1:
                meta["turn"] = turn
            rec = make_record(f"{rules.name}/paper-{n + len(records)}", rules.name, rules.task,
                              prow.get("lang", rules.lang), conversation(prow, rules.history), meta)
            problems = record_problems(rec)
            if problems:
                records = None
                break
            records.append(rec)
        if records is None:
            stats.quarantined += 1
            yield "quarantine", {"where": row.where, "reason": "invalid record: " + "; ".join(problems),
                                 "snippet": snippet(dumps(row.data))}
            continue
        stats.kept += 1
        stats.notes["paper rows written"] += len(records)
        n += len(records)
        for rec in records:
            yield "record", rec
