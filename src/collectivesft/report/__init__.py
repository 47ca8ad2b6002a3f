"""`collectivesft report`: Markdown and self-contained HTML from run folders; plots and tables for every stage."""

from collectivesft.report.build import build_report
from collectivesft.report.collect import RunSummary, read_run

__all__ = ["RunSummary", "build_report", "read_run"]
