"""Load a model and its tokenizer the one way every stage does: train, eval, serve, model check.

What this adds to `AutoModelForCausalLM` / `AutoTokenizer.from_pretrained`:
- a model that ships its own code is refused unless trust_remote_code (remote_code.py), and
  with it, code written for transformers 4.x is adapted to ours (compat.py);
- a tokenizer that comes as a sentencepiece model is checked against it and rebuilt when
  transformers built it wrong (faithful_tokenizer.py): never silently corrupted text;
- a missing optional dependency (sentencepiece, protobuf, einops) is named with the extra
  that installs it, not with transformers' misleading "tiktoken is required".
"""

from __future__ import annotations

import importlib.util
import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from collectivesft.errors import ConfigError, InputLayoutError

EXTRA = "collectivesft[internlm]"
# What models with their own tokenizer / modeling code import, by import name -> pip name.
OPTIONAL = {"sentencepiece": "sentencepiece", "google.protobuf": "protobuf", "einops": "einops"}


def _local(model: str | Path) -> Path | None:
    path = Path(model).expanduser()
    return path if path.is_dir() else None


def base_of(model: str | Path) -> str:
    """The base model of a LoRA adapter folder, else `model` itself."""
    folder = _local(model)
    if folder is not None and (folder / "adapter_config.json").is_file():
        try:
            base = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8")).get(
                "base_model_name_or_path")
        except (OSError, ValueError):
            base = None
        if isinstance(base, str) and base:
            return base
    return str(model)


def _missing(names: list[str]) -> list[str]:
    found = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                found.append(name)
        except ModuleNotFoundError:
            found.append(name)
    return found


def _refuse_missing(model: str | Path, names: list[str], why: str) -> None:
    missing = _missing(names)
    if missing:
        pips = " ".join(OPTIONAL.get(n, n) for n in missing)
        raise ConfigError(f"model {str(model)!r} {why}, which needs {pips} (not installed): "
                          f"pip install '{EXTRA}' (or pip install {pips})")


def _code_imports(folder: Path) -> list[str]:
    """Top-level packages the folder's own Python files import, among those we know to be optional."""
    found: set[str] = set()
    for path in folder.glob("*.py"):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for name in OPTIONAL:
            if re.search(rf"^\s*(import|from)\s+{re.escape(name)}\b", text, re.MULTILINE):
                found.add(name)
    return sorted(found)


@contextmanager
def _dependency_errors(model: str | Path) -> Iterator[None]:
    """transformers' import failures of optional packages, as a ConfigError naming our extra."""
    try:
        yield
    except ImportError as exc:
        text = str(exc)
        named = [n for n in OPTIONAL if n in text or OPTIONAL[n] in text]
        if named or "tiktoken" in text:
            pips = " ".join(OPTIONAL[n] for n in named) or "sentencepiece protobuf"
            raise ConfigError(f"model {str(model)!r} needs {pips}: pip install '{EXTRA}' "
                              f"(transformers said: {text.splitlines()[0][:200]})") from None
        raise
    except ValueError as exc:
        # Without protobuf or sentencepiece, transformers' sentencepiece conversion ends in
        # "tiktoken is required to read a tiktoken file": the real cause is the missing package.
        if "tiktoken" in str(exc):
            missing = _missing(["sentencepiece", "google.protobuf"])
            if missing:
                pips = " ".join(OPTIONAL[n] for n in missing)
                raise ConfigError(f"model {str(model)!r} ships a sentencepiece tokenizer, which needs {pips}: "
                                  f"pip install '{EXTRA}'") from None
            # Every format was tried: the folder holds no tokenizer transformers can read.
            raise InputLayoutError(f"model {str(model)!r}: no tokenizer found (no tokenizer.json, tokenizer.model "
                                   "or vocabulary files a tokenizer class can read)") from None
        raise


