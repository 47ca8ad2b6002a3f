"""Prompt building: our Chinese wording, shots from val of the same class, CoT, chat templates."""

from collectivesft.benchmarks.cmb.load import load_questions
from collectivesft.eval.chat import render_chat
from collectivesft.eval.cmb.prompts import answer_candidates, build_chat, pick_shots


def test_zero_shot_prompt_asks_for_the_answer_form(cmb_data):
    q = load_questions(cmb_data, "test")[0]
    chat = build_chat(q)
    assert [m["role"] for m in chat] == ["user"]
    text = chat[0]["content"]
    assert q.exam_type in text and q.exam_class in text and "答案是X" in text and q.question in text
    assert all(f"{k}. {v}" in text for k, v in q.options.items())


def test_shots_come_from_val_of_the_same_class_with_answers(cmb_data):
    test, val = load_questions(cmb_data, "test"), load_questions(cmb_data, "val")
    q = test[3]
    shots = pick_shots(q, val, 3)
    assert len(shots) == 3 and all(s.exam_class == q.exam_class for s in shots)
    chat = build_chat(q, shots, cot=False, system="你是医学专家。")
    assert [m["role"] for m in chat] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert chat[2]["content"] == f"答案是{shots[0].answer}"


def test_cot_shots_show_the_explanation_then_the_answer(cmb_data):
    test, val = load_questions(cmb_data, "test"), load_questions(cmb_data, "val")
    shots = pick_shots(test[0], val, 2)
    chat = build_chat(test[0], shots, cot=True)
    assert "逐一分析" in chat[0]["content"]
    assert chat[1]["content"].startswith(shots[0].explanation) and chat[1]["content"].endswith(f"答案是{shots[0].answer}")


def test_multi_answer_prompt_and_candidates(cmb_data):
    q = next(q for q in load_questions(cmb_data, "test") if q.multi)
    assert "全部正确选项" in build_chat(q)[0]["content"]
    cands = answer_candidates(q)
    assert len(cands) == 2 ** len(q.options) - 1 and all(c == "".join(sorted(c)) for c in cands)


def test_render_uses_the_chat_template_or_a_plain_transcript(cmb_data, tiny_model):
    from transformers import AutoTokenizer

    q = load_questions(cmb_data, "test")[0]
    tok = AutoTokenizer.from_pretrained(tiny_model)
    text = render_chat(tok, build_chat(q))
    assert text.startswith("<|im_start|>user\n") and text.endswith("<|im_start|>assistant\n")

    class NoTemplate:
        chat_template = None

    plain = render_chat(NoTemplate(), build_chat(q))
    assert plain.startswith("问：") and plain.endswith("答：")
