"""`eval cmb-compare` lists the flipped questions both ways, by exam class, outputs side by side."""

import json

from collectivesft.benchmarks.cmb.load import load_key, load_questions, locate_key


def test_flipped_questions_both_ways(cmb_data, tmp_path, cli):
    questions = [q for q in load_questions(cmb_data, "test") if q.question_type == "单项选择题"][:30]
    key = {k.id: k.answer for k in load_key(locate_key(cmb_data))}
    wrong = {q.id: next(c for c in "ABCD" if c not in key[q.id]) for q in questions}
    a = {q.id: "答案是" + key[q.id] for q in questions}
    b = dict(a)
    better, worse = questions[0], questions[1]
    a[better.id] = f"我想了很久很久，最后决定答案是{wrong[better.id]}" + "。" * 80
    b[worse.id] = "A. 甲\nB. 乙\nC. 丙\nD. 丁"  # an echo: no answer
    for name, outputs in (("a", a), ("b", b)):
        rows = "".join(json.dumps({"id": i, "output": o}, ensure_ascii=False) + "\n" for i, o in outputs.items())
        (tmp_path / f"{name}.jsonl").write_text(rows, encoding="utf-8")
        result = cli(["eval", "cmb-score", "--outputs", tmp_path / f"{name}.jsonl", "--key", cmb_data,
                      "--questions", cmb_data, "--out", tmp_path / name])
        assert result.exit_code == 0, result.output
    out = cli(["eval", "cmb-compare", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "cmp.json"])
    assert out.exit_code == 0, out.output
    flips = json.loads((tmp_path / "cmp.json").read_text(encoding="utf-8"))["flipped"]
    (lost,) = flips["a_right_b_wrong"][worse.exam_class]
    assert lost["id"] == worse.id and lost["b_answer"] == "" and lost["a_output"] == a[worse.id]
    (gained,) = flips["a_wrong_b_right"][better.exam_class]
    assert gained["id"] == better.id and gained["a_answer"] == wrong[better.id] and gained["b_answer"] == key[better.id]
    assert "right in A, wrong in B: 1 question(s)" in out.output and "wrong in A, right in B: 1" in out.output
    assert "我想了很久很久" in out.output and "。" * 80 not in out.output  # truncated in the terminal
    page = (tmp_path / "cmp.html").read_text(encoding="utf-8")  # the same flips, browsable
    assert "flipped" in page and str(worse.id) in page and "我想了很久很久" in page
