"""The C-Eval medical benchmark: facts, prompt, categories and the test submission file."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from collectivesft.benchmarks.base import Benchmark, Item, Prompt, register
from collectivesft.benchmarks.ceval_medical import fixture
from collectivesft.benchmarks.ceval_medical.load import SPLITS, load, submission
from collectivesft.benchmarks.published import record
from collectivesft.errors import InputLayoutError


@register
class CEvalMedical(Benchmark):
    name = "ceval-medical"
    title = "C-Eval (medical subjects: physician, clinical_medicine, basic_medicine)"
    homepage = "https://github.com/hkust-nlp/ceval"
    hub_id = "ceval/ceval-exam"  # one config per subject, splits dev/val/test
    license = "CC BY-NC-SA 4.0 (data), MIT (code)"
    layout = ("C-Eval's ceval-exam.zip (or its unzipped folder, or one subject's file): "
              "{dev,val,test}/{subject}_{split}.csv for physician, clinical_medicine, basic_medicine "
              "(columns id,question,A,B,C,D[,answer][,explanation])")
    how_to_get = ("download ceval-exam.zip from https://huggingface.co/datasets/ceval/ceval-exam "
                  "(or pass the hub id ceval/ceval-exam)")
    splits = SPLITS
    eval_split = "val"  # test answers are not published with the files: score test through submission()
    validation_split = None
    shots_split = "dev"  # official few-shot: the first k (5) dev rows of the subject
    categories = ("subject",)
    # Mean of the subject accuracies, as OpenCompass's C-Eval groups average their subsets
    # (the leaderboard's own average is not documented in the repo).
    metric = "macro:subject"
    multi_answer = False
    # README's prompt; {subject} is the Chinese subject name (the README, OpenCompass and lm-eval
    # use it; the repo's eval.py fills in the English handle instead).
    prompt = Prompt(header="以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\n\n",
                    item="{question}\n{options}\n", answer_prefix="答案：")
    leaks_from = ()

    def load(self, data: str | Path, split: str) -> list[Item]:
        if split not in SPLITS:
            raise InputLayoutError(f"unknown C-Eval split {split!r}; expected one of {list(SPLITS)}")
        items, skips = load(data, split, self.layout)
        record(self, split, skips)
        return items

    def write_fixture(self, out: str | Path, rng: random.Random, rows: int) -> Path:
        return fixture.write(Path(out), rng, rows)[0]

    def submission(self, items: list[Item], answers: dict[str, str]) -> Any | None:
        """{subject: {id: letter}}: what https://cevalbenchmark.com takes for the test split."""
        return submission(items, answers)
