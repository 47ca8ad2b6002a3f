"""Data-parallel evaluation: the questions shared over N processes, each with its own model copy.

Scores must not depend on N. Batched generation pads a batch to its longest prompt, and padding
can move the numbers, so the unit of work is the batch of the one-process run: all items are cut
into batches of batch_size in their usual order and batch k goes to shard k mod N. Every batch is
then exactly the batch one process would have run. A batch with any answer missing is run whole
again (only its missing rows are written), so a resumed shard batches as a fresh one did.

Each shard appends its rows to OUT/shards/<i>/<partial> (PartialWriter: resumable by itself, its
own run.json fingerprint). Whoever coordinates (the parent of `--data-parallel N`, or rank 0 of
`accelerate launch`/torchrun) waits for the shards, merges their rows into OUT/<partial> in item
order and removes the shard partials; the evaluation's ordinary final step then finds nothing
pending (no model is loaded) and writes every final file with the code a single process uses.

The machinery knows nothing of CMB: an evaluation hands it a Job (its items in one-process order,
how to name an item and a row, its partial file, its config and fingerprint keys, how to open an
answerer and how a spawned worker gets back to it). docs/eval.md, "Data-parallel evaluation".
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from collectivesft.errors import CollectiveSFTError, ConfigError
from collectivesft.eval.resume import PartialWriter, check_fingerprint, read_partial
from collectivesft.io import write_json

SHARDS = "shards"
LOG = "log.txt"
TASK = "task.json"
FAILED = "failed.json"
TIMING = "timing.json"
# Test hook, "I:K": shard I kills itself (SIGKILL) after writing K batches, a deterministic stand-in
# for a shard dying mid-run.
KILL_HOOK = "COLLECTIVESFT_TEST_SHARD_KILL"
# How often a waiting coordinator looks at the shards' files (seconds).
POLL_SECONDS = 1.0


class ShardFailed(CollectiveSFTError):
    """A shard process ended without answering its batches; the others' answers are kept."""


@dataclass(frozen=True)
class Shard:
    """One of `count` processes; `launched`: a rank started by accelerate launch / torchrun (rank 0
    merges), else a worker spawned by the parent. `local` is the GPU slot on its machine."""

    index: int
    count: int
    launched: bool = False
    local: int = 0


