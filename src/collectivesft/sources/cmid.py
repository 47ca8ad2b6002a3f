"""CMID: Chinese Medical Intent Dataset, 12,254 patient queries with intent labels and entities.

Raw release (IMU-MachineLearningSXD/CMID): CMID.json, one JSON list of {originalText,
entities: [{label_type, start_pos, end_pos}] (end exclusive), seg_result, label_4class,
label_36class}. The label lists come both as ["病症"] and with the quotes kept inside the
string, ["'病症'"]; both are normalised. A query with neither a usable label nor a usable
entity is skipped with a reason; one with entities but no label becomes an entity-only record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from collectivesft.records import make_record
from collectivesft.sources.base import Reject, Skip, Source, SourceInfo
from collectivesft.sources.readers import iter_json_rows, iter_members
from collectivesft.sources.registry import register
from collectivesft.sources.rows import BadRow, RawRow

LABELS_4 = ("病症", "药物", "治疗方案", "其他")
LABELS_36 = ("定义", "病因", "临床表现", "相关病症", "治疗方法", "推荐医院", "预防", "所属科室", "禁忌",
             "传染性", "治愈率", "严重性", "作用", "适用症", "价钱", "药物禁忌", "用法", "副作用", "成分",
             "方法", "费用", "有效时间", "临床意义/检查目的", "治疗时间", "疗效", "恢复时间", "正常指标",
             "化验/体检方案", "恢复", "设备用法", "多问", "养生", "整容", "两性", "对比", "无法确定")
QUOTES = "'\"‘’“” \t"


def normalise_label(value: Any) -> str:
    """A label field (list or string, quotes kept or not) -> the bare label, or "" if none."""
    if isinstance(value, list):
        labels = [normalise_label(v) for v in value]
        labels = [v for v in labels if v]
        return labels[0] if labels else ""
    if value is None:
        return ""
    return str(value).strip(QUOTES)


def usable_entities(text: str, entities: Any) -> tuple[list[dict[str, Any]], int]:
    """Entities whose span lies inside `text` as {text, type, start, end}; and how many were dropped."""
    kept: list[dict[str, Any]] = []
    dropped = 0
    for ent in entities if isinstance(entities, list) else []:
        try:
            start, end = int(ent["start_pos"]), int(ent["end_pos"])
            kind = str(ent["label_type"]).strip(QUOTES)
        except (KeyError, TypeError, ValueError):
            dropped += 1
            continue
        if not (0 <= start < end <= len(text)) or not kind:
            dropped += 1
            continue
        kept.append({"text": text[start:end], "type": kind, "start": start, "end": end})
    return kept, dropped


@register
class CMID(Source):
    info = SourceInfo(
        name="cmid",
        title="CMID (Chinese Medical Intent Dataset)",
        task="intent",
        langs=("zh",),
        size="12,254 queries (4 / 36 intent classes)",
        license="scientific research only (dataset README)",
        homepage="https://github.com/IMU-MachineLearningSXD/CMID",
        hub_id=None,
        layout="CMID.json (a JSON list of originalText, entities, label_4class, label_36class), or a folder/zip holding it",
    )

    def read_raw(self, path: Path) -> Iterator[RawRow | BadRow]:
        for name, fh in iter_members(path, ["CMID.json", "cmid.json"], self.info.layout):
            yield from iter_json_rows(name, fh, limits=self.limits)

    def convert(self, row: RawRow) -> dict[str, Any]:
        d = row.data
        if not isinstance(d, dict):
            raise Reject("row is not a JSON object")
        text = d.get("originalText")
        if not isinstance(text, str):
            raise Reject("missing field 'originalText'")
        text = text.strip()
        if not text:
            raise Skip("empty query")
        major, minor = normalise_label(d.get("label_4class")), normalise_label(d.get("label_36class"))
        if (major and major not in LABELS_4) or (minor and minor not in LABELS_36):
            self.notes["label outside the documented 4/36 classes (kept)"] += 1
        # Spans index the text as published; shift them past any stripped leading spaces.
        lead = len(d["originalText"]) - len(d["originalText"].lstrip())
        entities, dropped = usable_entities(d["originalText"], d.get("entities"))
        if lead:
            shifted = [dict(e, start=e["start"] - lead, end=e["end"] - lead) for e in entities]
            entities = [e for e in shifted if 0 <= e["start"] and e["end"] <= len(text)]
            dropped += len(shifted) - len(entities)
        if dropped:
            self.notes["entity spans dropped (outside the text or malformed)"] += dropped
        if not (major or minor) and not entities:
            raise Skip("no usable intent label or entity")

        found = "；".join(f"{e['text']}（{e['type']}）" for e in entities) or "无"
        if major or minor:
            task = "intent"
            prompt = ("判断下面这条患者提问的意图（大类与小类），并列出其中的医学实体及类型。\n\n"
                      f"提问：{text}")
            intent = " / ".join(x for x in (major, minor) if x)
            reply = f"意图：{intent}\n医学实体：{found}"
        else:
            task = "ner"
            prompt = f"列出下面这条患者提问中的医学实体及类型。\n\n提问：{text}"
            reply = f"医学实体：{found}"
        meta: dict[str, Any] = {"entities": entities}
        if major:
            meta["label_4class"] = major
        if minor:
            meta["label_36class"] = minor
        index = row.where.rsplit("#", 1)[-1]
        return make_record(f"cmid/{index}", "cmid", task, "zh",
                           [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}], meta)
