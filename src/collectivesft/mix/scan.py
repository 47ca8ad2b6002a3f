"""Pass 1 of the mix: read every record once and decide what cleaning removes.

Per chunk of raw JSON lines, in worker processes (`dedup.workers`), `examine_chunk` parses
and validates the records, applies the filters, finds eval contamination, computes the
exact-dedup key and the MinHash signature: everything that depends on one record only.
The main process then applies the chunk facts in input order: it fills the ledger and
drops exact duplicates (first copy kept), which needs the global order. Results are the
same for any number of workers, since chunks come back in submission order.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collectivesft.errors import ConfigError, RecordError
from collectivesft.mix import ledger as L
from collectivesft.mix.decontamination import EvalIndex, build_eval_index, contaminations
from collectivesft.mix.filters import TokenCounter, make_filter, token_problem
from collectivesft.mix.minhash import signatures
from collectivesft.mix.recipe import MixRecipe
from collectivesft.mix.chunks import Chunk, byte_chunks, lines_before, read_lines
from collectivesft.mix.fastjson import loads_line
from collectivesft.mix.text import normalize_many, text_key
from collectivesft.mix.workers import OrderedPool
from collectivesft.records import TASKS, record_problems, user_text

# Records per chunk, roughly: a chunk is a byte range of CHUNK x _RECORD_BYTES (2 MiB), so
# workers read their own chunks and the main process never reads the records.
CHUNK = 4096
_RECORD_BYTES = 512


@dataclass
class ChunkFacts:
    """What pass 1 learned about one chunk of records (lists are per record, in order)."""

    entry: int
    ids: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)
    strata: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # meta.paper_row, -1 when absent
    filtered: list[str | None] = field(default_factory=list)
    contaminated: list[tuple[str, float] | None] = field(default_factory=list)
    keys: list[int | None] = field(default_factory=list)  # exact-dedup key; None: not compared
    sig_rows: list[int] = field(default_factory=list)  # chunk positions that have a row in `sigs`
    sigs: np.ndarray | None = None


@dataclass
class Scan:
    """Pass-1 results besides the ledger: signatures of the records that reach near dedup."""

    signatures: list[np.ndarray] = field(default_factory=list)
    signature_rows: array = field(default_factory=lambda: array("q"))  # ledger index of each signature row
    eval_index: EvalIndex | None = None
    chunks: list[Chunk] = field(default_factory=list)  # the byte ranges read, in order
    chunk_records: list[int] = field(default_factory=list)  # records in each (pass 2 reads them again)


_WORKER: dict[str, Any] = {}


def _init_worker(recipe: MixRecipe, eval_index: EvalIndex | None) -> None:
    _WORKER.clear()
    _WORKER.update(recipe=recipe, eval_index=eval_index, check=make_filter(recipe.filters), tokens=None)


def _stratum(rec: dict[str, Any], keys: list[str]) -> str:
    if not keys:
        return ""
    meta = rec["meta"]
    return " / ".join(str(meta[k]) if k in meta else "(missing)" for k in keys)


def _parse(chunk: Chunk, numbers: list[int], lines: list[bytes], pos: int) -> dict[str, Any]:
    """One line's record, or RecordError naming the file line (jsonlimits' reason, or the contract's)."""
    from collectivesft.jsonlimits import RowError

    try:
        rec = loads_line(lines[pos])
        problems = None if _plainly_valid(rec) else record_problems(rec)
    except RowError as exc:
        problems = [exc.reason]
    except UnicodeDecodeError as exc:
        problems = [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]
    if problems:
        raise RecordError(f"{chunk.path}:{lines_before(chunk) + numbers[pos]}: " + "; ".join(problems))
    return rec


