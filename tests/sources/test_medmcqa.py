import json

from collectivesft.sources.convert import convert_source


def test_medmcqa_converts_and_quarantines_broken_rows(raw_fixtures, tmp_path):
    stats = convert_source("medmcqa", tmp_path, input=raw_fixtures / "medmcqa")
    assert stats["kept"] == 30
    assert stats["read"] == stats["kept"] + stats["quarantined"] + sum(stats["skipped"].values())
    reasons = [json.loads(line)["reason"] for line in (tmp_path / "quarantine.jsonl").read_text().splitlines()]
    assert any("cop=7" in r for r in reasons) and any("invalid JSON" in r for r in reasons)
    rec = json.loads((tmp_path / "records.jsonl").read_text().splitlines()[0])
    assert rec["messages"][-1]["content"].startswith(f"The answer is {rec['meta']['answer']}")
