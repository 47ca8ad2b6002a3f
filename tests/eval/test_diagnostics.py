"""Diagnostics in scores.json / scores.md and the new prediction fields, on crafted outputs
(through `eval cmb-score`) and on the runner with a stub back-end."""

import json

from collectivesft.benchmarks.cmb.format import MULTI
from collectivesft.benchmarks.cmb.load import load_key, load_questions, locate_key
from collectivesft.eval.backends.registry import Backend, Generation
from collectivesft.eval.cmb.runner import evaluate_cmb
from collectivesft.eval.config import CMBEvalConfig


def _score(cli, cmb_data, tmp_path, rows, run=None):
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    if run:
        (tmp_path / "run.json").write_text(json.dumps({"fingerprint": run}), encoding="utf-8")
    result = cli(["eval", "cmb-score", "--outputs", outputs, "--key", cmb_data, "--questions", cmb_data,
                  "--out", tmp_path / "scored"])
    assert result.exit_code == 0, result.output
    return (json.loads((tmp_path / "scored/scores.json").read_text()),
            (tmp_path / "scored/scores.md").read_text(encoding="utf-8"))


def test_always_a_shows_as_position_bias(cmb_data, tmp_path, cli):
    questions = load_questions(cmb_data, "test")
    scores, md = _score(cli, cmb_data, tmp_path, [{"id": q.id, "output": "答案是A"} for q in questions])
    bias = scores["diagnostics"]["position_bias"]
    assert bias["biased"] and bias["most_over_predicted"] == "A"
    assert bias["by_letter"]["A"]["predicted"] == bias["n"] and bias["by_letter"]["A"]["difference"] > 0.3
    assert scores["diagnostics"]["single_answer_on_multi"] == sum(q.question_type == MULTI for q in questions)
    assert "biased towards A" in md and "## Diagnostics" in md


def test_cut_off_echoes_count_as_no_answer_and_cut_off(cmb_data, tmp_path, cli):
    questions = load_questions(cmb_data, "test")
    key = {k.id: k.answer for k in load_key(locate_key(cmb_data))}
    rows = []
    for i, q in enumerate(questions):
        if i % 2:
            rows.append({"id": q.id, "output": "答案是" + key[q.id], "cut_off": False})
        else:  # the option list echoed until the token limit cut it
            rows.append({"id": q.id, "output": f"A. {q.options['A']}\nB. {q.options['B']}\nC. 未完", "cut_off": True})
    scores, md = _score(cli, cmb_data, tmp_path, rows)
    d = scores["diagnostics"]
    assert d["cut_off"] == len(questions[::2]) and d["cut_off_rate"] == round(len(questions[::2]) / d["n"], 4)
    assert d["no_answer"] == len(questions[::2]) and d["cut_off_no_answer"] == len(questions[::2])
    assert d["extraction_rules"]["no answer: echo of the options"] == len(questions[::2])
    assert d["output_chars"]["max"] >= d["output_chars"]["p90"] >= d["output_chars"]["median"]
    assert "cut off at max_new_tokens" in md


def test_settings_that_differ_from_the_official_protocol_are_listed(cmb_data, tmp_path, cli):
    questions = load_questions(cmb_data, "test")
    run = {"protocol": "collectivesft", "method": "generate", "cot": False, "shots": 0, "max_new_tokens": 64}
    scores, md = _score(cli, cmb_data, tmp_path, [{"id": q.id, "output": "答案是B"} for q in questions], run)
    differs = " ".join(scores["diagnostics"]["differs_from_official"])
    assert "max_new_tokens: 64" in differs and "cot: False" in differs and "protocol" in differs
    assert "Before you compare with the leaderboard" in md


class Stub(Backend):
    """Echoes the option list and never stops: every reply is cut off."""

    name = "stub"

    def complete(self, chats, max_new_tokens=512, temperature=0.0, stop=None):
        return [Generation("A. 甲\nB. 乙\nC. 丙", finish_reason="length") for _ in chats]

    def describe(self, max_new_tokens, temperature):
        return {"backend": "stub", "chat_template": "none"}

    def close(self):
        pass


def test_runner_rows_carry_prompt_extraction_and_cut_off(cmb_data, tmp_path, monkeypatch):
    import collectivesft.eval.backends.registry as registry

    monkeypatch.setattr(registry, "get_backend", lambda config: Stub(config))
    scores = evaluate_cmb(CMBEvalConfig(model="m", data=str(cmb_data), limit=6, max_new_tokens=16), tmp_path / "o")
    rows = [json.loads(line) for line in (tmp_path / "o/predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    assert all(r["cut_off"] is True and r["extraction"] == "no answer: echo of the options" for r in rows)
    assert all(r["prompt"].startswith("user: ") for r in rows)
    d = scores["diagnostics"]
    assert d["cut_off_rate"] == 1.0 and d["no_answer_rate"] == 1.0
    assert d["settings"]["template"] == "none" and any("max_new_tokens: 16" in x for x in d["differs_from_official"])


def test_a_foreign_run_json_leaves_the_settings_unknown(cmb_data, tmp_path, cli):
    questions = load_questions(cmb_data, "test")
    (tmp_path / "run.json").write_text("[1, 2]", encoding="utf-8")
    scores, md = _score(cli, cmb_data, tmp_path, [{"id": q.id, "output": "答案是B"} for q in questions])
    assert "max_new_tokens" in scores["diagnostics"]["unknown"]
    assert "not recorded here" in md
