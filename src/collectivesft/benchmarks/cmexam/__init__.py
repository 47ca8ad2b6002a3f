"""CMExam (williamliujl/CMExam): Chinese National Medical Licensing Examination questions with
explanations and, on test, five annotation dimensions."""

from collectivesft.benchmarks.cmexam import definition  # noqa: F401  (registers "cmexam")
