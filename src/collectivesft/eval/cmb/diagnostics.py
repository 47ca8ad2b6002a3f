"""Why a CMB-Exam score is what it is: answer-format failures, position bias and the settings
that move a score, computed from the scored prediction rows (written into scores.json/.md).

- no answer and cut-off rates (a cut-off reply hit max_new_tokens before it answered);
- output length in characters (mean, median, p90, max);
- predicted letters against the key's on single-answer questions: per-letter shares, their
  difference, and a chi-square of the predicted counts against the key's shares (position bias);
- letter-count mismatches: several letters on a single-answer question, one on a multi-answer one;
- the settings a score depends on, and which of them differ from the official protocol.
"""

from __future__ import annotations

from typing import Any, Iterable

from collectivesft.benchmarks.cmb.format import LETTERS, MULTI

# The official CMB setting (generate_answers.sh): the model's own chat template, CoT on, zero-shot,
# 512 new tokens, match_choice extraction. Shots and the few-shot seed only matter with shots.
OFFICIAL = {"protocol": "official", "method": "generate", "cot": True, "shots": 0, "max_new_tokens": 512,
            "system": None}
SETTINGS = ("protocol", "method", "cot", "shots", "fewshot_seed", "system", "max_new_tokens", "temperature")
# Chi-square critical values at p = 0.05 by degrees of freedom (letters - 1).
_CHI2_05 = {1: 3.841, 2: 5.991, 3: 7.815, 4: 9.488, 5: 11.070}


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def _length_summary(lengths: list[int]) -> dict[str, Any] | None:
    if not lengths:
        return None
    xs = sorted(lengths)
    n = len(xs)
    median = xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
    return {"n": n, "mean": round(sum(xs) / n, 1), "median": median, "p90": xs[min(n - 1, int(0.9 * n))],
            "max": xs[-1]}


