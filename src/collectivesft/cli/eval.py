"""`collectivesft eval ...`: CMB-Exam and CMB-Clin runs, scoring, submission checks, fixtures, a server."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from collectivesft.cli.display import print_table
from collectivesft.cli.help import defaults_from

eval_app = typer.Typer(help="Evaluate on CMB (Chinese Medical Benchmark) and the benchmark suite: run, score, "
                       "validate, serve.",
                       no_args_is_help=True)

# Options shared by the model-running commands; None means "not given" (config file or default wins).
MODEL = typer.Option(None, "--model", help="Model folder or hub id (hf/vllm); model name (openai).")
BACKEND = typer.Option(None, "--backend", help="hf | vllm | openai.")
BATCH = typer.Option(None, "--batch-size", help="Questions per batch.")
MAX_NEW = typer.Option(None, "--max-new-tokens", help="Generation budget (official: 512).")
TEMPERATURE = typer.Option(None, "--temperature", help="0 = greedy (official).")
SYSTEM = typer.Option(None, "--system", help="System prompt.")
DEVICE = typer.Option(None, "--device", help="hf: cpu | cuda | cuda:N | auto.")
DTYPE = typer.Option(None, "--dtype", help="auto | float32 | bfloat16 | float16.")
BASE_URL = typer.Option(None, "--base-url", help="openai: endpoint base URL, e.g. http://localhost:8000/v1.")
KEY_ENV = typer.Option(None, "--api-key-env", help="openai: environment variable holding the API key.")
CONCURRENCY = typer.Option(None, "--concurrency", help="openai: parallel requests.")
TRUST = typer.Option(None, "--trust-remote-code/--no-trust-remote-code",
                     help="hf/vllm: allow the model's own Python code (auto_map in config.json; InternLM2 needs it).")
ADAPTER = typer.Option(None, "--adapter", help="hf/vllm: a LoRA adapter folder (or its train run folder) applied "
                       "to --model as the base (LLaMA-Factory's adapter_name_or_path).")
CONFIG = typer.Option(None, "--config", help="YAML: a bare eval config or a full recipe (its eval: section).")
PROTOCOL = typer.Option(None, "--protocol", help="collectivesft (default: our prompt, robust extraction, letter "
                        "sets) | official (the CMB scripts exactly: prompt, few-shot, match_choice, exact compare).")
DATA_PARALLEL = typer.Option(None, "--data-parallel", min=1, help="Processes, each with its own model copy "
                             "(hf: cuda:i), sharing the batches; identical results to one process. Under "
                             "accelerate launch / torchrun each rank is a shard instead.")
THREADS = typer.Option(None, "--threads", min=1, help="hf on CPU: torch threads (default: the usable physical "
                       "cores less the load average's other processes, at least 1).")
SET = typer.Option(None, "--set", help="Override a config key, e.g. --set shots=3 (value parsed as YAML; "
                   "repeatable; applied after the other options).")


def _inference_overrides(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


@eval_app.command("cmb", cls=defaults_from("collectivesft.eval.config:CMBEvalConfig"))
def cmb_command(
    out: Path = typer.Option(..., "--out", help="Run folder (resumes if it holds a partial run)."),
    model: Optional[str] = MODEL,
    data: Optional[str] = typer.Option(None, "--data", help="FreedomIntelligence/CMB or a local folder/zip."),
    split: Optional[str] = typer.Option(None, "--split", help="test | val."),
    key: Optional[str] = typer.Option(None, "--key", help="Answer key JSON (default: the one inside --data)."),
    method: Optional[str] = typer.Option(None, "--method", help="generate | loglik | cloze (docs/eval.md: when each is right)."),
    shots: Optional[int] = typer.Option(None, "--shots", help="Few-shot examples from val (same exam class)."),
    cot: Optional[bool] = typer.Option(None, "--cot/--no-cot", help="Ask for an analysis first (generate); "
                                       "default on for --protocol official."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N questions (in CMB's test file: "
                                        "one exam class; --sample for an estimate)."),
    sample: Optional[int] = typer.Option(None, "--sample", help="A random N questions stratified by exam class "
                                         "(proportional; docs/eval.md): estimates the full set's accuracy."),
    sample_seed: Optional[int] = typer.Option(None, "--seed", help="Seed of --sample."),
    protocol: Optional[str] = PROTOCOL,
    fewshot_seed: Optional[int] = typer.Option(None, "--fewshot-seed", help="official: seed of the shot draws."),
    circular: Optional[bool] = typer.Option(None, "--circular/--no-circular", help="Ask each question under every "
                                            "rotation of its options; report circular accuracy and consistency."),
    backend: Optional[str] = BACKEND, batch_size: Optional[int] = BATCH, max_new_tokens: Optional[int] = MAX_NEW,
    temperature: Optional[float] = TEMPERATURE, system: Optional[str] = SYSTEM, device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE, base_url: Optional[str] = BASE_URL, api_key_env: Optional[str] = KEY_ENV,
    concurrency: Optional[int] = CONCURRENCY, config: Optional[Path] = CONFIG, set_: Optional[list[str]] = SET,
    trust_remote_code: Optional[bool] = TRUST, adapter: Optional[str] = ADAPTER, threads: Optional[int] = THREADS,
    data_parallel: Optional[int] = DATA_PARALLEL,
) -> None:
    """Run a model on CMB-Exam; write predictions, submission.json, scores (when the key is known)."""
    from collectivesft.errors import ConfigError
    from collectivesft.eval.cmb.circular import evaluate_circular
    from collectivesft.eval.cmb.runner import evaluate_cmb
    from collectivesft.eval.config import CMBEvalConfig, load_config
    from collectivesft.eval.parallel import shard_from_env

    cfg = load_config(CMBEvalConfig, config, _inference_overrides(
        model=model, data=data, split=split, key=key, method=method, shots=shots, cot=cot, limit=limit,
        sample=sample, sample_seed=sample_seed, circular=circular,
        protocol=protocol, fewshot_seed=fewshot_seed, backend=backend, batch_size=batch_size,
        max_new_tokens=max_new_tokens, temperature=temperature,
        system=system, device=device, dtype=dtype, base_url=base_url, api_key_env=api_key_env,
        concurrency=concurrency, trust_remote_code=trust_remote_code, adapter=adapter, threads=threads,
        data_parallel=data_parallel), sets=set_)
    shard = shard_from_env()  # a rank of accelerate launch / torchrun: each rank answers a shard
    if shard is not None and cfg.data_parallel not in (1, shard.count):
        raise ConfigError(f"data_parallel={cfg.data_parallel} under a launcher of {shard.count} processes: "
                          "each launched process is one shard; drop --data-parallel")
    if shard is not None and cfg.circular:
        raise ConfigError("--circular under accelerate launch is not supported: use --data-parallel N instead")
    if cfg.circular:
        _print_circular(out, evaluate_circular(cfg, out))
        return
    result = evaluate_cmb(cfg, out, shard)
    if "shard" in result:
        typer.echo(f"rank {result['shard']} of {result['count']}: shard answered; rank 0 writes the results to {out}")
        return
    _print_subset(result["subset"])
    _print_scores(result)
    typer.echo(f"wrote {out}/predictions.jsonl, submission.json" + (", scores.json, scores.md" if "by_type" in result else ""))


def _print_circular(out: Path, scores: dict) -> None:
    def interval(bounds) -> str:
        return f"{100 * bounds[0]:.1f}-{100 * bounds[1]:.1f}" if bounds else ""

    _print_subset(scores["subset"])
    rows = [[f"accuracy, rotation {r['rotation']}", r["n"], round(100 * r["accuracy"], 2) if r["accuracy"] is not None
             else "", interval(r["ci95"])] for r in scores["rotations"]]
    for name, label in (("circular_accuracy", "circular accuracy"), ("consistency", "consistency")):
        rows.append([label, scores["n"], round(100 * scores[name]["value"], 2), interval(scores[name]["ci95"])])
    print_table(["measure", "n", "%", "95% interval"], rows)
    typer.echo(f"wrote {out}/circular.json, circular.md, circular.jsonl (runs per rotation under {out}/rotations/)")


def _print_subset(subset: dict) -> None:
    from collectivesft.eval.cmb.subset import caveat, describe

    note = caveat(subset)
    typer.echo(f"run on {describe(subset)}" + (f": {note}" if note else ""))


def _print_scores(scores: dict) -> None:
    if "by_type" not in scores:
        typer.echo(f"answered {scores.get('n_answered', 0)} of {scores.get('n', 0)} questions (no answer key: not scored)")
        return
    ci = scores.get("ci95") or {}

    def interval(bounds) -> str:
        return f"{100 * bounds[0]:.1f}-{100 * bounds[1]:.1f}" if bounds else ""

    rows = [[t, round(100 * a, 2), interval(ci.get("by_type", {}).get(t))] for t, a in scores["by_type"].items()]
    rows.append(["mean of types (leaderboard average)", round(100 * scores["overall_macro_types"], 2),
                 interval(ci.get("overall_macro_types"))])
    rows.append(["all questions (micro)", round(100 * scores["overall_micro"], 2), interval(ci.get("overall_micro"))])
    typer.echo(f"protocol: {scores.get('protocol', 'collectivesft')}")
    print_table(["exam type", "accuracy %", "95% interval"], rows)
    for label, name in (("missing", "missing_ids"), ("unknown (not in the key)", "unknown_ids")):
        ids = scores.get(name) or []
        if ids:
            typer.echo(f"{label}: {len(ids)} id(s), first: {', '.join(map(str, ids[:10]))}")
    if scores.get("duplicates"):
        d = scores["duplicates"]
        typer.echo(f"duplicated: {d['n']} id(s) (kept the {d['kept']} row), first: {', '.join(map(str, d['ids'][:10]))}")
    if scores.get("key_invalid"):
        typer.echo(f"excluded {scores['key_invalid']} key row(s) with an invalid answer: ids {scores['key_invalid_ids'][:20]}")


@eval_app.command("cmb-score")
def cmb_score_command(
    outputs: Path = typer.Option(..., "--outputs", help="JSONL {id, output} or a submission JSON list {id, model_answer}."),
    key: Path = typer.Option(..., "--key", help="Official answer key JSON (or a release folder/zip holding it)."),
    out: Path = typer.Option(..., "--out", help="Folder for predictions.jsonl, scores.json, scores.md, chart."),
    questions: Optional[Path] = typer.Option(None, "--questions", help="Question file: enables option-text matching."),
    protocol: str = typer.Option("collectivesft", "--protocol", help="collectivesft | official (match_choice, "
                                 "exact string comparison, as score.py)."),
    on_duplicate: Optional[str] = typer.Option(None, "--on-duplicate", help="first | last: which row of a "
                                               "duplicated id to keep (default: duplicates are an error)."),
) -> None:
    """Score model outputs against the official CMB answer key (per class, type = mean of classes)."""
    from collectivesft.errors import ConfigError
    from collectivesft.eval.cmb.scoring import score_cmb

    if on_duplicate not in (None, "first", "last"):
        raise ConfigError(f"--on-duplicate must be first or last, got {on_duplicate!r}")
    _print_scores(score_cmb(outputs, key, out, questions, protocol, on_duplicate))
    typer.echo(f"wrote {out}/predictions.jsonl, scores.json, scores.md")


@eval_app.command("cmb-prompts")
def cmb_prompts_command(
    data: str = typer.Option(..., "--data", help="FreedomIntelligence/CMB or a local folder/zip/question file."),
    out: Path = typer.Option(..., "--out", help="JSONL file: one {id, messages} per question."),
    split: str = typer.Option("test", "--split", help="test | val."),
    protocol: str = typer.Option("collectivesft", "--protocol", help="collectivesft | official."),
    cot: Optional[bool] = typer.Option(None, "--cot/--no-cot", help="CoT wording; default on for official."),
    shots: int = typer.Option(0, "--shots", help="Few-shot examples from val."),
    fewshot_seed: int = typer.Option(42, "--fewshot-seed", help="official: seed of the shot draws."),
    system: Optional[str] = SYSTEM,
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N questions (shots drawn as in a full run)."),
) -> None:
    """Write the chat messages each question would get (before the chat template); no model is loaded."""
    from collectivesft.eval.cmb.protocol import write_prompts

    n = write_prompts(data, split, protocol, str(out), cot, shots, fewshot_seed, system, limit)
    typer.echo(f"wrote {n} prompts ({protocol} protocol) to {out}")


@eval_app.command("cmb-compare")
def cmb_compare_command(
    a: Path = typer.Argument(..., help="Run A: a folder with predictions.jsonl (eval cmb / cmb-score) or the file."),
    b: Path = typer.Argument(..., help="Run B, on the same questions."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the comparison as JSON here."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    show: int = typer.Option(10, "--show", help="Flipped questions printed per exam class and direction "
                             "(all of them go to --out)."),
) -> None:
    """B minus A on the questions both scored: paired bootstrap 95% intervals, McNemar's test, and the
    questions that flipped, both ways, by exam class, with the two outputs side by side."""
    from collectivesft.eval.cmb.compare import compare_runs
    from collectivesft.io import write_json

    result = compare_runs(a, b, n_boot, seed)
    rows = []
    for label, entry in [("all questions (micro)", result["overall_micro"]),
                         ("mean of types", result["overall_macro_types"])] + list(result["by_type"].items()):
        lo, hi = entry["interval"]
        rows.append([label, round(100 * entry["a"], 2), round(100 * entry["b"], 2), round(100 * entry["difference"], 2),
                     f"{100 * lo:.2f} to {100 * hi:.2f}"])
    typer.echo(f"A: {result['a']} ({result['protocol_a']})\nB: {result['b']} ({result['protocol_b']})\n"
               f"questions compared: {result['n']}")
    print_table(["score", "A %", "B %", "B - A", "95% interval"], rows)
    m = result["mcnemar"]
    typer.echo(f"McNemar: A right & B wrong {m['b10']}, A wrong & B right {m['b01']}, "
               f"p = {m['p_value']:.4g} ({m['method']})")
    for way, title in (("a_right_b_wrong", "right in A, wrong in B"), ("a_wrong_b_right", "wrong in A, right in B")):
        groups = result["flipped"][way]
        typer.echo(f"\n{title}: {sum(map(len, groups.values()))} question(s)")
        for exam_class, flips in groups.items():
            typer.echo(f"  {exam_class} ({len(flips)})")
            print_table(["id", "key", "A", "B", "A output", "B output"],
                        [[f["id"], f["answer"], f["a_answer"] or "-", f["b_answer"] or "-", _short(f["a_output"]),
                          _short(f["b_output"])] for f in flips[:show]])
            if len(flips) > show:
                typer.echo(f"  ... {len(flips) - show} more (--show, or --out for all)")
    for warning in result["warnings"]:
        typer.secho(f"warning: {warning}", fg="yellow")
    if out:
        write_json(out, result)
        from collectivesft.report.explorer import write_explorer

        # The same flips, browsable: both runs side by side, with the explorer's "flipped" filter.
        page = write_explorer([p if p.is_dir() else p.parent for p in (Path(a), Path(b))],
                              Path(out).with_suffix(".html"))
        typer.echo(f"wrote {out} and {page} (open it with #filter=flipped)")


def _short(text: str, width: int = 40) -> str:
    """One line of at most `width` characters (the terminal view of an output)."""
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 1] + "…"


@eval_app.command("cmb-validate")
def cmb_validate_command(
    submission: Path = typer.Argument(..., help="submission.json to check."),
    questions: Optional[Path] = typer.Option(None, "--questions", help="Expect this question file's ids "
                                             "instead of 1..11200 (for subsets and fixtures)."),
) -> None:
    """Check a leaderboard submission: ids exactly 1..11200, keys, letter format. Exit 1 when wrong."""
    from collectivesft.benchmarks.cmb.load import load_questions
    from collectivesft.eval.cmb.scoring import TEST_IDS, validate_submission

    expected = [q.id for q in load_questions(questions, "test")] if questions else TEST_IDS
    report = validate_submission(submission, expected)
    for problem in report["problems"]:
        typer.secho(f"problem: {problem}", fg="red")
    for warning in report["warnings"]:
        typer.echo(f"warning: {warning}")
    if not report["ok"]:
        typer.echo(f"{submission}: NOT valid ({len(report['problems'])} problem(s), {report['n']} rows)")
        raise typer.Exit(1)
    typer.echo(f"{submission}: valid ({report['n']} answers)")


JUDGE_MODEL = typer.Option(None, "--judge-model", help="Also rate answers with the official CMB judge prompt "
                           "(fluency, relevance, completeness, proficiency; 1-5) on this model.")
JUDGE_URL = typer.Option(None, "--judge-url", "--judge-base-url", help="Judge's OpenAI-compatible base URL, "
                         "e.g. https://api.openai.com/v1.")
JUDGE_KEY_ENV = typer.Option("OPENAI_API_KEY", "--judge-key-env", "--judge-api-key-env",
                             help="Environment variable holding the judge's key.")
HISTORY = typer.Option(None, "--history", help="reference (teacher-forced: earlier turns carry the reference "
                       "solutions, as the official workers) | model (the model's own answers).")


def _judge(model: Optional[str], url: Optional[str], key_env: str):
    from collectivesft.eval.config import InferenceConfig, build_config

    if not model:
        return None
    return build_config(InferenceConfig, {"model": model, "backend": "openai", "base_url": url,
                                          "api_key_env": key_env, "max_new_tokens": 256}, "--judge-* options")


@eval_app.command("cmb-clin")
def cmb_clin_command(
    out: Path = typer.Option(..., "--out", help="Run folder (resumes inside a case)."),
    model: Optional[str] = MODEL,
    data: Optional[str] = typer.Option(None, "--data", help="CMB-Clin-qa.json, a release folder/zip, or the hub id."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N cases."),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="collectivesft (our first turn, model history) | "
                                           "official (the README's first turn, reference history)."),
    history: Optional[str] = HISTORY,
    judge_model: Optional[str] = JUDGE_MODEL, judge_url: Optional[str] = JUDGE_URL, judge_key_env: str = JUDGE_KEY_ENV,
    backend: Optional[str] = BACKEND, batch_size: Optional[int] = BATCH, max_new_tokens: Optional[int] = MAX_NEW,
    temperature: Optional[float] = TEMPERATURE, system: Optional[str] = SYSTEM, device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE, base_url: Optional[str] = BASE_URL, api_key_env: Optional[str] = KEY_ENV,
    concurrency: Optional[int] = CONCURRENCY, config: Optional[Path] = CONFIG, set_: Optional[list[str]] = SET,
    trust_remote_code: Optional[bool] = TRUST, adapter: Optional[str] = ADAPTER, threads: Optional[int] = THREADS,
) -> None:
    """Run a model on CMB-Clin (each case a conversation); score ROUGE-L / BLEU and, optionally, the judge."""
    from collectivesft.eval.cmb.clin import evaluate_clin
    from collectivesft.eval.config import ClinEvalConfig, load_config

    cfg = load_config(ClinEvalConfig, config, _inference_overrides(
        model=model, data=data, limit=limit, protocol=protocol, history=history, backend=backend,
        batch_size=batch_size, max_new_tokens=max_new_tokens, temperature=temperature, system=system, device=device,
        dtype=dtype, base_url=base_url, api_key_env=api_key_env, concurrency=concurrency,
        trust_remote_code=trust_remote_code, adapter=adapter, threads=threads), section="clin", sets=set_)
    scores = evaluate_clin(cfg, out, judge=_judge(judge_model, judge_url, judge_key_env))
    _print_clin(scores)
    typer.echo(f"wrote {out}/outputs.jsonl, scores.json, scores.md")


def _print_clin(scores: dict) -> None:
    rows = [["ROUGE-L (mean of cases)", round(100 * scores["rouge_l"], 2)], ["BLEU-4 (mean of cases)", round(100 * scores["bleu"], 2)],
            ["corpus BLEU-4", round(100 * scores["corpus_bleu"], 2)]]
    judge = scores.get("judge")
    if judge:
        for name, value in judge["criteria"].items():
            rows.append([f"judge {name} (1-5)", "-" if value is None else round(value, 2)])
        rows.append(["judge verdicts unparseable", f"{judge['n_unparseable']} of {judge['n_judged'] + judge['n_unparseable']}"])
    typer.echo(f"conversation history: {scores.get('history')} answers")
    print_table(["metric", "value"], rows)


@eval_app.command("cmb-clin-score")
def cmb_clin_score_command(
    outputs: Path = typer.Option(..., "--outputs", help="JSONL rows {id, question_index, output}."),
    data: Path = typer.Option(..., "--data", help="CMB-Clin-qa.json (or a release folder/zip)."),
    out: Path = typer.Option(..., "--out", help="Folder for scores.json, scored.jsonl, scores.md."),
    history: Optional[str] = HISTORY,
    judge_model: Optional[str] = JUDGE_MODEL, judge_url: Optional[str] = JUDGE_URL, judge_key_env: str = JUDGE_KEY_ENV,
) -> None:
    """Score CMB-Clin answers: character ROUGE-L and BLEU per case and mean; optional official judge."""
    from collectivesft.eval.cmb.clin import score_clin

    _print_clin(score_clin(outputs, data, out, judge=_judge(judge_model, judge_url, judge_key_env), history=history))
    typer.echo(f"wrote {out}/scores.json, scored.jsonl, scores.md")


@eval_app.command("fixtures")
def fixtures_command(
    out: Path = typer.Argument(..., help="Folder to write the CMB eval fixture into (official layout)."),
    n_test: int = typer.Option(140, "--n-test", help="Test questions (20 per exam class)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed writes the same bytes."),
) -> None:
    """Write a small CMB-Exam/CMB-Clin set in the official file layout from the fixture world."""
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    typer.echo(f"wrote CMB eval fixture under {write_cmb_eval(out, n_test=n_test, seed=seed)}")


@eval_app.command("cmb-pack")
def cmb_pack_command(
    questions: Path = typer.Argument(..., help="JSON list of questions with answers: the CMB test file's keys "
                                     "(exam_type, exam_class, exam_subject, question, question_type, option, id) "
                                     "plus answer; id and question_type optional."),
    out: Path = typer.Argument(..., help="New folder for the official layout (eval cmb --data OUT)."),
    val_per_class: int = typer.Option(0, "--val-per-class", min=0, help="Put the first K questions of each exam "
                                      "class in val (the few-shot source), the rest in test."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave bad rows out (default: write nothing while "
                                  "any row is bad)."),
) -> None:
    """Split questions with answers into CMB's official files: test questions, answer key (and val)."""
    from collectivesft.eval.cmb.pack import BadRows, pack

    try:
        manifest = pack(questions, out, val_per_class, skip_bad)
    except BadRows as exc:
        for line in exc.lines:
            typer.secho(f"bad: {line}", fg="red")
        typer.echo(str(exc))
        raise typer.Exit(1)
    for bad in manifest["bad_rows"]:
        typer.echo(f"left out: row {bad['row']} (index {bad['index']}): {bad['reason']}")
    for note in manifest["notes"]:
        typer.echo(f"note: {note}")
    for rel, n in manifest["files"].items():
        typer.echo(f"wrote {out / rel} ({n} rows)")
    typer.echo(f"checked: {manifest['checked']}; run it with: collectivesft eval cmb --data {out} ...")


