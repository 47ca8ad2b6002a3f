"""NLPEC (National Licensed Pharmacist Examination in China, Li et al. 2020): its test split."""

from collectivesft.benchmarks.nlpec import definition  # noqa: F401  (registers "nlpec")
