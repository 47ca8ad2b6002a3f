"""Fixture CMExam: `data/{train,val,test_with_annotations}.csv` in the release's columns, drawn
from the fixture world, with the release's quirks: multi-answer rows (concatenated letters),
one NaN answer, an option line with no text that the answer names, annotation values
不符合 and N/A, difficulty written as a float ("3.0")."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

from collectivesft.benchmarks.cmexam.load import COLUMN_ORDER, FILES
from collectivesft.fixtures import world
from collectivesft.fixtures.cmb_eval import STEMS, multi_question, single_question

DISCIPLINE = {"临床执业医师": "临床医学", "临床执业助理医师": "临床医学", "中医执业医师": "中医学",
              "执业药师": "药学", "护士执业资格": "临床医学", "主管护师": "临床医学", "医学考研": "临床医学"}
COMPETENCY = {"drug": "疾病治疗", "department": "医学基础知识", "symptom": "疾病诊断和鉴别诊断"}
DISEASE_GROUP = {"心内科": "循环系统疾病", "内分泌科": "内分泌、营养或代谢疾病", "呼吸内科": "呼吸系统疾病",
                 "消化内科": "消化系统疾病", "神经内科": "神经系统疾病", "感染科": "某些感染性疾病或寄生虫病",
                 "血液科": "血液或造血器官疾病", "精神科": "精神、行为或神经发育障碍"}
HEADER = ["Question", "Options", "Answer", "Explanation"]


def row(rng: random.Random, multi: bool) -> dict[str, str]:
    """One release row (annotations included; train/val drop them)."""
    fact = rng.choice(world.FACTS)
    kind = rng.choice(tuple(STEMS))
    if multi:
        question, options, answer = multi_question(fact, rng)
    else:
        question, options, answer = single_question(fact, rng, kind, 5)
    first = answer[0]
    return {
        "Question": question,
        "Options": "\n".join(f"{k} {v}" for k, v in options.items()),
        "Answer": answer,
        "Explanation": f"{fact.disease}的首选药物为{fact.drug}，典型表现为{fact.symptom}，应就诊于{fact.department}。"
                       f"故选{first}。" if not multi else f"{fact.disease}典型表现为{fact.symptom}，首选{fact.drug}。",
        "Disease Group": DISEASE_GROUP.get(fact.department, "不符合"),
        "Area of Competency": COMPETENCY[kind] if not multi else "疾病治疗",
        "Clinical Department": fact.department if rng.random() > 0.15 else "N/A",
        "Medical Discipline": DISCIPLINE[fact.exam_class],
        "Difficulty level": f"{float(rng.randint(1, 5)):.1f}",
    }


def write(out: Path, rng: random.Random, rows: int) -> tuple[Path, dict[str, int]]:
    """Write the three CSVs under out/CMExam/data; return (that data folder's parent, loadable
    items per split)."""
    folder = Path(out) / "CMExam" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for split, name in FILES.items():
        count = max(4, rows)
        records = [row(rng, multi=rng.random() < 0.1) for _ in range(count)]
        loadable = count
        if split == "test":
            nan = row(rng, False)
            nan["Answer"] = ""  # pandas reads it as NaN; generate_prompt.py skips it
            records.insert(len(records) // 2, nan)
            hollow = row(rng, False)
            lines = hollow["Options"].split("\n")
            gone = lines[-1][0]
            lines[-1] = gone  # "E" with no text: the option is missing, yet the answer names it
            hollow["Options"], hollow["Answer"] = "\n".join(lines), gone
            records.insert(len(records) // 3, hollow)
        header = HEADER + (list(COLUMN_ORDER) if split == "test" else [])
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        (folder / name).write_text(buffer.getvalue(), encoding="utf-8", newline="")
        expected[split] = loadable
    return folder.parent, expected
