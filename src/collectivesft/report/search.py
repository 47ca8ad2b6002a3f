"""The mixture-search report: the proxies' shares and scores, the regression's predicted versus
measured scores with its held-out rank correlation, the recommended shares, and the validation
of the recommendation on the test split as paired differences with intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collectivesft.report import plots
from collectivesft.report.ablation import accuracy_cell, difference_cell, p_cell
from collectivesft.report.document import Document
from collectivesft.report.tables import type_label

TINY_NOTE = ("These runs train a tiny randomly initialised model on the synthetic fixture world. What the search "
             "can show here: whether the machinery finds a planted bad source (a file that states facts wrongly, "
             "or one that is mostly off-topic) from proxy runs alone. What it cannot show: anything about "
             "medicine, real models or the real CMB.")
METHOD = ("Each proxy is the recipe's mixture with other shares per source (the same number of records), trained "
          "at proxy scale and scored on the target. A regression from the shares the mix stage actually took to "
          "the score is checked by predicting each proxy from the others (held out); its optimum under the bounds "
          "is the mean of the best-predicted of many sampled mixtures (RegMix's practice). The recommendation, "
          "the recipe's own shares and uniform are then trained at full scale and compared on the test split.")
LIMITS = ("What this does not show: that shares found with proxies transfer to the full-scale model (an assumption; "
          "the validation rows are the check, and only for the seeds run); that the recommendation is the best "
          "mixture (the regression only ranks mixtures like the proxies it saw, and a held-out correlation near 0 "
          "means it ranks them no better than chance); anything about sources or budgets outside the search space.")


def _sig(d: dict[str, Any]) -> str:
    return "is above 0" if d["low"] > 0 else "is below 0" if d["high"] < 0 else "includes 0"


_READING = {"is above 0": ", so the recommendation did better in this run.",
            "is below 0": ", so the recommendation did worse in this run (the proxies' ranking did not carry over "
                          "to the full-scale model here).",
            "includes 0": ", so this run does not show a difference."}


def search_findings(result: dict[str, Any]) -> list[str]:
    """Plain sentences on what the search found, each read off its numbers (never assumed)."""
    out = []
    check = result["regression"].get("held_out") or {}
    n = len(result["proxies"])
    rho = check.get("spearman")
    if rho is None:
        out.append(f"The regression could not be checked on held-out proxies ({n} proxies, or scores that do not "
                   "vary): its recommendation is untested.")
    else:
        quality = ("ranks the held-out proxies well" if rho >= 0.7 else "ranks them somewhat better than chance"
                   if rho >= 0.3 else "ranks them little better than chance: treat the recommendation as a guess")
        out.append(f"Predicting each of the {n} proxies from the others ({check['method']}), the regression's rank "
                   f"correlation with the measured scores is Spearman {rho:.2f} (p={check['spearman_p']:.2g}): it "
                   f"{quality}.")
    space, rec = result["space"], result["recommended"]
    uniform = 1 / len(space)
    low = sorted(space, key=lambda s: rec[s])
    below = [s for s in low if rec[s] < uniform]
    out.append("The recommendation gives " + ", ".join(f"{s} {rec[s]:.3f}" for s in low)
               + f" of the mixture (uniform would give each {uniform:.3f}); "
               + (f"{len(below)} of {len(space)} sources get less than a uniform share." if below else
                  "no source gets less than a uniform share."))
    val = result.get("validation")
    if val:
        seeds = val.get("seeds") or []
        runs = (f"training seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds
                else "one training run each")
        for other in ("uniform", "recipe"):
            d = val[f"vs_{other}"]["overall"]
            out.append(f"On the {d['n']} {val['split']} questions ({runs}), the recommended mixture minus the "
                       f"{'uniform mixture' if other == 'uniform' else 'recipe' + chr(39) + 's own shares'} is "
                       f"{d['diff']:+.3f} [95% CI {d['low']:+.3f}, {d['high']:+.3f}]: the interval {_sig(d)}"
                       + _READING[_sig(d)])
    return out


def _scatter(result: dict[str, Any], files: Path) -> dict[str, Path]:
    proxies = result["proxies"]
    check = result["regression"].get("held_out") or {}
    measured = [p["score"] for p in proxies]
    predicted = [p["predicted_held_out"] if p.get("predicted_held_out") is not None else p["predicted"]
                 for p in proxies]
    fig, ax = plots.figure(6, 5)
    kinds = {"anchor": "#1f77b4", "left out": "#ff7f0e", "dirichlet": "#2ca02c"}
    for kind, color in kinds.items():
        xs = [m for m, p in zip(measured, proxies) if p["kind"] == kind]
        ys = [q for q, p in zip(predicted, proxies) if p["kind"] == kind]
        if xs:
            ax.scatter(xs, ys, s=22, color=color, label=kind)
    lo, hi = min(measured + predicted), max(measured + predicted)
    pad = (hi - lo) * 0.05 or 0.01
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#888", linewidth=0.8, linestyle="--")
    rho = check.get("spearman")
    what = f"held out ({check['method']})" if check else "fitted (not held out)"
    ax.set_title(f"Predicted vs measured proxy score, {what}\nSpearman {'n/a' if rho is None else f'{rho:.2f}'}")
    ax.set_xlabel("measured target score")
    ax.set_ylabel("predicted target score")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return plots.save_figure(fig, files / "search_predicted_vs_measured")


def search_document(result: dict[str, Any], files: Path) -> Document:
    space = result["space"]
    doc = Document("Mixture search: the predicted best shares, and how they did")
    if result.get("tiny_model"):
        doc.para(TINY_NOTE)
    doc.para(METHOD)
    doc.heading("What this shows", 2)
    for sentence in result.get("findings") or []:
        doc.para(sentence)
    doc.para(LIMITS)

    doc.heading("Recommended shares", 2)
    target = result["target"]
    what = " + ".join(f"{w} x {k}" for k, w in target["weights"].items()) if target["weights"] else target["metric"]
    doc.para(f"{result['total']} records per mixture; target: {what} on the {target['split']} split. Bounds are "
             "the search's, narrowed to what each source has after cleaning. recommended.yaml is the recipe with "
             "these shares.")
    val_shares = (result.get("validation") or {}).get("shares", {}).get("recommended", {})
    rows = [[s, result["available"][s], f"{result['bounds'][s][0]:.2f}..{result['bounds'][s][1]:.2f}",
             f"{result['prior'][s]:.3f}", f"{1 / len(space):.3f}", f"{result['recommended'][s]:.3f}",
             f"{val_shares[s]:.3f}" if s in val_shares else ""] for s in space]
    doc.table(["source", "records available", "share bounds", "recipe share", "uniform share", "recommended share",
               "taken at full scale"], rows)
    fig = plots.bar_chart(space, {"recipe": [result["prior"][s] for s in space],
                                  "uniform": [1 / len(space)] * len(space),
                                  "recommended": [result["recommended"][s] for s in space]},
                          title="Share of the mixture per source", value_label="share", horizontal=True)
    doc.figure(plots.save_figure(fig, files / "search_shares"), "Shares per source: recipe, uniform, recommended")

    doc.heading("Regression", 2)
    reg = result["regression"]
    check = reg.get("held_out") or {}
    rows = [["model", reg["model"]], ["proxies", len(result["proxies"])],
            ["held-out check", check.get("method", "none (fewer than 3 proxies)")],
            ["Spearman (held out)", "n/a" if check.get("spearman") is None else
             f"{check['spearman']:.3f} (p={check['spearman_p']:.2g})"],
            ["Pearson (held out)", "n/a" if check.get("pearson") is None else f"{check['pearson']:.3f}"],
            ["mean absolute error (held out)", f"{check['mae']:.4f}" if check else "n/a"],
            ["predicted score of the recommendation", f"{reg['predicted']:.4f}"],
            ["candidates scored / averaged", f"{reg['candidates']} / {reg['top_k']}"]]
    if "coefficients" in reg:
        rows.append(["coefficients (score per unit share)",
                     ", ".join(f"{s} {c:+.3f}" for s, c in zip(space, reg["coefficients"]))])
    doc.table(["", "value"], rows)
    doc.figure(_scatter(result, files), "Predicted (held out) against measured target score of every proxy")

    doc.heading("Proxies", 2)
    doc.para("Shares the mix stage took (of the records actually mixed), the measured target score, and the "
             "regression's prediction of it with that proxy held out.")
    rows = []
    for p in result["proxies"]:
        rows.append([p["label"], *(f"{p['shares'][s]:.3f}" for s in space), f"{p['score']:.4f}",
                     "" if p.get("predicted_held_out") is None else f"{p['predicted_held_out']:.4f}"])
    doc.table(["proxy", *space, "score", "predicted (held out)"], rows)

    val = result.get("validation")
    if val:
        doc.heading("Validation on the test split", 2)
        seeds = val.get("seeds") or []
        doc.para("The recommendation, the recipe's own shares and uniform, trained at the recipe's full scale"
                 + (f" once per training seed ({', '.join(map(str, seeds))}); means over the seeds, intervals from "
                    "a bootstrap over questions and training runs." if len(seeds) > 1 else
                    " once each; intervals from a paired bootstrap over questions (they do not include "
                    "training randomness: rerun with --seeds 1,2,3)."))
        rows = []
        for other in ("recipe", "uniform"):
            d = val[f"vs_{other}"]["overall"]
            rows.append([f"recommended minus {other}", accuracy_cell(d["variant"], d["variant_interval"]),
                         accuracy_cell(d["reference"], d["reference_interval"]), difference_cell(d),
                         p_cell(d["p_value"], d.get("p_below", False)), d["n"]])
        doc.table(["comparison", "recommended [95% CI]", "other [95% CI]", "difference [95% CI]", "p", "questions"],
                  rows)
        types = sorted(val["vs_uniform"]["by_type"])
        if types:
            doc.table(["exam type", "recommended minus recipe [95% CI]", "recommended minus uniform [95% CI]"],
                      [[type_label(t), difference_cell(val["vs_recipe"]["by_type"][t]),
                        difference_cell(val["vs_uniform"]["by_type"][t])] for t in types])
        doc.table(["mixture", "accuracy per run"],
                  [[label, ", ".join(f"{a:.3f}" for a in accs)] for label, accs in val["accuracy"].items()])
    doc.heading("Cost", 2)
    doc.para(f"{result['cpu_seconds']} CPU seconds in this invocation (stages reused from an earlier run into the "
             "same folder cost nothing).")
    return doc


def write_search_report(result: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """out/search.md (PNG plots) and out/search.html (SVG inline); return both paths."""
    out = Path(out)
    files = out / "search_files"
    files.mkdir(parents=True, exist_ok=True)
    doc = search_document(result, files)
    return doc.write(out, "search")
