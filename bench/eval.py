"""Benchmark CMB-Exam evaluation: questions/s of `loglik` vs `generate` (the official approach),
and CPU seconds per question by torch thread setting, optionally under emulated contention.

    python bench/eval.py [--size tiny] [--loglik-questions 70] [--generate-questions 8]
                         [--max-new-tokens 512] [--batch-size 8] [--workdir DIR]
                         [--threads auto,2] [--load N] [--rounds 1]

Builds the tiny model and the CMB eval fixture locally, then times `evaluate_cmb` with each
method on the same questions (model loading excluded: the timed part is the run.json
"seconds_this_session"). The official approach is greedy generation with max_new_tokens 512.
Wall-clock numbers swing on a shared machine; the
CPU-time ratio (`speedup_cpu_time`) is steadier there. A random tiny model rarely emits its end token, so generation runs the full budget, as a
chatty real model often does. On a GPU the same is measured for hf on cuda (and vllm when it
is installed); without a GPU those fields are null and `gpu_note` says why.

Threads: `--threads` takes a comma-separated list of settings, each `auto` (the hf back-end's
choice from cores and load, collectivesft.eval.threads) or a count; every round runs each
setting once (interleaved) and `cpu_by_threads` gives per setting the median CPU seconds per
question (the whole process, every thread: spinning threads count). `--load N` starts N
busy-loop processes for the run, emulating a machine shared with N busy jobs.
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

GOAL_SPEEDUP = 10.0


def timed_run(model: Path, data: Path, out: Path, **settings) -> dict:
    """Run evaluate_cmb and return questions/s of the answering part (model load excluded)."""
    from collectivesft.eval.cmb.runner import evaluate_cmb
    from collectivesft.eval.config import CMBEvalConfig

    config = CMBEvalConfig(model=str(model), data=str(data), **settings)
    start = time.perf_counter()
    evaluate_cmb(config, out)
    wall = time.perf_counter() - start
    run = json.loads((out / "run.json").read_text())
    n, cpu = run["n_answered_this_session"], run["cpu_seconds_this_session"]
    return {"questions": n, "seconds": run["seconds_this_session"], "cpu_seconds": cpu,
            "seconds_with_model_load": round(wall, 3), "questions_per_s": run["questions_per_second"],
            "questions_per_cpu_s": round(n / cpu, 3) if cpu else None}


def measure(model: Path, data: Path, work: Path, device: str, backend: str, args, threads: int | None = None) -> dict:
    common = {"device": device, "backend": backend, "batch_size": args.batch_size, "threads": threads}
    loglik = timed_run(model, data, work / f"{backend}-{device}-loglik", method="loglik",
                       limit=args.loglik_questions, **common)
    generate = timed_run(model, data, work / f"{backend}-{device}-generate", method="generate",
                         limit=args.generate_questions, max_new_tokens=args.max_new_tokens, **common)
    speedup = loglik["questions_per_s"] / generate["questions_per_s"] if generate["questions_per_s"] else None
    cpu_speedup = (loglik["questions_per_cpu_s"] / generate["questions_per_cpu_s"]
                   if loglik["questions_per_cpu_s"] and generate["questions_per_cpu_s"] else None)
    threads_used = json.loads((work / f"{backend}-{device}-generate" / "generation.json").read_text()).get("threads")
    return {"loglik": loglik, "generate": generate, "speedup": round(speedup, 1) if speedup else None,
            "speedup_cpu_time": round(cpu_speedup, 1) if cpu_speedup else None, "threads_used": threads_used,
            "generate_cpu_s_per_question": round(generate["cpu_seconds"] / generate["questions"], 4),
            "loglik_cpu_s_per_question": round(loglik["cpu_seconds"] / loglik["questions"], 5)}


def _spin() -> None:
    while True:
        pass


def start_load(n: int) -> list:
    """N busy-loop processes (stopped by stop_load)."""
    import multiprocessing

    procs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    return procs


def stop_load(procs: list) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.join()


def by_threads(model: Path, data: Path, work: Path, args) -> dict:
    """Per --threads setting: each round's CPU s per question, interleaved, and the medians."""
    import os
    import shutil

    settings = [s.strip() for s in args.threads.split(",") if s.strip()]
    runs: dict[str, list[dict]] = {s: [] for s in settings}
    load = start_load(args.load) if args.load else []
    try:
        for r in range(args.rounds):
            for setting in settings:
                folder = work / f"threads-{setting}-{r}"
                runs[setting].append(measure(model, data, folder, "cpu", "hf", args,
                                             None if setting == "auto" else int(setting)))
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        stop_load(load)

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    return {"load_processes": args.load, "load_average_after": round(os.getloadavg()[0], 2), "rounds": args.rounds,
            "settings": {s: {"threads_used": [r["threads_used"] for r in rs],
                             "generate_cpu_s_per_question": [r["generate_cpu_s_per_question"] for r in rs],
                             "loglik_cpu_s_per_question": [r["loglik_cpu_s_per_question"] for r in rs],
                             "median_generate_cpu_s_per_question": median([r["generate_cpu_s_per_question"] for r in rs]),
                             "median_loglik_cpu_s_per_question": median([r["loglik_cpu_s_per_question"] for r in rs]),
                             "median_generate_questions_per_s": median([r["generate"]["questions_per_s"] for r in rs])}
                         for s, rs in runs.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", help="tiny-model size: tiny | small | base")
    parser.add_argument("--loglik-questions", type=int, default=70)
    parser.add_argument("--generate-questions", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--threads", default="auto", help="comma-separated settings: auto (the back-end's "
                        "choice) or a count, e.g. auto,2; each is measured per round, interleaved")
    parser.add_argument("--load", type=int, default=0, help="busy-loop processes started for the run (contention)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the --threads settings; medians reported")
    parser.add_argument("--threads-only", action="store_true", help="only the thread comparison (no GPU part)")
    args = parser.parse_args()

    import torch

    from collectivesft.fixtures.cmb_eval import write_cmb_eval
    from collectivesft.fixtures.tiny_model import build_tiny_model

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-eval-"))
    model = build_tiny_model(work / "model", size=args.size)
    data = write_cmb_eval(work / "CMB", n_test=max(140, args.loglik_questions))
    threads = by_threads(model, data, work, args)
    if args.threads_only:
        print(json.dumps({"bench": "eval threads", "model": f"tiny qwen2 ({args.size})",
                          "generate_questions": args.generate_questions, "loglik_questions": args.loglik_questions,
                          "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
                          "cpu_by_threads": threads}, indent=2))
        return
    result = {
        "bench": "eval", "model": f"tiny qwen2 ({args.size})", "machine": platform.machine(),
        "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
        "goal": f"loglik >= {GOAL_SPEEDUP:g}x generate questions/s",
        "cpu_by_threads": threads,
        "cpu_hf": measure(model, data, work, "cpu", "hf", args),
        "gpu_hf": None, "gpu_vllm": None, "gpu_note": None,
    }
    result["threads"] = result["cpu_hf"]["threads_used"]
    result["goal_met_cpu"] = bool(result["cpu_hf"]["speedup"] and result["cpu_hf"]["speedup"] >= GOAL_SPEEDUP)
    if torch.cuda.is_available():
        result["gpu_note"] = torch.cuda.get_device_name(0)
        result["gpu_hf"] = measure(model, data, work, "cuda", "hf", args)
        try:
            import vllm  # noqa: F401

            result["gpu_vllm"] = measure(model, data, work, "cuda", "vllm", args)
        except ImportError:
            result["gpu_note"] += "; vllm not installed (gpu_vllm null)"
    else:
        result["gpu_note"] = "no CUDA device: GPU fields are null"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
