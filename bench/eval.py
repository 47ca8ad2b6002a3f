"""Benchmark CMB-Exam evaluation: questions/s of `loglik` vs `generate` (the official approach).

    python bench/eval.py [--size tiny] [--loglik-questions 70] [--generate-questions 8]
                         [--max-new-tokens 512] [--batch-size 8] [--workdir DIR]

Builds the tiny model and the CMB eval fixture locally, then times `evaluate_cmb` with each
method on the same questions (model loading excluded: the timed part is the run.json
"seconds_this_session"). The official approach is greedy generation with max_new_tokens 512.
Wall-clock numbers swing on a shared machine; the
CPU-time ratio (`speedup_cpu_time`) is steadier there. A random tiny model rarely emits its end token, so generation runs the full budget, as a
chatty real model often does. On a GPU the same is measured for hf on cuda (and vllm when it
is installed); without a GPU those fields are null and `gpu_note` says why.
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


def measure(model: Path, data: Path, work: Path, device: str, backend: str, args) -> dict:
    common = {"device": device, "backend": backend, "batch_size": args.batch_size}
    loglik = timed_run(model, data, work / f"{backend}-{device}-loglik", method="loglik",
                       limit=args.loglik_questions, **common)
    generate = timed_run(model, data, work / f"{backend}-{device}-generate", method="generate",
                         limit=args.generate_questions, max_new_tokens=args.max_new_tokens, **common)
    speedup = loglik["questions_per_s"] / generate["questions_per_s"] if generate["questions_per_s"] else None
    cpu_speedup = (loglik["questions_per_cpu_s"] / generate["questions_per_cpu_s"]
                   if loglik["questions_per_cpu_s"] and generate["questions_per_cpu_s"] else None)
    return {"loglik": loglik, "generate": generate, "speedup": round(speedup, 1) if speedup else None,
            "speedup_cpu_time": round(cpu_speedup, 1) if cpu_speedup else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", help="tiny-model size: tiny | small | base")
    parser.add_argument("--loglik-questions", type=int, default=70)
    parser.add_argument("--generate-questions", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from collectivesft.fixtures.cmb_eval import write_cmb_eval
    from collectivesft.fixtures.tiny_model import build_tiny_model

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-eval-"))
    model = build_tiny_model(work / "model", size=args.size)
    data = write_cmb_eval(work / "CMB", n_test=max(140, args.loglik_questions))
    result = {
        "bench": "eval", "model": f"tiny qwen2 ({args.size})", "threads": torch.get_num_threads(),
        "machine": platform.machine(), "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
        "goal": f"loglik >= {GOAL_SPEEDUP:g}x generate questions/s",
        "cpu_hf": measure(model, data, work, "cpu", "hf", args),
        "gpu_hf": None, "gpu_vllm": None, "gpu_note": None,
    }
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
