"""Training throughput with and without packing; prints one JSON document.

CPU part: the tiny model on a fixture mixture (every source's converted fixture records),
timing optimizer steps (forward + backward + AdamW) over the same records as
- padded: batches padded to their longest record (the paper's LLaMA-Factory setup);
- packed: TRL's padding-free packing, the whole batch flattened into one row with
  per-record position ids (what `packing: true` trains with on a GPU with flash-attention);
- packed_rows_dense: rows filled to the cutoff, kept apart as a [rows, cutoff] batch with a
  dense block-diagonal mask (transformers' SDPA from per-record position ids): the compute of
  LLaMA-Factory's `neat_packing` on CPU (rows to the cutoff, a 4D block-diagonal mask);
- packed_rows_256: the former CPU packing, rows of max(256, longest record), dense mask;
- packed_rows_segments: rows filled to the cutoff, segment attention
  (collectivesft.train.segment_attention), the model's own loss;
- packed_rows: what `packing: true` trains with on CPU now: rows filled to the cutoff,
  segment attention, the LM head on target positions only (collectivesft.train.labelled_loss).
"useful" tokens are non-pad tokens; figures are per training CPU second of this process
(forward + backward + optimizer, all threads) and per wall second, plus tokens per step.

LLaMA-Factory itself is not installed here. Issue 23 measured it side by side on this machine
(LLaMA-Factory 0.9.5, rows packed to the cutoff 512, the tiny model, the same data): our former
packed rows did 1.44x its packed useful tokens per training CPU s; `vs_lf_packed_estimate` carries that ratio over to packed_rows
(1.44 x packed_rows / packed_rows_256), and packed_rows_dense stands in for its compute.

GPU part (when CUDA is present): a randomly initialised Qwen2.5-0.5B-shaped model in bf16,
packed rows, tokens/s and MFU against the GPU's dense bf16 peak.

    .venv/bin/python bench/train.py [--rows 60] [--size tiny] [--batch 16] [--cutoff 512] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

# Dense bf16 peak FLOP/s by GPU name fragment (vendor datasheets, no sparsity).
BF16_PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12,
             "L4": 121e12, "4090": 165e12, "3090": 71e12}


def fixture_records(rows: int, work: Path) -> list[dict]:
    from collectivesft.fixtures.writer import write_fixtures
    from collectivesft.records import read_records
    from collectivesft.sources.convert import convert_source
    from collectivesft.sources.registry import source_names

    raw = write_fixtures(work / "raw", rows=rows, seed=0)
    records: list[dict] = []
    for name in source_names():
        convert_source(name, work / "conv" / name, input=raw[name])
        records += read_records(work / "conv" / name / "records.jsonl")
    random.Random(0).shuffle(records)
    return records


def encode(records: list[dict], model_dir: Path, cutoff: int) -> list[dict]:
    from transformers import AutoTokenizer

    from collectivesft.train.masking import encode_records

    tok = AutoTokenizer.from_pretrained(model_dir)
    columns, _ = encode_records(records, tok, cutoff)
    return [{"input_ids": i, "labels": l} for i, l in zip(columns["input_ids"], columns["labels"])]


def padded_batches(examples: list[dict], batch: int, pad_id: int) -> list[dict]:
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    collate = DataCollatorForLanguageModeling(pad_token_id=pad_id)
    return [collate(examples[i:i + batch]) for i in range(0, len(examples), batch)]


def packed_batches(examples: list[dict], rows_per_batch: int, pack_length: int, pad_id: int) -> list[dict]:
    from datasets import Dataset
    from trl.data_utils import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    ds = Dataset.from_list(examples)
    packed = pack_dataset(ds, pack_length, "bfd", {}).to_list()
    collate = DataCollatorForLanguageModeling(pad_token_id=pad_id, padding_free=True)
    return [collate(packed[i:i + rows_per_batch]) for i in range(0, len(packed), rows_per_batch)]


def packed_row_batches(examples: list[dict], tokens_per_batch: float, pack_length: int, pad_id: int) -> list[dict]:
    """The trainer's CPU packing (collectivesft.train.packing): packed rows kept as a
    [rows, length] batch with per-record position ids; as many rows per batch as hold about
    `tokens_per_batch` tokens (the padded run's useful tokens per step)."""
    from datasets import Dataset

    from collectivesft.train.packing import RowPackingCollator, pack_rows

    packed = pack_rows(Dataset.from_list(examples), pack_length).to_list()
    rows_per_batch = max(1, round(tokens_per_batch / pack_length))
    collate = RowPackingCollator(pad_token_id=pad_id)
    batches = []
    for i in range(0, len(packed), rows_per_batch):
        rows = packed[i:i + rows_per_batch]
        batches.append({**collate(rows), "nonpad": sum(len(r["input_ids"]) for r in rows)})
    return batches


def batch_tokens(batch: dict) -> tuple[int, int]:
    """(positions computed, non-pad positions) of one batch."""
    ids = batch["input_ids"]
    if "attention_mask" in batch:
        return ids.numel(), int(batch["attention_mask"].sum())
    if "nonpad" in batch:
        return ids.numel(), batch["nonpad"]
    return ids.numel(), ids.numel()  # padding-free: one row, no pad (pad_to_multiple_of unset)


def time_steps(model, batches: list[dict], device: str, repeats: int, labelled: bool = False) -> tuple[float, float]:
    """Best-of-`repeats` (wall s, process CPU s) of one pass over `batches` (one optimizer step
    per batch); `labelled`: the LM head on target positions only, as the CPU trainer computes it."""
    import torch

    from collectivesft.train.labelled_loss import labelled_loss

    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()
    keep = ("input_ids", "labels", "attention_mask", "position_ids")  # "nonpad" is bookkeeping
    moved = [{k: v.to(device) for k, v in b.items() if k in keep} for b in batches]
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start, start_cpu = time.perf_counter(), time.process_time()
        for b in moved:
            loss = labelled_loss(model, b) if labelled else model(**b, use_cache=False).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu


def measure(model, batches: list[dict], device: str, repeats: int, attention: str = "sdpa",
            labelled: bool = False) -> dict:
    model.set_attn_implementation(attention)
    total = sum(batch_tokens(b)[0] for b in batches)
    useful = sum(batch_tokens(b)[1] for b in batches)
    seconds, cpu = time_steps(model, batches, device, repeats, labelled)
    return {"attention": attention, "head_on_targets_only": labelled, "steps": len(batches), "positions": total,
            "nonpad_share": round(useful / total, 4), "useful_tokens_per_step": round(useful / len(batches), 1),
            "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
            "tokens_per_s": round(total / seconds, 1), "useful_tokens_per_s": round(useful / seconds, 1),
            "useful_tokens_per_cpu_s": round(useful / cpu, 1)}


def cpu_part(args, work: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from collectivesft.fixtures.tiny_model import build_tiny_model
    from collectivesft.train.packing import row_length_for
    from collectivesft.train.segment_attention import register

    records = fixture_records(args.rows, work)
    model_dir = build_tiny_model(work / "tiny", size=args.size)
    examples = encode(records, model_dir, args.cutoff)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    pad_id = model.config.pad_token_id
    lengths = sorted(len(e["input_ids"]) for e in examples)
    padded = padded_batches(examples, args.batch, pad_id)
    # Same useful tokens per step as the padded run: as many packed rows as fill one batch's worth.
    mean_batch_tokens = sum(lengths) / max(1, len(padded))
    rows = max(1, round(mean_batch_tokens / args.cutoff))
    packed = packed_batches(examples, rows, args.cutoff, pad_id)
    at_cutoff = packed_row_batches(examples, mean_batch_tokens, row_length_for(lengths, args.cutoff), pad_id)
    former = row_length_for(lengths, args.cutoff, 256)
    at_256 = packed_row_batches(examples, mean_batch_tokens, former, pad_id)
    segments = register()
    settings = [("padded", padded, "sdpa", False), ("packed", packed, "sdpa", False),
                ("packed_rows_dense", at_cutoff, "sdpa", False), ("packed_rows_256", at_256, "sdpa", False),
                ("packed_rows_segments", at_cutoff, segments, False), ("packed_rows", at_cutoff, segments, True)]
    results: dict[str, list[dict]] = {name: [] for name, *_ in settings}
    torch.manual_seed(0)
    for _ in range(args.rounds):  # interleaved: each round measures every setting once
        for name, batches, attention, labelled in settings:
            results[name].append(measure(model, batches, "cpu", args.repeats, attention, labelled))

    def median(name: str) -> dict:
        runs = sorted(results[name], key=lambda r: r["useful_tokens_per_cpu_s"])
        return runs[len(runs) // 2]

    out = {
        "model": f"qwen2 {args.size} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params)",
        "records": len(examples),
        "record_tokens": {"min": lengths[0], "median": lengths[len(lengths) // 2], "max": lengths[-1]},
        "threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "padded": {"batch_size": args.batch, **median("padded")},
        "packed": {"pack_length": args.cutoff, "rows_per_batch": rows, **median("packed")},
        "packed_rows_dense": {"pack_length": args.cutoff, **median("packed_rows_dense")},
        "packed_rows_256": {"pack_length": former, **median("packed_rows_256")},
        "packed_rows_segments": {"pack_length": args.cutoff, **median("packed_rows_segments")},
        "packed_rows": {"pack_length": args.cutoff, **median("packed_rows")},
        # Equal cost per computed position would give 1 / nonpad_share: the most packing can win here.
        "speedup_bound": round(1 / median("padded")["nonpad_share"], 2),
    }
    per_cpu = {name: median(name)["useful_tokens_per_cpu_s"] for name in results}
    out["useful_per_cpu_s_vs_padded"] = {name: round(v / per_cpu["padded"], 2) for name, v in per_cpu.items()}
    out["packed_rows_vs_dense_at_cutoff"] = round(per_cpu["packed_rows"] / per_cpu["packed_rows_dense"], 2)
    out["packed_rows_vs_former"] = round(per_cpu["packed_rows"] / per_cpu["packed_rows_256"], 2)
    out["vs_lf_packed_estimate"] = round(1.44 * per_cpu["packed_rows"] / per_cpu["packed_rows_256"], 2)
    return out


def gpu_part(args, work: Path) -> dict:
    """Qwen2.5-0.5B-shaped random model, bf16, packed rows: tokens/s and MFU."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    name = torch.cuda.get_device_name(0)
    peak = next((v for k, v in BF16_PEAK.items() if k in name), None)
    config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                         tie_word_embeddings=True)
    attn = "flash_attention_2"
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        attn = "sdpa"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation=attn).cuda()
    n_params = sum(p.numel() for p in model.parameters())
    seq, rows = args.pack_length, args.gpu_rows
    gen = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(args.gpu_steps):
        # Records of 64-512 tokens packed back to back into one padding-free row of rows*seq.
        lengths, total = [], 0
        while total < rows * seq:
            n = min(int(torch.randint(64, 512, (1,), generator=gen)), rows * seq - total)
            lengths.append(n)
            total += n
        ids = torch.randint(0, config.vocab_size, (1, total), generator=gen)
        pos = torch.cat([torch.arange(n) for n in lengths])[None]
        batches.append({"input_ids": ids, "labels": ids.clone(), "position_ids": pos})
    time_steps(model, batches[:2], "cuda", 1)  # warm-up (kernels, allocator)
    seconds, _ = time_steps(model, batches, "cuda", 1)
    tokens = sum(b["input_ids"].numel() for b in batches)
    # 6 N per token for the dense matmuls plus causal attention 6 * layers * hidden * mean record length.
    mean_len = sum(b["position_ids"].numel() for b in batches) / sum(
        int((b["position_ids"] == 0).sum()) for b in batches)
    flops_per_token = 6 * n_params + 6 * config.num_hidden_layers * config.hidden_size * mean_len
    achieved = tokens * flops_per_token / seconds
    return {"device": name, "model": f"Qwen2.5-0.5B-shaped ({n_params / 1e6:.0f}M params), bf16, {attn}",
            "tokens_per_step": rows * seq, "tokens_per_s": round(tokens / seconds, 1),
            "mfu": round(achieved / peak, 4) if peak else None,
            "bf16_peak_flops": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60, help="fixture rows per source (12 sources)")
    parser.add_argument("--size", default="tiny", help="tiny-model size")
    parser.add_argument("--batch", type=int, default=16, help="records per padded batch (paper: 16)")
    parser.add_argument("--cutoff", type=int, default=512, help="cutoff, and tokens per packed row (issue 23's LF run: 512)")
    parser.add_argument("--pack-length", type=int, default=1024, help="tokens per row on the GPU part")
    parser.add_argument("--repeats", type=int, default=1, help="passes per setting and round; the best is kept")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--gpu-rows", type=int, default=8)
    parser.add_argument("--gpu-steps", type=int, default=10)
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out = {"cpu": cpu_part(args, work)}
        if torch.cuda.is_available():
            out["gpu"] = gpu_part(args, work)
        else:
            out["gpu"] = None
            out["gpu_note"] = "no CUDA device on this machine: GPU tokens/s and MFU not measured"
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
