"""Typed settings of one benchmark run in the suite (`collectivesft eval suite`, recipe `eval.benchmarks`).

The same inference settings as CMB (eval/config.py InferenceConfig), plus which files, which
split, which scoring method and which questions. `options` carries a benchmark's own settings
(cmb: protocol, cot, fewshot_seed, key), validated by that benchmark.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from collectivesft.eval.config import InferenceConfig


class SuiteBenchmarkConfig(InferenceConfig):
    """One benchmark of `collectivesft eval suite`: model, files, split, method."""

    data: Optional[str] = Field(None, description="The benchmark's files: a folder or file in its published "
                                "layout, or its hub id; default: the benchmark's hub id.")
    split: Optional[str] = Field(None, description="Split to score; default: the benchmark's eval split (test).")
    method: Literal["generate", "loglik", "cloze"] = Field(
        "generate", description="generate: free answer + extraction; loglik: likelihood of the answer letters; "
                                "cloze: likelihood of each option's text after the question, per character.")
    shots: int = Field(0, ge=0, description="Few-shot examples from the benchmark's shots split "
                       "(same subject first, in file order).")
    limit: Optional[int] = Field(None, ge=1, description="Only the first N items (in file order).")
    sample: Optional[int] = Field(None, ge=1, description="A random N items stratified by the benchmark's "
                                  "primary category (eval/cmb/subset.py's allocation).")
    sample_seed: int = Field(0, description="Seed of `sample`.")
    explorer: bool = Field(True, description="Write explorer.html (every item with its prompt, output and "
                           "answer; embedding a font subset takes seconds).")
    options: dict[str, Any] = Field(default_factory=dict, description="Benchmark-specific settings, e.g. "
                                    "cmb: {protocol: official, cot: false}.")