@dataclass
class Job:
    """What an evaluation hands the machinery.

    items: every item in one-process order; key(item) and row_key(row) name them alike.
    answerer(folder): a context manager that loads a model (writing anything it describes into the
    shard folder) and yields a function from a batch of items to their rows.
    task: what a spawned worker needs to rebuild the job: {"entry": "module:function", ...}, the
    function called with the task (plus out, index, count) in the worker process."""

    out: Path
    partial: str
    items: Sequence[Any]
    key: Callable[[Any], str]
    row_key: Callable[[dict[str, Any]], str]
    batch_size: int
    config: Any
    fingerprint_keys: tuple[str, ...]
    answerer: Callable[[Path], AbstractContextManager[Callable[[list[Any]], list[dict[str, Any]]]]]
    task: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a coordinator reports for run.json: answers written this session by every shard."""

    count: int
    answered: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    shards: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"processes": self.count, "shards": self.shards}


def shard_from_env(environ: dict[str, str] | None = None) -> Shard | None:
    """This process's shard when a launcher (accelerate launch, torchrun) started several: RANK and
    WORLD_SIZE (LOCAL_RANK for the GPU); None for a single process."""
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        if world <= 1:
            return None
        rank = int(env["RANK"])
        local = int(env.get("LOCAL_RANK", rank))
    except KeyError as exc:
        raise ConfigError(f"WORLD_SIZE={env.get('WORLD_SIZE')} but {exc.args[0]} is not set: "
                          "start the ranks with accelerate launch or torchrun") from None
    except ValueError as exc:
        raise ConfigError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers: {exc}") from None
    if not 0 <= rank < world:
        raise ConfigError(f"RANK={rank} is outside WORLD_SIZE={world}")
    return Shard(rank, world, launched=True, local=local)


def batch_plan(items: Sequence[Any], batch_size: int) -> list[list[Any]]:
    """The one-process batches: consecutive runs of batch_size items."""
    return [list(items[i:i + batch_size]) for i in range(0, len(items), batch_size)]


def shard_batches(items: Sequence[Any], batch_size: int, index: int, count: int) -> list[list[Any]]:
    """The batches shard `index` of `count` answers: batch k of the one-process run for k = index mod count."""
    return batch_plan(items, batch_size)[index::count]


def shard_dir(out: Path, index: int) -> Path:
    return Path(out) / SHARDS / str(index)


def shard_folders(out: Path) -> list[Path]:
    """Existing shard folders, by index (an earlier run may have used another N)."""
    root = Path(out) / SHARDS
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def shard_device(device: str, backend: str, local: int) -> str:
    """hf: shard i answers on cuda:i (modulo the GPUs there are) when the device is auto or cuda; an
    explicit device (cpu, cuda:1) is kept; other back-ends are not moved (vllm is refused, openai is remote)."""
    if backend != "hf" or device not in ("auto", "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    return f"cuda:{local % torch.cuda.device_count()}"


def coordinates(shard: Shard | None) -> bool:
    """Whether this process owns the run folder: checks its fingerprint and writes the final files
    (a single process or the parent of spawned shards, or rank 0 under a launcher)."""
    return shard is None or (shard.launched and shard.index == 0)


def run(job: Job, shard: Shard | None, count: int) -> Outcome | None:
    """The data-parallel step of an evaluation: as the parent (shard None) spawn `count` shards and
    merge; as a spawned shard answer its batches (None); as a launched rank answer, and on rank 0
    merge (other ranks: None). With an Outcome the caller goes on to its final step, which then
    finds nothing pending."""
    if shard is None:
        return run_parent(job, count)
    if shard.launched:
        return run_rank(job, shard)
    answer_shard(job, shard)
    return None


def backend_answerer(config: Any, shard: Shard | None,
                     answer: Callable[[Any, list[Any]], list[dict[str, Any]]]
                     ) -> Callable[[Path], AbstractContextManager[Callable[[list[Any]], list[dict[str, Any]]]]]:
    """A Job's answerer for a registered back-end: load config's model on this shard's device, record
    generation.json in the shard folder, answer each batch with answer(backend, batch), close."""
    from contextlib import contextmanager

    @contextmanager
    def opened(folder: Path):
        from collectivesft.eval.backends.registry import get_backend

        device = shard_device(config.device, config.backend, shard.local if shard else 0)
        backend = get_backend(config.model_copy(update={"device": device}))
        try:
            write_json(folder / "generation.json", backend.describe(config.max_new_tokens, config.temperature))
            yield lambda batch: answer(backend, batch)
        finally:
            backend.close()

    return opened


def refuse_unplaced(backend: str) -> None:
    """vLLM takes a fraction of every GPU it sees, so N copies on the same GPUs would collide; it is
    not placed per shard yet (its own tensor_parallel_size spreads one copy over GPUs)."""
    if backend == "vllm":
        raise ConfigError("data-parallel evaluation places hf models (shard i on cuda:i); with vllm use "
                          "tensor_parallel_size, or one run per GPU under CUDA_VISIBLE_DEVICES")


def collect(job: Job) -> dict[str, dict[str, Any]]:
    """Every row written so far: the merged partial, then each shard's (read without repairing, as
    their writers may be running); the first row of a key wins."""
    rows: dict[str, dict[str, Any]] = {}
    for path in [job.out / job.partial] + [folder / job.partial for folder in shard_folders(job.out)]:
        for row in read_partial(path, repair=False):
            rows.setdefault(job.row_key(row), row)
    return rows


def check_shard_fingerprints(job: Job) -> None:
    """Refuse shard answers written under different settings (read-only: shards write their own run.json)."""
    for folder in shard_folders(job.out):
        run_file = folder / "run.json"
        if not (folder / job.partial).exists() or not run_file.exists():
            continue
        previous = json.loads(run_file.read_text(encoding="utf-8")).get("fingerprint", {})
        changed = [k for k in job.fingerprint_keys if k in previous and previous[k] != getattr(job.config, k)]
        if changed:
            raise ConfigError(f"{folder} holds shard answers with different settings ({', '.join(changed)}); "
                              "use another --out or delete the folder")


def _busy(job: Job, count: int, done: dict[str, Any]) -> dict[int, int]:
    """Shards with something left to answer, and how many questions each still owes."""
    owed = {}
    for index in range(count):
        n = sum(1 for batch in shard_batches(job.items, job.batch_size, index, count)
                for item in batch if job.key(item) not in done)
        if n:
            owed[index] = n
    return owed


def answer_shard(job: Job, shard: Shard) -> int:
    """Answer this shard's batches that still miss a row into its own partial; return rows written."""
    from collectivesft.progress import progress

    folder = shard_dir(job.out, shard.index)
    folder.mkdir(parents=True, exist_ok=True)
    check_shard_fingerprints(job)  # every shard folder's rows are read below (a launched rank has no parent)
    check_fingerprint(folder, job.config, job.fingerprint_keys, job.partial)
    (folder / FAILED).unlink(missing_ok=True)
    (folder / TIMING).unlink(missing_ok=True)
    read_partial(folder / job.partial)  # repair a line torn when this shard was killed (its own file)
    done = collect(job)
    todo = [b for b in shard_batches(job.items, job.batch_size, shard.index, shard.count)
            if any(job.key(item) not in done for item in b)]
    if not todo:
        return 0
    kill_after = _kill_hook(shard.index)
    written = 0
    started = time.perf_counter()
    writer = PartialWriter(folder / job.partial)
    try:
        with job.answerer(folder) as answer, progress(sum(map(len, todo)), f"shard {shard.index}/{shard.count}",
                                                      "q") as bar:
            loaded, cpu_loaded = time.perf_counter(), time.process_time()
            for n, batch in enumerate(todo, 1):
                for row in answer(batch):
                    if job.row_key(row) not in done:
                        writer.append(row)
                        written += 1
                bar.update(len(batch))
                if kill_after == n:
                    os.kill(os.getpid(), signal.SIGKILL)
        # As a single process reports it: answering apart from loading the model.
        write_json(folder / TIMING, {"load_seconds": round(loaded - started, 3),
                                     "answer_seconds": round(time.perf_counter() - loaded, 3),
                                     "answer_cpu_seconds": round(time.process_time() - cpu_loaded, 3)})
    finally:
        writer.close()
    return written


