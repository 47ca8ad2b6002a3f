"""MLEC-QA (Judenpech/MLEC-QA): five subsets of the Chinese medical licensing exams."""

from collectivesft.benchmarks.mlecqa import definition  # noqa: F401  (registers "mlecqa")
