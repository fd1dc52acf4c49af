"""The vectorised permutation test against a slow direct implementation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from neuromod_data.errors import CellTypeError, DataValueError, ResourceError
from neuromod_data.permutation import cellphonedb_test


def _data(seed=0, n=90, k=4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    labels[:k] = np.arange(k)  # every type used
    X = rng.poisson(0.7, size=(n, 5)).astype(float)
    X[labels == 1, 0] += rng.poisson(3, (labels == 1).sum())  # gene L0 high in type 1
    X[labels == 2, 3] += rng.poisson(3, (labels == 2).sum())  # gene R0 high in type 2
    X = np.log1p(X)
    genes = ["L0", "L1", "L2", "R0", "R1"]
    return X, labels, genes


def _slow(X, labels, genes, pairs, expr_prop, n_perms, seed, policy="min"):
    """Direct: explicit loops over permutations, types and pairs."""
    k = labels.max() + 1
    gi = {g: i for i, g in enumerate(genes)}
    n = X.shape[0]

    def type_means(perm):
        out = np.zeros((k, X.shape[1]))
        for g in range(k):
            members = [perm[j] for j in range(n) if labels[j] == g]
            out[g] = X[members].mean(axis=0)
        return out

    def cx(vals, name):
        sub = [vals[gi[s]] for s in name.split("_")]
        return min(sub) if policy == "min" else float(np.prod(sub)) ** (1 / len(sub))

    ident = np.arange(n)
    obs = type_means(ident)
    props = np.array([(X[labels == g] > 0).mean(axis=0) for g in range(k)])
    P = len(pairs)
    score = np.zeros((P, k, k))
    expressed = np.zeros((P, k, k), bool)
    for p, (lc, rc) in enumerate(pairs):
        for a in range(k):
            for b in range(k):
                lv, rv = cx(obs[a], lc), cx(obs[b], rc)
                score[p, a, b] = 0.0 if lv == 0 or rv == 0 else (lv + rv) / 2
                expressed[p, a, b] = cx(props[a], lc) >= expr_prop and cx(props[b], rc) >= expr_prop
    rng = np.random.default_rng(seed)
    count = np.zeros((P, k, k), int)
    for _ in range(n_perms):
        pm = type_means(rng.permutation(n))
        for p, (lc, rc) in enumerate(pairs):
            for a in range(k):
                for b in range(k):
                    if (cx(pm[a], lc) + cx(pm[b], rc)) / 2 >= score[p, a, b] * (
                        1 - 1e-10
                    ):  # ties count
                        count[p, a, b] += 1
    return score, expressed, (count + 1) / (n_perms + 1)


@pytest.mark.parametrize("policy", ["min", "gmean"])
def test_matches_slow_direct_implementation(policy):
    X, labels, genes = _data()
    pairs = [("L0", "R0"), ("L1_L2", "R1"), ("L0", "R0_R1")]
    res = cellphonedb_test(
        X,
        labels,
        genes,
        pairs,
        expr_prop=0.2,
        n_perms=40,
        seed=3,
        complex_policy=policy,
        batch_size=7,
    )
    score, expressed, pval = _slow(X, labels, genes, pairs, 0.2, 40, 3, policy)
    np.testing.assert_allclose(res.score, score, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(res.expressed, expressed)
    np.testing.assert_allclose(res.pvalue, pval, rtol=0, atol=1e-12)
    assert res.pvalue.min() >= 1 / 41  # (k+1)/(n+1) is never below 1/(n+1)


def test_signal_detected_and_null_not():
    X, labels, genes = _data(n=200)
    res = cellphonedb_test(X, labels, genes, [("L0", "R0")], n_perms=199, seed=0, expr_prop=0.0)
    assert res.pvalue[0, 1, 2] == pytest.approx(1 / 200)  # type 1 → type 2 carries both genes
    assert res.pvalue[0, 0, 0] > 0.2


def test_identical_for_any_n_jobs_and_batch_size_and_sparse_input():
    X, labels, genes = _data(seed=1)
    pairs = [("L0", "R0"), ("L1", "R1")]
    ref = cellphonedb_test(X, labels, genes, pairs, n_perms=101, seed=7, n_jobs=1)
    for kw in (
        {"n_jobs": 2},
        {"n_jobs": 2, "batch_size": 5},
        {"batch_size": 1},
        {"n_jobs": 3, "batch_size": 13},
    ):
        other = cellphonedb_test(sp.csr_matrix(X), labels, genes, pairs, n_perms=101, seed=7, **kw)
        np.testing.assert_array_equal(other.counts, ref.counts)
        np.testing.assert_array_equal(other.pvalue, ref.pvalue)
        np.testing.assert_array_equal(other.score, ref.score)


def test_only_expressed_gives_the_same_pvalues_on_expressed_entries():
    X, labels, genes = _data(seed=4)
    pairs = [("L0", "R0"), ("L1_L2", "R1")]
    full = cellphonedb_test(X, labels, genes, pairs, n_perms=60, seed=1, expr_prop=0.6)
    part = cellphonedb_test(
        X, labels, genes, pairs, n_perms=60, seed=1, expr_prop=0.6, only_expressed=True
    )
    assert 0 < full.expressed.sum() < full.expressed.size
    np.testing.assert_array_equal(part.pvalue[full.expressed], full.pvalue[full.expressed])
    assert np.isnan(part.pvalue[~full.expressed]).all()


def test_seed_determinism():
    X, labels, genes = _data(seed=2)
    a = cellphonedb_test(X, labels, genes, [("L1", "R1")], n_perms=50, seed=11)
    b = cellphonedb_test(X, labels, genes, [("L1", "R1")], n_perms=50, seed=11)
    c = cellphonedb_test(X, labels, genes, [("L1", "R1")], n_perms=50, seed=12)
    np.testing.assert_array_equal(a.pvalue, b.pvalue)
    assert not np.array_equal(a.counts, c.counts)


def test_exact_ties_count_as_greater_or_equal():
    # two cells per type with identical values in type 0 and 1: every permutation that keeps the
    # multiset ties the observed score exactly and must count
    X = np.array([[1.0, 2.0], [3.0, 2.0], [3.0, 2.0], [1.0, 2.0], [0.5, 2.0], [0.5, 2.0]])
    labels = np.array([0, 0, 1, 1, 2, 2])
    res = cellphonedb_test(X, labels, ["L", "R"], [("L", "R")], n_perms=200, seed=0, expr_prop=0.0)
    slow = _slow(X, labels, ["L", "R"], [("L", "R")], 0.0, 200, 0)[2]
    np.testing.assert_allclose(res.pvalue, slow, atol=1e-12)
    # receptor is constant, so type 0's score (mean 2 + 2)/2 is reached by any draw with mean L >= 2
    assert res.pvalue[0, 0, 0] > 0.3


def test_zero_permutations_give_nan_pvalues():
    X, labels, genes = _data()
    res = cellphonedb_test(X, labels, genes, [("L0", "R0")], n_perms=0)
    assert np.isnan(res.pvalue).all() and np.isfinite(res.score).all()


def test_bad_input():
    X, labels, genes = _data()
    with pytest.raises(CellTypeError, match="at least 2"):
        cellphonedb_test(X, np.zeros(len(labels), int), genes, [("L0", "R0")])
    with pytest.raises(ResourceError, match="absent"):
        cellphonedb_test(X, labels, genes, [("L0", "Nope")])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataValueError, match="NaN"):
        cellphonedb_test(bad, labels, genes, [("L0", "R0")])
    with pytest.raises(DataValueError, match="labels"):
        cellphonedb_test(X, labels[:-1], genes, [("L0", "R0")])
