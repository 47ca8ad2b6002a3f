"""CMB (Chinese Medical Benchmark): data loading, prompts, answer extraction, scoring, runners.

The public entry points are imported lazily so `import collectivesft.eval.cmb` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CMBEvalConfig", "evaluate_cmb", "score_cmb", "extract_answer", "validate_submission",
           "ClinEvalConfig", "evaluate_clin", "score_clin"]

_WHERE = {
    "CMBEvalConfig": "runner", "evaluate_cmb": "runner", "score_cmb": "scoring",
    "validate_submission": "scoring", "extract_answer": "extraction",
    "ClinEvalConfig": "clin", "evaluate_clin": "clin", "score_clin": "clin",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(name)
