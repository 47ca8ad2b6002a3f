"""Content-keyed stages in a run folder.

Each stage writes into RUN_DIR/<stage>/ and, when it finishes, RUN_DIR/<stage>/stage.json
holding a key: the hash of its settings and of its inputs' content digests. A rerun reuses
a stage whose key is unchanged, so after a crash or an edit only what changed is redone;
`force` redoes named stages. A stage killed half-way has no stage.json and runs again
(training resumes from its last checkpoint, evaluation from its per-question cache).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from collectivesft import __version__
from collectivesft.errors import ConfigError
from collectivesft.io import files_digest, json_digest, write_json

STAGES = ("fixtures", "convert", "mix", "model", "check", "train", "eval", "report")


def outputs_digest(paths: list[Path]) -> str:
    """Content digest of stage outputs, without the stage's own bookkeeping and its plots."""
    return files_digest(paths, skip_names=("stage.json", "stage.pending.json"), skip_suffixes=(".png", ".svg", ".tmp"))


class Runner:
    """Runs stages in a run folder with content-keyed reuse."""

    def __init__(self, run_dir: Path, force: set[str], log: Callable[[str], None] = print, keyed: bool = False):
        unknown = sorted(force - set(STAGES))
        if unknown:
            raise ConfigError(f"--force: unknown stage {unknown[0]!r} (stages: {', '.join(STAGES)})")
        self.dir = run_dir
        self.force = force
        self.log = log
        self.timings: dict[str, float] = {}
        # keyed: each stage's folder is named by its key (RUN_DIR/stages/<stage>@<key>), so several
        # recipes run into one folder share every stage they have in common (`collectivesft ablate`).
        self.keyed = keyed

    def stage(self, name: str, settings: Any, inputs: dict[str, str], body: Callable[[Path, bool], dict],
              folder: str | None = None) -> dict:
        """Run `body(stage_dir, resume)` unless a finished run with the same key exists; return its result.

        `inputs` maps names to content digests of upstream outputs; `body` returns a JSON-able
        result that must include "digest", the content digest of what it produced.
        """
        key = json_digest({"stage": name, "settings": settings, "inputs": inputs, "version": __version__})
        stage_dir = self.dir / "stages" / f"{folder or name}@{key[:12]}" if self.keyed else self.dir / (folder or name)
        done, pending = stage_dir / "stage.json", stage_dir / "stage.pending.json"
        family = name.split("/")[0]
        if family not in self.force and done.is_file():
            state = json.loads(done.read_text(encoding="utf-8"))
            if state.get("key") == key:
                self.log(f"[{folder or name}] unchanged, reused")
                return state["result"]
        resume = pending.is_file() and json.loads(pending.read_text(encoding="utf-8")).get("key") == key \
            and family not in self.force
        if not resume and stage_dir.exists():
            shutil.rmtree(stage_dir)
        stage_dir.mkdir(parents=True, exist_ok=True)
        done.unlink(missing_ok=True)
        write_json(pending, {"key": key})
        self.log(f"[{folder or name}] {'resuming' if resume else 'running'}")
        start = time.perf_counter()
        result = body(stage_dir, resume)
        self.timings[folder or name] = round(time.perf_counter() - start, 2)
        result["seconds"] = self.timings[folder or name]
        write_json(done, {"key": key, "result": result})
        pending.unlink(missing_ok=True)
        return result