def load_tokenizer(model: str | Path, trust_remote_code: bool = False, log: Callable[[str], None] | None = None,
                   **kwargs: Any):
    """The tokenizer of `model`, checked against its sentencepiece model when it has one."""
    from transformers import AutoTokenizer

    from collectivesft.models.faithful_tokenizer import faithful_tokenizer
    from collectivesft.models.remote_code import check_remote_code, remote_classes, remote_code_errors

    check_remote_code(model, trust_remote_code)
    folder = _local(model)
    if folder is not None:
        remote_classes(folder)  # a malformed auto_map or a circle of adapters: refused here, by name
    if folder is not None and (folder / "tokenizer.model").is_file() and not (folder / "tokenizer.json").is_file():
        _refuse_missing(model, ["sentencepiece", "google.protobuf"], "ships its tokenizer as a sentencepiece model")
    if trust_remote_code:
        from collectivesft.models import compat

        compat.install()
        if folder is not None:
            _refuse_missing(model, _code_imports(folder), "ships Python code")
    try:
        with remote_code_errors(model), _dependency_errors(model):
            tokenizer = AutoTokenizer.from_pretrained(str(model), trust_remote_code=trust_remote_code, **kwargs)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # A folder saved with a remote fast class that cannot rebuild itself from its own
        # tokenizer.json (InternLM2's, by earlier versions): the sentencepiece model still can.
        rebuilt = _rebuild_from_sentencepiece(model, exc, kwargs, log)
        if rebuilt is None:
            raise InputLayoutError(
                f"cannot load the tokenizer of {model}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}. "
                "A folder saved from a model whose tokenizer is a sentencepiece model (InternLM2) loads again "
                "once that tokenizer.model is copied into it") from None
        return rebuilt
    return faithful_tokenizer(tokenizer, folder or model, log=log)


def _rebuild_from_sentencepiece(model: str | Path, exc: Exception, kwargs: dict[str, Any],
                                log: Callable[[str], None] | None):
    """The tokenizer rebuilt from the sentencepiece model of `model` (or of its adapter's base),
    checked against it; None when there is none."""
    from collectivesft.models.faithful_tokenizer import probe, rebuild_tokenizer, sentencepiece_file

    spm_path = None
    for folder in dict.fromkeys([str(model), base_of(model)]):
        if _local(folder) is not None:
            spm_path = spm_path or sentencepiece_file(folder)
    if spm_path is None:
        return None
    tokenizer = rebuild_tokenizer(spm_path)
    if kwargs.get("padding_side"):
        tokenizer.padding_side = kwargs["padding_side"]
    problems = probe(tokenizer, spm_path)
    if problems:
        return None
    (log or print)(f"tokenizer of {model} could not be loaded ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                   f"rebuilt from {spm_path}")
    return tokenizer


def prepare_remote_class(model: str | Path, trust_remote_code: bool) -> list[str]:
    """With trust_remote_code: install the compatibility layer and adapt the model's own class
    (resolved as transformers will resolve it) before it is instantiated. Returns what changed."""
    if not trust_remote_code:
        return []
    from collectivesft.models import compat

    changed = compat.install()
    base = base_of(model)
    folder = _local(base)
    if folder is not None:
        _refuse_missing(base, _code_imports(folder), "ships Python code")
    from transformers import AutoConfig
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    with _dependency_errors(base):
        config = AutoConfig.from_pretrained(base, trust_remote_code=True)
        reference = (getattr(config, "auto_map", None) or {}).get("AutoModelForCausalLM")
        if not reference:
            return changed
        if isinstance(reference, (list, tuple)):
            reference = reference[0]
        model_class = get_class_from_dynamic_module(reference, base)
    return changed + compat.adapt_model_class(model_class, config)


def load_causal_lm(model: str | Path, trust_remote_code: bool = False, **kwargs: Any):
    """AutoModelForCausalLM.from_pretrained, with remote code refused unless allowed and adapted when it is."""
    from transformers import AutoModelForCausalLM

    from collectivesft.models.remote_code import check_remote_code, remote_code_errors

    check_remote_code(model, trust_remote_code)
    prepare_remote_class(model, trust_remote_code)
    with remote_code_errors(model), _dependency_errors(model):
        loaded = AutoModelForCausalLM.from_pretrained(str(model), trust_remote_code=trust_remote_code, **kwargs)
    if trust_remote_code:
        from collectivesft.models.compat import restore_computed_buffers

        restore_computed_buffers(loaded[0] if isinstance(loaded, tuple) else loaded)
    return loaded
