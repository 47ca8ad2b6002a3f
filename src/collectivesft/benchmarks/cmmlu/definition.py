"""CMMLU as two suite benchmarks: its medical subjects, and its general subjects for retention.

CMMLU (Li et al. 2023, haonan-li/CMMLU): 67 subjects of Chinese four-option single-answer
questions, dev (5 per subject, the few-shot source) and test. Prompt, metric and subject names
as the repository's own evaluation (src/mp_utils.py, src/categories.py): the header
"以下是关于{科目}的单项选择题，请直接给出正确答案的选项。", items "题目：…\\nA. …\\n答案是：", shots
the subject's first dev rows, overall = the mean of the subjects' accuracies.

- cmmlu-medical: Apollo's CMMLU-Medical (7 subjects, 1,333 test items).
- cmmlu-general: every subject that is not medical (58; professional_medicine and
  college_medical_statistics are in neither group): what fine-tuning on medical data may cost.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import ClassVar

from collectivesft.benchmarks.base import Benchmark, Item, Prompt, register
from collectivesft.benchmarks.cmmlu import subjects as cmmlu_subjects
from collectivesft.benchmarks.cmmlu.load import HUB_ID, LAYOUT

PROMPT = Prompt(header="以下是关于{subject}的单项选择题，请直接给出正确答案的选项。\n\n",
                item="题目：{question}\n{options}\n", answer_prefix="答案是：")


class CMMLU(Benchmark):
    """Shared facts of the CMMLU benchmarks; subclasses choose the subjects."""

    subjects: ClassVar[tuple[str, ...]] = ()
    homepage = "https://github.com/haonan-li/CMMLU"
    hub_id = HUB_ID
    license = "CC BY-NC-SA 4.0"
    layout = LAYOUT
    how_to_get = ("git clone https://github.com/haonan-li/CMMLU (the data/ folder), or download "
                  "cmmlu_v1_0_1.zip from the hub dataset haonan-li/cmmlu.")
    splits = ("dev", "test")
    eval_split = "test"
    shots_split = "dev"
    categories = ("subject", "category")
    metric = "macro:subject"
    prompt = PROMPT

    def load(self, data: str | Path, split: str) -> list[Item]:
        from collectivesft.benchmarks.cmmlu.load import load_subjects

        return load_subjects(data, split, self.subjects)

    def write_fixture(self, out: str | Path, rng: random.Random, rows: int) -> Path:
        from collectivesft.benchmarks.cmmlu.fixture import write_cmmlu

        return write_cmmlu(out, rng, rows, self.subjects)


@register
class CMMLUMedical(CMMLU):
    name = "cmmlu-medical"
    title = "CMMLU (medical subjects)"
    subjects = cmmlu_subjects.MEDICAL


@register
class CMMLUGeneral(CMMLU):
    name = "cmmlu-general"
    title = "CMMLU (general subjects)"
    subjects = cmmlu_subjects.GENERAL
    group = "general"
