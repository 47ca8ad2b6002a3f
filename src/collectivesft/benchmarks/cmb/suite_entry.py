"""CMB-Exam as a suite benchmark (`cmb`): its facts for the suite, its own runner for the scores.

The suite reaches CMB through this entry, but CMB keeps eval/cmb's runner, protocols and
score files: `evaluate` builds the CMBEvalConfig `collectivesft eval cmb` would get from the
same settings (benchmark-specific ones from `options`: protocol, cot, fewshot_seed, key), so
a suite's OUT/cmb/ holds byte-identical results to `eval cmb --out OUT/cmb`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from collectivesft.benchmarks.base import Benchmark, Item, Prompt, register
from collectivesft.errors import ConfigError

# Settings of the suite's config that CMBEvalConfig has under the same name.
_SHARED = ("data", "split", "method", "shots", "limit", "sample", "sample_seed")
# CMB settings a suite entry may set in `options` (circular writes other files: run `eval cmb --circular`).
OPTIONS = ("protocol", "cot", "fewshot_seed", "key")


@register
class CMBExam(Benchmark):
    name = "cmb"
    title = "CMB-Exam"
    homepage = "https://github.com/FreedomIntelligence/CMB"
    hub_id = "FreedomIntelligence/CMB"
    license = "Apache-2.0 (code); data for research"
    layout = ("the release folder or CMB.zip (CMB-Exam/CMB-test/CMB-test-choice-question-merge.json, "
              "CMB-test-choice-answer.json, CMB-Exam/CMB-val/CMB-val-merge.json), or the hub id")
    how_to_get = "download data/CMB.zip from github.com/FreedomIntelligence/CMB, or use the hub id."
    splits = ("test", "val")
    eval_split = "test"
    shots_split = "val"
    categories = ("exam_type", "exam_class")
    # Official: accuracy per exam class, a type's score the mean of its classes, overall the mean of types.
    metric = "macro:exam_type"
    multi_answer = True
    # Our CMB wording lives in benchmarks/cmb/render.py (eval/cmb's protocols use it); this
    # declaration is what the interface asks of every benchmark.
    prompt = Prompt(header="", item="{question}\n{options}", answer_prefix="答案是")

    def load(self, data: str | Path, split: str) -> list[Item]:
        from collectivesft.benchmarks.cmb.load import load_questions

        return [Item(id=str(q.id), question=q.question, options=dict(q.options), answer=q.answer, multi=q.multi,
                     groups={"exam_type": q.exam_type, "exam_class": q.exam_class}, explanation=q.explanation,
                     raw=q.raw)
                for q in load_questions(data, split)]

    def write_fixture(self, out: str | Path, rng: random.Random, rows: int) -> Path:
        from collectivesft.fixtures.cmb_eval import write_cmb_eval

        return write_cmb_eval(Path(out) / "CMB", n_test=rows, seed=rng.randrange(2**31))

    def check_options(self, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"cmb: unknown option {unknown[0]!r} (options: {', '.join(OPTIONS)})")

    def cmb_config(self, config: Any):
        """The CMBEvalConfig `eval cmb` would get from the suite config's settings."""
        from collectivesft.eval.config import CMBEvalConfig, InferenceConfig, build_config

        self.check_options(config.options)
        values = {k: getattr(config, k) for k in InferenceConfig.model_fields}
        values.update({k: getattr(config, k) for k in _SHARED if getattr(config, k) is not None})
        values.update(config.options)
        return build_config(CMBEvalConfig, values, "suite entry cmb")

    def evaluate(self, config: Any, out: str | Path) -> dict[str, Any]:
        from collectivesft.eval.cmb.runner import evaluate_cmb

        return evaluate_cmb(self.cmb_config(config), out)

    def headline(self, scores: dict[str, Any]) -> tuple[float | None, list[float] | None]:
        return scores.get("overall_macro_types"), (scores.get("ci95") or {}).get("overall_macro_types")

    def paired(self, a: str | Path, b: str | Path) -> dict[str, Any] | None:
        from collectivesft.errors import CollectiveSFTError
        from collectivesft.eval.cmb.compare import compare_runs

        if not ((Path(a) / "predictions.jsonl").is_file() and (Path(b) / "predictions.jsonl").is_file()):
            return None
        try:
            result = compare_runs(a, b)
        except (CollectiveSFTError, KeyError):
            return None  # no per-question correctness (no answer key)
        cell = result["overall_macro_types"]
        return {**{k: cell[k] for k in ("a", "b", "difference", "interval")}, "n": result["n"]}
