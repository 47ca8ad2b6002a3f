"""Benchmark `collectivesft data mix` on fixture-derived data scaled to N records (default 1,000,000).

    python bench/mix.py [--records 1000000] [--workers 2] [--workdir DIR] [--keep] [--reuse] [--datasketch N]

Generation (not measured in the mix wall time, reported separately as generation_s):
fixtures for every registered source are written and converted, then replicated into one
records folder per source until N records exist in total. Each replica is one of
- an exact duplicate after normalisation (punctuation, spaces, full-width letters changed),
- a near duplicate (a few characters of the user text replaced),
- a new record (a random case detail inserted into the user text),
so exact dedup, near dedup and decontamination all have real work. A CMB-Exam test file in
the official format (perturbed copies of some fixture questions plus random questions, 11,200
items like the real test set) is the decontamination target.

The mix then runs in a fresh child process (near dedup + decontamination on, every export
and the report) and reports wall time, per-step times, and CPU seconds and peak RSS both of
the main process and of its whole process tree (sampled from /proc every 0.2 s: the worker
processes are started by a forkserver, so getrusage in the parent never counts them).
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 600
GOAL_RSS_MIB = 4096
# Issue 23: per million records at most 50 CPU seconds for the process tree, the main process
# at most a quarter of them, and a peak (summed RSS of the tree) within 1 GiB.
GOAL_TREE_CPU_S_PER_M = 50
GOAL_MAIN_SHARE = 0.25
GOAL_PEAK_MIB = 1024
_CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]

_MIX = """
import json, resource, sys, time
from pathlib import Path
from collectivesft.mix.builder import build_mixture
from collectivesft.mix.recipe import load_recipe
t, cpu = time.perf_counter(), time.process_time()
timings = {}
manifest = build_mixture(load_recipe(sys.argv[1]), Path(sys.argv[2]), timings=timings)
print(json.dumps({"wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - cpu, "timings": timings,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "totals": manifest["totals"], "near_dedup": manifest["near_dedup"], "outputs": manifest["outputs"],
                  "matched_eval_items": len(manifest["decontamination"]["matched_items"])}))