@eval_app.command("serve")
def serve_command(
    model: str = typer.Option(..., "--model", help="Model folder or hub id."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface; "
                             "give an --api-key then)."),
    port: int = typer.Option(8000, "--port", help="TCP port to listen on."),
    backend: str = typer.Option("hf", "--backend", help="hf | vllm."),
    device: str = typer.Option("auto", "--device", help="hf: cpu | cuda | cuda:N | auto."),
    dtype: str = typer.Option("auto", "--dtype", help="auto | float32 | bfloat16 | float16."),
    batch_size: int = typer.Option(8, "--batch-size", help="Concurrent requests answered in one generate call."),
    max_queue: int = typer.Option(256, "--max-queue", min=1, help="Requests that may wait for the model; "
                                  "more are refused with 503."),
    max_body_mb: float = typer.Option(8.0, "--max-body-mb", min=0.001, help="Largest request body read, in MiB "
                                      "(413 past it)."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="COLLECTIVESFT_API_KEY", show_envvar=True,
                                          help="Require Authorization: Bearer KEY on every request (401 otherwise)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow the model's own Python code."),
    adapter: Optional[str] = ADAPTER, threads: Optional[int] = THREADS,
    batch_window_ms: float = typer.Option(5.0, "--batch-window-ms", min=0, help="After a request arrives, how long "
                                          "to wait for more to answer in the same batch (0: no wait)."),
) -> None:
    """Serve a model over an OpenAI-compatible /v1/chat/completions endpoint (concurrent requests batched)."""
    from collectivesft.eval.config import InferenceConfig, build_config
    from collectivesft.eval import server

    cfg = build_config(InferenceConfig, {"model": model, "backend": backend, "device": device, "dtype": dtype,
                                         "batch_size": batch_size, "trust_remote_code": trust_remote_code,
                                         "adapter": adapter, "threads": threads})
    warning = server.unguarded_warning(host, api_key)
    if warning:
        typer.secho(f"warning: {warning}", fg="yellow", err=True)
    typer.echo(f"serving {model} at http://{host}:{port}/v1 (Ctrl-C to stop)")
    server.serve(cfg, host, port, max_queue=max_queue, max_body_bytes=int(max_body_mb * 2**20), api_key=api_key,
                 batch_window_s=batch_window_ms / 1000)


