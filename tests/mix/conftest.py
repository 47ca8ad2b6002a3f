"""Fixtures for mix tests: hand-made record folders with known content, and a recipe runner."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

# Common CJK ideographs: random strings of them never collide by accident.
_CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 2500)]


def random_text(rng: random.Random, n: int = 60) -> str:
    return "".join(rng.choice(_CJK) for _ in range(n))


@pytest.fixture()
def write_records(tmp_path) -> Callable[..., Path]:
    """write_records(source, n, task=..., meta=fn(i), user=fn(i), ...) -> folder holding records.jsonl.

    Default user texts are random 60-character strings: no two records are (near-)duplicates.
    """

    def write(source: str, n: int, task: str = "qa", lang: str = "zh",
              meta: Callable[[int], dict[str, Any]] | None = None,
              user: Callable[[int], str] | None = None,
              assistant: Callable[[int], str] | None = None,
              folder: Path | None = None) -> Path:
        rng = random.Random(f"records:{source}")
        folder = folder or tmp_path / "records" / source
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "records.jsonl", "w", encoding="utf-8") as fh:
            for i in range(n):
                u = user(i) if user else random_text(rng)
                a = assistant(i) if assistant else random_text(rng, 30)
                rec = {"id": f"{source}/r{i:05d}", "source": source, "task": task, "lang": lang,
                       "messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}],
                       "meta": meta(i) if meta else {}}
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        return folder

    return write


@pytest.fixture()
def mix(tmp_path) -> Callable[..., dict[str, Any]]:
    """mix(recipe_dict, out_name="out") -> manifest: writes the recipe YAML, builds it as `data mix` does (no report unless asked)."""
    from collectivesft.pipeline.run import mix_recipe_file

    def run(recipe: dict[str, Any], out_name: str = "out") -> dict[str, Any]:
        # Plots cost a second per build; tests about the report ask for it explicitly.
        recipe = {"report": False, **recipe}
        path = tmp_path / f"{out_name}.yaml"
        path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
        return mix_recipe_file(path, tmp_path / out_name)[0]

    return run


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture()
def jsonl() -> Callable[[Path], list[dict[str, Any]]]:
    return read_jsonl


def counts_of(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s["counts"] for s in manifest["sources"]}


@pytest.fixture()
def source_counts() -> Callable[[dict[str, Any]], dict[str, dict[str, Any]]]:
    return counts_of
