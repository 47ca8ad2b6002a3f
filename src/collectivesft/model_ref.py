"""A model named by a local folder or a hub id: say "not found" before transformers guesses."""

from __future__ import annotations

import re
from pathlib import Path

from collectivesft.errors import InputLayoutError

# What the hub accepts as a repo id: "name" or "owner/name", letters, digits, - _ . (not leading . or -).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def is_hub_id(ref: str) -> bool:
    """Whether `ref` can name a hub repository (a relative path like runs/x can too)."""
    return bool(_HUB_ID.match(ref)) and not ref.endswith((".", "-"))


def check_model_ref(ref: str, what: str = "model") -> None:
    """Raise InputLayoutError when `ref` is no existing folder and cannot be a hub id either
    (/abs/path, ./rel, a/b/c), instead of transformers' "Repo id must be in the form..."."""
    path = Path(ref).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InputLayoutError(f"{what} {ref!r} is a file; expected a folder in Hugging Face layout "
                                   "(config.json, tokenizer files, weights) or a hub id")
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise InputLayoutError(f"{what} {ref!r} has no config.json (nor adapter_config.json): not a model "
                                   "folder in Hugging Face layout (config.json, tokenizer files, weights)")
        return
    if not is_hub_id(ref):
        raise InputLayoutError(f"{what} {ref!r} not found: no such folder (and not a hub id of the form owner/name)")
