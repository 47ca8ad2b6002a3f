"""The MLEC-QA benchmark: facts, prompt and categories (loading in load.py, fixtures in fixture.py)."""

from __future__ import annotations

import random
from pathlib import Path

from collectivesft.benchmarks.base import Benchmark, Item, Prompt, register
from collectivesft.benchmarks.mlecqa import fixture
from collectivesft.benchmarks.mlecqa.load import SPLITS, load
from collectivesft.benchmarks.published import record
from collectivesft.errors import InputLayoutError


@register
class MLECQA(Benchmark):
    name = "mlecqa"
    title = "MLEC-QA (Chinese medical licensing exams, 5 subsets)"
    homepage = "https://github.com/Judenpech/MLEC-QA"
    hub_id = None
    license = "code MIT; data terms not stated (cite Li et al., EMNLP 2021)"
    layout = ("a folder or zip with <Subset>_{train,dev,test}.json for Subset in Clinic, Stomatology, "
              "PublicHealth, TCM, CWM (each a JSON array of {qid, qtype, qtext, qimage, options, answer}), "
              "or one such file")
    how_to_get = "download the files from the Google Drive link in https://github.com/Judenpech/MLEC-QA"
    splits = SPLITS
    eval_split = "test"
    validation_split = "dev"
    shots_split = None
    categories = ("subset", "kind", "qtype")  # kind: KD (A1+B1) vs CA (A2, A3/A4), the paper's split
    metric = "accuracy"
    multi_answer = False
    # MLEC-QA publishes no LLM prompt (its baselines are retriever + BERT readers); C-Eval's
    # official wording with the subset's exam as the subject ({subject} = subset_name, e.g. 临床执业医师).
    prompt = Prompt(header="以下是中国关于{subject}资格考试的单项选择题，请选出其中的正确答案。\n\n",
                    item="{question}\n{options}\n", answer_prefix="答案：")
    leaks_from = ("mlecqa",)

    def load(self, data: str | Path, split: str) -> list[Item]:
        if split not in SPLITS:
            raise InputLayoutError(f"unknown MLEC-QA split {split!r}; expected one of {list(SPLITS)}")
        items, skips = load(data, split, self.layout)
        record(self, split, skips)
        return items

    def write_fixture(self, out: str | Path, rng: random.Random, rows: int) -> Path:
        return fixture.write(Path(out), rng, rows)[0]