def position_bias(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Predicted letter shares against the key's on answered single-answer questions, with the
    per-letter difference and a chi-square of the predicted counts against the key's shares."""
    predicted: dict[str, int] = {}
    gold: dict[str, int] = {}
    for row in rows:
        answer, key = row.get("model_answer") or "", row.get("answer") or ""
        if row.get("question_type") == MULTI or len(key) != 1 or len(answer) != 1:
            continue
        predicted[answer] = predicted.get(answer, 0) + 1
        gold[key] = gold.get(key, 0) + 1
    n = sum(predicted.values())
    letters = [c for c in LETTERS if c in predicted or c in gold]
    by_letter = {c: {"predicted": predicted.get(c, 0), "key": gold.get(c, 0),
                     "difference": round((predicted.get(c, 0) - gold.get(c, 0)) / n, 4) if n else 0.0}
                 for c in letters}
    chi2 = sum((predicted.get(c, 0) - gold[c]) ** 2 / gold[c] for c in letters if gold.get(c))
    df = len([c for c in letters if gold.get(c)]) - 1
    biased = bool(n and df in _CHI2_05 and chi2 > _CHI2_05[df])
    top = max(by_letter, key=lambda c: by_letter[c]["difference"]) if by_letter else None
    return {"n": n, "by_letter": by_letter, "chi2": round(chi2, 3), "df": df, "biased": biased,
            "most_over_predicted": top}


def settings_report(settings: dict[str, Any] | None, protocol: str) -> dict[str, Any]:
    """The settings that move a score, as far as known, and those that differ from the official protocol."""
    known = {k: settings[k] for k in SETTINGS if settings and k in settings}
    known.setdefault("protocol", protocol)
    differs = []
    for name, official in OFFICIAL.items():
        if name in known and known[name] != official:
            differs.append(f"{name}: {known[name]!r} (official: {official!r})")
    if known.get("shots") and known.get("protocol") != "official":
        differs.append("few-shot examples: the first k of the class (official: a seeded random draw)")
    if "template" in (settings or {}):
        known["template"] = settings["template"]
    unknown = [k for k in OFFICIAL if k not in known]
    return {"settings": known, "differs_from_official": differs, "unknown": unknown}


def diagnose(predictions: list[dict[str, Any]], protocol: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The diagnostics block of scores.json for scored prediction rows."""
    rows = [p for p in predictions if p.get("correct") is not None]
    n = len(rows)
    no_answer = sum(1 for p in rows if not p.get("model_answer"))
    cut_known = [p for p in rows if "cut_off" in p]
    cut = sum(1 for p in cut_known if p["cut_off"])
    lengths = [len(p["output"]) for p in rows if isinstance(p.get("output"), str)]
    rules: dict[str, int] = {}
    for p in rows:
        if "extraction" in p:
            rules[p["extraction"]] = rules.get(p["extraction"], 0) + 1
    multi_on_single = sum(1 for p in rows if p.get("question_type") != MULTI and len(p.get("model_answer") or "") > 1)
    single_on_multi = sum(1 for p in rows if p.get("question_type") == MULTI and len(p.get("model_answer") or "") == 1)
    n_single = sum(1 for p in rows if p.get("question_type") != MULTI)
    return {
        "n": n,
        "no_answer": no_answer, "no_answer_rate": _rate(no_answer, n),
        "cut_off": cut if cut_known else None, "cut_off_rate": _rate(cut, len(cut_known)),
        "cut_off_no_answer": sum(1 for p in cut_known if p["cut_off"] and not p.get("model_answer")),
        "output_chars": _length_summary(lengths),
        "extraction_rules": dict(sorted(rules.items(), key=lambda kv: -kv[1])),
        "multi_answer_on_single": multi_on_single, "multi_answer_on_single_rate": _rate(multi_on_single, n_single),
        "single_answer_on_multi": single_on_multi, "single_answer_on_multi_rate": _rate(single_on_multi, n - n_single),
        "position_bias": position_bias(rows),
        **settings_report(settings, protocol),
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def diagnostics_markdown(d: dict[str, Any]) -> list[str]:
    """The "Diagnostics" section of scores.md."""
    from collectivesft.report.tables import markdown_table

    lines = ["## Diagnostics", "",
             f"- no answer: {d['no_answer']} of {d['n']} ({_pct(d['no_answer_rate'])})",
             f"- cut off at max_new_tokens: " + ("unknown (the outputs do not say)" if d["cut_off"] is None else
                                                  f"{d['cut_off']} ({_pct(d['cut_off_rate'])}; "
                                                  f"{d['cut_off_no_answer']} of them without an answer)")]
    if d["output_chars"]:
        o = d["output_chars"]
        lines.append(f"- output length (characters): mean {o['mean']}, median {o['median']}, p90 {o['p90']}, "
                     f"max {o['max']}")
    lines += [f"- several letters on single-answer questions: {d['multi_answer_on_single']} "
              f"({_pct(d['multi_answer_on_single_rate'])}); one letter on multi-answer questions: "
              f"{d['single_answer_on_multi']} ({_pct(d['single_answer_on_multi_rate'])})"]
    if d["extraction_rules"]:
        lines.append("- how answers were read: " + "; ".join(f"{k}: {v}" for k, v in d["extraction_rules"].items()))
    bias = d["position_bias"]
    if bias["n"]:
        verdict = (f"biased towards {bias['most_over_predicted']}" if bias["biased"] else "no clear bias")
        lines += ["", f"### Predicted letters against the key (single-answer, {bias['n']} answered)", "",
                  markdown_table(["letter", "predicted", "key", "difference"],
                                 [[c, v["predicted"], v["key"], f"{100 * v['difference']:+.1f} pts"]
                                  for c, v in bias["by_letter"].items()], align="lrrr"),
                  "", f"chi-square {bias['chi2']} on {bias['df']} df: {verdict} (5 % level)"]
    lines += ["", "### Before you compare with the leaderboard", ""]
    lines += [f"- {line}" for line in d["differs_from_official"]] or ["- every known setting matches the official protocol"]
    if d["unknown"]:
        lines.append(f"- not recorded here (check them yourself): {', '.join(d['unknown'])}")
    lines.append("- settings: " + ", ".join(f"{k}={v!r}" for k, v in d["settings"].items()))
    return lines + [""]
