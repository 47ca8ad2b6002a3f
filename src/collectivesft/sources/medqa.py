"""MedQA (Jin et al. 2021): board-exam MCQs from the US (USMLE), Mainland China and Taiwan.

Raw release (data_clean.zip): `data_clean/questions/<US|Mainland|Taiwan>/{train,dev,test}.jsonl`,
one JSON object per line with question, options ({letter: text}), answer (the option text),
answer_idx (the letter) and meta_info (USMLE step or exam subject). US also ships a 4-option
variant under `US/4_options/phrases_no_exclude_{split}.jsonl`; Taiwan also ships machine
translations under `Taiwan/tw_translated_jsonl/`, which we never read (they duplicate Taiwan).
The region is not a field of the rows: it is the folder a file lives in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from collectivesft.errors import ConfigError
from collectivesft.records import make_record
from collectivesft.sources.base import Option, Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import checked_rows, iter_hub_rows, iter_json_rows, iter_members
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

REGIONS = ("US", "Mainland", "Taiwan")
SPLITS = ("train", "dev", "test")
LETTER = re.compile(r"^[A-J]$")
# bigbio/med_qa names one config per region.
HUB_CONFIGS = {"US": "med_qa_en_source", "Mainland": "med_qa_zh_source", "Taiwan": "med_qa_tw_source"}
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}

INSTRUCTIONS = {
    "US": "Answer the following US medical licensing exam (USMLE) question with the letter of the correct option.",
    "Mainland": "以下是中国执业医师资格考试的一道单项选择题，请给出正确选项的字母。",
    "Taiwan": "以下是台灣醫師國家考試的一道單選題，請給出正確選項的字母。",
}


def _region_of(where: str) -> str | None:
    """The region folder named in a row's location (`.../questions/US/train.jsonl:3`)."""
    for region in REGIONS:
        if f"/{region}/" in where or where.startswith(f"{region}/"):
            return region
    return None


def _split_of(where: str) -> str | None:
    file = where.rsplit("/", 1)[-1]
    for split in SPLITS:
        if split in file:
            return split
    return None


