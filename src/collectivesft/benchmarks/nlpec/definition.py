"""The NLPEC benchmark: facts, prompt and categories (loading in load.py, fixtures in fixture.py)."""

from __future__ import annotations

import random
from pathlib import Path

from collectivesft.benchmarks.base import Benchmark, Item, Prompt, register
from collectivesft.benchmarks.nlpec import fixture
from collectivesft.benchmarks.nlpec.load import SPLITS, load
from collectivesft.benchmarks.published import record
from collectivesft.errors import InputLayoutError


@register
class NLPEC(Benchmark):
    name = "nlpec"
    title = "NLPEC (National Licensed Pharmacist Examination in China)"
    homepage = "https://aclanthology.org/2020.emnlp-main.111/"
    hub_id = None
    license = "research use; released with the EMNLP 2020 paper (no license file)"
    layout = ("NLPEC_public_data/ (folder or zip) with train.json, dev.json, test.json (JSON lines: "
              "questionText, option [..], answer [\"1\"..], subject, questionType), or one such file")
    how_to_get = "request/download NLPEC_public_data from the authors' release (Tianchi dataset 90134)"
    splits = SPLITS
    eval_split = "test"
    validation_split = "dev"
    shots_split = None
    categories = ("subject", "qtype")
    metric = "accuracy"
    multi_answer = False  # the paper excludes multi-answer questions from its test; so does load()
    # No LLM prompt is published; C-Eval's official wording with the exam's name.
    prompt = Prompt(header="以下是中国关于执业药师资格考试的单项选择题，请选出其中的正确答案。\n\n",
                    item="{question}\n{options}\n", answer_prefix="答案：")
    leaks_from = ("nlpec",)

    def load(self, data: str | Path, split: str) -> list[Item]:
        if split not in SPLITS:
            raise InputLayoutError(f"unknown NLPEC split {split!r}; expected one of {list(SPLITS)}")
        items, skips = load(data, split, self.layout)
        record(self, split, skips)
        return items

    def write_fixture(self, out: str | Path, rng: random.Random, rows: int) -> Path:
        return fixture.write(Path(out), rng, rows)[0]
