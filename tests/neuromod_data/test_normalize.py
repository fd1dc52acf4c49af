"""CPM, log1p and log10(x + 1) against dense hand computations; sparsity, dtype and records."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from neuromod_data.errors import DataValueError, NeuromodWarning
from neuromod_data.normalize import (
    cpm,
    cpm_of_genes,
    expression_kind,
    log1p,
    log10p1,
    to_cpm_values,
    x_kind,
)


def _counts(seed=0):
    rng = np.random.default_rng(seed)
    d = rng.poisson(2.0, (30, 12)).astype(np.float32) * (rng.random((30, 12)) < 0.3)
    d[0] = 0
    d[0, 3] = 5
    d[1] = 0  # a cell without counts
    return d


def test_cpm_matrix_sparse_and_dense_agree_with_hand_computation():
    d = _counts()
    lib = d.sum(1, keepdims=True).astype(np.float64)
    ref = np.divide(d * 1e6, lib, out=np.zeros(d.shape), where=lib > 0)
    with pytest.warns(NeuromodWarning, match="no counts"):
        s = cpm(sp.csr_matrix(d))
    assert sp.issparse(s) and s.dtype == np.float32 and s.nnz == np.count_nonzero(d)
    np.testing.assert_allclose(s.toarray(), ref, rtol=1e-6)
    with pytest.warns(NeuromodWarning):
        np.testing.assert_allclose(cpm(d), ref, rtol=1e-6)
    nonempty = lib.ravel() > 0
    np.testing.assert_allclose(s.toarray()[nonempty].sum(1), 1e6, rtol=1e-5)


def test_anndata_in_place_copy_and_records():
    d = _counts()
    d[d.sum(1) == 0, 0] = 1
    a = ad.AnnData(sp.csr_matrix(d))
    a.uns["neuromod"] = {"X": "counts", "source": "s"}
    b = cpm(a, copy=True)
    assert x_kind(a) == "counts" and x_kind(b) == "cpm" and b.uns["neuromod"]["source"] == "s"
    np.testing.assert_array_equal(a.X.toarray(), d)  # the original is untouched
    log10p1(b)
    assert x_kind(b) == "log10_cpm1"
    ref = np.log10(d / d.sum(1, keepdims=True) * 1e6 + 1)
    np.testing.assert_allclose(b.X.toarray(), ref, rtol=1e-5, atol=1e-6)
    assert b.X.nnz == np.count_nonzero(d)
    np.testing.assert_allclose(to_cpm_values(b.X.toarray(), "log10_cpm1"), cpm(d), rtol=1e-4)
    with pytest.raises(DataValueError, match="log10_cpm1"):
        cpm(b)


def test_log1p_layer_and_kinds():
    d = _counts()
    a = ad.AnnData(np.zeros_like(d), layers={"counts": sp.csr_matrix(d)})
    out = log1p(a, layer="counts", copy=True)
    np.testing.assert_allclose(out.layers["counts"].toarray(), np.log1p(d), rtol=1e-6)
    assert out.uns["neuromod"]["layers"]["counts"] == "log1p_counts"
    assert x_kind(out, "counts") == "log1p_counts"
    np.testing.assert_allclose(log10p1(np.array([[0.0, 9.0, 999.0]])), [[0, 1, 3]], atol=1e-6)


def test_negative_counts_refused():
    d = _counts()
    d[3, 4] = -2
    with pytest.raises(DataValueError, match="negative or non-finite"):
        cpm(sp.csr_matrix(d))


def test_expression_kind_records_first_then_whole_numbers():
    d = _counts()
    a = ad.AnnData(sp.csr_matrix(d))
    assert x_kind(a) == "unknown" and expression_kind(a) == "counts"
    a.X = a.X * 0.5
    assert expression_kind(a) == "unknown"  # decimals are not counts
    a.X = sp.csr_matrix(-d)
    assert expression_kind(a) == "unknown"  # nor are negative numbers
    a.uns["neuromod"] = {"X": "log10_cpm1"}
    assert expression_kind(a) == "log10_cpm1"  # a record wins over the guess


def test_cpm_of_genes_uses_all_genes_for_the_library_size():
    d = _counts()
    d[1, :2] = 1  # no empty library
    genes = [f"g{i}" for i in range(d.shape[1])]
    a = ad.AnnData(sp.csr_matrix(d), var=pd.DataFrame(index=genes))
    a.uns["neuromod"] = {"X": "counts"}
    lib = d.astype(np.float64).sum(1)
    got = cpm_of_genes(a, ["g5", "g3"])
    assert sp.issparse(got) and got.dtype == np.float64 and got.shape == (d.shape[0], 2)
    np.testing.assert_allclose(got.toarray(), d[:, [5, 3]] / lib[:, None] * 1e6, rtol=1e-12)
    # a recorded CPM form is un-logged, not normalised again
    b = ad.AnnData(sp.csr_matrix(np.log10(got.toarray() + 1)), var=pd.DataFrame(index=["g5", "g3"]))
    b.uns["neuromod"] = {"X": "log10_cpm1"}
    np.testing.assert_allclose(
        cpm_of_genes(b, ["g3"]).toarray()[:, 0], got.toarray()[:, 1], rtol=1e-9
    )
    b.uns["neuromod"] = {"X": "log1p_counts"}
    with pytest.raises(DataValueError, match="log1p_counts"):
        cpm_of_genes(b, ["g3"])
    with pytest.raises(DataValueError, match="'nope'"):
        cpm_of_genes(a, ["nope"])
