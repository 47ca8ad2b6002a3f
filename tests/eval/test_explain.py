"""explain_answer names the rule that read the answer, or why there is none."""

import pytest

from collectivesft.eval.cmb.extraction import explain_answer

S, M = "单项选择题", "多项选择题"
DRUGS = {"A": "氨氯地平", "B": "二甲双胍", "C": "阿莫西林", "D": "奥美拉唑"}
ECHO_4 = "A. 氨氯地平\nB. 二甲双胍\nC. 阿莫西林\nD. 奥美拉唑"

# (name, output, question type, options, letters, rule)
CASES = [
    ("statement", "答案是A", S, None, "A", "answer statement"),
    ("item statement", "应选择C项", S, DRUGS, "C", "answer statement"),
    ("boxed", "\\boxed{B}", S, None, "B", "boxed"),
    ("leading letter", "C. 阿莫西林", S, DRUGS, "C", "leading letter"),
    ("bare item", "B项", S, DRUGS, "B", "leading letter"),
    ("claim", "我认为A和C都对", M, DRUGS, "AC", "claim of correctness"),
    ("option text", "阿莫西林", S, DRUGS, "C", "option text"),
    ("option lines", "A. 氨氯地平\nC. 阿莫西林", M, DRUGS, "AC", "option lines"),
    ("in the thinking", "<think>答案是B</think>嗯", S, None, "B", "answer statement (in the thinking)"),
    ("echo", ECHO_4, S, DRUGS, "", "no answer: echo of the options"),
    ("cut-off echo", "A. 氨氯地平\nB. 二甲双胍\nC. 阿莫", M, DRUGS, "", "no answer: echo of the options"),
    ("nothing", "无法确定", S, None, "", "no answer: nothing found"),
    ("empty", "", S, None, "", "no answer: empty output"),
    ("ambiguous", "答案是A或C", S, None, "", "no answer: several letters for a single-answer question"),
]


@pytest.mark.parametrize("text,qtype,options,letters,rule", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_explain_answer(text, qtype, options, letters, rule):
    assert explain_answer(text, qtype, options) == (letters, rule)