def _kill_hook(index: int) -> int | None:
    value = os.environ.get(KILL_HOOK)
    if not value:
        return None
    shard, _, after = value.partition(":")
    return int(after) if int(shard) == index else None


def merge(job: Job) -> int:
    """Move the shards' rows into OUT/<partial>: those of the items in item order, then any others
    (items an earlier, larger run chose), each key once; then remove the shard partials."""
    main = job.out / job.partial
    have = {job.row_key(r) for r in read_partial(main)}  # repairs a torn tail before appending
    found: dict[str, dict[str, Any]] = {}
    folders = shard_folders(job.out)
    for folder in folders:
        for row in read_partial(folder / job.partial):
            found.setdefault(job.row_key(row), row)
    order = [job.key(item) for item in job.items]
    wanted = set(order)
    keys = [k for k in order if k in found] + [k for k in found if k not in wanted]
    new = [found[k] for k in keys if k not in have]
    writer = PartialWriter(main)
    try:
        for row in new:
            writer.append(row)
    finally:
        writer.close()
    for folder in folders:
        (folder / job.partial).unlink(missing_ok=True)
    described = [folder / "generation.json" for folder in folders if (folder / "generation.json").is_file()]
    if described:  # how the replies were produced, as a single process records it
        newest = max(described, key=lambda p: p.stat().st_mtime)
        (job.out / "generation.json").write_bytes(newest.read_bytes())
    return len(new)


