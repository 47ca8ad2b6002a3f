"""CMB-Clin, official: the README's first turn, teacher-forced history, the official judge
(tolerant verdict parsing, unparseable verdicts counted) against stub servers on 127.0.0.1.
The judge against the local server serving the tiny model is in test_clin.py."""

import json

import pytest

from collectivesft.benchmarks.cmb.load import load_clin
from collectivesft.eval.cmb.clin import evaluate_clin
from collectivesft.eval.config import ClinEvalConfig
from collectivesft.eval.cmb.clin import case_chat
from collectivesft.eval.cmb.judge import CRITERIA, judge_prompt, parse_verdict
from collectivesft.eval.config import InferenceConfig
from collectivesft.eval.server import start_in_thread

VERDICTS = [
    ('{"fluency": 4, "relevance": 3, "completeness": 2, "proficiency": 5}', (4, 3, 2, 5)),
    ("{ ‘ fluency ’: 3 , ‘ relevance ’: 3 , ‘ completeness ’: 3 , ‘ proficiency ’: 3}", (3, 3, 3, 3)),  # the README's form
    ('```json\n{"Fluency": "4", "Relevance": 4, "Completeness": 3, "Proficiency in medicine": 4}\n```', (4, 4, 3, 4)),
    ("评价如下：{'fluency': 5, 'relevance': 4, 'completeness': 4, 'proficiency': 4} 以上。", (5, 4, 4, 4)),
    ("Fluency: 4\nRelevance: 5\nCompleteness: 3\nProficiency: 2", (4, 5, 3, 2)),
    ('{"fluency": 4.5, "relevance": 3, "completeness": 3, "proficiency": 3}', (4.5, 3, 3, 3)),
    ('{"fluency": 6, "relevance": 3, "completeness": 3, "proficiency": 3}', None),  # out of the 1-5 scale
    ('{"fluency": 4, "relevance": 3}', None),  # criteria missing
    ("回答很好，给满分。", None),
    ("", None),
]


@pytest.mark.parametrize("reply,expected", VERDICTS, ids=[str(i) for i in range(len(VERDICTS))])
def test_parse_verdict(reply, expected):
    got = parse_verdict(reply)
    assert got == (None if expected is None else dict(zip(CRITERIA, map(float, expected))))


def test_judge_prompt_fills_the_five_slots():
    text = judge_prompt("病例D", "问：Q0\n答：A0", "问题Q1", "参考S1", "回答A1")
    assert "[ description ]\n病例D\n[ end of description ]\n[ conversation ]\n问：Q0\n答：A0\n[ end of conversation ]" in text
    assert "[ question ]\n问题Q1\n[ end of question ]\n[ solution ]\n参考S1\n[ end of solution ]\n[ answer ]\n回答A1\n" in text
    assert text.startswith("You are an AI evaluator") and text.endswith("‘ proficiency ’: 3}")


class Recorder:
    """A stub back-end for the local server: records every chat, answers with the next reply."""

    def __init__(self, replies):
        self.replies, self.chats = list(replies), []

    def generate(self, chats, max_new_tokens=512, temperature=0.0):
        self.chats += chats
        return [self.replies[(len(self.chats) - len(chats) + i) % len(self.replies)] for i in range(len(chats))]


def serve(backend):
    server, url = start_in_thread(backend, "stub")
    return server, InferenceConfig(model="stub", backend="openai", base_url=url, max_retries=0)


def stop(server):
    server.shutdown()
    server.server_close()


def test_official_conversation_is_teacher_forced_with_the_readme_first_turn(cmb_data, tmp_path):
    cases = load_clin(cmb_data / "CMB-Clin/CMB-Clin-qa.json")[:2]
    model = Recorder(["模型回答"])
    server, config = serve(model)
    try:
        run = ClinEvalConfig(**{**config.model_dump(), "data": str(cmb_data), "limit": 2, "protocol": "official"})
        scores = evaluate_clin(run, tmp_path)
    finally:
        stop(server)
    assert scores["history"] == "reference" and scores["protocol"] == "official"
    opening = {"role": "user", "content": f"以下是一位病人的病例：\n{cases[0].description}\n{cases[0].qa[0][0]}"}
    assert [opening] in model.chats  # (requests arrive concurrently: looked up, not by order)
    second = next(c for c in model.chats if len(c) == 3 and c[0] == opening)
    assert second[1] == {"role": "assistant", "content": cases[0].qa[0][1]}  # the reference, not "模型回答"
    rows = [json.loads(line) for line in (tmp_path / "outputs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {(r["protocol"], r["history"]) for r in rows} == {("official", "reference")}


def test_our_conversation_keeps_the_models_answers(cmb_data):
    case = load_clin(cmb_data / "CMB-Clin/CMB-Clin-qa.json")[1]
    chat = case_chat(case, ["第一个回答"], protocol="collectivesft")
    assert chat[1]["content"] == "第一个回答" and "请根据病历回答" in chat[0]["content"]


def test_official_judge_through_a_stub_server_counts_unparseable_verdicts(cmb_data, tmp_path, cli):
    data = cmb_data / "CMB-Clin/CMB-Clin-qa.json"
    cases = load_clin(data)
    rows = [{"id": c.id, "question_index": k, "output": f"回答{k}", "history": "reference"}
            for c in cases for k in range(len(c.qa))]
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    judge = Recorder([VERDICTS[0][0], VERDICTS[1][0], "无法评价"])
    server, config = serve(judge)
    try:
        result = cli(["eval", "cmb-clin-score", "--outputs", outputs, "--data", data, "--out", tmp_path / "s",
                      "--judge-model", "stub", "--judge-url", config.base_url, "--judge-key-env", "NO_SUCH_KEY_VAR"])
    finally:
        stop(server)
    assert result.exit_code == 0, result.output
    n = len(rows)
    scores = json.loads((tmp_path / "s/scores.json").read_text(encoding="utf-8"))["judge"]
    parsed = [(4, 3, 2, 5), (3, 3, 3, 3), None] * n
    readable = [p for p in parsed[:n] if p]
    assert scores["n_unparseable"] == n - len(readable) and scores["n_judged"] == len(readable)
    assert scores["criteria"]["fluency"] == pytest.approx(sum(p[0] for p in readable) / len(readable))
    assert "judge verdicts unparseable" in result.output
    # The judge saw the official prompt; the second question's conversation holds the first reference.
    # (Requests arrive concurrently: look the prompt up instead of relying on arrival order.)
    expected = judge_prompt(cases[0].description, f"问：{cases[0].qa[0][0]}\n答：{cases[0].qa[0][1]}",
                            cases[0].qa[1][0], cases[0].qa[1][1], "回答1")
    assert expected in [c[0]["content"] for c in judge.chats] and len(judge.chats) == n

