"""Statistics for comparing groups of runs (docs/design.md, "Summary statistics").

With five seeds a side the question is less "is p < 0.05" than "how large is the difference, how
sure are we of it, and what could five against five have detected at all". So every comparison
reports:

* the difference of means with its Welch 95 % confidence interval, and Welch's t-test;
* Hedges' g (the difference in pooled-SD units, small-sample corrected) with a 95 % interval
  from the noncentral t distribution (exact under normality and equal variances);
* the two-sided Mann–Whitney U test (no normality assumed; its smallest p is 0.008 at 5 vs 5);
* the smallest effect the design could detect: the standardised difference that a two-sided
  two-sample t-test at level ``alpha`` finds with probability ``power`` (noncentral t), in SD
  units and, multiplied by the pooled SD, in the units of the compared value.

Only numpy and scipy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "compare",
    "detectable_effect",
    "hedges_g",
    "mann_whitney",
    "mean_sd",
    "pooled_sd",
    "versus_published",
    "welch",
]


def _clean(values: Iterable[float | None]) -> np.ndarray:
    a = np.asarray([v for v in values if v is not None], dtype=float)
    return a[~np.isnan(a)]


def mean_sd(values: Iterable[float | None]) -> tuple[float, float]:
    """Mean and sample SD (ddof = 1) of the values that are not None / NaN; SD is NaN for fewer
    than two values, both are NaN for none.

    Examples
    --------
    >>> [round(v, 3) for v in mean_sd([0.1, 0.2, 0.3, None])]
    [0.2, 0.1]
    """
    a = _clean(values)
    if a.size == 0:
        return math.nan, math.nan
    return float(a.mean()), (float(a.std(ddof=1)) if a.size > 1 else math.nan)


def pooled_sd(a: Iterable[float], b: Iterable[float]) -> float:
    """√(((n_a − 1) s_a² + (n_b − 1) s_b²) / (n_a + n_b − 2))."""
    x, y = _clean(a), _clean(b)
    df = x.size + y.size - 2
    if df < 1:
        return math.nan
    ss = (x.size - 1) * x.var(ddof=1) if x.size > 1 else 0.0
    ss += (y.size - 1) * y.var(ddof=1) if y.size > 1 else 0.0
    return float(math.sqrt(ss / df))


def welch(a: Iterable[float], b: Iterable[float], *, confidence: float = 0.95) -> dict[str, float]:
    """Welch's unequal-variance t-test of mean(a) − mean(b), with the confidence interval of the
    difference on the Welch–Satterthwaite degrees of freedom.

    Returns
    -------
    dict with ``diff``, ``t``, ``df``, ``p`` (two-sided), ``ci_low``, ``ci_high``; NaN where
    either side has fewer than two values or both have no spread.
    """
    from scipy import stats

    x, y = _clean(a), _clean(b)
    diff = float(x.mean() - y.mean()) if x.size and y.size else math.nan
    out = {"diff": diff, "t": math.nan, "df": math.nan, "p": math.nan,
           "ci_low": math.nan, "ci_high": math.nan}  # fmt: skip
    if x.size < 2 or y.size < 2:
        return out
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    if se == 0:
        return out
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    t = diff / se
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    out.update(
        t=float(t), df=float(df), p=float(2 * stats.t.sf(abs(t), df)),
        ci_low=diff - float(half), ci_high=diff + float(half),
    )  # fmt: skip
    return out


def _ncp_for_cdf(t_obs: float, df: float, target: float) -> float:
    """The noncentrality λ with ``nct.cdf(t_obs, df, λ) = target`` (the cdf falls as λ grows)."""
    from scipy import optimize, stats

    def f(lam: float) -> float:
        return float(stats.nct.cdf(t_obs, df, lam)) - target

    lo, hi = t_obs - 10.0, t_obs + 10.0
    while f(lo) < 0:
        lo -= 10.0 + abs(lo)
    while f(hi) > 0:
        hi += 10.0 + abs(hi)
    return float(optimize.brentq(f, lo, hi, xtol=1e-12))


def hedges_g(
    a: Iterable[float], b: Iterable[float], *, confidence: float = 0.95
) -> dict[str, float]:
    """Hedges' g of mean(a) − mean(b) with a confidence interval.

    g = J · (mean(a) − mean(b)) / pooled SD, with the exact small-sample factor
    J = Γ(df/2) / (√(df/2) Γ((df − 1)/2)), df = n_a + n_b − 2. The interval inverts the
    noncentral t distribution of the pooled t statistic (Steiger & Fouladi 1997) and is scaled by
    the same J.

    Returns
    -------
    dict with ``g``, ``d`` (uncorrected), ``ci_low``, ``ci_high``; NaN for fewer than two values a
    side or no spread.
    """
    from scipy.special import gammaln

    x, y = _clean(a), _clean(b)
    out = {"g": math.nan, "d": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    if x.size < 2 or y.size < 2:
        return out
    sp = pooled_sd(x, y)
    if not sp > 0:
        return out
    df = x.size + y.size - 2
    d = (x.mean() - y.mean()) / sp
    j = math.exp(gammaln(df / 2) - gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    scale = math.sqrt(1 / x.size + 1 / y.size)
    t_obs = d / scale
    alpha = 1 - confidence
    lam_low = _ncp_for_cdf(t_obs, df, 1 - alpha / 2)
    lam_high = _ncp_for_cdf(t_obs, df, alpha / 2)
    out.update(g=float(j * d), d=float(d), ci_low=j * lam_low * scale, ci_high=j * lam_high * scale)
    return out


def mann_whitney(a: Iterable[float], b: Iterable[float]) -> dict[str, float]:
    """Two-sided Mann–Whitney U test (``u`` of ``a``, ``p``); NaN if a side is empty."""
    from scipy import stats

    x, y = _clean(a), _clean(b)
    if x.size == 0 or y.size == 0:
        return {"u": math.nan, "p": math.nan}
    res = stats.mannwhitneyu(x, y, alternative="two-sided")
    return {"u": float(res.statistic), "p": float(res.pvalue)}


def detectable_effect(n_a: int, n_b: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest standardised difference δ (in SD units) that a two-sided two-sample t-test
    at level ``alpha`` detects with probability ``power``, for ``n_a`` against ``n_b`` values.

    Power is P(|T| > t_crit) for T noncentral t with df = n_a + n_b − 2 and noncentrality
    δ / √(1/n_a + 1/n_b) (equal variances; for equal group sizes Welch's df is the same when the
    variances are).

    Examples
    --------
    >>> round(detectable_effect(5, 5), 2)     # five seeds against five
    2.02
    """
    from scipy import optimize, stats

    if n_a < 2 or n_b < 2:
        return math.nan
    df = n_a + n_b - 2
    crit = stats.t.ppf(1 - alpha / 2, df)
    scale = math.sqrt(1 / n_a + 1 / n_b)

    def shortfall(delta: float) -> float:
        lam = delta / scale
        return float(stats.nct.sf(crit, df, lam) + stats.nct.cdf(-crit, df, lam)) - power

    hi = 1.0
    while shortfall(hi) < 0:
        hi *= 2
    return float(optimize.brentq(shortfall, 0.0, hi, xtol=1e-10))


