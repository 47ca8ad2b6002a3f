"""Both methods on the tiny model: loglik's numbers are true log-likelihoods; generate runs end to end."""

import json

import pytest

from collectivesft.eval.cmb.runner import evaluate_cmb
from collectivesft.eval.config import CMBEvalConfig
from collectivesft.benchmarks.cmb.load import load_questions
from collectivesft.eval.chat import render_chat
from collectivesft.eval.cmb.prompts import answer_candidates, build_chat


def manual_logprob(model, tok, prompt: str, continuation: str, end_term: bool) -> float:
    """log P(continuation | prompt) from one unpadded forward pass (plus the end-of-letters term)."""
    import re

    import torch

    ctx = tok(prompt, add_special_tokens=False).input_ids
    cont = tok(continuation, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = model(torch.tensor([ctx + cont])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    total = sum(lp[len(ctx) - 1 + j, t].item() for j, t in enumerate(cont))
    if end_term:
        letters = [i for i in range(len(tok)) if re.fullmatch(r"[\s、,，]*[A-F]{1,6}", tok.decode([i]))]
        total += torch.log1p(-lp[-1, letters].exp().sum()).item()
    return total


def test_loglik_scores_match_an_unbatched_computation(cmb_data, tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from collectivesft.eval.backends.registry import ScoreRequest, get_backend

    questions = load_questions(cmb_data, "test")
    single = questions[0]
    multi = next(q for q in questions if q.multi)
    config = CMBEvalConfig(model=str(tiny_model), data=str(cmb_data), method="loglik", batch_size=5, device="cpu")
    backend = get_backend(config)
    requests = [ScoreRequest(build_chat(q), ["答案是" + c for c in answer_candidates(q)], end_term=q.multi)
                for q in (single, multi)]
    got = backend.score(requests)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    for q, req, scores in zip((single, multi), requests, got):
        prompt = render_chat(tok, req.chat)
        for cont, score in list(zip(req.continuations, scores))[:8]:
            assert score == pytest.approx(manual_logprob(model, tok, prompt, cont, q.multi), abs=2e-3), (q.id, cont)


def test_loglik_run_answers_every_question_deterministically(cmb_data, tiny_model, tmp_path, cli):
    args = ["eval", "cmb", "--model", tiny_model, "--data", cmb_data, "--method", "loglik", "--limit", 14,
            "--batch-size", 8, "--shots", 1, "--device", "cpu"]
    assert cli(args + ["--out", tmp_path / "a"]).exit_code == 0
    scores = json.loads((tmp_path / "a/scores.json").read_text())
    assert scores["n"] == 13 and scores["n_answered"] == 13 and scores["key_invalid_ids"] == [10]
    questions = {q.id: q for q in load_questions(cmb_data, "test")}
    preds = [json.loads(line) for line in (tmp_path / "a/predictions.jsonl").read_text().splitlines()]
    for p in preds:
        q = questions[p["id"]]
        assert p["model_answer"] and set(p["model_answer"]) <= set(q.options)
        assert q.multi or len(p["model_answer"]) == 1
        assert p["logprobs"][p["model_answer"]] == max(p["logprobs"].values())
    evaluate_cmb(CMBEvalConfig(model=str(tiny_model), data=str(cmb_data), method="loglik", limit=14, shots=1,
                               batch_size=3, device="cpu"), tmp_path / "b")
    again = [json.loads(line)["model_answer"] for line in (tmp_path / "b/predictions.jsonl").read_text().splitlines()]
    assert again == [p["model_answer"] for p in preds]  # batch size does not change answers
    sub = json.loads((tmp_path / "a/submission.json").read_text())
    assert [r["id"] for r in sub] == list(range(1, 15))


def test_generate_with_shots_and_cot(cmb_data, tiny_model, tmp_path):
    config = CMBEvalConfig(model=str(tiny_model), data=str(cmb_data), method="generate", limit=6, shots=2, cot=True,
                           max_new_tokens=12, batch_size=4, device="cpu")
    scores = evaluate_cmb(config, tmp_path)
    for key in ("overall_micro", "overall_macro_types", "by_type", "by_class", "n", "n_answered", "key_invalid"):
        assert key in scores
    preds = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 6 and all(isinstance(p["output"], str) for p in preds)
    assert (tmp_path / "scores_by_type.png").exists() and (tmp_path / "scores.md").exists()
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == "done" and run["config"]["cot"] is True


def test_val_split_is_scored_from_its_own_answers(cmb_data, tiny_model, tmp_path):
    config = CMBEvalConfig(model=str(tiny_model), data=str(cmb_data), split="val", method="loglik", limit=7, device="cpu")
    scores = evaluate_cmb(config, tmp_path)
    assert scores["n"] == 7 and scores["key_invalid"] == 0


def test_cot_with_loglik_is_refused(cmb_data, tiny_model, tmp_path):
    from collectivesft.errors import ConfigError

    with pytest.raises(ConfigError, match="cot needs method=generate"):
        evaluate_cmb(CMBEvalConfig(model=str(tiny_model), data=str(cmb_data), method="loglik", cot=True), tmp_path)
