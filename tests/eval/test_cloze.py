"""The cloze method: option texts scored after the question, per character, as a manual forward pass gives."""

import json

import pytest

from collectivesft.benchmarks.cmb.load import load_questions
from collectivesft.eval.chat import render_chat
from collectivesft.eval.cmb.runner import evaluate_cmb
from collectivesft.eval.config import CMBEvalConfig
from collectivesft.eval.cmb.cloze import cloze_chat, cloze_options, pick_cloze


def manual_cloze(model, tok, question: str, option: str) -> float:
    """log P(option text | chat with the question) / characters, from one unpadded forward pass."""
    import torch

    prompt = render_chat(tok, [{"role": "user", "content": question}])
    ctx = tok(prompt, add_special_tokens=False).input_ids
    cont = tok(option, add_special_tokens=False).input_ids
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([ctx + cont])).logits[0].float(), -1)
    return sum(lp[len(ctx) - 1 + j, t].item() for j, t in enumerate(cont)) / len(option)


def test_cloze_run_matches_a_manual_forward_pass(cmb_data, tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = CMBEvalConfig(model=str(tiny_model), data=str(cmb_data), method="cloze", limit=8, batch_size=3,
                           device="cpu")
    scores = evaluate_cmb(config, tmp_path)
    assert scores["n"] == 8
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    questions = {q.id: q for q in load_questions(cmb_data, "test")}
    preds = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 8
    for p in preds:
        q = questions[p["id"]]
        options = cloze_options(q)
        assert set(p["logprobs"]) == {k for k, _ in options}  # empty padding options are not scored
        for letter, text in options:
            assert p["logprobs"][letter] == pytest.approx(manual_cloze(model, tok, q.question, text), abs=2e-3)
        if not q.multi:
            assert p["model_answer"] == max(p["logprobs"], key=p["logprobs"].get)


@pytest.mark.parametrize("multi, scores, expected", [
    (False, {"A": -2.0, "B": -1.0, "C": -3.0}, "B"),                    # single answer: the best option
    (True, {"A": -1.0, "B": -5.0, "C": -1.5, "D": -6.0}, "AC"),          # multi: above the mean
    (True, {"A": -1.0, "B": -9.0, "C": -9.0, "D": -9.0, "E": -9.0}, "AB"),  # multi: at least two (ties: letter order)
    (True, {"A": -1.0, "B": -1.1, "C": -1.2, "D": -9.0}, "ABC"),
])
def test_pick_cloze(multi, scores, expected):
    from collectivesft.benchmarks.cmb.load import Question

    q = Question(id=1, exam_type="", exam_class="", exam_subject="", question="问", options={k: k * 2 for k in scores},
                 question_type="多项选择题" if multi else "单项选择题")
    assert pick_cloze(q, list(scores), list(scores.values())) == expected


def test_cloze_shots_are_question_and_right_option_text(cmb_data):
    val = load_questions(cmb_data, "val")
    q, shot = val[0], val[1]
    chat = cloze_chat(q, [shot])
    assert chat[0] == {"role": "user", "content": shot.question}
    assert chat[1]["role"] == "assistant" and chat[1]["content"] == "；".join(shot.options[k] for k in shot.answer)
    assert chat[-1] == {"role": "user", "content": q.question}


def test_cot_with_cloze_is_refused(cmb_data, tiny_model, tmp_path):
    from collectivesft.errors import ConfigError

    with pytest.raises(ConfigError, match="cot needs method=generate"):
        evaluate_cmb(CMBEvalConfig(model=str(tiny_model), data=str(cmb_data), method="cloze", cot=True), tmp_path)
