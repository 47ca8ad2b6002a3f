"""Chinese medical dialogue data (Toyhom): 792,099 single-turn patient questions with doctor answers.

Raw release: one CSV per department folder under `Data_数据/<English_中文>/`, e.g.
`Data_数据/IM_内科/内科5000-33000.csv`, columns department,title,ask,answer. The CSVs are
GB18030 (not UTF-8, and not plain GBK: some rows hold characters only GB18030 encodes),
use CRLF line ends, and quote fields that hold embedded newlines.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any, Iterator

from collectivesft.fixtures.world import FACTS
from collectivesft.records import make_record
from collectivesft.sources.base import Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import iter_csv, iter_members
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

COLUMNS = ("department", "title", "ask", "answer")
ENCODING = "gb18030"
# The six section folders of the release, by their English prefix; zips made on Windows
# often mangle the Chinese half of the folder name, the prefix survives.
SECTIONS = {"Andriatria": "男科", "IM": "内科", "OAGD": "妇产科", "Oncology": "肿瘤科",
            "Pediatric": "儿科", "Surgical": "外科"}
# File names as published (section -> CSV name); the fixture writes the same names.
FILES = {"男科": "男科5-13000.csv", "内科": "内科5000-33000.csv", "妇产科": "妇产科6-28000.csv",
         "肿瘤科": "肿瘤科5-10000.csv", "儿科": "儿科5-14000.csv", "外科": "外科5-14000.csv"}
# Which section a fixture fact lands in (the clinic department decides).
SECTION_OF_DEPARTMENT = {"心内科": "内科", "内分泌科": "内科", "呼吸内科": "内科", "消化内科": "内科",
                         "血液科": "肿瘤科", "风湿免疫科": "内科", "神经内科": "内科", "皮肤科": "外科",
                         "耳鼻喉科": "儿科", "泌尿外科": "男科", "急诊科": "外科", "感染科": "儿科",
                         "骨科": "外科", "精神科": "妇产科"}


def section_of(path: str) -> str | None:
    """The release section (内科, 外科, ...) of a CSV from its folder name, if recognisable."""
    parts = path.replace("!", "/").split("/")
    for folder in reversed(parts[:-1]):
        prefix = folder.split("_", 1)[0]
        if prefix in SECTIONS:
            return SECTIONS[prefix]
        for name in SECTIONS.values():
            if folder.endswith(name):
                return name
    return None


@register
class CMedDialogue(Source):
    info = SourceInfo(
        name="cmeddialogue",
        title="Chinese medical dialogue data (6 departments)",
        task="qa",
        langs=("zh",),
        size="792,099 question-answer pairs in 6 department CSVs",
        license="MIT (repository license)",
        homepage="https://github.com/Toyhom/Chinese-medical-dialogue-data",
        hub_id=None,
        layout="the Data_数据 folder (or a zip of it) with <dept>/<name>.csv files in GB18030, "
               "columns department,title,ask,answer",
    )

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        for name, fh in iter_members(path, ["*.csv"], self.info.layout):
            yield from iter_csv(name, fh, encoding=ENCODING, required=COLUMNS)

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        title = (d.get("title") or "").strip()
        ask = (d.get("ask") or "").strip()
        answer = (d.get("answer") or "").strip()
        if not answer:
            raise Reject("empty answer")
        if not title and not ask:
            raise Skip("empty question (no title and no ask)")
        # `ask` is the patient's full text, `title` its one-line summary; keep both unless the
        # ask is a placeholder ("无") or already repeats the title.
        if ask in ("", "无"):
            question = title
        elif not title or title in ask:
            question = ask
        else:
            question = f"{title}\n{ask}"
        meta: dict[str, Any] = {}
        if d.get("department", "").strip():
            meta["department"] = d["department"].strip()
        file, _, line = row.where.rpartition(":")
        section = section_of(file)  # the release folder (内科, 外科...) the CSV sits in
        if section:
            meta["section"] = section
        short = "/".join(file.replace("!", "/").split("/")[-2:])
        return make_record(f"cmeddialogue/{short}:{line}", "cmeddialogue", "qa", "zh",
                           [{"role": "user", "content": question}, {"role": "assistant", "content": answer}], meta)

    def write_fixture(self, out_dir: Path, rows: int, rng: random.Random) -> None:
        """Data_数据/<Eng_中文>/<name>.csv per section, GB18030 with CRLF rows.

        Quirks: quoted fields with embedded newlines and commas, an emoji only GB18030 can
        encode, asks that repeat the title, "无" as an empty ask. Broken: a row with bytes that
        are not GB18030, a row missing its ask/answer columns, a row with an empty answer.
        """
        asks = ("我有{symptom}的情况，已经两个多月了，请问是不是{disease}？",
                "家里老人{symptom}，医生说是{disease}，平时要注意什么，能吃{drug}吗？",
                "体检发现{disease}，最近{symptom}，\n想问一下需要吃药吗，吃什么药好😷")
        answers = ("根据描述考虑{disease}的可能性大，建议到{department}就诊明确诊断。"
                   "治疗上可在医生指导下使用{drug}，注意休息，定期复查。",
                   "{disease}常见表现为{symptom}。\n一般首选{drug}治疗，\n请遵医嘱用药，不要自行停药。")
        buffers = {s: io.StringIO() for s in FILES}
        writers = {s: csv.writer(buffers[s], lineterminator="\r\n") for s in FILES}
        for w in writers.values():
            w.writerow(COLUMNS)
        fact = FACTS[0]
        broken = [
            [fact.department, "头晕", "血压高BADBYTES怎么办", "建议就诊"],  # bytes patched below
            [fact.department, f"{fact.disease}能治好吗"],  # ask and answer columns missing
            [fact.department, f"{fact.disease}要吃药吗", f"刚查出{fact.disease}", ""],  # empty answer
        ]
        for i in range(rows):
            if i == rows // 2:
                writers["内科"].writerows(broken)
            fact = FACTS[i % len(FACTS)]
            values = {"symptom": fact.symptom, "disease": fact.disease, "drug": fact.drug,
                      "department": fact.department}
            title = f"{fact.disease}怎么治疗？" if i % 2 else f"{fact.symptom}是怎么回事"
            ask = asks[rng.randrange(3)].format(**values)
            if i % 7 == 0:
                ask = title + ask  # ask repeats the title
            elif i % 11 == 0:
                ask = "无"
            answer = answers[i % 2].format(**values)
            writers[SECTION_OF_DEPARTMENT[fact.department]].writerow([fact.department, title, ask, answer])
        root = out_dir / "Data_数据"
        english = {v: k for k, v in SECTIONS.items()}
        for section, buf in buffers.items():
            folder = root / f"{english[section]}_{section}"
            folder.mkdir(parents=True, exist_ok=True)
            data = buf.getvalue().encode(ENCODING).replace(b"BADBYTES", b"\xff\xfe")
            (folder / FILES[section]).write_bytes(data)
