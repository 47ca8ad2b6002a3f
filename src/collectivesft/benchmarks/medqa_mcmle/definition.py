"""MedQA-MCMLE benchmarks: the five-option Mainland files, and their four-option variant."""

from __future__ import annotations

import random
from pathlib import Path
from typing import ClassVar

from collectivesft.benchmarks.base import Benchmark, Item, Prompt, register
from collectivesft.benchmarks.medqa_mcmle import fixture
from collectivesft.benchmarks.medqa_mcmle.load import SPLITS, load
from collectivesft.benchmarks.published import record
from collectivesft.errors import InputLayoutError

HUB_COPIES = ("bigbio/med_qa", "fzkuji/MedQA")


@register
class MedQAMCMLE(Benchmark):
    name = "medqa-mcmle"
    title = "MedQA-MCMLE (Mainland China medical licensing exam, 5 options)"
    homepage = "https://github.com/jind11/MedQA"
    hub_id = "bigbio/med_qa"  # config med_qa_zh_source (a loading script: needs a datasets version that runs them)
    hub_config: ClassVar[str] = "med_qa_zh_source"
    variant: ClassVar[str] = ""  # sub-folder of Mainland/ holding this variant's files
    license = "MIT (repository); data terms not stated"
    layout = ("MedQA's data_clean (folder or zip, or the file itself): questions/Mainland/{train,dev,test}.jsonl, "
              "JSON lines with question, options {A..E}, answer, answer_idx, meta_info")
    how_to_get = ("download data_clean.zip from the Google Drive link in https://github.com/jind11/MedQA "
                  "(the questions are not in git)")
    splits = SPLITS
    eval_split = "test"
    validation_split = "dev"
    shots_split = None
    categories = ("meta_info",)
    metric = "accuracy"
    multi_answer = False
    # MedQA publishes no LLM prompt (its baselines are retriever + reader); this follows C-Eval's
    # official wording ("以下是中国关于{科目}考试的单项选择题…", items ending "答案："), the form
    # Chinese exam benchmarks are asked in by OpenCompass, lm-eval and LLaMA-Factory.
    prompt = Prompt(header="以下是中国关于执业医师资格考试的单项选择题，请选出其中的正确答案。\n\n",
                    item="{question}\n{options}\n", answer_prefix="答案：")
    leaks_from = ("medqa",)

    def load(self, data: str | Path, split: str) -> list[Item]:
        if split not in SPLITS:
            raise InputLayoutError(f"unknown {self.name} split {split!r}; expected one of {list(SPLITS)}")
        # bigbio/med_qa and its script-free parquet copy fzkuji/MedQA name the same configs;
        # another hub copy gets no config name.
        hub = (str(data), self.hub_config if str(data) in HUB_COPIES else None)
        items, skips = load(data, split, self.variant, self.layout, hub)
        record(self, split, skips)
        return items

    def write_fixture(self, out: str | Path, rng: random.Random, rows: int) -> Path:
        return fixture.write(Path(out), rng, rows)[0]


@register
class MedQAMCMLE4(MedQAMCMLE):
    """The Mainland/4_options files (Apollo's and OpenCompass's MCMLE test is four-option)."""

    name = "medqa-mcmle-4options"
    title = "MedQA-MCMLE (Mainland China medical licensing exam, 4 options)"
    hub_config = "med_qa_zh_4options_source"
    variant = "4_options/"
    layout = ("MedQA's data_clean (folder or zip, or the file itself): questions/Mainland/4_options/"
              "{train,dev,test}.jsonl, JSON lines with question, options {A..D}, answer, answer_idx, meta_info")
