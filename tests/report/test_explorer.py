"""explorer.html: the embedded data, the controls, and (in headless Chromium) filters and search."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from collectivesft.report.explorer import explorer_data, write_explorer

CHROMIUM = Path("/usr/bin/chromium")


def _run(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True)
    (folder / "predictions.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                              encoding="utf-8")
    return folder


def _row(i: int, gold: str, answer: str, **extra) -> dict:
    return {"id": i, "exam_type": "医师考试", "exam_class": f"class{i % 3}", "question_type": "单项选择题",
            "answer": gold, "model_answer": answer, "correct": answer == gold, "output": f"output {i}: 答案{answer}",
            **extra}


@pytest.fixture()
def runs(tmp_path: Path) -> list[Path]:
    # Run a is right on even ids; run b (a newer runner: prompt, extraction, cut_off) on ids < 5.
    a = _run(tmp_path / "a" / "eval_cmb", [_row(i, "A", "A" if i % 2 == 0 else "B") for i in range(10)])
    b = _run(tmp_path / "b" / "eval_cmb", [
        _row(i, "A", "A" if i < 5 else ("" if i == 9 else "C"), prompt=f"prompt {i} </script>",
             extraction="extract_answer", cut_off=i == 9) for i in range(10)])
    return [a, b]


def _embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page, re.S)
    assert match, "no embedded data"
    return json.loads(match.group(1))


def test_page_embeds_every_question_and_run(runs: list[Path], tmp_path: Path) -> None:
    page = write_explorer(runs, tmp_path / "out")
    assert page == tmp_path / "out" / "explorer.html"
    text = page.read_text(encoding="utf-8")
    data = _embedded(text)
    assert [r["label"] for r in data["runs"]] == ["eval_cmb", "b/eval_cmb"]
    assert len(data["questions"]) == 10 and data["questions"][3][:5] == ["3", "医师考试", "class0", "单项选择题", "A"]
    a, b = data["answers"]
    assert a[3][:2] == ["B", False] and a[3][3] is None  # older run: no prompt
    assert b[9][0] == "" and b[9][5] is True and b[2][3] == "prompt 2 </script>"
    # A "</script>" in the data cannot end the data element early; no external resource is loaded.
    assert text.count("</script>") == 2
    assert not re.search(r'(src|href)="(https?:)?//', text)
    for control in ('"exam type", "type"', '"exam class", "class"', '"question type", "qtype"',
                    '"answers", "filter"', 'data-key="search"', 'data-key="sort"', '"flipped"', '"cut"', '"none"'):
        assert control in text


def test_questions_missing_from_a_run_are_null(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", [_row(1, "A", "A"), _row(2, "B", "B")])
    b = _run(tmp_path / "b", [_row(2, "B", "C"), _row(3, "C", "C")])
    data = explorer_data([a, b])
    assert [q[0] for q in data["questions"]] == ["1", "2", "3"]
    assert data["answers"][1][0] is None and data["answers"][0][2] is None


def test_report_writes_and_links_the_explorer(runs: list[Path], tmp_path: Path) -> None:
    from collectivesft.report.build import build_report

    for folder in runs:  # eval folders as `eval cmb` leaves them: scores.json beside predictions.jsonl
        (folder / "scores.json").write_text(json.dumps({"n": 10, "n_answered": 10, "overall_micro": 0.5}))
    build_report(runs, tmp_path / "report")
    assert (tmp_path / "report" / "explorer.html").is_file()
    assert 'href="explorer.html"' in (tmp_path / "report" / "report.html").read_text(encoding="utf-8")


def _rendered(page: Path, hash_: str) -> list[str]:
    """The ids of the rows the page shows after loading with `hash_`."""
    result = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                             "--disable-background-networking", "--disable-component-update", "--no-first-run",
                             "--dump-dom", page.as_uri() + hash_], capture_output=True, text=True, timeout=120)
    assert 'data-ready="' in result.stdout, result.stderr[-2000:]
    return re.findall(r'<tr data-i="\d+"><td>([^<]*)</td>', result.stdout)


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} absent: the page's filters are not run in a browser")
def test_filters_and_search_change_the_rows_shown(runs: list[Path], tmp_path: Path) -> None:
    page = write_explorer(runs, tmp_path / "explorer.html")
    assert _rendered(page, "") == [str(i) for i in range(10)]
    assert _rendered(page, "#filter=wrong&run=0") == ["1", "3", "5", "7", "9"]
    assert _rendered(page, "#filter=cut") == ["9"]
    # Flipped: right in one run, wrong in the other (a: even ids right; b: ids < 5 right).
    assert _rendered(page, "#filter=flipped") == ["1", "3", "6", "8"]
    assert _rendered(page, "#search=output%207") == ["7"]
    assert _rendered(page, "#sort=correct&filter=wrong")[:2] == ["5", "7"]


def test_question_text_comes_from_the_runs_cmb_data(tmp_path: Path) -> None:
    from collectivesft.benchmarks.cmb.load import load_questions
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    data = write_cmb_eval(tmp_path / "cmb", n_test=6)
    questions = load_questions(data, "test")
    folder = _run(tmp_path / "eval", [_row(q.id, "A", "A") for q in questions[:3]])
    (folder / "run.json").write_text(json.dumps({"config": {"data": str(data), "split": "test"}}))
    rows = explorer_data([folder])["questions"]
    assert rows[0][5] == questions[0].question
    assert rows[0][6].splitlines()[0] == f"{next(iter(questions[0].options))}. {next(iter(questions[0].options.values()))}"
    # A hub id (or a folder gone since) would mean a download: the text is left out.
    (folder / "run.json").write_text(json.dumps({"config": {"data": "FreedomIntelligence/CMB"}}))
    assert explorer_data([folder])["questions"][0][5] == ""


def test_every_eval_run_folder_gets_its_explorer(tiny_model, tmp_path):
    """`eval cmb` leaves explorer.html beside predictions.jsonl, with every question in it."""
    import json as _json

    from typer.testing import CliRunner

    from collectivesft.cli.main import app
    from collectivesft.fixtures.cmb_eval import write_cmb_eval

    cmb = write_cmb_eval(tmp_path / "CMB", n_test=28, seed=0)
    result = CliRunner().invoke(app, ["eval", "cmb", "--model", str(tiny_model), "--data", str(cmb), "--limit", "5",
                                      "--out", str(tmp_path / "ev"), "--device", "cpu", "--method", "loglik"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "ev" / "explorer.html").read_text(encoding="utf-8")
    data = page.split('id="explorer-data">', 1)[1].split("</script>", 1)[0]
    assert '"extraction"' in data and len(_json.loads(data.replace("\\u003c", "<"))["questions"]) == 5
