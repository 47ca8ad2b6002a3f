"""`collectivesft train RECIPE.yaml [--set key=value ...]` and the `model` commands: tiny, from-gguf,
convert (InternLM2 -> Llama) and check (the preflight)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

model_app = typer.Typer(help="Models: check one before training (preflight), convert InternLM2 to Llama or GGUF "
                        "to Hugging Face, build the tiny offline model for tests and the demo.", no_args_is_help=True)


@model_app.command("tiny")
def tiny_command(
    out: Path = typer.Argument(..., help="Folder to save the model and tokenizer into (Hugging Face layout)."),
    arch: str = typer.Option("qwen2", "--arch", help="Architecture: qwen2, llama, or internlm2 (Llama with InternLM2's "
                             "<s>/</s>, the paper recipe's stand-in)."),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Extra tokenizer corpus: records .jsonl "
                                          "(message texts) or a plain text file (one text per line)."),
    size: str = typer.Option("tiny", "--size", help="tiny (tests), small (CPU demo) or base."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random initialisation."),
    remote_code: bool = typer.Option(False, "--remote-code", help="Classes from the folder's own Python files "
                                     "(auto_map), so it loads only with trust_remote_code. With --arch internlm2: "
                                     "InternLM2's own layout, 4.x-style code and a sentencepiece tokenizer."),
) -> None:
    """Build a randomly initialised causal LM with a tokenizer trained on the fixture corpus."""
    from collectivesft.fixtures.tiny_model import build_tiny_model, corpus_from_file

    texts = corpus_from_file(corpus) if corpus is not None else None
    build_tiny_model(out, corpus=texts, arch=arch, size=size, seed=seed, remote_code=remote_code)
    typer.echo(f"wrote {arch}/{size}{' remote-code' if remote_code else ''} tiny model to {out}")


@model_app.command("from-gguf")
def from_gguf_command(
    gguf_file: Path = typer.Argument(..., help="A .gguf checkpoint (llama.cpp format)."),
    out: Path = typer.Argument(..., help="New folder for the Hugging Face model (must not exist or be empty)."),
    dtype: str = typer.Option("float32", "--dtype", help="Weights after de-quantisation: float32, bfloat16, float16."),
) -> None:
    """Convert a GGUF checkpoint to a Hugging Face folder (de-quantised, with tokenizer and chat template);
    the saved folder is reloaded and its logits checked against the GGUF model's."""
    from collectivesft.models.gguf import convert_gguf

    report = convert_gguf(gguf_file, out, dtype=dtype)
    typer.echo(f"wrote {out} ({', '.join(report['architecture'] or [])}, {report['parameters']:,} parameters, "
               f"{dtype}); reloaded logits match the GGUF model's (max |diff| {report['max_abs_logit_diff']})")


@model_app.command("convert")
def convert_command(
    model: Path = typer.Argument(..., help="An InternLM2 / InternLM2.5 model folder (downloaded from the hub)."),
    out: Path = typer.Argument(..., help="New folder for the converted model (must not exist)."),
    to: str = typer.Option(..., "--to", help="Target architecture: llama."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Run the original model's own code "
                                           "to compare logits (the check)."),
    check: bool = typer.Option(True, "--check/--no-check", help="Compare logits with the original on a probe and "
                               "fail above float tolerance."),
    tolerance: float = typer.Option(1e-4, "--tolerance", help="Largest allowed |logit difference|, relative to "
                                    "the largest |logit| (fp32)."),
) -> None:
    """Rewrite an InternLM2/2.5 checkpoint as a standard Llama folder (fused qkv split, renamed, faithful fast
    tokenizer): no remote code needed, so vLLM, flash-attention and packing work natively."""
    from collectivesft.errors import ConfigError
    from collectivesft.models.convert import convert_to_llama

    if to != "llama":
        raise ConfigError(f"--to {to!r}: the supported target is llama")
    summary = convert_to_llama(model, out, trust_remote_code=trust_remote_code, check=check, tolerance=tolerance,
                               log=typer.echo)
    logits = summary.get("logits")
    verdict = (f"logits match the original's (max |diff| {logits['max_abs_diff']:.3g}, tolerance "
               f"{logits['tolerance']:.3g}, {logits['probe_tokens']} probe tokens)" if logits
               else "not checked against the original (--no-check)")
    typer.echo(f"wrote {out} (llama, {summary['tensors']} tensors); {verdict}")


