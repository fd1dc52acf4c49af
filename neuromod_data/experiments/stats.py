"""Statistics for comparing groups of runs (docs/design.md, "Summary statistics").

With five seeds a side the question is less "is p < 0.05" than "how large is the difference, how
sure are we of it, and what could five against five have detected at all".

Arms of a grid share seeds: seed k of every arm draws the same batches and, on one network, starts
from the same weights, so their runs correlate across seeds. Such comparisons are **paired**
(:func:`paired`):

* the mean of the per-seed differences with its t confidence interval, the paired t-test and the
  Wilcoxon signed-rank test;
* the equivalence bound: the smallest difference that two one-sided paired t-tests (TOST,
  :func:`tost_paired`) exclude, so that "no difference" always comes with the size it rules out;
* the smallest difference a paired t-test detects with the given power, from the SD of the
  differences;
* :func:`holm` adjusts the p-values of one family of comparisons (e.g. one data gate against
  each of its controls).

Groups that do not share seeds are compared **unpaired** (:func:`compare`):

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
    "complete_pairs",
    "detectable_effect",
    "detectable_effect_paired",
    "hedges_g",
    "holm",
    "mann_whitney",
    "mean_sd",
    "paired",
    "pooled_sd",
    "tost_paired",
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
    difference on the Welch–Satterthwaite degrees of freedom (``scipy.stats.ttest_ind`` with
    ``equal_var=False``).

    Use it where the two groups do not share seeds; where they do, :func:`paired` is the test.

    Returns
    -------
    dict with ``diff``, ``t``, ``df``, ``p`` (two-sided), ``ci_low``, ``ci_high``; NaN where
    either side has fewer than two values or both have no spread.

    Examples
    --------
    >>> w = welch([0.20, 0.25, 0.30], [0.50, 0.55, 0.60])
    >>> round(w["diff"], 3), round(w["df"], 1), round(w["p"], 4)
    (-0.3, 4.0, 0.0018)
    """
    from scipy import stats

    x, y = _clean(a), _clean(b)
    diff = float(x.mean() - y.mean()) if x.size and y.size else math.nan
    out = {"diff": diff, "t": math.nan, "df": math.nan, "p": math.nan,
           "ci_low": math.nan, "ci_high": math.nan}  # fmt: skip
    # scipy returns NaN (with a warning) for these; say so without the warning
    if x.size < 2 or y.size < 2 or x.var(ddof=1) + y.var(ddof=1) == 0:
        return out
    res = stats.ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(confidence)
    out.update(
        t=float(res.statistic), df=float(res.df), p=float(res.pvalue),
        ci_low=float(ci.low), ci_high=float(ci.high),
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


def versus_published(
    values: Iterable[float], mean: float, sd: float, n: int, *, alpha: float = 0.05
) -> dict[str, float]:
    """Our values against a published mean ± SD of ``n`` runs: the difference in published SDs
    (``z``; |z| ≤ 1 means within one published SD), Welch's test from summary statistics, and the
    difference the data exclude (``excluded``: the larger absolute end of the Welch
    (1 − 2 ``alpha``) interval of the difference, where two one-sided Welch tests at ``alpha``
    reject; our runs and the authors' share no seeds).

    Examples
    --------
    >>> r = versus_published([0.08, 0.10, 0.09], mean=0.081, sd=0.016, n=5)
    >>> round(r["z"], 3), round(r["excluded"], 3)
    (0.563, 0.027)
    """
    from scipy import stats

    x = _clean(values)
    m, s = mean_sd(x)
    out = {"mean": m, "diff": m - mean, "z": (m - mean) / sd if sd > 0 else math.nan,
           "t": math.nan, "p": math.nan, "excluded": math.nan}  # fmt: skip
    if x.size >= 2 and n >= 2 and (s > 0 or sd > 0):
        res = stats.ttest_ind_from_stats(m, s, x.size, mean, sd, n, equal_var=False)
        va, vb = s**2 / x.size, sd**2 / n
        df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (n - 1))
        half = float(stats.t.ppf(1 - alpha, df)) * math.sqrt(va + vb)
        out.update(t=float(res.statistic), p=float(res.pvalue), excluded=abs(m - mean) + half)
    return out


