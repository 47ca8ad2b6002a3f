"""Test-only benchmarks: a small published layout (one JSON file, splits -> rows) and helpers
to register them for one test and to plant altered copies of their items in training records.

`register(monkeypatch, name, leaks_from=..., validation_split=...)` adds a benchmark class to the
registry for the duration of a test (monkeypatch puts the registry back afterwards); `isolate`
first hides the real ones.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from collectivesft.benchmarks.base import BENCHMARKS, Benchmark, Item, Prompt

# Common CJK ideographs: random strings of them share no 10-gram with anything by accident.
_CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 2500)]


class PlantedBenchmark(Benchmark):
    """Questions in one file, {"dev": [...], "test": [...]}, rows {id, question, options, answer}."""

    name = "planted-test"
    title = "Planted test benchmark"
    homepage = "https://example.invalid/planted"
    layout = "planted.json: {\"dev\": [rows], \"test\": [rows]}, rows {id, question, options, answer}"
    splits = ("dev", "test")
    eval_split = "test"
    shots_split = "dev"
    prompt = Prompt(header="以下是单项选择题。", item="{question}\n{options}", answer_prefix="答案：")

    def load(self, data, split):
        rows = json.loads(Path(data).read_text(encoding="utf-8"))[split]
        return [Item(id=str(r["id"]), question=r["question"], options=r["options"], answer=r["answer"]) for r in rows]

    def write_fixture(self, out, rng: random.Random, rows: int) -> Path:
        def row(i: int, split: str) -> dict:
            stem = "".join(rng.choice(_CJK) for _ in range(30))
            options = {k: "".join(rng.choice(_CJK) for _ in range(6)) for k in "ABCD"}
            return {"id": i, "question": stem + "（　）", "options": options, "answer": rng.choice("ABCD")}

        data = {split: [row(i, split) for i in range(rows)] for split in self.splits}
        # A stem shorter than one n-gram: indexed through question + options.
        data["test"].append({"id": rows, "question": "下列哪项正确", "answer": "A",
                             "options": {k: "".join(rng.choice(_CJK) for _ in range(8)) for k in "AB"}})
        path = Path(out) / "planted.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        return path


def register(monkeypatch, name: str = PlantedBenchmark.name, **attrs) -> type[Benchmark]:
    """A PlantedBenchmark subclass named `name` (other class attributes from `attrs`), registered
    until the test ends."""
    BENCHMARKS.names()  # load the real ones first, so the registry does not load them over ours
    cls = type(f"Planted_{name.replace('-', '_')}", (PlantedBenchmark,), {"name": name, **attrs})
    monkeypatch.setitem(BENCHMARKS._classes, name, cls)
    return cls


def isolate(monkeypatch, keep: tuple[str, ...] = ("cmb",)) -> None:
    """Leave only the benchmarks a test registers itself, and `keep` (the real ones come back
    afterwards): for tests of a mechanism whose expected values would change with every benchmark added."""
    BENCHMARKS.names()
    monkeypatch.setattr(BENCHMARKS, "_classes", {k: v for k, v in BENCHMARKS._classes.items() if k in keep})


def perturb(text: str) -> str:
    """A copy as a scraper might make it: ASCII as full-width, other punctuation, spaces every 5 characters."""
    swapped = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    swapped = swapped.translate(str.maketrans({"，": ",", "。": ".", "：": ":", "（": "(", "）": ")", "\n": " "}))
    return " ".join(swapped[i : i + 5] for i in range(0, len(swapped), 5))


def wrapped(text: str) -> str:
    """An item pasted into a chat request, altered."""
    return "医生您好，请帮我看看这道题：\n" + perturb(text) + "\n谢谢！"
