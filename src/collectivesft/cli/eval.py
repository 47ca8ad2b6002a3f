"""`collectivesft eval ...`: CMB-Exam and CMB-Clin runs, scoring, submission checks, fixtures, a server."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from collectivesft.cli.display import print_table

eval_app = typer.Typer(help="Evaluate on CMB (Chinese Medical Benchmark): run, score, validate, serve.",
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
CONFIG = typer.Option(None, "--config", help="YAML: a bare eval config or a full recipe (its eval: section).")
SET = typer.Option(None, "--set", help="Override a config key, e.g. --set shots=3 (value parsed as YAML; "
                   "repeatable; applied after the other options).")


def _inference_overrides(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


@eval_app.command("cmb")
def cmb_command(
    out: Path = typer.Option(..., "--out", help="Run folder (resumes if it holds a partial run)."),
    model: Optional[str] = MODEL,
    data: Optional[str] = typer.Option(None, "--data", help="FreedomIntelligence/CMB or a local folder/zip."),
    split: Optional[str] = typer.Option(None, "--split", help="test | val."),
    key: Optional[str] = typer.Option(None, "--key", help="Answer key JSON (default: the one inside --data)."),
    method: Optional[str] = typer.Option(None, "--method", help="generate | loglik."),
    shots: Optional[int] = typer.Option(None, "--shots", help="Few-shot examples from val (same exam class)."),
    cot: Optional[bool] = typer.Option(None, "--cot/--no-cot", help="Ask for an analysis first (generate)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N questions."),
    backend: Optional[str] = BACKEND, batch_size: Optional[int] = BATCH, max_new_tokens: Optional[int] = MAX_NEW,
    temperature: Optional[float] = TEMPERATURE, system: Optional[str] = SYSTEM, device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE, base_url: Optional[str] = BASE_URL, api_key_env: Optional[str] = KEY_ENV,
    concurrency: Optional[int] = CONCURRENCY, config: Optional[Path] = CONFIG, set_: Optional[list[str]] = SET,
    trust_remote_code: Optional[bool] = TRUST,
) -> None:
    """Run a model on CMB-Exam; write predictions, submission.json, scores (when the key is known)."""
    from collectivesft.eval.cmb.runner import evaluate_cmb
    from collectivesft.eval.config import CMBEvalConfig, load_config

    cfg = load_config(CMBEvalConfig, config, _inference_overrides(
        model=model, data=data, split=split, key=key, method=method, shots=shots, cot=cot, limit=limit,
        backend=backend, batch_size=batch_size, max_new_tokens=max_new_tokens, temperature=temperature,
        system=system, device=device, dtype=dtype, base_url=base_url, api_key_env=api_key_env,
        concurrency=concurrency, trust_remote_code=trust_remote_code), sets=set_)
    result = evaluate_cmb(cfg, out)
    _print_scores(result)
    typer.echo(f"wrote {out}/predictions.jsonl, submission.json" + (", scores.json, scores.md" if "by_type" in result else ""))


def _print_scores(scores: dict) -> None:
    if "by_type" not in scores:
        typer.echo(f"answered {scores.get('n_answered', 0)} of {scores.get('n', 0)} questions (no answer key: not scored)")
        return
    rows = [[t, round(100 * a, 2)] for t, a in scores["by_type"].items()]
    rows.append(["mean of types (official)", round(100 * scores["overall_macro_types"], 2)])
    rows.append(["all questions (micro)", round(100 * scores["overall_micro"], 2)])
    print_table(["exam type", "accuracy %"], rows)
    if scores.get("key_invalid"):
        typer.echo(f"excluded {scores['key_invalid']} key row(s) with an invalid answer: ids {scores['key_invalid_ids'][:20]}")


@eval_app.command("cmb-score")
def cmb_score_command(
    outputs: Path = typer.Option(..., "--outputs", help="JSONL {id, output} or a submission JSON list {id, model_answer}."),
    key: Path = typer.Option(..., "--key", help="Official answer key JSON (or a release folder/zip holding it)."),
    out: Path = typer.Option(..., "--out", help="Folder for predictions.jsonl, scores.json, scores.md, chart."),
    questions: Optional[Path] = typer.Option(None, "--questions", help="Question file: enables option-text matching."),
) -> None:
    """Score model outputs against the official CMB answer key (official aggregation)."""
    from collectivesft.eval.cmb.scoring import score_cmb

    _print_scores(score_cmb(outputs, key, out, questions))
    typer.echo(f"wrote {out}/predictions.jsonl, scores.json, scores.md")


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


@eval_app.command("cmb-clin")
def cmb_clin_command(
    out: Path = typer.Option(..., "--out", help="Run folder (resumes inside a case)."),
    model: Optional[str] = MODEL,
    data: Optional[str] = typer.Option(None, "--data", help="CMB-Clin-qa.json, a release folder/zip, or the hub id."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N cases."),
    backend: Optional[str] = BACKEND, batch_size: Optional[int] = BATCH, max_new_tokens: Optional[int] = MAX_NEW,
    temperature: Optional[float] = TEMPERATURE, system: Optional[str] = SYSTEM, device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE, base_url: Optional[str] = BASE_URL, api_key_env: Optional[str] = KEY_ENV,
    concurrency: Optional[int] = CONCURRENCY, config: Optional[Path] = CONFIG, set_: Optional[list[str]] = SET,
    trust_remote_code: Optional[bool] = TRUST,
) -> None:
    """Run a model on CMB-Clin (each case a conversation) and score ROUGE-L / BLEU."""
    from collectivesft.eval.cmb.clin import evaluate_clin
    from collectivesft.eval.config import ClinEvalConfig, load_config

    cfg = load_config(ClinEvalConfig, config, _inference_overrides(
        model=model, data=data, limit=limit, backend=backend, batch_size=batch_size, max_new_tokens=max_new_tokens,
        temperature=temperature, system=system, device=device, dtype=dtype, base_url=base_url,
        api_key_env=api_key_env, concurrency=concurrency, trust_remote_code=trust_remote_code), section="clin", sets=set_)
    scores = evaluate_clin(cfg, out)
    _print_clin(scores)
    typer.echo(f"wrote {out}/outputs.jsonl, scores.json, scores.md")


def _print_clin(scores: dict) -> None:
    rows = [["ROUGE-L (mean of cases)", round(100 * scores["rouge_l"], 2)], ["BLEU-4 (mean of cases)", round(100 * scores["bleu"], 2)],
            ["corpus BLEU-4", round(100 * scores["corpus_bleu"], 2)]]
    if "judge" in scores:
        rows.append(["LLM judge (1-10)", scores["judge"] if scores["judge"] is None else round(scores["judge"], 2)])
    print_table(["metric", "value"], rows)


@eval_app.command("cmb-clin-score")
def cmb_clin_score_command(
    outputs: Path = typer.Option(..., "--outputs", help="JSONL rows {id, question_index, output}."),
    data: Path = typer.Option(..., "--data", help="CMB-Clin-qa.json (or a release folder/zip)."),
    out: Path = typer.Option(..., "--out", help="Folder for scores.json, scored.jsonl, scores.md."),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Also score with an LLM judge (model name)."),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help="Judge's OpenAI-compatible base URL."),
    judge_api_key_env: str = typer.Option("OPENAI_API_KEY", "--judge-api-key-env", help="Env var with the judge's key."),
) -> None:
    """Score CMB-Clin answers: character ROUGE-L and BLEU per case and mean; optional LLM judge."""
    from collectivesft.eval.cmb.clin import score_clin
    from collectivesft.eval.config import InferenceConfig, build_config

    judge = None
    if judge_model:
        judge = build_config(InferenceConfig, {"model": judge_model, "backend": "openai", "base_url": judge_base_url,
                                               "api_key_env": judge_api_key_env}, "--judge-* options")
    _print_clin(score_clin(outputs, data, out, judge=judge))
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


@eval_app.command("serve")
def serve_command(
    model: str = typer.Option(..., "--model", help="Model folder or hub id."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    backend: str = typer.Option("hf", "--backend", help="hf | vllm."),
    device: str = typer.Option("auto", "--device"),
    dtype: str = typer.Option("auto", "--dtype"),
    batch_size: int = typer.Option(8, "--batch-size", help="Concurrent requests answered in one generate call."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow the model's own Python code."),
) -> None:
    """Serve a model over an OpenAI-compatible /v1/chat/completions endpoint (concurrent requests batched)."""
    from collectivesft.eval.config import InferenceConfig, build_config
    from collectivesft.eval.server import serve

    cfg = build_config(InferenceConfig, {"model": model, "backend": backend, "device": device, "dtype": dtype,
                                         "batch_size": batch_size, "trust_remote_code": trust_remote_code})
    typer.echo(f"serving {model} at http://{host}:{port}/v1 (Ctrl-C to stop)")
    serve(cfg, host, port)


@eval_app.command("backends")
def backends_command() -> None:
    """List the registered inference back-ends."""
    from collectivesft.eval.backends.registry import BACKENDS

    print_table(["back-end", "loglik"], [[n, "yes" if BACKENDS.get(n).supports_loglik else "no"]
                                             for n in BACKENDS.names()])


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