# ----------------------------------------------------------------------------- shared seeds
def complete_pairs(
    a: Iterable[float | None], b: Iterable[float | None]
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (a_i, b_i) where both values are there (not None, not NaN).

    Examples
    --------
    >>> x, y = complete_pairs([0.5, None, 0.4, 0.3], [0.6, 0.2, float("nan"), 0.1])
    >>> x.tolist(), y.tolist()
    ([0.5, 0.3], [0.6, 0.1])
    """
    la, lb = list(a), list(b)
    if len(la) != len(lb):
        raise ValueError(f"paired values need equal lengths, got {len(la)} and {len(lb)}")
    x = np.asarray([math.nan if v is None else v for v in la], dtype=float)
    y = np.asarray([math.nan if v is None else v for v in lb], dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def detectable_effect_paired(n: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest mean difference, in SDs of the paired differences, that a two-sided paired
    t-test at level ``alpha`` detects with probability ``power`` on ``n`` pairs.

    Power is P(|T| > t_crit) for T noncentral t with df = n − 1 and noncentrality δ √n (the
    one-sample t-test of the differences). Multiplied by the SD of the differences it is in the
    units of the values.

    Examples
    --------
    >>> round(detectable_effect_paired(5), 2)     # five seeds, each in both arms
    1.68
    """
    from scipy import optimize, stats

    if n < 2:
        return math.nan
    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)

    def shortfall(delta: float) -> float:
        lam = delta * math.sqrt(n)
        # far in the opposite tail scipy's noncentral t returns NaN for what is ~0
        other = float(np.nan_to_num(stats.nct.cdf(-crit, df, lam), nan=0.0))
        return float(stats.nct.sf(crit, df, lam)) + other - power

    hi = 1.0
    while shortfall(hi) < 0:
        hi *= 2
    return float(optimize.brentq(shortfall, 0.0, hi, xtol=1e-10))


def tost_paired(
    a: Iterable[float | None], b: Iterable[float | None], bound: float
) -> dict[str, float]:
    """Two one-sided paired t-tests (TOST) of |mean(a − b)| < ``bound``.

    The lower test has H0: mean difference ≤ −bound, the upper one H0: mean difference ≥ +bound;
    the equivalence p is the larger of the two (small p: the data exclude differences of
    ``bound`` or more in either direction).

    Returns
    -------
    dict with ``p_lower``, ``p_upper`` and ``p``; NaN for fewer than two pairs or no spread.

    Examples
    --------
    >>> a, b = [0.30, 0.28, 0.33, 0.25, 0.29], [0.29, 0.29, 0.31, 0.26, 0.27]
    >>> round(tost_paired(a, b, 0.05)["p"], 4)
    0.0015
    """
    from scipy import stats

    x, y = complete_pairs(a, b)
    out = {"p_lower": math.nan, "p_upper": math.nan, "p": math.nan}
    if x.size < 2 or np.var(x - y) == 0:
        return out
    low = stats.ttest_rel(x + bound, y, alternative="greater").pvalue
    high = stats.ttest_rel(x - bound, y, alternative="less").pvalue
    out.update(p_lower=float(low), p_upper=float(high), p=float(max(low, high)))
    return out