_TURNS = [["user", "assistant"] * (n // 2) for n in range(64)]  # the roles of n plain turns


def _plainly_valid(rec: Any) -> bool:
    """True only for records record_problems accepts: the common shape, checked quickly
    (anything else, valid or not, goes through record_problems itself)."""
    if type(rec) is not dict:
        return False
    get = rec.get
    rid, source, msgs, lang = get("id"), get("source"), get("messages"), get("lang")
    if (type(rid) is not str or type(source) is not str or not source or not rid.startswith(source + "/")
            or type(lang) is not str or not lang or get("task") not in TASKS or type(get("meta")) is not dict
            or type(msgs) is not list or not 2 <= len(msgs) < 64 or len(msgs) % 2):
        return False
    # user, assistant, user, assistant, ... (a system turn takes the full check)
    for m in msgs:
        if type(m) is not dict or type(m.get("content")) is not str:
            return False
    return [m.get("role") for m in msgs] == _TURNS[len(msgs)]


def examine_chunk(job: tuple[Chunk, list[str]]) -> ChunkFacts:
    """Read, parse, validate, filter, decontaminate, key and sign one chunk (runs in a worker)."""
    chunk, stratify_by = job
    recipe: MixRecipe = _WORKER["recipe"]
    facts = ChunkFacts(chunk.entry)
    numbers, lines = read_lines(chunk)
    alive: list[tuple[int, dict[str, Any]]] = []
    check = _WORKER["check"]
    for pos in range(len(lines)):
        rec = _parse(chunk, numbers, lines, pos)
        meta = rec["meta"]
        facts.ids.append(rec["id"])
        facts.tasks.append(rec["task"])
        chars = 0
        for m in rec["messages"]:
            chars += len(m["content"])
        facts.chars.append(chars)
        facts.strata.append(_stratum(rec, stratify_by) if stratify_by else "")
        row = meta.get("paper_row")
        facts.rows.append(row if isinstance(row, int) and not isinstance(row, bool) and row >= 0 else -1)
        reason = check(rec, chars)
        facts.filtered.append(reason)
        if reason is None:
            alive.append((pos, rec))
    n = len(lines)
    facts.contaminated = [None] * n
    facts.keys = [None] * n
    if recipe.filters.tokenizer and alive:
        if _WORKER["tokens"] is None:
            _WORKER["tokens"] = TokenCounter(recipe.filters.tokenizer)
        kept = []
        for (pos, rec), count in zip(alive, _WORKER["tokens"].count([rec for _, rec in alive])):
            facts.filtered[pos] = token_problem(count, recipe.filters)
            if facts.filtered[pos] is None:
                kept.append((pos, rec))
        alive = kept
    norms = normalize_many([user_text(rec) for _, rec in alive])
    index = _WORKER["eval_index"]
    if index is not None:
        drop = recipe.decontamination.drops
        distinct = list(dict.fromkeys(norms))  # a text repeated in the chunk is looked up once
        found = dict(zip(distinct, contaminations(index, distinct, recipe.decontamination.min_overlap)))
        hits = [found[norm] for norm in norms]
        survivors = []
        for (pos, rec), norm, hit in zip(alive, norms, hits):
            facts.contaminated[pos] = hit
            if hit is None or not drop:
                survivors.append((pos, rec, norm))
    else:
        survivors = [(pos, rec, norm) for (pos, rec), norm in zip(alive, norms)]
    dd = recipe.dedup
    if dd.text == "all":
        alls = normalize_many(["\n".join(m["content"] for m in rec["messages"]) for _, rec, _ in survivors])
        survivors = [(pos, rec, norm) for (pos, rec, _), norm in zip(survivors, alls)]
    texts: dict[str, int] = {}  # distinct texts of the chunk: an exact copy is signed once
    which = []
    for pos, rec, norm in survivors:
        if not norm:
            continue  # nothing comparable (e.g. only punctuation): never a duplicate
        if dd.exact:
            facts.keys[pos] = text_key(norm)
        if dd.near:
            facts.sig_rows.append(pos)
            which.append(texts.setdefault(norm, len(texts)))
    if texts:
        facts.sigs = signatures(list(texts), dd.ngram, dd.num_perm)[which]
    return facts


class _Recorder:
    """Applies chunk facts in input order: ledger entries, drops, exact dedup, signature rows."""

    def __init__(self, recipe: MixRecipe, ledger: L.Ledger, scan: Scan):
        self.recipe = recipe
        self.ledger = ledger
        self.scan = scan
        self.seen: dict[int, int] = {}  # exact-dedup key -> ledger index of the kept copy
        rows = max(1, (64 << 20) // (4 * recipe.dedup.num_perm))
        self.block = np.empty((rows, recipe.dedup.num_perm), dtype=np.uint32)  # signatures being gathered
        self.fill = 0

    def apply(self, facts: ChunkFacts) -> None:
        ledger = self.ledger
        drop_contaminated = self.recipe.decontamination.drops
        self.scan.chunk_records.append(len(facts.ids))
        first = ledger.add_many(facts.entry, facts.ids, facts.tasks, facts.chars, facts.strata, facts.rows)
        # Only records with something to decide are visited one by one.
        filtered, contaminated, keys = facts.filtered, facts.contaminated, facts.keys
        for pos in range(len(facts.ids)):
            if filtered[pos] is not None:
                ledger.drop(first + pos, L.FILTERED, filtered[pos])
                continue
            hit = contaminated[pos]
            if hit is not None:
                ledger.contaminated_by[first + pos] = hit
                if drop_contaminated:
                    ledger.drop(first + pos, L.CONTAMINATED)
                    continue
            key = keys[pos]
            if key is not None:
                kept = self.seen.get(key)
                if kept is not None:
                    ledger.drop(first + pos, L.DUPLICATE, kept)
                else:
                    self.seen[key] = first + pos
        if facts.sigs is not None:
            rows = [first + pos for pos in facts.sig_rows]
            keep = [i for i, row in enumerate(rows) if ledger.fate[row] == L.CANDIDATE]
            self._keep_signatures(facts.sigs[keep])
            self.scan.signature_rows.extend(rows[i] for i in keep)

    def _keep_signatures(self, sigs: np.ndarray) -> None:
        """Copy into blocks of about 64 MB: blocks that large are mapped memory, given back to the
        system when freed, so gathering them into one array later does not double the peak."""
        while len(sigs):
            if self.fill == len(self.block):
                self.scan.signatures.append(self.block)
                self.block, self.fill = np.empty_like(self.block), 0
            take = min(len(sigs), len(self.block) - self.fill)
            self.block[self.fill : self.fill + take] = sigs[:take]
            self.fill += take
            sigs = sigs[take:]

    def finish(self) -> None:
        if self.fill:
            self.scan.signatures.append(self.block[: self.fill])
        self.block, self.fill = self.block[:0], 0


def _cpu_count() -> int:
    import os

    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def worker_count(recipe: MixRecipe) -> int:
    return recipe.dedup.workers or _cpu_count()


def scan_sources(recipe: MixRecipe, sources: list[Any], ledger: L.Ledger, progress: Any = None) -> Scan:
    """Pass 1 over `sources` (each with .records, .spec, and .lo/.hi set here) into `ledger`."""
    scan = Scan()
    decon = recipe.decontamination
    if decon.indexes_anything:
        from collectivesft.mix.decontamination import benchmark_data

        benchmarks = [(b.name, benchmark_data(b.name, b.data)) for b in decon.benchmarks]
        scan.eval_index = build_eval_index(decon.targets, decon.ngram, benchmarks)
        if not scan.eval_index.item_ids:
            named = [*decon.targets, *(f"benchmark {n} ({d})" for n, d in benchmarks)]
            raise ConfigError(f"decontamination: nothing to compare against: {', '.join(named)} gave "
                              f"{len(scan.eval_index.too_short)} item(s), none of at least {decon.ngram} characters")
    elif decon.action == "drop":
        raise ConfigError("decontamination: action is drop but no eval_data or eval_files (nor benchmarks) are given, "
                          "so nothing would be removed; name the CMB data (e.g. eval_data: [FreedomIntelligence/CMB]) "
                          "or a benchmark (benchmarks: [{name: cmexam, data: PATH}]), or set action: report")
    recorder = _Recorder(recipe, ledger, scan)
    workers = worker_count(recipe)

    def apply(done: list[ChunkFacts]) -> None:
        for facts in done:
            recorder.apply(facts)
            if progress is not None:
                progress.update(len(facts.ids))

    with OrderedPool(examine_chunk, workers, _init_worker, (recipe, scan.eval_index)) as pool:
        for entry, src in enumerate(sources):
            for chunk in byte_chunks(entry, src.records, CHUNK * _RECORD_BYTES):
                scan.chunks.append(chunk)
                apply(pool.submit((chunk, src.spec.stratify_by)))
        apply(pool.finish())
    recorder.finish()
    # Records were appended source by source, so each source is one contiguous range.
    sizes = np.bincount(np.frombuffer(ledger.entry.tobytes(), dtype=np.int16), minlength=len(sources))
    lo = 0
    for src, size in zip(sources, sizes.tolist()):
        src.lo, src.hi = lo, lo + size
        lo += size
    return scan
