"""Chinese medical dialogue data (Toyhom): 792,099 single-turn patient questions with doctor answers.

Raw release: one CSV per department folder under `Data_数据/<English_中文>/`, e.g.
`Data_数据/IM_内科/内科5000-33000.csv`, columns department,title,ask,answer. The CSVs are
GB18030 (not UTF-8, and not plain GBK: some rows hold characters only GB18030 encodes),
use CRLF line ends, and quote fields that hold embedded newlines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

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
            if ask == "无":
                self.notes["ask is the placeholder 无: the title is the question"] += 1
            question = title
        elif not title or title in ask:
            if title:
                self.notes["ask repeats the title: the ask alone is the question"] += 1
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