def holm(pvalues: Iterable[float | None]) -> list[float]:
    """Holm's step-down adjustment of the p-values of one family of tests.

    The i-th smallest of m p-values becomes max_{j ≤ i} min(1, (m − j + 1) p_(j)); a test is
    rejected at family-wise level α when its adjusted p is ≤ α. Missing values (None, NaN) stay
    NaN and do not count in m.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, 0.005])
    [0.03, 0.06, 0.06, 0.02]
    """
    ps = [math.nan if p is None else float(p) for p in pvalues]
    order = sorted((i for i, p in enumerate(ps) if not math.isnan(p)), key=lambda i: ps[i])
    m = len(order)
    out = [math.nan] * len(ps)
    running = 0.0
    for rank, i in enumerate(order):
        # the running maximum keeps the adjusted values in the order of the raw ones
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = round(running, 15)
    return out


def paired(
    a: Iterable[float | None],
    b: Iterable[float | None],
    *,
    confidence: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
) -> dict[str, Any]:
    """Everything the results page reports for A against B when the i-th value of each comes from
    the same seed (same data, same initial network): the tests use the differences a_i − b_i.

    Pairs with a missing value on either side are dropped.

    * the mean difference with its t ``confidence`` interval and the paired t-test
      (``scipy.stats.ttest_rel``);
    * the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``; exact for small n without ties:
      its smallest two-sided p is 0.0625 at 5 pairs);
    * the equivalence bound ``excluded``: the smallest δ at which the two one-sided tests
      (:func:`tost_paired`, level ``alpha``) reject |difference| ≥ δ, i.e. the larger absolute
      end of the (1 − 2 ``alpha``) interval of the difference. Differences of that size or more
      are excluded; smaller ones are not;
    * the smallest difference the paired t-test detects with probability ``power``
      (:func:`detectable_effect_paired`), in SDs of the differences and in the values' units;
    * the Pearson correlation of the two arms across seeds (what pairing gains).

    Returns
    -------
    dict with ``n``, ``mean_a``, ``mean_b``, ``diff``, ``sd_diff``, ``diff_low``, ``diff_high``,
    ``t``, ``df``, ``p_t``, ``w``, ``p_wilcoxon``, ``excluded``, ``r``, ``detectable_sd`` and
    ``detectable``.

    Examples
    --------
    >>> c = paired([0.30, 0.28, 0.33, 0.25, 0.29], [0.29, 0.29, 0.31, 0.26, 0.27])
    >>> c["n"], round(c["diff"], 3), round(c["p_t"], 2), round(c["p_wilcoxon"], 3)
    (5, 0.006, 0.43, 0.375)
    >>> round(c["excluded"], 4)                        # |difference| >= 0.0205 is excluded
    0.0205
    """
    from scipy import stats

    x, y = complete_pairs(a, b)
    d = x - y
    n = int(d.size)
    nan = math.nan
    out: dict[str, Any] = {
        "n": n, "mean_a": float(x.mean()) if n else nan, "mean_b": float(y.mean()) if n else nan,
        "diff": float(d.mean()) if n else nan, "sd_diff": float(d.std(ddof=1)) if n > 1 else nan,
        "diff_low": nan, "diff_high": nan, "t": nan, "df": nan, "p_t": nan,
        "w": nan, "p_wilcoxon": nan, "excluded": nan, "r": nan,
        "detectable_sd": detectable_effect_paired(n, alpha=alpha, power=power),
    }  # fmt: skip
    out["detectable"] = out["detectable_sd"] * out["sd_diff"]
    if n < 2 or not out["sd_diff"] > 0:
        return out
    res = stats.ttest_rel(x, y)
    ci = res.confidence_interval(confidence)
    wide = res.confidence_interval(1 - 2 * alpha)
    out.update(
        t=float(res.statistic), df=float(res.df), p_t=float(res.pvalue),
        diff_low=float(ci.low), diff_high=float(ci.high),
        excluded=float(max(abs(wide.low), abs(wide.high))),
    )  # fmt: skip
    if np.any(d != 0):
        wil = stats.wilcoxon(x, y)
        out.update(w=float(wil.statistic), p_wilcoxon=float(wil.pvalue))
    if x.std() > 0 and y.std() > 0:
        out["r"] = float(stats.pearsonr(x, y).statistic)
    return out
