"""`eval cmb --protocol official` end to end against a stub OpenAI-compatible server, and
`eval.protocol` from a run recipe: the official prompt reaches the model, the official rule grades."""

import json

import pytest

from collectivesft.benchmarks.cmb.load import load_questions
from collectivesft.eval.cmb.runner import evaluate_cmb
from collectivesft.eval.config import CMBEvalConfig
from collectivesft.eval.server import start_in_thread


class Echo:
    """A model that only repeats the option list of the question it was asked (what a real 135M model did)."""

    def __init__(self):
        self.chats = []

    def generate(self, chats, max_new_tokens=512, temperature=0.0):
        self.chats += chats
        return ["\n".join(line for line in c[-1]["content"].split("\n") if line[:2] in ("A.", "B.", "C.", "D.", "E.", "F."))
                for c in chats]


@pytest.fixture()
def echo_server():
    model = Echo()
    server, url = start_in_thread(model, "echo")
    yield model, url
    server.shutdown()
    server.server_close()


def test_official_protocol_from_a_recipe_prompts_and_grades_officially(cmb_data, echo_server, tmp_path, cli):
    model, url = echo_server
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"mix: {{}}\neval:\n  data: {cmb_data}\n  protocol: official\n  backend: openai\n"
                      f"  base_url: {url}\n  limit: 14\n", encoding="utf-8")
    result = cli(["eval", "cmb", "--config", recipe, "--model", "echo", "--out", tmp_path / "o"])
    assert result.exit_code == 0, result.output
    assert "protocol: official" in result.output
    run = json.loads((tmp_path / "o/run.json").read_text())
    assert run["fingerprint"]["protocol"] == "official" and run["fingerprint"]["cot"] is True  # CoT on by default
    first = load_questions(cmb_data, "test")[0]
    sent = [c[-1]["content"] for c in model.chats]
    assert any(s.startswith(f"以下是中国{first.exam_type}中{first.exam_class}考试的一道{first.question_type}，请分析每个选项")
               for s in sent)
    preds = [json.loads(line) for line in (tmp_path / "o/predictions.jsonl").read_text().splitlines()]
    # match_choice reads an echoed option list as every letter; single-answer keeps the first: A.
    assert {p["model_answer"] for p in preds if p["question_type"] == "单项选择题"} == {"A"}
    again = cli(["eval", "cmb-score", "--outputs", tmp_path / "o/predictions.jsonl", "--key", cmb_data,
                 "--out", tmp_path / "ours", "--protocol", "collectivesft"])
    assert again.exit_code == 0, again.output
    ours = json.loads((tmp_path / "ours/scores.json").read_text())
    assert ours["n_answered"] == 0  # our protocol: an echo is no answer


def test_official_protocol_refuses_loglik(cmb_data, tmp_path):
    from collectivesft.errors import ConfigError

    with pytest.raises(ConfigError, match="official protocol generates"):
        evaluate_cmb(CMBEvalConfig(model="m", data=str(cmb_data), protocol="official", method="loglik", cot=False),
                     tmp_path)


def test_unknown_protocol_names_the_key(tmp_path, cli):
    from collectivesft.errors import ConfigError

    bad = tmp_path / "eval.yaml"
    bad.write_text("model: m\nprotocol: leaderboard\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"eval.yaml.*protocol"):
        cli(["eval", "cmb", "--config", bad, "--out", tmp_path / "o"])
