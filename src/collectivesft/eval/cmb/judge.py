"""The official CMB-Clin judge: the README's GPT-4 evaluation prompt, sent to any OpenAI-compatible
model, and a tolerant reader of its verdicts (four criteria rated 1-5).

The prompt is the README's text byte for byte, spacing artefacts included ("language models .",
"{ description }"); its example verdict uses curly quotes and is not valid JSON, so replies
are read leniently and an unreadable verdict is counted, never guessed.
"""

from __future__ import annotations

import re
from typing import Any

from collectivesft.jsonlimits import RowError, parse_text

CRITERIA = ("fluency", "relevance", "completeness", "proficiency")
JUDGE_PROMPT = """You are an AI evaluator specializing in assessing the quality of answers
provided by other language models . Your primary goal is to rate the
answers based on their fluency , relevance , completeness , proficiency
in medicine . Use the following scales to evaluate each criterion :
Fluency :
1: Completely broken and unreadable sentence pieces
2: Mostly broken with few readable tokens
3: Moderately fluent but with limited vocabulary
4: Mostly coherent in expressing complex subjects
5: Human - level fluency
Relevance :
1: Completely unrelated to the question
2: Some relation to the question , but mostly off - topic
3: Relevant , but lacking focus or key details
4: Highly relevant , addressing the main aspects of the question
5: Directly relevant and precisely targeted to the question
Completeness :
1: Extremely incomplete
2: Almost incomplete with limited information
3: Moderate completeness with some information
4: Mostly complete with most of the information displayed
5: Fully complete with all information presented
Proficiency in medicine :
1: Using plain languages with no medical terminology .
2: Equipped with some medical knowledge but lacking in - depth details
3: Conveying moderately complex medical information with clarity
4: Showing solid grasp of medical terminology but having some minor
mistakes in detail
5: Fully correct in all presented medical knowledge
You will be provided with the following information :
- a description
- a conversation based on the description ( optional )
- a question based on the description and conversation
- the solution to the question
- a model ’ s answer to the question
[ description ]
{ description }
[ end of description ]
[ conversation ]
{ history }
[ end of conversation ]
[ question ]
{ question }
[ end of question ]
[ solution ]
{ solution }
[ end of solution ]
[ answer ]
{ answer }
[ end of answer ]
Make sure to provide your evaluation results in JSON format and ONLY the
JSON , with separate ratings for each of the mentioned criteria as in
the following example :
{ ‘ fluency ’: 3 , ‘ relevance ’: 3 , ‘ completeness ’: 3 , ‘ proficiency ’: 3}"""
_SLOTS = ("description", "history", "question", "solution", "answer")


def judge_prompt(description: str, history: str, question: str, solution: str, answer: str) -> str:
    """The README prompt with its five `{ name }` slots filled (plain replacement: the prompt's
    own example holds braces that str.format would misread)."""
    text = JUDGE_PROMPT
    for name, value in zip(_SLOTS, (description, history, question, solution, answer)):
        text = text.replace("{ " + name + " }", value)
    return text


def history_text(turns: list[tuple[str, str]]) -> str:
    """The conversation before a question, as the judge reads it (the README leaves the format
    open): one `问：…` / `答：…` pair of lines per earlier turn; empty for the first question."""
    return "\n".join(f"问：{q}\n答：{a}" for q, a in turns)


# Curly and full-width quotes as the README example writes them, mapped to JSON's.
_QUOTES = str.maketrans({"‘": '"', "’": '"', "“": '"', "”": '"', "'": '"', "：": ":", "，": ","})
_OBJECT = re.compile(r"\{[^{}]*\}", re.S)
_PAIR = re.compile(r"(fluency|relevance|completeness|proficiency)[^0-9\n]{0,30}?([1-5](?:\.\d+)?)(?![0-9])", re.I)


def parse_verdict(reply: str) -> dict[str, float] | None:
    """The four ratings from a judge reply, or None when any is missing or outside 1-5.

    Accepts JSON, the README's curly-quoted form, code fences, extra prose, capitalised keys,
    "proficiency in medicine", numbers as strings; the last JSON object that holds all four wins.
    """
    text = (reply or "").translate(_QUOTES)
    for block in reversed(_OBJECT.findall(text)):
        try:
            data = parse_text(block)  # bounded: a reply is model output, anything can be in it
        except RowError:
            data = None
        if isinstance(data, dict):
            ratings = _ratings({str(k).strip().lower(): v for k, v in data.items()})
            if ratings:
                return ratings
    found: dict[str, Any] = {}
    for name, value in _PAIR.findall(text):
        found.setdefault(name.lower(), value)
    return _ratings(found)


def _ratings(values: dict[str, Any]) -> dict[str, float] | None:
    out = {}
    for name in CRITERIA:
        value = values.get(name)
        if value is None:
            value = next((v for k, v in values.items() if k.startswith(name)), None)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if not 1 <= number <= 5:
            return None
        out[name] = number
    return out


def judge_answers(judge: Any, items: list[tuple[str, str, str, str, str]]) -> list[tuple[str, dict[str, float] | None]]:
    """(reply, ratings or None) for each (description, history, question, solution, answer) item,
    from `judge` (an InferenceConfig, usually backend openai; its max_new_tokens) with greedy decoding."""
    from collectivesft.eval.backends.registry import get_backend

    backend = get_backend(judge)
    try:
        chats = [[{"role": "user", "content": judge_prompt(*item)}] for item in items]
        replies = backend.generate(chats, max_new_tokens=judge.max_new_tokens, temperature=0.0)
    finally:
        backend.close()
    return [(reply, parse_verdict(reply)) for reply in replies]


def summarize(verdicts: list[dict[str, float] | None]) -> dict[str, Any]:
    """Mean of each criterion over the readable verdicts, and how many were unreadable."""
    readable = [v for v in verdicts if v is not None]
    means = {c: (sum(v[c] for v in readable) / len(readable) if readable else None) for c in CRITERIA}
    return {"criteria": means, "n_judged": len(readable), "n_unparseable": len(verdicts) - len(readable),
            "prompt": "CMB README GPT-4 evaluation prompt"}
