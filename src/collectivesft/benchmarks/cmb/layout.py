"""Where CMB's files are: paths inside the GitHub release (`data/CMB.zip`) and the hub configs."""

from __future__ import annotations

HUB_ID = "FreedomIntelligence/CMB"
# The hub repo has two configs; the exam config's validation split is named `val`.
HUB_EXAM_CONFIG = "exam"
HUB_CLIN_CONFIG = "clin"
HUB_CLIN_SPLIT = "test"

QUESTION_FILES = {
    "test": "CMB-Exam/CMB-test/CMB-test-choice-question-merge.json",
    "val": "CMB-Exam/CMB-val/CMB-val-merge.json",
    "train": "CMB-Exam/CMB-train/CMB-train-merge.json",
}
KEY_FILE = "CMB-Exam/CMB-test/CMB-test-choice-answer.json"
CLIN_FILE = "CMB-Clin/CMB-Clin-qa.json"

# What training data is decontaminated against: every evaluation question (test, val) and CMB-Clin.
EVAL_SPLITS = ("test", "val")
