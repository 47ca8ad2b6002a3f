"""Mixtures as share vectors: the proxies sampled around a prior, the regression from shares to a
score, its held-out rank correlation, and the predicted best mixture under bounds.

The method follows RegMix (Liu et al. 2024, sail-sg/regmix): proxy mixtures drawn from a
Dirichlet around the prior (the prior raised to a temperature of 0.5 first; concentrations
spread log-uniformly between 0.1 and 5 times the prior, so some mixtures are dominated by a
few sources and others sit near the prior; draws outside the bounds rejected; near-identical
draws removed), a regression fitted on (shares, score) pairs, its quality read as the Spearman
rank correlation of held-out predictions, and the optimum taken by scoring many sampled
candidate mixtures and averaging the best-predicted ones rather than trusting the single best.
numpy and scikit-learn are imported inside the functions (`collectivesft --help` stays fast).
"""

from __future__ import annotations

from typing import Any, Sequence


def smoothed_prior(prior: Sequence[float], temperature: float) -> "Any":
    """The prior raised to `temperature`, floored so a source the prior leaves out can still be drawn."""
    import numpy as np

    p = np.asarray(prior, dtype=float)
    p = np.maximum(p, 0) ** temperature
    p = p / p.sum() if p.sum() > 0 else np.full(len(p), 1 / len(p))
    p = np.maximum(p, 0.02 / len(p))
    return p / p.sum()


def sample_mixtures(prior: Sequence[float], n: int, rng: "Any", lower: Sequence[float], upper: Sequence[float],
                    min_strength: float = 0.1, max_strength: float = 5.0, temperature: float = 0.5,
                    uniform_share: float = 0.0) -> "Any":
    """Up to `n` share vectors (rows) inside [lower, upper], drawn from Dirichlet(strength * prior)
    with log-uniform strengths (and, for `uniform_share` of the draws, from the flat Dirichlet so
    candidates also reach away from the prior)."""
    import numpy as np

    p = smoothed_prior(prior, temperature)
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    kept: list[Any] = []
    have = 0
    for _ in range(50):  # rounds of vectorised draws until enough fall inside the bounds
        batch = max(4 * (n - have), 256)
        strength = np.exp(rng.uniform(np.log(min_strength), np.log(max_strength), size=batch))
        alpha = strength[:, None] * p[None, :]
        flat = rng.random(batch) < uniform_share
        alpha[flat] = 1.0
        draws = rng.gamma(np.maximum(alpha, 1e-3))
        draws = draws / draws.sum(axis=1, keepdims=True)
        inside = draws[np.all((draws >= lower - 1e-9) & (draws <= upper + 1e-9), axis=1)]
        kept.append(inside)
        have += len(inside)
        if have >= n:
            break
    out = np.concatenate(kept)[:n] if kept else np.zeros((0, len(p)))
    return out


def distinct(rows: "Any", existing: Sequence[Sequence[float]] = (), decimals: int = 3, min_l1: float = 0.02) -> list[list[float]]:
    """Rows rounded to `decimals` (renormalised), without any closer than `min_l1` (L1) to an
    earlier row or to `existing`: near-identical proxies teach the regression nothing new."""
    import numpy as np

    seen = [np.asarray(e, dtype=float) for e in existing]
    out = []
    for row in rows:
        r = np.round(np.asarray(row, dtype=float), decimals)
        if r.sum() <= 0:
            continue
        r = np.round(r / r.sum(), decimals)
        if any(np.abs(r - s).sum() < min_l1 for s in seen):
            continue
        seen.append(r)
        out.append([float(x) for x in r])
    return out


def _regressor(kind: str, alpha: float) -> "Any":
    if kind == "linear":
        from sklearn.linear_model import Ridge

        return Ridge(alpha=alpha)
    from sklearn.ensemble import GradientBoostingRegressor

    # Shallow trees and few leaves: a handful to a few hundred proxies, not LightGBM's millions.
    return GradientBoostingRegressor(n_estimators=200, max_depth=2, learning_rate=0.05, min_samples_leaf=2,
                                     subsample=0.8, random_state=0)


def held_out(X: "Any", y: "Any", kind: str, alpha: float, folds: int) -> dict[str, Any]:
    """Held-out predictions of every proxy (leave-one-out, or k-fold) and how well they rank."""
    import numpy as np
    from scipy.stats import pearsonr, spearmanr
    from sklearn.model_selection import KFold, LeaveOneOut, cross_val_predict

    cv = LeaveOneOut() if folds == 0 or folds >= len(y) else KFold(folds, shuffle=True, random_state=0)
    predicted = cross_val_predict(_regressor(kind, alpha), X, y, cv=cv)
    constant = np.ptp(y) == 0 or np.ptp(predicted) == 0
    rho = spearmanr(y, predicted) if not constant else None
    r = pearsonr(y, predicted) if not constant else None
    return {"method": "leave-one-out" if isinstance(cv, LeaveOneOut) else f"{folds}-fold",
            "predicted": [float(v) for v in predicted],
            "spearman": None if rho is None else float(rho.statistic),
            "spearman_p": None if rho is None else float(rho.pvalue),
            "pearson": None if r is None else float(r.statistic),
            "mae": float(np.mean(np.abs(predicted - y)))}


def fit_and_optimise(X: "Any", y: "Any", prior: Sequence[float], lower: Sequence[float], upper: Sequence[float],
                     kind: str, alpha: float, candidates: int, top_k: int, seed: int,
                     min_strength: float, max_strength: float, temperature: float) -> dict[str, Any]:
    """Fit on every proxy; score `candidates` mixtures sampled under the bounds (half around the
    prior, half over the whole simplex); the mean of the `top_k` best-predicted is the optimum."""
    import numpy as np

    model = _regressor(kind, alpha).fit(X, y)
    rng = np.random.default_rng(seed)
    pool = sample_mixtures(prior, candidates, rng, lower, upper, min_strength, max_strength, temperature,
                           uniform_share=0.5)
    if len(pool) == 0:
        from collectivesft.errors import ConfigError

        raise ConfigError("search: no candidate mixture lies inside the bounds (with each source at most its "
                          "available records / total): widen the bounds or lower total")
    scores = model.predict(pool)
    best = np.argsort(-scores)[:top_k]
    optimum = pool[best].mean(axis=0)
    optimum = optimum / optimum.sum()
    out = {"weights": [float(v) for v in optimum], "predicted": float(model.predict(optimum[None, :])[0]),
           "candidates": int(len(pool)), "top_k": int(len(best)),
           "top_predicted": [float(scores[best[0]]), float(scores[best[-1]])],
           "predicted_proxies": [float(v) for v in model.predict(X)]}
    if kind == "linear":
        out["coefficients"] = [float(c) for c in model.coef_]
        out["intercept"] = float(model.intercept_)
    else:
        out["importances"] = [float(c) for c in model.feature_importances_]
    return out