@register
class MedQA(Source):
    info = SourceInfo(
        name="medqa",
        title="MedQA (USMLE, Mainland China and Taiwan medical board exams)",
        task="mcq",
        langs=("en", "zh"),
        size="61,097 questions (US 12,723; Mainland 34,251; Taiwan 14,123)",
        license="MIT (jind11/MedQA repository); exam questions for research use",
        homepage="https://github.com/jind11/MedQA",
        hub_id="bigbio/med_qa",
        layout="data_clean.zip or its folder: questions/<US|Mainland|Taiwan>/{train,dev,test}.jsonl "
               "(JSON lines: question, options {letter: text}, answer, answer_idx, meta_info)",
    )
    options = {
        "region": Option("all", ("US", "Mainland", "Taiwan", "all"), "which exam region(s) to read"),
        "split": Option("train", ("train", "dev", "test", "all"), "which release file(s) to read"),
        "us_options": Option("5", ("5", "4"), "US files: the 5-option originals or the 4_options variant"),
    }

    def _patterns(self) -> list[str]:
        regions = REGIONS if self.opts["region"] == "all" else (self.opts["region"],)
        splits = SPLITS if self.opts["split"] == "all" else (self.opts["split"],)
        patterns = []
        for region in regions:
            for split in splits:
                if region == "US" and self.opts["us_options"] == "4":
                    patterns.append(f"*US/4_options/phrases_no_exclude_{split}.jsonl")
                else:
                    patterns.append(f"*{region}/{split}.jsonl")
        return patterns

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        path = Path(path)
        patterns = self._patterns()
        prefix = ""
        # A user may point at one region folder (questions/US): its files then carry no region.
        if path.is_dir() and path.name in REGIONS:
            prefix = f"{path.name}/"
            patterns = [p.split("/", 1)[1] if p.startswith(f"*{path.name}/") else "\0" for p in patterns]
        for name, fh in iter_members(path, patterns, self.info.layout):
            yield from checked_rows(iter_json_rows(prefix + name, fh, limits=self.limits), name, lambda d: isinstance(d, dict) and ("answer_idx" in d or "options" in d), "MedQA", self.info.layout)

    def read_hub(self, hub_id: str) -> Iterator[RawRow | BadRow]:
        """bigbio/med_qa has one config per region; any other id (or a local folder) is read as one
        dataset whose region comes from `--option region` or a `region` column."""
        regions = REGIONS if self.opts["region"] == "all" else (self.opts["region"],)
        split = None if self.opts["split"] == "all" else HUB_SPLITS[self.opts["split"]]
        if hub_id == self.info.hub_id:
            for region in regions:
                for row in iter_hub_rows(hub_id, split=split, name=HUB_CONFIGS[region]):
                    yield self._hub_row(row, region)
            return
        fixed = None if self.opts["region"] == "all" else self.opts["region"]
        rows = iter_hub_rows(hub_id, split=split)
        try:
            for row in rows:
                if isinstance(row, BadRow):
                    yield row
                    continue
                region = fixed or (row.data.get("region") if isinstance(row.data, dict) else None)
                if region not in REGIONS:
                    raise ConfigError(f"hub dataset {hub_id!r} has no `region` column; "
                                      "pass --option region=US|Mainland|Taiwan")
                if fixed and isinstance(row.data, dict) and row.data.get("region") not in (None, fixed):
                    continue  # a multi-region dataset filtered to one region
                yield self._hub_row(row, region)
        finally:
            rows.close()  # stop the streaming readers now, not at interpreter exit

    @staticmethod
    def _hub_row(row: RawRow | BadRow, region: str) -> RawRow | BadRow:
        if isinstance(row, BadRow):
            return row
        # hub:<id>/<split>#i -> hub:<id>/<region>/<split>#i so convert finds both
        head, _, tail = row.where.rpartition("/")
        split = {"validation": "dev"}.get(tail.split("#")[0], tail.split("#")[0])
        row.where = f"{head}/{region}/{split}#{tail.split('#')[-1]}"
        return row

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        if not isinstance(d, dict):
            raise Reject("row is not a JSON object")
        missing = [k for k in ("question", "options") if k not in d]
        if missing:
            raise Reject(f"missing field(s) {missing}")
        region = _region_of(row.where)
        if region is None:
            raise Reject("cannot tell the region (US/Mainland/Taiwan) from the file location")
        split = _split_of(row.where)
        options = _options(d["options"])
        if options is None:
            raise Reject(f"options must be an object of letter -> text, got {type(d['options']).__name__}")
        question = str(d["question"] or "").strip()
        if not question:
            raise Skip("empty question")
        letter = str(d.get("answer_idx") or "").strip().upper()
        answer_text = str(d.get("answer") or "").strip()
        if not letter:
            if not answer_text:
                raise Reject("empty answer (no answer_idx and no answer text)")
            matches = [k for k, v in options.items() if v == answer_text]
            if len(matches) != 1:
                raise Reject(f"empty answer_idx and answer text {answer_text[:40]!r} matches {len(matches)} options")
            letter = matches[0]
            self.notes["answer letter recovered from the answer text"] += 1
        if not LETTER.match(letter) or letter not in options:
            raise Reject(f"answer_idx {letter!r} is not one of the options {''.join(options)}")
        if answer_text and answer_text != options[letter]:
            self.notes["answer text differs from the option text (answer_idx kept)"] += 1
        lines = [INSTRUCTIONS[region], "", question, ""] + [f"{k}. {v}" for k, v in options.items()]
        if region == "US":
            reply = f"The answer is {letter}. {options[letter]}"
            lang = "en"
        else:
            reply = f"答案是{letter}。{options[letter]}"
            lang = "zh"
        meta: dict[str, Any] = {"region": region}
        if split:
            meta["split"] = split
        if d.get("meta_info"):
            meta["meta_info"] = d["meta_info"]
        meta["answer"] = letter
        meta["options"] = options
        place = row.where.rsplit("/", 1)[-1]
        index = place.rsplit(":", 1)[-1].rsplit("#", 1)[-1]
        variant = "4opt/" if "4_options" in row.where else ""
        rid = f"medqa/{region}/{variant}{split or 'unknown'}/{index}"
        return make_record(rid, "medqa", "mcq", lang,
                           [{"role": "user", "content": "\n".join(lines)}, {"role": "assistant", "content": reply}],
                           meta)


def _options(raw: Any) -> dict[str, str] | None:
    """{letter: text} from a dict (release, GBaker hub) or a [{key, value}] list (bigbio hub)."""
    if isinstance(raw, dict):
        return {str(k).strip().upper(): str(v if v is not None else "").strip() for k, v in raw.items()}
    if isinstance(raw, list) and all(isinstance(o, dict) and "key" in o and "value" in o for o in raw):
        return {str(o["key"]).strip().upper(): str(o["value"] or "").strip() for o in raw}
    return None
