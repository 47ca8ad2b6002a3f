"""Models that ship their own Python code (`auto_map` in config.json, e.g. InternLM2).

Loading one runs that code, so it stays opt-in: without `trust_remote_code` the model is
refused before transformers is asked, with a message saying which flag allows it.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from collectivesft.errors import ConfigError, InputLayoutError

FLAG_HINT = ("pass --trust-remote-code (eval cmb / eval cmb-clin / eval serve) or set trust_remote_code: true "
             "in the train or eval config, if you trust that code")


def remote_classes(model: str | Path, _seen: tuple[Path, ...] = ()) -> list[str]:
    """The `auto_map` entries of a local model folder (config.json, tokenizer_config.json, and a
    LoRA adapter's base model); [] for hub ids and folders without custom code."""
    folder = Path(model)
    if folder.resolve() in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, folder.resolve()))
        raise InputLayoutError(f"model {str(_seen[0])!r}: adapters whose base models names each other in a "
                               f"circle ({chain}); point base_model_name_or_path at the base model")
    found: list[str] = []
    for name in ("config.json", "tokenizer_config.json", "adapter_config.json"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # transformers reports an unreadable config better than we would
        if not isinstance(data, dict):
            continue
        if name == "adapter_config.json":
            base = data.get("base_model_name_or_path")
            if isinstance(base, str) and base and Path(base) != folder:
                found += remote_classes(base, (*_seen, folder.resolve()))
            continue
        auto_map = data.get("auto_map") or {}
        if not isinstance(auto_map, dict):
            raise InputLayoutError(f"{path}: auto_map must map auto classes to code (e.g. "
                                   f"{{\"AutoModelForCausalLM\": \"modeling_x.XForCausalLM\"}}), got a "
                                   f"{type(auto_map).__name__}")
        for value in auto_map.values():
            found += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return sorted(set(found))


def check_remote_code(model: str | Path, trust_remote_code: bool) -> None:
    """ConfigError when the local model `model` needs its own code and it was not allowed."""
    if trust_remote_code:
        return
    classes = remote_classes(model)
    if classes:
        raise ConfigError(f"model {str(model)!r} ships its own code ({', '.join(classes)} via auto_map); "
                          f"it is not run unless asked: {FLAG_HINT}")


@contextmanager
def remote_code_errors(model: str | Path) -> Iterator[None]:
    """Turn transformers' "contains custom code" error (hub ids we could not inspect) into a ConfigError."""
    try:
        yield
    except ValueError as exc:
        if "custom code" in str(exc) or "trust_remote_code" in str(exc):
            raise ConfigError(f"model {str(model)!r} ships its own code; it is not run unless asked: "
                              f"{FLAG_HINT}") from None
        raise
