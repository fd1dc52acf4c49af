"""Statistics of run comparisons against scipy and against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps

from neuromod_data.experiments import stats

A = [0.20, 0.30, 0.25, 0.35, 0.28]
B = [0.40, 0.50, 0.45, 0.38, 0.60]


def test_mean_sd_skips_missing_values_and_uses_ddof_1():
    m, sd = stats.mean_sd([1.0, None, 2.0, math.nan, 6.0])
    assert m == pytest.approx(3.0)
    assert sd == pytest.approx(math.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 2))
    assert math.isnan(stats.mean_sd([4.0])[1]) and stats.mean_sd([4.0])[0] == 4.0
    assert all(math.isnan(v) for v in stats.mean_sd([]))


def test_welch_against_scipy_and_by_hand():
    w = stats.welch(A, B)
    ref = sps.ttest_ind(A, B, equal_var=False)
    assert w["t"] == pytest.approx(ref.statistic)
    assert w["p"] == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert (w["ci_low"], w["ci_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    # Welch–Satterthwaite degrees of freedom written out
    va, vb = np.var(A, ddof=1) / 5, np.var(B, ddof=1) / 5
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 4)
    assert w["df"] == pytest.approx(df)
    assert w["diff"] == pytest.approx(np.mean(A) - np.mean(B))
    half = sps.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert w["ci_high"] - w["ci_low"] == pytest.approx(2 * half)


def test_welch_needs_two_values_and_some_spread():
    assert math.isnan(stats.welch([1.0], [2.0, 3.0])["t"])
    flat = stats.welch([1.0, 1.0], [1.0, 1.0])
    assert flat["diff"] == 0 and math.isnan(flat["p"])


def test_hedges_g_by_hand():
    g = stats.hedges_g(A, B)
    sp = math.sqrt((4 * np.var(A, ddof=1) + 4 * np.var(B, ddof=1)) / 8)
    d = (np.mean(A) - np.mean(B)) / sp
    j = special.gamma(4) / (
        math.sqrt(4) * special.gamma(3.5)
    )  # df = 8: Γ(df/2) / (√(df/2) Γ((df-1)/2))
    assert g["d"] == pytest.approx(d)
    assert g["g"] == pytest.approx(j * d)
    assert j == pytest.approx(1 - 3 / (4 * 8 - 1), abs=2e-3)  # Hedges' usual approximation
    # the interval's ends are where the noncentral t puts the observed t at 97.5 % and 2.5 %
    scale = math.sqrt(1 / 5 + 1 / 5)
    t_obs = d / scale
    assert sps.nct.cdf(t_obs, 8, g["ci_low"] / j / scale) == pytest.approx(0.975, abs=1e-6)
    assert sps.nct.cdf(t_obs, 8, g["ci_high"] / j / scale) == pytest.approx(0.025, abs=1e-6)
    assert g["ci_low"] < g["g"] < g["ci_high"] < 0


def test_hedges_g_interval_approaches_the_normal_one_for_large_groups():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.5, 1, 400), rng.normal(0, 1, 400)
    g = stats.hedges_g(a, b)
    se = math.sqrt(800 / (400 * 400) + g["g"] ** 2 / (2 * 800))
    assert g["ci_low"] == pytest.approx(g["g"] - 1.959964 * se, abs=0.01)
    assert g["ci_high"] == pytest.approx(g["g"] + 1.959964 * se, abs=0.01)


def test_mann_whitney_exact_small_sample():
    r = stats.mann_whitney([1, 2, 3], [4, 5, 6])
    assert r["u"] == 0
    assert r["p"] == pytest.approx(2 / 20)  # 2 of the C(6,3) = 20 orderings are this extreme
    assert stats.mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])["p"] == pytest.approx(2 / 252)


def test_detectable_effect_matches_tables_and_simulation():
    # G*Power / Cohen: 5 vs 5 → d = 2.024; 64 vs 64 → d = 0.5 (the textbook sample size)
    assert stats.detectable_effect(5, 5) == pytest.approx(2.0244, abs=1e-3)
    assert stats.detectable_effect(64, 64) == pytest.approx(0.4991, abs=1e-3)
    assert stats.detectable_effect(5, 5, power=0.5) < stats.detectable_effect(5, 5)
    assert math.isnan(stats.detectable_effect(1, 5))
    # simulate two-sided pooled t-tests at that effect: about 80 % reject at α = 0.05
    delta = stats.detectable_effect(5, 5)
    rng = np.random.default_rng(1)
    a = rng.normal(delta, 1, (40_000, 5))
    b = rng.normal(0.0, 1, (40_000, 5))
    sp = np.sqrt((a.var(axis=1, ddof=1) + b.var(axis=1, ddof=1)) / 2)
    t = (a.mean(axis=1) - b.mean(axis=1)) / (sp * math.sqrt(2 / 5))
    rejected = np.mean(np.abs(t) > sps.t.ppf(0.975, 8))
    assert rejected == pytest.approx(0.8, abs=0.01)


def test_compare_collects_everything_in_loss_units():
    c = stats.compare(A, B)
    assert (c["n_a"], c["n_b"]) == (5, 5)
    assert c["mean_a"] == pytest.approx(np.mean(A)) and c["mean_b"] == pytest.approx(np.mean(B))
    sp = math.sqrt((4 * np.var(A, ddof=1) + 4 * np.var(B, ddof=1)) / 8)
    assert c["pooled_sd"] == pytest.approx(sp)
    assert c["detectable"] == pytest.approx(stats.detectable_effect(5, 5) * sp)
    assert c["p_mwu"] == pytest.approx(2 / 252)  # every A below every B
    assert c["diff"] == pytest.approx(np.mean(A) - np.mean(B))
    ci = sps.ttest_ind(A, B, equal_var=False).confidence_interval(0.95)
    assert (c["diff_low"], c["diff_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    # the same interval written out: Welch–Satterthwaite df, t quantile times the standard error
    va, vb = np.var(A, ddof=1) / 5, np.var(B, ddof=1) / 5
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 4)
    half = sps.t.ppf(0.975, df) * math.sqrt(va + vb)
    diff = np.mean(A) - np.mean(B)
    assert c["diff_low"] == pytest.approx(diff - half)
    assert c["diff_high"] == pytest.approx(diff + half)
    assert c["diff_high"] < 0  # every A below every B: the interval excludes 0


def test_versus_published_by_hand():
    ours = [0.07, 0.09, 0.08, 0.10, 0.06]
    r = stats.versus_published(ours, mean=0.081, sd=0.016, n=5)
    assert r["z"] == pytest.approx((0.08 - 0.081) / 0.016)
    se = math.sqrt(np.var(ours, ddof=1) / 5 + 0.016**2 / 5)
    assert r["t"] == pytest.approx((0.08 - 0.081) / se)
    ref = sps.ttest_ind_from_stats(
        np.mean(ours), np.std(ours, ddof=1), 5, 0.081, 0.016, 5, equal_var=False
    )
    assert r["p"] == pytest.approx(ref.pvalue)
    # written out: two-sided t on the Welch–Satterthwaite df of the two summary statistics
    va, vb = np.var(ours, ddof=1) / 5, 0.016**2 / 5
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 4)
    assert r["p"] == pytest.approx(2 * sps.t.sf(abs(0.08 - 0.081) / se, df))
    # the excluded difference: the far end of the 90 % Welch interval, where the one-sided Welch
    # test from the summary statistics gives p = 0.05 exactly
    assert r["excluded"] == pytest.approx(0.001 + sps.t.ppf(0.95, df) * se)
    m, s = np.mean(ours), np.std(ours, ddof=1)
    # our mean is 0.001 below 0.081: the binding end is the lower one
    lower = sps.ttest_ind_from_stats(m, s, 5, 0.081 - r["excluded"], 0.016, 5, equal_var=False)
    assert lower.pvalue / 2 == pytest.approx(0.05)


# ----------------------------------------------------------------------------- shared seeds
# arm A and arm B at five seeds: B tracks A closely (as runs sharing data and initial network do)
PA = [0.262, 0.301, 0.229, 0.318, 0.275]
PB = [0.281, 0.315, 0.243, 0.340, 0.280]


def test_paired_against_scipy_and_by_hand():
    c = stats.paired(PA, PB)
    d = np.subtract(PA, PB)
    assert c["n"] == 5 and c["df"] == 4
    assert c["diff"] == pytest.approx(d.mean())
    assert c["sd_diff"] == pytest.approx(d.std(ddof=1))
    ref = sps.ttest_rel(PA, PB)
    assert c["t"] == pytest.approx(ref.statistic) and c["p_t"] == pytest.approx(ref.pvalue)
    # written out: one-sample t of the differences and its interval
    se = d.std(ddof=1) / math.sqrt(5)
    assert c["t"] == pytest.approx(d.mean() / se)
    assert c["p_t"] == pytest.approx(2 * sps.t.sf(abs(d.mean() / se), 4))
    half = sps.t.ppf(0.975, 4) * se
    assert (c["diff_low"], c["diff_high"]) == (
        pytest.approx(d.mean() - half),
        pytest.approx(d.mean() + half),
    )
    # every difference negative: the exact signed-rank p is 2 / 2^5, W = 0
    assert c["w"] == 0 and c["p_wilcoxon"] == pytest.approx(2 / 32)
    assert c["p_wilcoxon"] == pytest.approx(sps.wilcoxon(PA, PB).pvalue)
    assert c["r"] == pytest.approx(np.corrcoef(PA, PB)[0, 1])
    # pairing helps here: the unpaired test of the same values is far from significant
    assert c["p_t"] < 0.01 < 0.3 < stats.welch(PA, PB)["p"]


def test_wilcoxon_by_hand_with_mixed_signs():
    # differences +1, -2, +3, +4, +5 (ranks 1..5): W = min(1+3+4+5, 2) = 2; the exact two-sided
    # p counts the sign patterns whose negative rank sum is <= 2: {}, {1}, {2} -> 3 of 32, doubled
    c = stats.paired([1.0, 0.0, 3.0, 4.0, 5.0], [0.0, 2.0, 0.0, 0.0, 0.0])
    assert c["w"] == 2
    assert c["p_wilcoxon"] == pytest.approx(2 * 3 / 32)


def test_paired_drops_incomplete_pairs_and_refuses_unequal_lengths():
    c = stats.paired([1.0, None, 3.0, 2.5], [1.5, 2.0, math.nan, 2.0])
    assert c["n"] == 2 and c["diff"] == pytest.approx(((1.0 - 1.5) + (2.5 - 2.0)) / 2)
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired([1.0, 2.0], [1.0])
    flat = stats.paired([1.0, 2.0], [1.0, 2.0])  # no spread of the differences: no test
    assert flat["diff"] == 0 and math.isnan(flat["p_t"]) and math.isnan(flat["excluded"])


def test_tost_by_hand_and_the_excluded_bound():
    d = np.subtract(PA, PB)
    se = d.std(ddof=1) / math.sqrt(5)
    r = stats.tost_paired(PA, PB, 0.03)
    assert r["p_lower"] == pytest.approx(sps.t.sf((d.mean() + 0.03) / se, 4))
    assert r["p_upper"] == pytest.approx(sps.t.cdf((d.mean() - 0.03) / se, 4))
    assert r["p"] == max(r["p_lower"], r["p_upper"])
    c = stats.paired(PA, PB)
    # the excluded bound is |mean| + t_0.95 · se: TOST there gives exactly p = 0.05
    assert c["excluded"] == pytest.approx(abs(d.mean()) + sps.t.ppf(0.95, 4) * se)
    assert stats.tost_paired(PA, PB, c["excluded"])["p"] == pytest.approx(0.05)
    assert stats.tost_paired(PA, PB, 1.01 * c["excluded"])["p"] < 0.05
    assert stats.tost_paired(PA, PB, 0.99 * c["excluded"])["p"] > 0.05


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Bonferroni would give 0.16 for the largest; Holm lets it keep its own p when it is the max
    assert stats.holm([0.5, 0.2]) == pytest.approx([0.5, 0.4])
    assert stats.holm([0.6, 0.7, 0.9]) == pytest.approx([1.0, 1.0, 1.0])  # capped at 1
    out = stats.holm([0.02, None, math.nan, 0.04])  # missing values do not count in m
    assert out[0] == pytest.approx(0.04) and out[3] == pytest.approx(0.04)
    assert math.isnan(out[1]) and math.isnan(out[2])
    assert stats.holm([]) == []


def test_paired_detectable_effect_matches_simulation():
    delta = stats.detectable_effect_paired(5)
    assert delta == pytest.approx(1.682, abs=2e-3)
    # large n: the normal approximation (z_0.975 + z_0.8) / sqrt(n)
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert stats.detectable_effect_paired(400) == pytest.approx(z / 20, rel=0.01)
    assert math.isnan(stats.detectable_effect_paired(1))
    rng = np.random.default_rng(2)
    d = rng.normal(delta, 1, (40_000, 5))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(5))
    assert np.mean(np.abs(t) > sps.t.ppf(0.975, 4)) == pytest.approx(0.8, abs=0.01)
    c = stats.paired(PA, PB)
    assert c["detectable"] == pytest.approx(delta * np.std(np.subtract(PA, PB), ddof=1))


def test_holm_against_statsmodels_where_installed():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(3)
    for m in (2, 3, 4, 7):
        p = rng.uniform(0, 0.2, m)
        ref = multitest.multipletests(p, method="holm")[1]
        assert stats.holm(p) == pytest.approx(list(ref))
