"""Fixture MedQA-MCMLE: data_clean/questions/Mainland/{split}.jsonl and 4_options/{split}.jsonl,
drawn from the fixture world, with breakage of the kind the converters meet: an answer text that
disagrees with answer_idx, an answer text with stray whitespace (agrees), an empty answer_idx
recoverable from the text, a letter outside the options, a line cut off."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from collectivesft.fixtures import world
from collectivesft.fixtures.cmb_eval import STEMS, single_question

SUBJECTS = ("内科学", "药理学", "诊断学", "卫生法规")


def row(rng: random.Random, n_options: int) -> dict[str, Any]:
    fact = rng.choice(world.FACTS)
    question, options, letter = single_question(fact, rng, rng.choice(tuple(STEMS)), n_options)
    # The release's stems end with the blank "（　　）。" (full-width spaces).
    return {"question": question + "（　　）。", "options": options, "answer": options[letter],
            "meta_info": rng.choice(SUBJECTS), "answer_idx": letter}


def write(out: Path, rng: random.Random, rows: int) -> tuple[Path, dict[str, dict[str, int]]]:
    """Write the files; return (the data_clean folder, {variant: {split: loadable items}})."""
    root = Path(out) / "data_clean"
    expected: dict[str, dict[str, int]] = {"5": {}, "4": {}}
    for variant, n_options, sub in (("5", 5, ""), ("4", 4, "4_options/")):
        folder = root / "questions" / "Mainland" / sub
        folder.mkdir(parents=True, exist_ok=True)
        for split in ("train", "dev", "test"):
            good = [row(rng, n_options) for _ in range(max(4, rows))]
            lines = [json.dumps(r, ensure_ascii=False) for r in good]
            loadable = len(good)
            if split == "test":
                spaced = row(rng, n_options)
                spaced["answer"] = " " + spaced["answer"] + " "  # agrees once whitespace is ignored
                recovered = row(rng, n_options)
                recovered["answer_idx"] = ""
                other = row(rng, n_options)
                other["answer"] = next(v for k, v in other["options"].items() if k != other["answer_idx"])
                outside = row(rng, n_options)
                outside["answer_idx"] = "F"
                for i, extra in enumerate((spaced, recovered, other, outside)):
                    lines.insert(1 + i * 2, json.dumps(extra, ensure_ascii=False))
                lines.insert(len(lines) - 1, json.dumps(row(rng, n_options), ensure_ascii=False)[:40])
                loadable += 2  # spaced and recovered load; the other three are skipped
            (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
            expected[variant][split] = loadable
    return root, expected