@eval_app.command("suite", cls=defaults_from("collectivesft.eval.suite.config:SuiteBenchmarkConfig"))
def suite_command(
    out: Path = typer.Option(..., "--out", help="Folder: one sub-folder per benchmark, suite.json, suite.md "
                             "(resumes a partial run)."),
    benchmarks: str = typer.Option(..., "--benchmarks", help="Comma-separated names (eval benchmarks lists them), "
                                   "e.g. cmb,cmmlu-medical,cmmlu-general."),
    data: Optional[list[str]] = typer.Option(None, "--data", help="NAME=PATH: a benchmark's files (folder, file "
                                             "or hub id; repeatable); default: its hub id."),
    model: Optional[str] = MODEL,
    method: Optional[str] = typer.Option(None, "--method", help="generate | loglik | cloze."),
    shots: Optional[int] = typer.Option(None, "--shots", help="Few-shot examples from each benchmark's shots split."),
    split: Optional[str] = typer.Option(None, "--split", help="Split to score (default: each benchmark's eval split)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N items of each benchmark."),
    sample: Optional[int] = typer.Option(None, "--sample", help="A random N items of each benchmark, stratified "
                                         "by its primary category."),
    sample_seed: Optional[int] = typer.Option(None, "--seed", help="Seed of --sample."),
    backend: Optional[str] = BACKEND, batch_size: Optional[int] = BATCH, max_new_tokens: Optional[int] = MAX_NEW,
    temperature: Optional[float] = TEMPERATURE, system: Optional[str] = SYSTEM, device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE, base_url: Optional[str] = BASE_URL, api_key_env: Optional[str] = KEY_ENV,
    concurrency: Optional[int] = CONCURRENCY, trust_remote_code: Optional[bool] = TRUST,
    adapter: Optional[str] = ADAPTER, data_parallel: Optional[int] = DATA_PARALLEL, threads: Optional[int] = THREADS,
) -> None:
    """Run a model on several benchmarks (CMB, CMMLU medical and general, ...): one folder each, one table."""
    from collectivesft.eval.suite.scoring import interval_text
    from collectivesft.eval.suite.suite import entries_from_cli, evaluate_suite

    entries = entries_from_cli(benchmarks, data)
    settings = _inference_overrides(
        model=model, method=method, shots=shots, split=split, limit=limit, sample=sample, sample_seed=sample_seed,
        backend=backend, batch_size=batch_size, max_new_tokens=max_new_tokens, temperature=temperature,
        system=system, device=device, dtype=dtype, base_url=base_url, api_key_env=api_key_env,
        concurrency=concurrency, trust_remote_code=trust_remote_code, adapter=adapter, data_parallel=data_parallel,
        threads=threads)
    from collectivesft.errors import ConfigError
    from collectivesft.eval.parallel import shard_from_env

    if shard_from_env() is not None:
        raise ConfigError("eval suite under a launcher (torchrun / accelerate launch) is not supported: run it as "
                          "one process with --data-parallel N (each benchmark is shared over N model copies)")
    suite = evaluate_suite(entries, settings, out)
    print_table(["benchmark", "group", "metric", "score %", "95% interval", "items"],
                [[r["benchmark"], r["group"], r["metric"], "-" if r["score"] is None else round(100 * r["score"], 2),
                  interval_text(r["ci95"]), r["n"]] for r in suite["benchmarks"]])
    typer.echo(f"wrote {out}/suite.json, suite.md and one folder per benchmark")


@eval_app.command("benchmarks")
def benchmarks_command() -> None:
    """List the registered benchmarks: group, metric, splits, where the files come from and their layout."""
    from collectivesft.benchmarks.base import benchmark_names, get_benchmark

    for name in benchmark_names():
        b = get_benchmark(name)
        typer.echo(f"{name}: {b.title} [{b.group}; metric {b.metric}; splits {', '.join(b.splits)}, "
                   f"scored: {b.eval_split}]")
        typer.echo(f"    source: {b.homepage}" + (f" (hub: {b.hub_id})" if b.hub_id else ""))
        typer.echo(f"    layout: {b.layout}")


@eval_app.command("backends")
def backends_command() -> None:
    """List the registered inference back-ends."""
    from collectivesft.eval.backends.registry import BACKENDS

    print_table(["back-end", "loglik"], [[n, "yes" if BACKENDS.get(n).supports_loglik else "no"]
                                             for n in BACKENDS.names()])


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