"""


def _perturb_exact(text: str) -> str:
    table = str.maketrans({"，": ",", "。": ".", "？": "?", "：": ":", "A": "Ａ", "B": "Ｂ", "C": "Ｃ", "1": "１"})
    return text.translate(table).replace("\n", " \n ")


def _perturb_near(text: str, rng: random.Random) -> str:
    chars = list(text)
    for pos in rng.sample(range(len(chars)), min(2, len(chars))):
        chars[pos] = rng.choice(_CJK)
    return "".join(chars)


def _replica(rec: dict, k: int, rng: random.Random) -> dict:
    kind = rng.random()
    msgs = [dict(m) for m in rec["messages"]]
    user = next(i for i, m in enumerate(msgs) if m["role"] == "user")
    if kind < 0.2:
        msgs[user]["content"] = _perturb_exact(msgs[user]["content"])
    elif kind < 0.35:
        msgs[user]["content"] = _perturb_near(msgs[user]["content"], rng)
    else:
        detail = "".join(rng.choice(_CJK) for _ in range(rng.randint(25, 60)))
        msgs[user]["content"] = f"病例{k}：{detail}。\n" + msgs[user]["content"]
    return dict(rec, id=f"{rec['id']}~{k}", messages=msgs)


def generate(work: Path, records: int, seed: int) -> tuple[list[str], Path]:
    """Write fixture-derived records folders totalling `records` and a CMB test file; return folders."""
    from collectivesft.fixtures.writer import write_fixtures
    from collectivesft.io import dumps, read_jsonl
    from collectivesft.sources.convert import convert_source
    from collectivesft.sources.registry import source_names

    names = source_names()
    write_fixtures(work / "raw", rows=300, seed=seed)
    per_source = records // len(names)
    rng = random.Random(seed)
    folders = []
    cmb_questions = []
    for i, name in enumerate(names):
        convert_source(name, work / "converted" / name, input=work / "raw" / name)
        base = list(read_jsonl(work / "converted" / name / "records.jsonl"))
        if name == "cmb":
            cmb_questions = [r["messages"][0]["content"].split("\n\n")[1] for r in base[:200]]
        target = per_source + (records - per_source * len(names) if i == len(names) - 1 else 0)
        folder = work / "scaled" / name
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "records.jsonl", "w", encoding="utf-8") as fh:
            for n in range(target):
                rec = base[n % len(base)]
                fh.write(dumps(rec if n < len(base) else _replica(rec, n // len(base), rng)) + "\n")
        folders.append(str(folder))
    # The eval set: 200 perturbed leaked questions plus random ones, 11,200 items in all.
    items = [{"id": k + 1, "question": _perturb_exact(q) + "（　）", "option": {"A": "甲", "B": "乙"},
              "exam_type": "医师考试", "question_type": "单项选择题"} for k, q in enumerate(cmb_questions)]
    while len(items) < 11200:
        q = "".join(rng.choice(_CJK) for _ in range(rng.randint(20, 80)))
        items.append({"id": len(items) + 1, "question": q, "option": {"A": "甲", "B": "乙"},
                      "exam_type": "医师考试", "question_type": "单项选择题"})
    eval_file = work / "CMB-test-choice-question-merge.json"
    eval_file.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return folders, eval_file


def datasketch_signatures(folders: list[str], texts_wanted: int) -> dict:
    """CPU seconds of MinHash signatures for the same normalised user texts (5-grams, 128
    permutations): the mix's numpy MinHash, chunk by chunk as the scan calls it, against
    datasketch's MinHash.bulk. The signature values differ (another hash family); the mix's
    own near-dedup decisions are pinned by tests/mix/test_mix_digests.py."""
    from datasketch import MinHash

    from collectivesft.io import read_jsonl
    from collectivesft.mix.minhash import signatures
    from collectivesft.mix.text import normalize_text
    from collectivesft.records import user_text

    texts = []
    for folder in folders:
        for k, rec in enumerate(read_jsonl(Path(folder) / "records.jsonl")):
            if k >= texts_wanted // len(folders):
                break
            texts.append(normalize_text(user_text(rec)))
    texts = [t for t in texts if t]
    t = time.process_time()
    for lo in range(0, len(texts), 4096):
        signatures(texts[lo : lo + 4096], 5, 128)
    ours = time.process_time() - t
    shingles = [[text[i : i + 5].encode("utf-8") for i in range(max(1, len(text) - 4))] for text in texts]
    t = time.process_time()
    MinHash.bulk(shingles, num_perm=128)
    theirs = time.process_time() - t
    return {"texts": len(texts), "ours_cpu_s": round(ours, 2), "datasketch_bulk_cpu_s": round(theirs, 2),
            "ratio": round(theirs / ours, 1) if ours else None}


class TreeSampler:
    """Samples a process and all its descendants from /proc (Linux): CPU seconds and the peak
    of their summed RSS. Multiprocessing workers started by forkserver are grandchildren that
    the parent never waits for, so getrusage cannot see them."""

    def __init__(self, pid: int, interval: float = 0.2):
        import threading

        self.pid, self.interval = pid, interval
        self.cpu_ticks: dict[int, int] = {}  # pid -> last seen utime + stime
        self.peak_rss = 0
        self.processes = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _stat(self, pid: int):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # fields[1] = ppid, [11] utime, [12] stime, [21] rss (pages), counted after the ")".
        return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[21])

    def _run(self) -> None:
        import os

        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            stats = {}
            for name in os.listdir("/proc"):
                if name.isdigit():
                    s = self._stat(int(name))
                    if s is not None:
                        stats[int(name)] = s
            tree, frontier = {self.pid}, [self.pid]
            children: dict[int, list[int]] = {}
            for pid, (ppid, _, _) in stats.items():
                children.setdefault(ppid, []).append(pid)
            while frontier:
                for child in children.get(frontier.pop(), []):
                    if child not in tree:
                        tree.add(child)
                        frontier.append(child)
            rss = 0
            for pid in tree & stats.keys():
                self.cpu_ticks[pid] = max(self.cpu_ticks.get(pid, 0), stats[pid][1])
                rss += stats[pid][2] * page
            self.processes |= tree & stats.keys()
            self.peak_rss = max(self.peak_rss, rss)
            self._stop.wait(self.interval)

    @property
    def cpu_s(self) -> float:
        import os

        return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="MinHash processes (dedup.workers)")
    parser.add_argument("--cap", type=int, default=20000, help="per-source cap of the mixture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="work here (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and the mixture")
    parser.add_argument("--reuse", action="store_true", help="reuse data generated earlier in --workdir")
    parser.add_argument("--datasketch", type=int, default=0, metavar="N",
                        help="also time MinHash signatures of N user texts against datasketch's MinHash.bulk")
    args = parser.parse_args()

    import yaml

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-mix-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        marker = work / "generated.json"
        if args.reuse and marker.is_file() and json.loads(marker.read_text())["records"] == args.records:
            folders, eval_file = json.loads(marker.read_text())["folders"], work / "CMB-test-choice-question-merge.json"
        else:
            folders, eval_file = generate(work, args.records, args.seed)
            marker.write_text(json.dumps({"records": args.records, "folders": folders}))
        generation_s = time.perf_counter() - t
        shutil.rmtree(work / "mixture", ignore_errors=True)
        recipe = {"seed": args.seed, "strategy": "cap", "cap": args.cap, "val_fraction": 0.05,
                  "sources": [{"name": Path(f).name, "records": f} for f in folders],
                  "dedup": {"exact": True, "near": True, "threshold": 0.8, "workers": args.workers},
                  "decontamination": {"eval_files": [str(eval_file)], "action": "drop"}}
        recipe_path = work / "recipe.yaml"
        recipe_path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
        print(f"generated {args.records} records in {generation_s:.1f}s; mixing...", file=sys.stderr)
        proc = subprocess.Popen([sys.executable, "-c", _MIX, str(recipe_path), str(work / "mixture")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with TreeSampler(proc.pid) as tree:
            stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"mix failed:\n{stderr[-3000:]}")
        result = json.loads(stdout.strip().splitlines()[-1])
        from collectivesft.io import file_sha256

        manifest_sha256 = file_sha256(work / "mixture" / "manifest.json")
        children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        signatures_vs_datasketch = datasketch_signatures(folders, args.datasketch) if args.datasketch else None
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    peak_mib = round(result["peak_rss_kib"] / 1024, 1)
    import hashlib

    # One digest of every file the mix wrote (manifest.json included): equal digests, equal bytes.
    outputs = dict(result["outputs"], **{"manifest.json": manifest_sha256})
    outputs_digest = hashlib.sha256(json.dumps(outputs, sort_keys=True).encode()).hexdigest()
    report = {
        "bench": "mix",
        "records": args.records,
        "workers": args.workers,
        "cap": args.cap,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "generation_s": round(generation_s, 1),
        "mix_wall_s": round(result["wall_s"], 1),
        "mix_main_cpu_s": round(result["cpu_s"], 1),
        # The whole process tree: forkserver workers are grandchildren getrusage never sees.
        "mix_tree_cpu_s": round(tree.cpu_s, 1),
        "mix_main_share": round(result["cpu_s"] / tree.cpu_s, 3) if tree.cpu_s else None,
        "mix_tree_processes": len(tree.processes),
        "peak_tree_rss_mib": round(tree.peak_rss / 2**20, 1),  # the largest sum of the tree's RSS
        "records_per_s": round(args.records / result["wall_s"]),
        "records_per_tree_cpu_s": round(args.records / tree.cpu_s) if tree.cpu_s else None,
        "steps_s": result["timings"],
        "peak_rss_mib": peak_mib,  # the main process alone
        "largest_child_rss_mib": round(children_rss / 1024, 1),
        "totals": result["totals"],
        "near_dedup": result["near_dedup"],
        "matched_eval_items": result["matched_eval_items"],
        "signatures_vs_datasketch": signatures_vs_datasketch,
        "outputs_sha256": outputs_digest,
        "outputs": outputs,
        "goal": {"seconds": GOAL_SECONDS, "rss_mib": GOAL_RSS_MIB,
                 "met": result["wall_s"] < GOAL_SECONDS and tree.peak_rss / 2**20 < GOAL_RSS_MIB},
        "goal_cpu": {"tree_cpu_s": round(GOAL_TREE_CPU_S_PER_M * args.records / 1e6, 1), "main_share": GOAL_MAIN_SHARE,
                     "peak_tree_rss_mib": GOAL_PEAK_MIB,
                     "met": tree.cpu_s <= GOAL_TREE_CPU_S_PER_M * args.records / 1e6
                     and result["cpu_s"] <= GOAL_MAIN_SHARE * tree.cpu_s and tree.peak_rss / 2**20 <= GOAL_PEAK_MIB},
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
