"""Benchmark `eval serve`: throughput of concurrent clients against in-process generation, and
behaviour under hostile load (a flood of clients, requests past the limits).

    python bench/serve.py [--clients 100] [--max-queue 16] [--batch-size 8] [--workdir DIR]
    python bench/serve.py --throughput [--concurrent 8] [--prompts 64] [--max-tokens 32] [--rounds 3]
                          [--threads 1] [--batch-window-ms 5]

--throughput: the same prompts (distinct, greedy, --max-tokens each) answered (a) in-process by
the hf back-end's `complete` in batches of --batch-size, and (b) over HTTP by `eval serve` with
--concurrent clients, each sending its next request when the last is answered; twice, once
with the batch window off (0 ms: the server before the window) and once with
--batch-window-ms (and, with --before-src, the server of another checkout, as `before`).
Rounds are interleaved (in-process, then each server); the medians, and the ratio of each
server's throughput to in-process, are printed as JSON.

Builds the tiny model and starts the real CLI (`collectivesft eval serve`) on a free 127.0.0.1
port, then
1. sends --clients chat requests at once (one thread each, 60 s timeout each) and counts the
   replies by status, and the connection errors (resets) by name;
2. while one normal request (max_tokens 256: seconds of generation) is being answered, sends
   max_tokens 10**9, a prompt past the context (3,000 tokens against 2,048 positions) and a
   24 MB body, and times each refusal and the normal request.
Prints one JSON document. Wall-clock numbers swing on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, port: int, args, extra: tuple[str, ...] = (), src: Path | None = None) -> subprocess.Popen:
    """`eval serve` in a subprocess; `src`: another checkout's src/ to run instead (a baseline)."""
    command = [sys.executable, "-m", "collectivesft", "eval", "serve", "--model", str(model), "--port", str(port),
               "--device", "cpu", "--batch-size", str(args.batch_size), "--max-queue", str(args.max_queue), *extra]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src)] if src else sys.path))
    if src:  # a baseline without --threads: the same torch threads through the environment
        env.update({k: str(args.threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if args.threads})
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the model loads after the port is named: wait until it answers
        if proc.poll() is not None:
            raise SystemExit(f"eval serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("eval serve did not answer within 120 s")


def chat(content: str, **fields) -> dict:
    return {"messages": [{"role": "user", "content": content}], **fields}


def flood(url: str, clients: int) -> dict:
    barrier = threading.Barrier(clients)

    def one(i: int) -> str:
        barrier.wait()
        try:
            return str(httpx.post(url, json=chat(f"问题{i}", max_tokens=4), timeout=60).status_code)
        except httpx.HTTPError as exc:
            return type(exc).__name__

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        outcomes = Counter(pool.map(one, range(clients)))
    return {"clients": clients, "outcomes": dict(outcomes), "answered_200": outcomes.get("200", 0),
            "refused_503": outcomes.get("503", 0),
            "connection_errors": sum(n for k, n in outcomes.items() if not k.isdigit()),
            "seconds": round(time.perf_counter() - start, 3)}


def refusals(url: str) -> dict:
    timed: dict = {}

    def normal() -> None:
        start = time.perf_counter()
        reply = httpx.post(url, json=chat("高血压", max_tokens=256), timeout=300)
        timed["normal"] = {"status": reply.status_code, "seconds": round(time.perf_counter() - start, 3),
                           "completion_tokens": reply.json()["usage"]["completion_tokens"]}

    worker = threading.Thread(target=normal)
    worker.start()
    time.sleep(0.3)  # a benchmark, not a test: let the normal request reach the model first
    cases = {"max_tokens 10**9": chat("高血压", max_tokens=10**9),
             "prompt past the context": chat("病" * 3000, max_tokens=4)}
    for name, payload in cases.items():
        start = time.perf_counter()
        reply = httpx.post(url, json=payload, timeout=60)
        timed[name] = {"status": reply.status_code, "seconds": round(time.perf_counter() - start, 3),
                       "param": reply.json()["error"]["param"]}
    body = json.dumps(chat("病" * 4_000_000)).encode()
    start = time.perf_counter()
    reply = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=60)
    timed["24 MB body"] = {"status": reply.status_code, "bytes": len(body),
                           "seconds": round(time.perf_counter() - start, 3)}
    timed["normal request still running after the refusals"] = worker.is_alive()
    worker.join()
    return timed


def prompts_for(n: int) -> list[str]:
    from collectivesft.fixtures import world

    return [f"{fact.disease}的首选药物是什么？请说明理由。（{i}）" for i, fact in
            zip(range(n), (world.FACTS * (n // len(world.FACTS) + 1)))]


def in_process(backend, prompts: list[str], args) -> float:
    """Wall seconds for the back-end to answer every prompt, in batches of --batch-size."""
    start = time.perf_counter()
    for i in range(0, len(prompts), args.batch_size):
        chats = [[{"role": "user", "content": p}] for p in prompts[i:i + args.batch_size]]
        backend.complete(chats, max_new_tokens=args.max_tokens, temperature=0.0, stop=None)
    return time.perf_counter() - start


def over_http(url: str, prompts: list[str], args) -> float:
    """Wall seconds for --concurrent clients to have every prompt answered (each client sends its
    share one after another)."""
    shares = [prompts[i::args.concurrent] for i in range(args.concurrent)]

    def client(share: list[str]) -> None:
        with httpx.Client(timeout=600) as http:
            for p in share:
                reply = http.post(url, json=chat(p, max_tokens=args.max_tokens, temperature=0))
                reply.raise_for_status()

    start = time.perf_counter()
    with ThreadPoolExecutor(args.concurrent) as pool:
        list(pool.map(client, shares))
    return time.perf_counter() - start


def throughput(model: Path, args) -> dict:
    from collectivesft.eval.backends.registry import get_backend
    from collectivesft.eval.config import InferenceConfig

    prompts = prompts_for(args.prompts)
    threads = ("--threads", str(args.threads)) if args.threads else ()
    servers = {}
    if args.before_src:
        port = free_port()
        servers["before"] = (start_server(model, port, args, src=args.before_src),
                             f"http://127.0.0.1:{port}/v1/chat/completions")
    for name, window in (("window_off", 0.0), ("window_on", args.batch_window_ms)):
        port = free_port()
        servers[name] = (start_server(model, port, args, ("--batch-window-ms", str(window), *threads)),
                         f"http://127.0.0.1:{port}/v1/chat/completions")
    backend = get_backend(InferenceConfig(model=str(model), device="cpu", batch_size=args.batch_size,
                                          threads=args.threads))
    times: dict[str, list[float]] = {"in_process": [], **{name: [] for name in servers}}
    try:
        for name, (_, url) in servers.items():  # warm-up: first requests pay for lazy imports
            over_http(url, prompts[:args.concurrent], args)
        in_process(backend, prompts[:args.batch_size], args)
        for _ in range(args.rounds):
            times["in_process"].append(in_process(backend, prompts, args))
            for name, (_, url) in servers.items():
                times[name].append(over_http(url, prompts, args))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(30)
    median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    return {"prompts": len(prompts), "max_tokens": args.max_tokens, "concurrent_clients": args.concurrent,
            "batch_size": args.batch_size, "threads": backend.threads, "batch_window_ms": args.batch_window_ms,
            "rounds": args.rounds, "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
            "median_seconds": {k: round(v, 3) for k, v in median.items()},
            "requests_per_s": {k: round(len(prompts) / v, 3) for k, v in median.items()},
            "vs_in_process": {k: round(median["in_process"] / median[k], 3) for k in servers},
            "goal": ">= 0.9x in-process with 8 concurrent clients"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--max-queue", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--throughput", action="store_true", help="concurrent clients vs in-process generation")
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads, in-process and in the servers")
    parser.add_argument("--batch-window-ms", type=float, default=5.0)
    parser.add_argument("--before-src", type=Path, default=None, help="another checkout's src/ (e.g. of main): "
                        "its `eval serve` measured too, as `before`")
    args = parser.parse_args()
    from collectivesft.fixtures.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        model = build_tiny_model(work / "tiny", arch="qwen2", size="tiny")
        if args.throughput:
            print(json.dumps(throughput(model, args), indent=2, ensure_ascii=False))
            return
        port = free_port()
        proc = start_server(model, port, args)
        try:
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            result = {"max_queue": args.max_queue, "batch_size": args.batch_size, "flood": flood(url, args.clients),
                      "refusals_beside_a_normal_request": refusals(url)}
        finally:
            proc.terminate()
            proc.wait(30)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
