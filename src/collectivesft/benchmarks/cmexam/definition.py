"""The CMExam benchmark: facts, prompt and categories (loading in load.py, fixtures in fixture.py)."""

from __future__ import annotations

import random
from pathlib import Path

from collectivesft.benchmarks.base import Benchmark, Item, Prompt, register
from collectivesft.benchmarks.cmexam import fixture
from collectivesft.benchmarks.cmexam.load import ANNOTATIONS, FILES, load
from collectivesft.benchmarks.published import record


@register
class CMExam(Benchmark):
    name = "cmexam"
    title = "CMExam (Chinese National Medical Licensing Examination)"
    homepage = "https://github.com/williamliujl/CMExam"
    # Unofficial JSON copy (Options as [{key, value}]); the release itself is the GitHub data/ folder.
    hub_id = "fzkuji/CMExam"
    license = "Apache-2.0 (repository); README: academic research use only, no commercial use"
    layout = ("the CMExam data/ folder (or a zip of it, or one of its files): train.csv, val.csv, "
              "test_with_annotations.csv with columns Question, Options, Answer, Explanation "
              "(+ annotation columns on test)")
    how_to_get = "git clone https://github.com/williamliujl/CMExam (data/ holds the three CSVs)"
    splits = tuple(FILES)
    eval_split = "test"
    validation_split = "val"
    shots_split = None  # CMExam publishes no few-shot protocol
    categories = tuple(ANNOTATIONS)  # discipline first: 7 values, every test row has one
    metric = "accuracy"  # exact match of the letter set (evaluate_*_result.py compare the strings)
    multi_answer = True
    # The repo's fine-tune template (src/preprocess/prompt_templates.py, template 1):
    # prompt "问题: {}, \n 选项: {}" with the Options field as published, completion "答案: {}".
    # It is the only prompt CMExam-tuned models saw; the ChatGLM zero-shot templates demand a
    # two-line answer+explanation reply, which our extraction does not need. Multi-answer items
    # get the zero-shot template's warning "注意，该问题是多选题" (evaluate_chatglm_result.py).
    prompt = Prompt(header="", item="问题: {question}, \n 选项: {options}\n", answer_prefix="答案: ",
                    option_line="{letter} {text}", multi_header="注意，该问题是多选题\n")
    leaks_from = ()

    def load(self, data: str | Path, split: str) -> list[Item]:
        if split not in FILES:
            from collectivesft.errors import InputLayoutError
            raise InputLayoutError(f"unknown CMExam split {split!r}; expected one of {list(FILES)}")
        items, skips = load(data, split, self.layout, self.hub_id)
        record(self, split, skips)
        return items

    def write_fixture(self, out: str | Path, rng: random.Random, rows: int) -> Path:
        return fixture.write(Path(out), rng, rows)[0]
