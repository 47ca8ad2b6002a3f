"""CMB-Clin: character ROUGE-L / BLEU, scoring from files, a conversation run on the tiny model."""

import json

import pytest

from collectivesft.eval.cmb.clin import evaluate_clin, score_clin
from collectivesft.eval.config import ClinEvalConfig
from collectivesft.eval.cmb.clin import case_chat
from collectivesft.benchmarks.cmb.load import load_clin
from collectivesft.eval.metrics import corpus_bleu, rouge_l, sentence_bleu


@pytest.mark.parametrize("hyp,ref,expected", [
    ("嵌顿性腹股沟斜疝", "嵌顿性腹股沟斜疝", 1.0),
    ("诊断：嵌顿性疝。", "诊断 嵌顿性疝", 1.0),  # punctuation and spaces do not count
    ("", "嵌顿性疝", 0.0),
    ("完全无关", "嵌顿性疝", 0.0),
    ("ABCD", "ACBD", 0.75),  # LCS 3 of 4 both ways
])
def test_rouge_l_on_characters(hyp, ref, expected):
    assert rouge_l(hyp, ref) == pytest.approx(expected)


def test_bleu_on_characters():
    ref = "嵌顿性疝原则上需要紧急手术治疗"
    assert sentence_bleu(ref, ref) == pytest.approx(1.0)
    assert corpus_bleu([ref, "首选二甲双胍治疗"], [ref, "首选二甲双胍治疗"]) == pytest.approx(1.0)
    partial = sentence_bleu("需要紧急手术", ref)
    assert 0 < partial < 1
    assert sentence_bleu("", ref) == 0.0


def test_reference_answers_as_outputs_score_one(cmb_data, tmp_path, cli):
    data = cmb_data / "CMB-Clin/CMB-Clin-qa.json"
    rows = [{"id": c.id, "question_index": k, "output": ref} for c in load_clin(data) for k, (_, ref) in enumerate(c.qa)]
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    result = cli(["eval", "cmb-clin-score", "--outputs", outputs, "--data", data, "--out", tmp_path / "s"])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "s/scores.json").read_text())
    assert scores["rouge_l"] == pytest.approx(1.0) and scores["bleu"] == pytest.approx(1.0)
    assert scores["corpus_bleu"] == pytest.approx(1.0) and scores["n_missing"] == 0
    assert all(c["rouge_l"] == pytest.approx(1.0) for c in scores["by_case"].values())


def test_missing_answers_score_zero(cmb_data, tmp_path):
    data = cmb_data / "CMB-Clin/CMB-Clin-qa.json"
    case = load_clin(data)[0]
    outputs = tmp_path / "o.jsonl"
    outputs.write_text(json.dumps({"id": case.id, "question_index": 0, "output": case.qa[0][1]}, ensure_ascii=False) + "\n")
    scores = score_clin(outputs, data, tmp_path / "s")
    first = scores["by_case"][str(case.id)]
    assert first["rouge_l"] == pytest.approx(1 / len(case.qa)) and scores["n_missing"] == scores["n_answers"] - 1


def test_case_conversation_keeps_previous_answers(cmb_data):
    case = load_clin(cmb_data / "CMB-Clin/CMB-Clin-qa.json")[1]
    chat = case_chat(case, ["第一个回答"])
    assert [m["role"] for m in chat] == ["user", "assistant", "user"]
    assert case.description in chat[0]["content"] and case.qa[0][0] in chat[0]["content"]
    assert chat[1]["content"] == "第一个回答" and chat[2]["content"] == case.qa[1][0]


def test_clin_run_on_the_tiny_model_with_an_llm_judge(cmb_data, tiny_model, tmp_path):
    from collectivesft.eval.backends.registry import get_backend
    from collectivesft.eval.config import InferenceConfig
    from collectivesft.eval.server import start_in_thread

    config = ClinEvalConfig(model=str(tiny_model), data=str(cmb_data), limit=2, max_new_tokens=8, device="cpu")
    backend = get_backend(InferenceConfig(model=str(tiny_model), device="cpu", batch_size=1))
    server, url = start_in_thread(backend, "judge")
    try:
        judge = InferenceConfig(model="judge", backend="openai", base_url=url, max_new_tokens=16)
        scores = evaluate_clin(config, tmp_path, judge=judge)
    finally:
        server.shutdown()
        server.server_close()
    rows = [json.loads(line) for line in (tmp_path / "outputs.jsonl").read_text().splitlines()]
    assert [(r["id"], r["question_index"]) for r in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert scores["n_answers"] == 4 and 0 <= scores["rouge_l"] <= 1
    assert scores["history"] == "model"  # our default: the model's own earlier answers
    judged = scores["judge"]  # a random model rarely writes four ratings: unparseable verdicts are counted
    assert judged["n_judged"] + judged["n_unparseable"] == 4 and judged["model"] == "judge"
    again = evaluate_clin(config, tmp_path)  # everything cached: no model call needed
    assert again["rouge_l"] == scores["rouge_l"]
