"""The official CMB protocol: pinned strings, prompts, few-shot draws, match_choice and exact scoring.

Expected values were produced by running the CMB repository's own code (workers/base.py,
src/generate_fewshot.py with random.seed(42), src/utils.py extract_ans, score.py) on the same
inputs; the repository is not needed at test time.
"""

import hashlib
import json

import pytest

from collectivesft.eval.cmb import official
from collectivesft.eval.cmb.judge import JUDGE_PROMPT

S, M = "单项选择题", "多项选择题"
T, C = "专业知识考试", "中医学和中药学"
TEST = [
    {"id": 1, "exam_type": T, "exam_class": C, "exam_subject": "中医基础理论", "question": "判断：阴阳可以互相转化",
     "answer": "", "question_type": S, "option": {"A": "是", "B": "否"}},
    {"id": 2, "exam_type": T, "exam_class": C, "exam_subject": "中药学", "question": "下列药物中属于解表药的是",
     "answer": "", "question_type": M, "option": "{'A': '麻黄', 'B': '桂枝', 'C': '大黄', 'D': '芒硝', 'E': ' ', 'F': ''}"},
    {"id": 3, "exam_type": T, "exam_class": C, "exam_subject": "中医基础理论", "question": "选出正确的{编号}项",
     "answer": "", "question_type": S, "option": {"B": "主运化", "A": "心", "C": " 主疏泄", "D": "主纳气 "}},
]
VAL = [{"exam_type": T, "exam_class": C, "exam_subject": "中医基础理论", "question": f"第{j}题：属于六腑的是",
        "answer": ["A", "CA", "B", "DB", "C"][j], "question_type": S if j % 2 == 0 else M,
        "option": {"A": "胆", "B": "胃", "C": "小肠", "D": "膀胱"}, "explanation": f"六腑包括胆、胃、小肠（{j}）。"}
       for j in range(5)]
HEAD = "以下是中国专业知识考试中中医学和中药学考试的一道"
ANSWER_ONLY = "，不需要做任何分析和解释，直接输出答案选项。\n"
COT = "，请分析每个选项，并最后给出答案。\n"
# The official text of each TEST question: one-character options hidden, texts not stripped,
# file order kept, padding options (' ', '') dropped by len(v) > 1.
BODIES = ["判断：阴阳可以互相转化\n", "下列药物中属于解表药的是\nA. 麻黄\nB. 桂枝\nC. 大黄\nD. 芒硝",
          "选出正确的{编号}项\nB. 主运化\nC.  主疏泄\nD. 主纳气 "]
KINDS = [S, M, S]
# random.seed(42) before generate_fewshot.py's loop drew these val rows (2 shots each).
SHOTS = [[0, 4], [2, 1], [1, 4]]


def write_release(root):
    (root / "CMB-Exam/CMB-test").mkdir(parents=True)
    (root / "CMB-Exam/CMB-val").mkdir(parents=True)
    (root / "CMB-Exam/CMB-test/CMB-test-choice-question-merge.json").write_text(json.dumps(TEST, ensure_ascii=False))
    (root / "CMB-Exam/CMB-val/CMB-val-merge.json").write_text(json.dumps(VAL, ensure_ascii=False))
    return root


def test_official_strings_are_pinned():
    assert official.COT_TEMPLATE == ("以下是中国{exam_type}中{exam_class}考试的一道{question_type}，请分析每个选项，"
                                     "并最后给出答案。\n{question}\n{option_str}")
    assert official.ANSWER_ONLY_TEMPLATE == ("以下是中国{exam_type}中{exam_class}考试的一道{question_type}，不需要做任何"
                                             "分析和解释，直接输出答案选项。\n{question}\n{option_str}")
    assert official.CLIN_FIRST_TURN == "以下是一位病人的病例：\n{description}\n{question}"
    # The README's GPT-4 evaluation prompt, byte for byte (sha256 of the README block).
    assert hashlib.sha256(JUDGE_PROMPT.encode()).hexdigest() == \
        "98f8f90d57524d2dfd8eaa1d03f0e451295e5c63c99c79fd8da997815ce6aed9"


@pytest.mark.parametrize("cot", [False, True], ids=["answer-only", "cot"])
def test_cmb_prompts_official_zero_shot_equals_the_official_text(tmp_path, cli, cot):
    data = write_release(tmp_path / "CMB")
    out = tmp_path / "prompts.jsonl"
    result = cli(["eval", "cmb-prompts", "--data", data, "--protocol", "official", "--cot" if cot else "--no-cot",
                  "--out", out])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    expected = [{"id": i + 1, "messages": [{"role": "user", "content": HEAD + k + (COT if cot else ANSWER_ONLY) + b}]}
                for i, (k, b) in enumerate(zip(KINDS, BODIES))]
    assert rows == expected


@pytest.mark.parametrize("cot", [False, True], ids=["answer-only", "cot"])
def test_cmb_prompts_official_few_shot_draws_and_shot_answers(tmp_path, cli, cot):
    data = write_release(tmp_path / "CMB")
    out = tmp_path / "prompts.jsonl"
    args = ["eval", "cmb-prompts", "--data", data, "--protocol", "official", "--shots", "2", "--out", out]
    assert cli(args + (["--cot"] if cot else ["--no-cot"])).exit_code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    tail = COT if cot else ANSWER_ONLY
    for row, shots, kind, body in zip(rows, SHOTS, KINDS, BODIES):
        expected = []
        for j in shots:
            v = VAL[j]
            expected.append({"role": "user", "content": f"{HEAD}{v['question_type']}{tail}{v['question']}\nC. 小肠\nD. 膀胱"})
            answer = f"{v['explanation']}所以答案是{v['answer']}。" if cot else f"答案是{v['answer']}。"
            expected.append({"role": "assistant", "content": answer})  # the val answer as written: 'CA' stays
        expected.append({"role": "user", "content": HEAD + kind + tail + body})
        assert row["messages"] == expected


