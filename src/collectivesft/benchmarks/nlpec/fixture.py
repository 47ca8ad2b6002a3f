"""Fixture NLPEC: NLPEC_public_data/{train,dev,test}.json (JSON lines), drawn from the fixture world,
with the forms the source converter meets: a UTF-8 BOM and CRLF line ends on test, multi-answer
rows (left out, as in the paper), a question with an image, an answer number out of range, an
empty answer, a line saved as GBK and a line cut off."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from collectivesft.fixtures import world
from collectivesft.fixtures.cmb_eval import multi_question, single_question

SUBJECTS = ("药学专业知识（一）", "药学专业知识（二）", "药学综合知识与技能", "药事管理与法规")


def row(rng: random.Random, qid: int, multi: bool = False) -> dict[str, Any]:
    fact = rng.choice(world.FACTS)
    if multi:
        question, options, letters = multi_question(fact, rng)
        qtype = "多项选择题"
    else:
        question, options, letters = single_question(fact, rng, rng.choice(("drug", "symptom")), 5)
        qtype = rng.choice(("最佳选择题", "配伍选择题"))
    texts = list(options.values())
    return {"questionType": qtype, "questionId": qid, "questionText": question, "optionImg": [],
            "questionImg": [], "option": texts, "answer": [str("ABCDE".index(a) + 1) for a in letters],
            "subject": rng.choice(SUBJECTS), "backgroundText": "", "time": "20200227",
            "context": [f"{t}：{fact.disease}相关知识。" for t in texts]}


def write(out: Path, rng: random.Random, rows: int) -> tuple[Path, dict[str, int]]:
    """Write out/NLPEC_public_data/*.json; return (that folder, loadable items per split)."""
    folder = Path(out) / "NLPEC_public_data"
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    qid = 2_000_000
    for split in ("train", "dev", "test"):
        lines = []
        for _ in range(max(4, rows)):
            qid += 1
            lines.append(json.dumps(row(rng, qid), ensure_ascii=False).encode("utf-8"))
        expected[split] = len(lines)
        if split == "test":
            broken = []
            for change in ("multi", "image", "range", "empty"):
                qid += 1
                r = row(rng, qid, multi=change == "multi")
                if change == "image":
                    r["questionImg"] = ["q_17.png"]
                elif change == "range":
                    r["answer"] = ["7"]
                elif change == "empty":
                    r["answer"] = []
                broken.append(json.dumps(r, ensure_ascii=False).encode("utf-8"))
            qid += 1
            broken.append(json.dumps(row(rng, qid), ensure_ascii=False).encode("gbk"))
            qid += 1
            broken.append(json.dumps(row(rng, qid), ensure_ascii=False).encode("utf-8")[:60])
            for i, b in enumerate(broken):
                lines.insert(1 + 2 * i, b)
            data = b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n"
        else:
            data = b"\n".join(lines) + b"\n"
        (folder / f"{split}.json").write_bytes(data)
    return folder, expected
