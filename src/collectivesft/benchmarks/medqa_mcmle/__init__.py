"""MedQA-MCMLE (jind11/MedQA, Mainland China): the Chinese medical licensing exam part of MedQA."""

from collectivesft.benchmarks.medqa_mcmle import definition  # noqa: F401  (registers medqa-mcmle, medqa-mcmle-4options)