def test_cmb_prompts_default_cot_follows_the_protocol(tmp_path, cli):
    data = write_release(tmp_path / "CMB")
    cli(["eval", "cmb-prompts", "--data", data, "--protocol", "official", "--out", tmp_path / "o.jsonl"])
    cli(["eval", "cmb-prompts", "--data", data, "--out", tmp_path / "c.jsonl"])
    assert "请分析每个选项" in (tmp_path / "o.jsonl").read_text(encoding="utf-8")  # generate_answers.sh: --use_cot
    assert "以下是中国" not in (tmp_path / "c.jsonl").read_text(encoding="utf-8")


def test_too_few_val_questions_for_the_shots_is_an_error(tmp_path):
    from collectivesft.errors import InputLayoutError

    with pytest.raises(InputLayoutError, match="6 shots asked, but val has only 5"):
        official.draw_shots(TEST, VAL, 6, seed=42)


# (model text, question type, what the official extract_ans gives): every row was run through
# the CMB repository's src/utils.py.
MATCH_CHOICE = [
    ("答案是A", S, "A"),
    ("答案：C", S, "C"),
    ("答案:C", S, "C"),  # ASCII colon is no cue; every capital of the text then
    ("正确答案为AC。", S, "A"),  # single answer: the first letter
    ("正确答案为AC。", M, "AC"),
    ("答案是ABCDEFG", M, "ABCDEFG"),
    ("答案是G", S, "G"),
    ("答案：。后面是A", S, ""),  # the statement matched but holds no letter: no fallback
    ("Answer: D", S, "A"),
    ("The answer is C.", S, "C"),
    ("答案是c", S, ""),
    ("答案不是A，而是C", S, "A"),
    ("B超提示结石，故选E", S, "B"),
    ("A. 氨氯地平\nB. 二甲双胍\nC. 阿莫西林\nD. 奥美拉唑", S, "A"),
    ("A. 氨氯地平\nB. 二甲双胍\nC. 阿莫西林\nD. 奥美拉唑", M, "ABCD"),
    ("答案是D、B", M, "DB"),
    ("答案应该是B。其余A错", S, "B"),
    ("正确选项为 E", S, "E"),
    ("根据分析，答案应该为CD", M, "CD"),
    ("", S, ""),
    ("DNA复制需要引物", S, "D"),
    ("答案是\nB", S, "B"),
    ("答案是B.C正确", M, "B"),
    ("选项ABD正确", M, "ABD"),
]


@pytest.mark.parametrize("text,qtype,expected", MATCH_CHOICE, ids=[f"{i}:{c[0][:12]}" for i, c in enumerate(MATCH_CHOICE)])
def test_match_choice_and_the_single_answer_rule(text, qtype, expected):
    assert official.official_answer([text], qtype) == expected


def test_majority_vote_over_return_sequences():
    # Ties go to the choice seen first; empty choices do not vote (from extract_ans).
    votes = [(["答案是A", "答案是B", "答案是B"], S, "B"), (["答案是C", "答案是A", "无"], S, "C"),
             (["无", "无", "无"], S, ""), (["答案是AB", "答案是B", "答案是AB"], M, "AB"), (["答案是C", "答案是A", ""], S, "C")]
    assert [official.official_answer(t, q) for t, q, _ in votes] == [e for _, _, e in votes]


def test_official_scoring_is_exact_string_equality(tmp_path, cli):
    key = [{"id": 1, "exam_type": T, "exam_class": "中医学与中药学", "exam_subject": "-", "question_type": M, "answer": "CA"},
           {"id": 2, "exam_type": T, "exam_class": "中医学与中药学", "exam_subject": "-", "question_type": S, "answer": "B"},
           {"id": 3, "exam_type": T, "exam_class": "中医学与中药学", "exam_subject": "-", "question_type": M, "answer": "ABD"}]
    (tmp_path / "key.json").write_text(json.dumps(key, ensure_ascii=False), encoding="utf-8")
    outputs = [{"id": 1, "outputs": ["答案是AC", "答案是AC", "答案是CA"]}, {"id": 2, "output": "答案：B"},
               {"id": 3, "output": "答案是A、B、D"}]
    (tmp_path / "o.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in outputs), encoding="utf-8")
    got = {}
    for protocol in ("official", "collectivesft"):
        result = cli(["eval", "cmb-score", "--outputs", tmp_path / "o.jsonl", "--key", tmp_path / "key.json",
                      "--out", tmp_path / protocol, "--protocol", protocol])
        assert result.exit_code == 0, result.output
        assert f"protocol: {protocol}" in result.output
        got[protocol] = json.loads((tmp_path / protocol / "scores.json").read_text(encoding="utf-8"))
    # official: 'AC' (the vote) is not the key's 'CA'; ours compares letter sets
    assert got["official"]["n_correct"] == 2 and got["collectivesft"]["n_correct"] == 3
    assert got["official"]["protocol"] == "official"
    assert list(got["official"]["by_class"][T]) == ["中医学与中药学"]  # the key's spelling, kept