def compare(
    a: Iterable[float],
    b: Iterable[float],
    *,
    confidence: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
) -> dict[str, Any]:
    """Everything the results page reports for A against B (see the module docstring).

    Returns
    -------
    dict with ``n_a``, ``n_b``, ``mean_a``, ``mean_b``, ``diff``, ``diff_low``, ``diff_high``
    (Welch CI), ``t``, ``df``, ``p_welch``, ``g``, ``g_low``, ``g_high``, ``u``, ``p_mwu``,
    ``pooled_sd``, ``detectable_sd`` (smallest detectable δ in SD units) and ``detectable``
    (the same in the units of the values: δ × pooled SD).

    Examples
    --------
    >>> c = compare([0.20, 0.25, 0.30], [0.50, 0.55, 0.60])
    >>> round(c["diff"], 3), c["n_a"], round(c["p_mwu"], 3)
    (-0.3, 3, 0.1)
    """
    x, y = _clean(a), _clean(b)
    w = welch(x, y, confidence=confidence)
    g = hedges_g(x, y, confidence=confidence)
    u = mann_whitney(x, y)
    sp = pooled_sd(x, y)
    delta = detectable_effect(x.size, y.size, alpha=alpha, power=power)
    return {
        "n_a": int(x.size), "n_b": int(y.size),
        "mean_a": float(x.mean()) if x.size else math.nan,
        "mean_b": float(y.mean()) if y.size else math.nan,
        "diff": w["diff"], "diff_low": w["ci_low"], "diff_high": w["ci_high"],
        "t": w["t"], "df": w["df"], "p_welch": w["p"],
        "g": g["g"], "g_low": g["ci_low"], "g_high": g["ci_high"],
        "u": u["u"], "p_mwu": u["p"],
        "pooled_sd": sp, "detectable_sd": delta, "detectable": delta * sp,
    }  # fmt: skip


def versus_published(values: Iterable[float], mean: float, sd: float, n: int) -> dict[str, float]:
    """Our values against a published mean ± SD of ``n`` runs: the difference in published SDs
    (``z``; |z| ≤ 1 means within one published SD) and Welch's test from summary statistics.

    Examples
    --------
    >>> r = versus_published([0.08, 0.10, 0.09], mean=0.081, sd=0.016, n=5)
    >>> round(r["z"], 3)
    0.563
    """
    from scipy import stats

    x = _clean(values)
    m, s = mean_sd(x)
    out = {"mean": m, "diff": m - mean, "z": (m - mean) / sd if sd > 0 else math.nan,
           "t": math.nan, "p": math.nan}  # fmt: skip
    if x.size >= 2 and n >= 2 and (s > 0 or sd > 0):
        res = stats.ttest_ind_from_stats(m, s, x.size, mean, sd, n, equal_var=False)
        out.update(t=float(res.statistic), p=float(res.pvalue))
    return out
