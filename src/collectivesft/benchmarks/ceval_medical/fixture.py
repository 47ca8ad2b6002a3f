"""Fixture C-Eval: ceval-exam.zip with {dev,val,test}/{subject}_{split}.csv for the three medical
subjects, veterinary_medicine and one general subject (the real zip holds all 52; the loader must
pick its three), drawn from the fixture world. As in the release: stems end with "____", dev rows
carry "1. …" explanations, test has no answer column. Breakage (robustness, not seen in the
release): one val file re-saved with a UTF-8 BOM, one val row without an answer, one option
text spanning two lines (quoted)."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from pathlib import Path

from collectivesft.benchmarks.ceval_medical.load import SUBJECTS, file_name
from collectivesft.fixtures import world
from collectivesft.fixtures.cmb_eval import STEMS, single_question

EXTRA_SUBJECTS = ("veterinary_medicine", "high_school_biology")
HEADERS = {"dev": ["id", "question", "A", "B", "C", "D", "answer", "explanation"],
           "val": ["id", "question", "A", "B", "C", "D", "answer"],
           "test": ["id", "question", "A", "B", "C", "D"]}


def row(rng: random.Random, index: int) -> dict[str, str]:
    fact = rng.choice(world.FACTS)
    question, options, letter = single_question(fact, rng, rng.choice(tuple(STEMS)), 4)
    return {"id": str(index), "question": question + "____", **options, "answer": letter,
            "explanation": f"1. {fact.disease}的首选药物为{fact.drug}，典型表现为{fact.symptom}。\n2. 故选{letter}。"}


def write(out: Path, rng: random.Random, rows: int) -> tuple[Path, dict[str, int]]:
    """Write out/ceval-exam.zip; return (it, loadable items per split over the three subjects)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    expected = {split: 0 for split in HEADERS}
    archive = out / "ceval-exam.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for subject in (*SUBJECTS, *EXTRA_SUBJECTS):
            for split, header in HEADERS.items():
                count = 5 if split == "dev" else max(3, rows)
                records = [row(rng, i) for i in range(count)]
                bom = ""
                if subject == "physician" and split == "val":
                    records[1]["answer"] = ""
                    wrong = next(k for k in "ABCD" if k != records[2]["answer"])
                    records[2][wrong] = records[2][wrong] + "\n（见附表）"
                    bom = "\ufeff"
                if subject in SUBJECTS:
                    expected[split] += count - (1 if subject == "physician" and split == "val" else 0)
                buffer = io.StringIO(newline="")
                writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore", lineterminator="\n")
                writer.writeheader()
                writer.writerows(records)
                zf.writestr(file_name(subject, split), (bom + buffer.getvalue()).encode("utf-8"))
    return archive, expected
