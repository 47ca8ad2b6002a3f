"""NLPEC: 1-based answer numbers become letters (several for multi-answer), evidence kept."""

import json

import pytest

from collectivesft.errors import InputLayoutError
from collectivesft.records import record_problems
from collectivesft.sources.convert import convert_source


def convert(tmp_path, input, **options):
    out = tmp_path / "out"
    stats = convert_source("nlpec", out, input=input, options=options, allow_empty=True)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]
    assert stats["read"] == stats["kept"] + stats["quarantined"] + sum(stats["skipped"].values())
    assert all(not record_problems(r) for r in records)
    return stats, records, quarantine


def test_fixture_with_bom_multi_answers_and_broken_lines(raw_fixtures, tmp_path):
    stats, records, quarantine = convert(tmp_path, raw_fixtures / "nlpec")
    assert stats["kept"] == 30
    assert stats["skipped"] == {"question needs an image": 1}
    multi = [r for r in records if len(r["meta"]["answer"]) > 1]
    assert multi, "fixture should hold multi-answer questions"
    for rec in records:
        letters = rec["meta"]["answer"]
        assert letters == "".join(sorted(letters))
        assert rec["messages"][-1]["content"].startswith(f"答案是{letters}。")
        assert "解析：" in rec["messages"][-1]["content"]
        assert rec["meta"]["subject"].startswith("药")
    reasons = " | ".join(q["reason"] for q in quarantine)
    for expected in ("answer '7'", "empty answer", "undecodable bytes", "invalid JSON"):
        assert expected in reasons


def test_split_all_reads_crlf_dev_file(raw_fixtures, tmp_path):
    _, records, _ = convert(tmp_path, raw_fixtures / "nlpec", split="all")
    assert {r["meta"]["split"] for r in records} == {"train", "dev", "test"}


def item(**changes):
    base = {"questionType": "最佳选择题", "questionId": 7, "questionText": "治疗心绞痛急性发作的药物是",
            "option": ["硝酸甘油", "二甲双胍", "华法林", "舍曲林"], "answer": ["1"], "subject": "药学专业知识（二）",
            "context": ["硝酸甘油用于心绞痛。", "二甲双胍用于糖尿病。", "华法林用于抗凝。", "舍曲林用于抑郁。"],
            "questionImg": [], "optionImg": [], "backgroundText": ""}
    base.update(changes)
    return base


@pytest.mark.parametrize("name, raw, expect", [
    ("one answer", item(), ("kept", "A")),
    ("several answers, unordered", item(answer=["3", "1"]), ("kept", "AC")),
    ("answer as a bare string", item(answer="2"), ("kept", "B")),
    ("number past the options", item(answer=["5"]), ("quarantined", "not an option number 1-4")),
    ("zero is not 1-based", item(answer=["0"]), ("quarantined", "not an option number")),
    ("letter instead of number", item(answer=["A"]), ("quarantined", "not an option number")),
    ("empty answer list", item(answer=[]), ("quarantined", "empty answer")),
    ("no option list", {k: v for k, v in item().items() if k != "option"}, ("quarantined", "missing field")),
    ("question image", item(questionImg=["a.png"]), ("skipped", "question needs an image")),
])
def test_answer_quirks(tmp_path, name, raw, expect):
    folder = tmp_path / "NLPEC_public_data"
    folder.mkdir()
    (folder / "train.json").write_text(json.dumps(raw, ensure_ascii=False) + "\n", encoding="utf-8")
    stats, records, quarantine = convert(tmp_path, folder)
    outcome, detail = expect
    if outcome == "kept":
        assert stats["kept"] == 1, name
        rec = records[0]
        assert rec["meta"]["answer"] == detail and rec["id"] == "nlpec/train/7"
        reply = rec["messages"][-1]["content"]
        for letter in detail:
            assert rec["meta"]["options"][letter] in reply
        # Only the evidence of the correct options is kept, in option order.
        evidence = [raw["context"]["ABCD".index(letter)] for letter in detail]
        assert reply.split("\n解析：", 1)[1] == "\n".join(evidence), name
        for letter in set("ABCD") - set(detail):
            assert raw["context"]["ABCD".index(letter)] not in reply, name
    elif outcome == "quarantined":
        assert stats["quarantined"] == 1 and detail in quarantine[0]["reason"], name
        assert quarantine[0]["where"] == "train.json:1"
    else:
        assert stats["skipped"] == {detail: 1}


def test_background_text_precedes_the_question(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    raw = item(backgroundText="患者，男，60岁，劳累后胸痛。")
    (folder / "train.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    _, records, _ = convert(tmp_path, folder)
    prompt = records[0]["messages"][0]["content"]
    assert prompt.index("劳累后胸痛") < prompt.index("治疗心绞痛") < prompt.index("A. 硝酸甘油")


def test_medmcqa_files_are_not_nlpec(raw_fixtures, tmp_path):
    # Both releases name their file train.json; the rows tell them apart.
    with pytest.raises(InputLayoutError, match="does not look like NLPEC"):
        convert_source("nlpec", tmp_path / "out", input=raw_fixtures / "medmcqa")