@model_app.command("check")
def check_command(
    model: str = typer.Argument(..., help="Model folder or hub id (a LoRA run folder's model/ works too)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow the model's own Python code."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="Train config or run recipe whose train: (and "
                                          "launch:) settings to check: template, cutoff, fine-tuning mode, GPUs."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a train key, e.g. --set finetuning=lora."),
    gpu_mem: Optional[str] = typer.Option(None, "--gpu-mem", help="Memory of one GPU, e.g. 80GB or 24GiB: say "
                                          "whether the recipe's fine-tuning fits, and what to change if not."),
    device: str = typer.Option("cpu", "--device", help="Where the forward/backward and generation checks run."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON instead of a table."),
) -> None:
    """The preflight: tokenizer probe, chat template with its trained tokens, one forward and backward,
    a few generated tokens, a save-and-reload round trip, and the GPU memory estimate. Exit 1 on a failure."""
    import json

    from collectivesft.cli.display import print_table
    from collectivesft.model_ref import check_model_ref, resolve_model
    from collectivesft.models.check import Settings, as_json as checks_json, failed, preflight

    model = resolve_model(model)  # a train run folder means the model it saved
    check_model_ref(model)
    if (Path(model) / "adapter_config.json").is_file():
        from collectivesft.errors import ConfigError
        from collectivesft.models.loading import base_of

        raise ConfigError(f"{model} is a LoRA adapter (of {base_of(model)}): model check checks the model a "
                          "training run starts from; check its base, or evaluate the adapter with "
                          "`collectivesft eval cmb --model BASE --adapter ADAPTER`")
    settings = Settings()
    if recipe is not None or set_:
        from collectivesft.config import read_yaml_mapping
        from collectivesft.train.config import load_config

        overrides = [f"model={model}", *(set_ or [])]
        config = load_config(recipe, overrides)
        launch = None
        if recipe is not None:
            launch = read_yaml_mapping(recipe).get("launch")
        settings = Settings.from_train(config, launch)
        trust_remote_code = trust_remote_code or config.trust_remote_code
    gpu_bytes = None
    if gpu_mem is not None:
        from collectivesft.models.memory import parse_memory

        gpu_bytes = parse_memory(gpu_mem)
    results = preflight(model, trust_remote_code=trust_remote_code, settings=settings, gpu_bytes=gpu_bytes,
                        device=device)
    if as_json:
        typer.echo(json.dumps(checks_json(results), ensure_ascii=False, indent=2))
    else:
        # The table keeps each line short; --json has every detail.
        print_table(["check", "status", "what it saw"],
                    [[r.name, r.status, r.detail if len(r.detail) <= 150 else r.detail[:149] + "…"] for r in results])
        rendered = next((r.data.get("rendered") for r in results if r.name == "chat template" and r.data), None)
        if rendered:
            typer.echo("\nthe chat template on a sample record ([...] is what the loss trains):\n" + rendered)
    if failed(results):
        raise typer.Exit(1)


def train_command(
    recipe: Optional[Path] = typer.Argument(None, help="Train config YAML, bare or a run recipe with a train: "
                                            "section. May be omitted when --set names the model."),
    overrides: Optional[list[str]] = typer.Argument(None, hidden=True, help="Deprecated: bare key=value "
                                                    "overrides; use --set."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a config key, e.g. --set lr=1e-4 "
                                             "--set lora.r=8 (value parsed as YAML; repeatable)."),
    mixture: Optional[Path] = typer.Option(None, "--mixture", help="Mixture folder with train.jsonl and val.jsonl "
                                           "(default: the recipe's mixture key)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: the recipe's output_dir key)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in OUT/checkpoints."),
) -> None:
    """Fine-tune a model on a mixture (full, LoRA or QLoRA), loss on assistant turns only."""
    import json

    from collectivesft.config import deprecated_overrides
    from collectivesft.errors import ConfigError
    from collectivesft.train.config import load_config
    from collectivesft.train.runner import run_training

    # A recipe-less call passes overrides only; typer puts the first of them in `recipe`.
    if recipe is not None and "=" in str(recipe) and not recipe.exists():
        overrides = [str(recipe), *(overrides or [])]
        recipe = None
    config = load_config(recipe, deprecated_overrides(overrides, "positional key=value overrides") + list(set_ or []))
    mixture = mixture or (Path(config.mixture) if config.mixture else None)
    out = out or (Path(config.output_dir) if config.output_dir else None)
    if mixture is None or out is None:
        raise ConfigError("name the mixture folder and the run folder: --mixture DIR --out DIR "
                          "(or mixture: / output_dir: in the recipe)")
    metrics = run_training(config, mixture, out, resume=resume)
    final = metrics["final"]
    typer.echo(json.dumps({k: final[k] for k in ("global_step", "epochs", "train_loss", "eval_loss")}))
    typer.echo(f"run folder: {out}")


def register(app: typer.Typer) -> None:
    """Attach `train` and `model` to the root app."""
    app.command("train")(train_command)
    app.add_typer(model_app, name="model")
