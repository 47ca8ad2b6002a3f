"""C-Eval's medical subjects (ceval/ceval-exam): physician, clinical_medicine, basic_medicine."""

from collectivesft.benchmarks.ceval_medical import definition  # noqa: F401  (registers "ceval-medical")
