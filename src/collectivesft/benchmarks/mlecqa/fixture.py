"""Fixture MLEC-QA: `<Subset>_{train,dev,test}.json` for the five subsets, drawn from the fixture
world, with the release's forms and the breakage the source converter meets: pretty-printed CRLF
files beside compact ones, four-option questions padded with an empty E, a one-letter list
answer (["B"]), a question with an image (kept) and an image-only one (no qtext), an answer
letter outside the options, an empty answer, and one test file cut off inside the array."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from collectivesft.benchmarks.mlecqa.load import SPLITS
from collectivesft.fixtures import world
from collectivesft.fixtures.cmb_eval import STEMS, single_question
from collectivesft.sources.mlecqa import SUBSETS


def row(rng: random.Random, subset: str, n: int) -> dict[str, Any]:
    fact = rng.choice(world.FACTS)
    kind = rng.choice(tuple(STEMS))
    question, options, letter = single_question(fact, rng, kind, 5 if rng.random() > 0.15 else 4)
    options.setdefault("E", "")  # padded, as in the release
    qtype = "A2型题" if kind == "symptom" else rng.choice(("A1型题", "B1型题"))
    if qtype == "A2型题":
        question = f"患者，{rng.randint(20, 70)}岁。{question}"
    return {"qid": f"{subset.lower()}-{rng.getrandbits(48):012x}-{n}", "qtype": qtype, "qtext": question,
            "qimage": "", "options": options, "answer": letter}


def write(out: Path, rng: random.Random, rows: int) -> tuple[Path, dict[str, int]]:
    """Write the fifteen files under out/MLEC-QA; return (that folder, loadable items per split)."""
    folder = Path(out) / "MLEC-QA"
    folder.mkdir(parents=True, exist_ok=True)
    per = max(2, rows // len(SUBSETS))
    expected = {split: 0 for split in SPLITS}
    serial = 0
    for i, subset in enumerate(SUBSETS):
        for split in SPLITS:
            items = []
            for _ in range(per):
                serial += 1
                items.append(row(rng, subset, serial))
            loadable = len(items)
            if split == "test" and subset == "Clinic":
                items[0]["answer"] = [items[0]["answer"]]  # the list form
                items[1]["qimage"] = "images/clinic_test_1.png"  # kept: it has its text
                image_only = row(rng, subset, serial + 1)
                image_only["qtext"], image_only["qimage"] = "", "images/clinic_test_2.png"
                outside = row(rng, subset, serial + 2)
                outside["answer"] = "F"
                empty = row(rng, subset, serial + 3)
                empty["answer"] = ""
                items += [image_only, outside, empty]
                serial += 3
            text = json.dumps(items, ensure_ascii=False, indent=4 if i % 2 == 0 else None)
            if i % 2 == 0:
                text = text.replace("\n", "\r\n")
            if split == "test" and subset == "TCM":
                # Cut inside the last question: every earlier question still loads.
                text = text[: text.rindex('"qtext"')]
                loadable -= 1
            (folder / f"{subset}_{split}.json").write_text(text, encoding="utf-8", newline="")
            expected[split] += loadable
    return folder, expected
