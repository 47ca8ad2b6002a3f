"""CMMLU (haonan-li/CMMLU): loader, subjects, fixture writer; registers cmmlu-medical and cmmlu-general."""

from collectivesft.benchmarks.cmmlu import definition  # noqa: F401  (registers the benchmarks)
