"""A model named by a local folder or a hub id: say "not found" before transformers guesses, and
take a model the way users type it (a train run folder means the model it saved)."""

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
        if not _is_model_folder(path):
            found = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
            shown = ", ".join(found[:8]) + (f", ... ({len(found)} entries)" if len(found) > 8 else "")
            raise InputLayoutError(
                f"{what} {ref!r} has no config.json (nor adapter_config.json): found {shown or 'nothing'}; "
                "expected a model folder in Hugging Face layout (config.json, tokenizer files, weights), a LoRA "
                "adapter folder (adapter_config.json), or a train run folder (its model/)")
        return
    if not is_hub_id(ref):
        raise InputLayoutError(f"{what} {ref!r} not found: no such folder (and not a hub id of the form owner/name)")


def _is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "adapter_config.json").is_file()


# Where a run folder keeps its trained model: `collectivesft train --out RUN` (RUN/model) and
# `collectivesft run --out RUN` (RUN/train/model).
RUN_MODEL_FOLDERS = ("model", "train/model")


def resolve_model(ref: str) -> str:
    """`ref`, or the trained model inside it when `ref` is a train or run folder (RUN/model,
    RUN/train/model): users pass the run folder they trained into, as `report` takes it."""
    path = Path(ref).expanduser()
    if path.is_dir() and not _is_model_folder(path):
        for sub in RUN_MODEL_FOLDERS:
            if _is_model_folder(path / sub):
                return str(path / sub)
    return ref
