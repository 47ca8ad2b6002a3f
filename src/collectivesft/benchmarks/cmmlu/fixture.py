"""CMMLU files in the published layout for tests and the demo: data/{dev,test}/{subject}.csv.

Medical subjects ask the fixture world's facts (fixtures/world.py) in their own wording, so the
demo's model, trained on sources stating those facts, has something to learn; general subjects
ask a small bank of everyday facts no training source states (retention: nothing to gain).
dev has 5 rows per subject, as the release.

Breakage a downloaded or re-saved copy can have, kept on purpose: one test row with an empty
Answer and one whose Answer is "E" (both become unscored items, counted and listed), a UTF-8
byte-order mark on one file (a spreadsheet re-save), a question with an ASCII comma and quotes
(CSV quoting), and a stray CSV in dev/ that is no subject (the repository once held
data/dev/bmw.csv), which the loader ignores.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

from collectivesft.benchmarks.cmmlu.load import HEADER
from collectivesft.fixtures import world

STEMS = {  # kind -> (stem, the Fact field that answers it)
    "drug": ("{disease}的首选治疗药物为", "drug"),
    "department": ("疑似{disease}的患者，一般首诊科室为", "department"),
    "symptom": ("以“{symptom}”为突出表现，首先考虑", "disease"),
}
GENERAL_FACTS = (  # (question, right answer, distractors)
    ("中国的首都是", "北京", ("上海", "广州", "南京", "西安")),
    ("一年有几个季节", "四个", ("两个", "三个", "五个", "六个")),
    ("水在标准大气压下的沸点是", "100摄氏度", ("50摄氏度", "80摄氏度", "120摄氏度", "0摄氏度")),
    ("《红楼梦》的作者是", "曹雪芹", ("罗贯中", "施耐庵", "吴承恩", "鲁迅")),
    ("地球绕太阳公转一周约需", "一年", ("一天", "一个月", "十年", "一周")),
    ("二加三等于", "五", ("四", "六", "七", "八")),
    ("长城主要修建于哪个方向的边境", "北方", ("南方", "东方", "西方", "中部")),
    ("光合作用主要发生在植物的", "叶片", ("根部", "果实", "种子", "树皮")),
)


def _medical_row(rng: random.Random) -> tuple[str, list[str], str]:
    fact = rng.choice(world.FACTS)
    stem, field = STEMS[rng.choice(tuple(STEMS))]
    right = getattr(fact, field)
    choices = rng.sample(sorted({getattr(f, field) for f in world.FACTS} - {right}), 3) + [right]
    rng.shuffle(choices)
    return stem.format(disease=fact.disease, symptom=fact.symptom), choices, "ABCD"[choices.index(right)]


def _general_row(rng: random.Random) -> tuple[str, list[str], str]:
    question, right, distractors = rng.choice(GENERAL_FACTS)
    choices = rng.sample(distractors, 3) + [right]
    rng.shuffle(choices)
    return question, choices, "ABCD"[choices.index(right)]


def _csv(rows: list[tuple[str, list[str], str]]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for i, (question, choices, answer) in enumerate(rows):
        writer.writerow([i, question, *choices, answer])
    return buf.getvalue()


def write_cmmlu(out: str | Path, rng: random.Random, rows: int, subjects: tuple[str, ...]) -> Path:
    """Write OUT/data/{dev,test}/{subject}.csv for `subjects` (about `rows` test items in all, at
    least one per subject, plus the broken rows of the module docstring); return OUT/data."""
    from collectivesft.benchmarks.cmmlu.subjects import MEDICAL

    root = Path(out) / "data"
    per_subject = max(1, round(rows / len(subjects)))
    for n_subject, subject in enumerate(subjects):
        make = _medical_row if subject in MEDICAL else _general_row
        for split, n in (("dev", 5), ("test", per_subject)):
            table = [make(rng) for _ in range(n)]
            if split == "test" and n_subject == 0:
                question, choices, _ = make(rng)
                table.append((question, choices, ""))  # an empty Answer
                table.append(('下列说法正确的是,"选出一项"', ["甲", "乙", "丙", "丁"], "A"))  # CSV quoting
            if split == "test" and n_subject == 1 % len(subjects):
                question, choices, _ = make(rng)
                table.append((question, choices, "E"))  # an answer outside A-D
            text = _csv(table)
            if split == "dev" and n_subject == len(subjects) - 1:
                text = "\ufeff" + text  # a byte-order mark from a spreadsheet re-save
            path = root / split / f"{subject}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    stray = root / "dev" / "bmw.csv"  # no subject: ignored, as a stray file in the repository was
    stray.write_text(_csv([_general_row(rng)]), encoding="utf-8")
    return root