def worker_env(count: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """A worker's environment: the cores shared out (OMP_NUM_THREADS = cores / N) unless already set."""
    env = dict(os.environ if environ is None else environ)
    if "OMP_NUM_THREADS" not in env:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        env["OMP_NUM_THREADS"] = str(max(1, cores // count))
    return env


def run_parent(job: Job, count: int) -> Outcome:
    """Spawn a worker per shard that has work, wait for them with progress, fail loudly naming a
    failed shard and its log (the others' answers stay in their folders), else merge."""
    from collectivesft.progress import progress

    check_shard_fingerprints(job)
    owed = _busy(job, count, collect(job))
    outcome = Outcome(count)
    if not owed:
        merge(job)
        return outcome
    started = time.perf_counter()
    cpu_before = _children_cpu()
    procs: dict[int, subprocess.Popen] = {}
    logs: dict[int, Path] = {}
    base = {i: _rows_in(shard_dir(job.out, i) / job.partial) for i in owed}
    env = worker_env(count)
    try:
        for index in owed:
            folder = shard_dir(job.out, index)
            folder.mkdir(parents=True, exist_ok=True)
            write_json(folder / TASK, {**job.task, "out": str(job.out), "index": index, "count": count})
            logs[index] = folder / LOG
            with open(logs[index], "ab") as log:
                procs[index] = subprocess.Popen([sys.executable, "-m", "collectivesft.eval.parallel",
                                                 str(folder / TASK)], stdout=log, stderr=subprocess.STDOUT,
                                                env=env, start_new_session=False)
        print(f"data-parallel: {len(procs)} of {count} shards have work ({sum(owed.values())} questions); "
              f"logs under {job.out / SHARDS}/<i>/{LOG}", file=sys.stderr)
        with progress(sum(owed.values()), f"{count} shards", "q") as bar:
            shown = 0
            while True:
                running = [p for p in procs.values() if p.poll() is None]
                now = sum(_rows_in(shard_dir(job.out, i) / job.partial) - base[i] for i in procs)
                bar.update(now - shown)
                shown = now
                if not running:
                    break
                try:
                    running[0].wait(timeout=POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
    finally:
        for proc in procs.values():  # an interrupted parent takes its workers with it
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
    outcome.seconds = time.perf_counter() - started
    outcome.cpu_seconds = _children_cpu() - cpu_before
    for index, proc in procs.items():
        rows = _rows_in(shard_dir(job.out, index) / job.partial) - base[index]
        timing = shard_dir(job.out, index) / TIMING
        outcome.shards.append({"index": index, "exit_code": proc.returncode, "answered": rows,
                               "log": str(logs[index]),
                               **(json.loads(timing.read_text(encoding="utf-8")) if timing.is_file() else {})})
        outcome.answered += rows
    failed = [s for s in outcome.shards if s["exit_code"] != 0]
    if failed:
        raise ShardFailed("; ".join(_failure(s) for s in failed) + f". The other shards' answers are kept under "
                          f"{job.out / SHARDS}: run the same command again to answer only what is missing")
    merge(job)
    return outcome


def _failure(shard: dict[str, Any]) -> str:
    code = shard["exit_code"]
    how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    tail = ""
    log = Path(shard["log"])
    if log.is_file():
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        tail = f"; its log ends: {lines[-1]}" if lines else ""
    return f"shard {shard['index']} failed ({how}) after {shard['answered']} answers; log: {log}{tail}"


def run_rank(job: Job, shard: Shard) -> Outcome | None:
    """A launched rank: answer its batches; rank 0 then waits until every item has a row (or a rank
    reports a failure), merges and returns the outcome; other ranks return None."""
    started = time.time()
    cpu_before = time.process_time()
    try:
        written = answer_shard(job, shard)
    except BaseException as exc:
        write_json(shard_dir(job.out, shard.index) / FAILED, {"error": f"{type(exc).__name__}: {exc}"})
        raise
    if shard.index != 0:
        return None
    wanted = [job.key(item) for item in job.items]
    while True:
        done = collect(job)
        if all(k in done for k in wanted):
            break
        for folder in shard_folders(job.out):
            marker = folder / FAILED
            if marker.is_file() and marker.stat().st_mtime >= started:
                error = json.loads(marker.read_text(encoding="utf-8")).get("error")
                raise ShardFailed(f"rank {folder.name} failed: {error}. The shards' answers are kept under "
                                  f"{job.out / SHARDS}: launch again to answer only what is missing")
        time.sleep(POLL_SECONDS)
    merged = merge(job)
    # Rank 0 sees its own time only; the other ranks' CPU is theirs (their logs).
    return Outcome(shard.count, answered=merged, seconds=time.time() - started,
                   cpu_seconds=time.process_time() - cpu_before, shards=[{"index": 0, "answered": written}])


def _rows_in(path: Path) -> int:
    """Complete lines in a partial file (a cheap progress count)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def worker_main(argv: list[str]) -> int:
    """A spawned shard: read its task file and call the evaluation's entry function with it."""
    if len(argv) != 1:
        print("usage: python -m collectivesft.eval.parallel SHARD_FOLDER/task.json", file=sys.stderr)
        return 2
    task = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    module, _, name = task["entry"].partition(":")
    entry = getattr(importlib.import_module(module), name)
    try:
        entry(task)
    except CollectiveSFTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
