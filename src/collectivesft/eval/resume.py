"""Resumable evaluation: answers appended (and fsynced) as they come, a torn last line dropped.

Any evaluation (CMB-Exam, CMB-Clin, a future benchmark) writes its rows through PartialWriter
and reads them back with read_partial, so a run killed at any point, even by SIGKILL,
restarts where it stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from collectivesft.errors import ConfigError
from collectivesft.io import dumps, write_json


def read_partial(path: Path, repair: bool = True) -> list[dict[str, Any]]:
    """Rows already written, in order. A torn last line (killed mid-write) is cut off the file, or,
    with repair=False (a file another process may be appending to), only left out of the rows."""
    done: list[dict[str, Any]] = []
    if not path.exists():
        return done
    good_end = 0
    with open(path, "rb") as fh:
        data = fh.read()
    pos = 0
    for line in data.splitlines(keepends=True):
        pos += len(line)
        if not line.endswith(b"\n"):
            break  # the last write never completed
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            break
        done.append(row)
        good_end = pos
    if repair and good_end != len(data):
        with open(path, "r+b") as fh:
            fh.truncate(good_end)
    return done


class PartialWriter:
    """Append-only JSONL where each row is on disk (fsync) before the next question starts."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "a", encoding="utf-8")

    def append(self, row: dict[str, Any]) -> None:
        self.fh.write(dumps(row) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


def check_fingerprint(out: Path, config: Any, keys: tuple[str, ...], partial: str) -> None:
    """Refuse to resume a run folder whose answers came from different settings."""
    fingerprint = {k: getattr(config, k) for k in keys}
    run_file = out / "run.json"
    if (out / partial).exists() and run_file.exists():
        previous = json.loads(run_file.read_text(encoding="utf-8")).get("fingerprint", {})
        changed = [k for k in keys if k in previous and previous[k] != fingerprint[k]]
        if changed:
            raise ConfigError(f"{out} holds a run with different settings ({', '.join(changed)}); "
                              "use another --out or delete the folder")
    write_json(run_file, {"fingerprint": fingerprint, "status": "running"})


def say_resumed(reused: int, total: int, path: Path) -> None:
    """Tell the user (stderr) that a resumed run reuses answers, so a quick finish is not a surprise."""
    import sys

    if reused:
        print(f"resuming: reused {reused} of {total} answers from {path}", file=sys.stderr)
