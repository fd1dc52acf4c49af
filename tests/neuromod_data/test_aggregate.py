"""Per-type aggregation checked against dense numpy / scipy computations, backed == in memory, bad input."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import trim_mean

from neuromod_data.aggregate import STATS, aggregate, smith2019
from neuromod_data.errors import (
    CellTypeError,
    ColumnError,
    DataValueError,
    MissingGenesWarning,
    NeuromodWarning,
)

ALL = list(STATS)


def _random(seed=0, n=400, g=36):
    """Sparse counts with ties, all-zero and all-nonzero genes, and types of 1 to ~150 cells."""
    rng = np.random.default_rng(seed)
    d = rng.poisson(0.8, (n, g)).astype(np.float32) * (rng.random((n, g)) < 0.35)
    d[:, 0] = 0  # all zero
    d[:, 1] = rng.poisson(6, n) + 1  # never zero
    d[:, 2] = (rng.random(n) < 0.55) * 3.0  # ties around the median
    d[:, 3] = rng.gamma(0.5, 100.0, n) * (rng.random(n) < 0.7)  # continuous, CPM-like
    sizes = {"A": 150, "B": 120, "C": 80, "D": 40, "E": 7, "F": 2, "G": 1}
    lab = np.concatenate([[k] * v for k, v in sizes.items()])
    lab = rng.permutation(lab)[:n]
    obs = pd.DataFrame({"t": lab}, index=[f"cell{i}" for i in range(n)])
    obs["grp"] = np.where(np.isin(lab, ["A", "B", "C"]), "big", "small")
    obs["noise"] = rng.random(n)
    a = ad.AnnData(sp.csr_matrix(d), obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(g)]))
    a.uns["neuromod"] = {"X": "counts", "source": "test"}
    return a, d, lab


def _dense_stats(m, trim):
    q = np.quantile(m, [0.25, 0.5, 0.75], axis=0)  # numpy default "linear" (type 7)
    return {
        "mean": m.mean(0),
        "median": np.median(m, axis=0),
        "trimmed_mean": trim_mean(m, trim, axis=0),
        "trimean": (q[0] + 2 * q[1] + q[2]) / 4,
        "frac_expressing": (m > 0).mean(0),
    }


@pytest.mark.parametrize("trim", [0.0, 0.05, 0.1, 0.25, 0.45])
def test_every_stat_matches_dense_reference(trim):
    a, d, lab = _random(seed=int(trim * 100))
    agg = aggregate(a, "t", stats=ALL, trim=trim)
    assert list(agg.obs_names) == sorted(set(lab))
    assert set(agg.layers.keys()) == set(ALL)
    np.testing.assert_array_equal(agg.X, agg.layers["mean"])
    for i, t in enumerate(agg.obs_names):
        ref = _dense_stats(d[lab == t].astype(np.float64), trim)
        assert agg.obs["n_cells"].iloc[i] == (lab == t).sum()
        for s in ALL:
            np.testing.assert_allclose(
                agg.layers[s][i], ref[s], rtol=1e-5, atol=1e-6, err_msg=f"{s} {t}"
            )


def test_threshold_and_transforms():
    a, d, lab = _random(seed=3)
    agg = aggregate(a, "t", stats=["frac_expressing", "median"], threshold=2.0, transform="log10")
    agg2 = aggregate(a, "t", stats=["mean"], transform="log1p")
    for i, t in enumerate(agg.obs_names):
        m = np.log10(d[lab == t].astype(np.float64) + 1)
        np.testing.assert_allclose(agg.layers["frac_expressing"][i], (m > 2.0).mean(0))
        np.testing.assert_allclose(agg.layers["median"][i], np.median(m, 0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(agg2.X[i], np.log1p(d[lab == t]).mean(0), rtol=1e-5)


def test_cpm_uses_all_genes_for_library_size_and_gene_order():
    a, d, lab = _random(seed=4)
    genes = ["g5", "g1", "g3"]
    agg = aggregate(a, "t", stats=["mean", "trimmed_mean"], genes=genes, normalize="cpm")
    assert list(agg.var_names) == genes
    lib = d.astype(np.float64).sum(1, keepdims=True)
    cpm = np.divide(1e6 * d, lib, out=np.zeros(d.shape), where=lib > 0)
    idx = [5, 1, 3]
    for i, t in enumerate(agg.obs_names):
        m = cpm[lab == t][:, idx]
        np.testing.assert_allclose(agg.layers["mean"][i], m.mean(0), rtol=1e-5)
        np.testing.assert_allclose(
            agg.layers["trimmed_mean"][i], trim_mean(m, 0.05, axis=0), rtol=1e-5
        )
    rec = agg.uns["neuromod_aggregate"]
    assert rec["cpm_from"] == "counts" and rec["normalize"] == "cpm"


def test_cpm_not_applied_twice_and_log_cpm_undone():
    a, d, lab = _random(seed=5)
    a.X = sp.csr_matrix(d * 7.0)  # pretend these are CPM of a gene subset
    a.uns["neuromod"]["X"] = "cpm"
    agg = aggregate(a, "t", stats=["mean"], normalize="cpm")
    ref = pd.DataFrame(d * 7.0).groupby(lab).mean().to_numpy()
    np.testing.assert_allclose(agg.X, ref, rtol=1e-5)
    b = a.copy()
    b.X = sp.csr_matrix(np.log10(d * 7.0 + 1))
    b.uns["neuromod"]["X"] = "log10_cpm1"
    np.testing.assert_allclose(aggregate(b, "t", normalize="cpm").X, ref, rtol=1e-4)
    b.uns["neuromod"]["X"] = "log1p_counts"
    with pytest.raises(DataValueError, match="log1p_counts"):
        aggregate(b, "t", normalize="cpm")


def test_smith2019_by_hand():
    counts = np.array(
        [[10, 0, 90], [20, 0, 80], [0, 5, 95], [50, 50, 0], [30, 60, 10]], dtype=np.float32
    )
    lab = np.array(["X", "X", "X", "Y", "Y"])
    a = ad.AnnData(sp.csr_matrix(counts), obs=pd.DataFrame({"t": lab}, index=list("abcde")))
    a.uns["neuromod"] = {"X": "counts"}
    agg = smith2019(a, "t")
    # 5 % of 3 or 2 cells is 0 values cut: the trimmed mean is the mean of CPM
    cpm = counts / counts.sum(1, keepdims=True) * 1e6
    tm = np.array([cpm[:3].mean(0), cpm[3:].mean(0)])
    logv = np.log10(tm + 1)
    np.testing.assert_allclose(agg.layers["trimmed_mean"], tm, rtol=1e-5)
    np.testing.assert_allclose(agg.layers["log10_trimmed_mean"], logv, rtol=1e-6)
    np.testing.assert_allclose(agg.X, logv / logv.max(0), rtol=1e-6)
    assert agg.X.max(0).tolist() == [1.0, 1.0, 1.0]
    assert agg.uns["neuromod_aggregate"]["preset"] == "smith2019"


def test_smith2019_trims_outliers_and_zero_gene_stays_zero():
    rng = np.random.default_rng(0)
    n = 40  # 5 % of 40 = 2 cells cut per end
    counts = rng.poisson(20, (n, 3)).astype(np.float32)
    counts[:, 2] = 0
    counts[0, 0] = 1e5  # outlier the trimmed mean ignores
    obs = pd.DataFrame({"t": ["A"] * 20 + ["B"] * 20}, index=[f"c{i}" for i in range(n)])
    a = ad.AnnData(sp.csr_matrix(counts), obs=obs)
    a.uns["neuromod"] = {"X": "counts"}
    agg = smith2019(a, "t", stats=["frac_expressing"])
    cpm = counts / counts.sum(1, keepdims=True) * 1e6
    tm = np.array([trim_mean(cpm[:20], 0.05, axis=0), trim_mean(cpm[20:], 0.05, axis=0)])
    np.testing.assert_allclose(agg.layers["trimmed_mean"], tm, rtol=1e-5)
    assert np.all(agg.X[:, 2] == 0) and np.all(np.isfinite(agg.X))
    assert "frac_expressing" in agg.layers


def test_toy_cortex_type_specificity():
    from neuromod_data.datasets import toy_cortex

    a = toy_cortex(seed=0)
    agg = smith2019(a, "subclass_label", genes=["Vip", "Sst", "Npy", "Vipr2"], min_cells=5)
    assert agg.obs_names[np.argmax(agg[:, "Vip"].X)] == "Vip"
    assert agg.obs_names[np.argmax(agg[:, "Sst"].X)] == "Sst"
    byc = smith2019(a, "cluster_label", genes=["Vipr2", "Nts"])
    assert byc.obs_names[np.argmax(byc[:, "Vipr2"].X)] == "Pvalb Vipr2"
    assert byc.obs_names[np.argmax(byc[:, "Nts"].X)] == "Sst Nts"
    # per-type constant columns survive; per-cell ones do not
    assert {"class_label", "subclass_label", "cluster_color"} <= set(byc.obs.columns)
    assert "total_counts" not in byc.obs.columns
    first = a.obs.groupby("cluster_label", observed=True)["subclass_label"].first()
    assert (byc.obs["subclass_label"].astype(str) == first.loc[byc.obs_names].astype(str)).all()


def test_backed_equals_in_memory(tmp_path):
    a, d, lab = _random(seed=7, n=300)
    path = tmp_path / "x.h5ad"
    a.write_h5ad(path)
    mem = aggregate(a, "t", stats=ALL, normalize="cpm", transform="log1p", trim=0.1)
    b = ad.read_h5ad(path, backed="r")
    try:
        # tiny chunks and batches force several passes over the file
        bk = aggregate(
            b,
            "t",
            stats=ALL,
            normalize="cpm",
            transform="log1p",
            trim=0.1,
            chunk_size=23,
            max_nnz=500,
            progress=False,
        )
    finally:
        b.file.close()
    assert bk.uns["neuromod_aggregate"]["backed"] and bk.uns["neuromod_aggregate"]["n_passes"] > 2
    assert list(bk.obs_names) == list(mem.obs_names)
    for s in ALL:
        np.testing.assert_allclose(bk.layers[s], mem.layers[s], rtol=1e-6, atol=1e-9, err_msg=s)
    np.testing.assert_array_equal(bk.layers["frac_expressing"], mem.layers["frac_expressing"])
    # a dense matrix on disk streams the same way
    dense_path = tmp_path / "dense.h5ad"
    c = a.copy()
    c.X = d.astype(np.float32)
    c.write_h5ad(dense_path)
    b = ad.read_h5ad(dense_path, backed="r")
    try:
        bd = aggregate(b, "t", stats=["median", "mean"], chunk_size=50, progress=False)
    finally:
        b.file.close()
    ref = aggregate(a, "t", stats=["median", "mean"])
    np.testing.assert_allclose(bd.layers["median"], ref.layers["median"])
    np.testing.assert_allclose(bd.layers["mean"], ref.layers["mean"], rtol=1e-6)


def test_dense_csc_and_non_canonical_inputs_agree():
    a, d, lab = _random(seed=8, n=200)
    ref = aggregate(a, "t", stats=ALL)
    for X in (d.copy(), sp.csc_matrix(d)):
        b = a.copy()
        b.X = X
        got = aggregate(b, "t", stats=ALL, chunk_size=33)
        for s in ALL:
            np.testing.assert_allclose(got.layers[s], ref.layers[s], rtol=1e-6, err_msg=s)
    # duplicated stored entries (non-canonical CSR) are summed, as scipy does
    x = sp.csr_matrix(d)
    dup = sp.csr_matrix(
        (np.repeat(x.data / 2, 2), np.repeat(x.indices, 2), x.indptr * 2), shape=d.shape
    )
    assert not dup.has_canonical_format
    b = a.copy()
    b.X = dup
    got = aggregate(b, "t", stats=ALL)
    for s in ALL:
        np.testing.assert_allclose(got.layers[s], ref.layers[s], rtol=1e-5, atol=1e-6, err_msg=s)


def test_result_round_trips_through_h5ad(tmp_path):
    a, _, _ = _random(seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agg = aggregate(a, "t", stats=ALL, genes=["g1", "nope"], min_cells=5)
    agg.write_h5ad(tmp_path / "agg.h5ad")
    back = ad.read_h5ad(tmp_path / "agg.h5ad")
    np.testing.assert_array_equal(back.layers["median"], agg.layers["median"])
    assert list(back.uns["neuromod_aggregate"]["missing_genes"]) == ["nope"]
    assert list(back.uns["neuromod_aggregate"]["dropped_types"]) == ["F", "G"]
    assert "grp" in back.obs.columns and "noise" not in back.obs.columns


def test_per_type_text_with_a_missing_value_round_trips_through_h5ad(tmp_path):
    a, _, lab = _random(seed=9)
    # constant within every type, but type "A" has no value
    a.obs["note"] = pd.Series(
        np.where(lab == "A", None, "x" + lab), index=a.obs_names, dtype=object
    )
    # a metadata column nobody filled in (as "Traced" of the M1 Patch-seq metadata)
    a.obs["empty"] = pd.Categorical([np.nan] * a.n_obs)
    agg = aggregate(a, "t")
    assert pd.isna(agg.obs.loc["A", "note"]) and agg.obs.loc["B", "note"] == "xB"
    assert agg.obs["empty"].isna().all()
    agg.write_h5ad(tmp_path / "agg.h5ad")
    back = ad.read_h5ad(tmp_path / "agg.h5ad")
    assert back.obs.loc["B", "note"] == "xB" and pd.isna(back.obs.loc["A", "note"])
    assert back.obs["empty"].isna().all()


def test_float64_matches_float32_and_a_float64_reference():
    a, d, lab = _random(seed=11)
    kw = {"stats": ALL, "normalize": "cpm", "transform": "log1p", "trim": 0.1}
    f32, f64 = aggregate(a, "t", **kw), aggregate(a, "t", dtype=np.float64, **kw)
    assert f64.uns["neuromod_aggregate"]["dtype"] == "float64"
    d64 = d.astype(np.float64)
    lib = d64.sum(1, keepdims=True)
    ref = np.log1p(np.divide(d64 * 1e6, lib, out=np.zeros(d.shape), where=lib > 0))
    for i, t in enumerate(f64.obs_names):
        exp = _dense_stats(ref[lab == t], 0.1)
        for s in ALL:
            np.testing.assert_allclose(f64.layers[s][i], exp[s], rtol=1e-12, atol=1e-12, err_msg=s)
            np.testing.assert_allclose(f32.layers[s][i], exp[s], rtol=1e-5, atol=1e-5, err_msg=s)
    with pytest.raises(ValueError, match="dtype"):
        aggregate(a, "t", dtype=np.int32)


def test_categorical_order_is_kept():
    a, _, lab = _random(seed=10)
    cats = ["G", "C", "A", "B", "F", "E", "D"]
    a.obs["t"] = pd.Categorical(lab, categories=cats)
    assert list(aggregate(a, "t").obs_names) == cats


# ------------------------------------------------------------------------------------------ bad input
def test_missing_genes_warn_and_are_recorded():
    a, _, _ = _random()
    with pytest.warns(MissingGenesWarning, match="Npy2r"):
        agg = aggregate(a, "t", genes=["g2", "Npy2r", "Trhr"])
    assert list(agg.var_names) == ["g2"]
    assert list(agg.uns["neuromod_aggregate"]["missing_genes"]) == ["Npy2r", "Trhr"]
    with pytest.raises(ColumnError, match="none of the 2 requested"):
        aggregate(a, "t", genes=["Npy2r", "Trhr"])


def test_small_types_dropped_with_warning():
    a, _, lab = _random()
    with pytest.warns(NeuromodWarning, match=r"'F' \(2\)"):
        agg = aggregate(a, "t", min_cells=3)
    assert "F" not in agg.obs_names and "G" not in agg.obs_names and "E" in agg.obs_names
    assert list(agg.uns["neuromod_aggregate"]["dropped_type_sizes"]) == [2, 1]
    with pytest.raises(CellTypeError, match="min_cells=1000"):
        aggregate(a, "t", min_cells=1000)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_negative_or_non_finite_values_name_gene_and_cell(bad):
    a, d, _ = _random()
    d = d.copy()
    d[17, 4] = bad
    a.X = sp.csr_matrix(d)
    with pytest.raises(DataValueError, match=r"gene 'g4' in cell 'cell17'"):
        aggregate(a, "t")


def test_unknown_column_layer_and_stat():
    a, _, _ = _random()
    with pytest.raises(ColumnError, match=r"'cell_type' not found.*available: t, grp, noise"):
        aggregate(a, "cell_type")
    with pytest.raises(ColumnError, match="layer 'counts' not found"):
        aggregate(a, "t", layer="counts")
    with pytest.raises(ValueError, match="unknown statistic"):
        aggregate(a, "t", stats=["mode"])
    with pytest.raises(ValueError, match="trim"):
        aggregate(a, "t", stats=["trimmed_mean"], trim=0.5)


def test_duplicated_gene_names_refused():
    a, _, _ = _random()
    a.var_names = ["g0"] * 2 + [f"g{i}" for i in range(2, a.n_vars)]
    with pytest.raises(DataValueError, match="duplicated gene names.*'g0'"):
        aggregate(a, "t")


def test_label_whitespace_and_case_are_reported():
    a, d, lab = _random()
    raw = lab.astype(object).copy()
    raw[:5] = [f" {x}  " for x in raw[:5]]
    raw[raw == "D"] = ["D", "d"] * (int((raw == "D").sum()) // 2) + ["D"] * (
        int((raw == "D").sum()) % 2
    )
    raw[10] = np.nan
    a.obs["t"] = raw
    with pytest.warns(NeuromodWarning) as rec:
        agg = aggregate(a, "t")
    text = " ".join(str(w.message) for w in rec)
    assert "whitespace" in text and "'D' / 'd'" in text and "no 't' label" in text
    assert {"D", "d"} <= set(agg.obs_names) and not any(n != n.strip() for n in agg.obs_names)
    assert agg.obs["n_cells"].sum() == a.n_obs - 1
    with pytest.warns(NeuromodWarning):
        merged = aggregate(a, "t", merge_case=True)
    assert "d" not in merged.obs_names and merged.obs.loc["D", "n_cells"] == (lab == "D").sum()


# ----------------------------------------------------------------------------------------- real data
def test_explorer_file_smith2019(shared_data):
    path = shared_data / "allen_tasic2018_explorer" / "sample_heatmap_plot_data.csv"
    df = pd.read_csv(path)
    genes = [c[: -len("_log10_cpm")] for c in df.columns if c.endswith("_log10_cpm")]
    logv = df[[f"{g}_log10_cpm" for g in genes]].to_numpy(np.float32)
    obs = df[["sample_name", "cluster_label", "cluster_color", "class_label"]].set_index(
        "sample_name"
    )
    a = ad.AnnData(sp.csr_matrix(logv), obs=obs, var=pd.DataFrame(index=genes))
    a.uns["neuromod"] = {"X": "log10_cpm1", "source": str(path)}
    # the real export has two cluster labels with a trailing space: warned and normalised
    with pytest.warns(NeuromodWarning, match="Sst Myh8 Etv1 "):
        agg = smith2019(a, "cluster_label", stats=["mean"])
    assert agg.n_obs == 133 and agg.obs["n_cells"].sum() == len(df) == 23822
    top_vip = agg.obs_names[np.argmax(agg[:, "Vip"].X)]
    top_sst = agg.obs_names[np.argmax(agg[:, "Sst"].X)]
    assert top_vip.startswith("Vip") and top_sst.startswith("Sst"), (top_vip, top_sst)
    # independent: pandas group means of 10**x - 1
    cpm = pd.DataFrame(10.0 ** logv.astype(np.float64) - 1, columns=genes)
    ref = cpm.groupby(df["cluster_label"].str.strip().to_numpy()).mean().loc[agg.obs_names]
    np.testing.assert_allclose(agg.layers["mean"], ref.to_numpy(), rtol=2e-4, atol=1e-3)
    assert set(agg.obs["class_label"]) == set(df["class_label"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_input_is_never_modified(dtype):
    a, d, lab = _random(seed=11, n=120)
    order = np.argsort(lab, kind="stable")  # cells already grouped: no regrouping copy is made
    a = a[order].copy()
    d, lab = d[order].astype(dtype).astype(np.float64), lab[order]
    a.X = sp.csr_matrix(d.astype(dtype))
    before = a.X.copy()
    got = aggregate(a, "t", stats=["mean", "median"], normalize="cpm", transform="log1p")
    assert a.X.dtype == dtype
    np.testing.assert_array_equal(a.X.toarray(), before.toarray())
    lib = d.sum(1, keepdims=True)
    ref = np.log1p(np.divide(1e6 * d, lib, out=np.zeros(d.shape), where=lib > 0))
    for i, t in enumerate(got.obs_names):
        np.testing.assert_allclose(got.layers["mean"][i], ref[lab == t].mean(0), rtol=1e-5)
        np.testing.assert_allclose(got.layers["median"][i], np.median(ref[lab == t], 0), rtol=1e-5)


def test_every_gene_stored_in_every_cell():
    """No implicit zeros at all (every gene needs sorting in every type)."""
    rng = np.random.default_rng(12)
    d = rng.integers(1, 9, (90, 7)).astype(np.float32)
    lab = np.array(["A"] * 50 + ["B"] * 40)
    a = ad.AnnData(
        sp.csr_matrix(d), obs=pd.DataFrame({"t": lab}, index=[f"c{i}" for i in range(90)])
    )
    agg = aggregate(a, "t", stats=ALL, trim=0.1)
    for i, t in enumerate(agg.obs_names):
        ref = _dense_stats(d[lab == t].astype(np.float64), 0.1)
        for s in ALL:
            np.testing.assert_allclose(agg.layers[s][i], ref[s], rtol=1e-6, err_msg=s)


def test_row_scaling_and_sums_in_blocks():
    from neuromod_data.normalize import _row_sums, _scale_rows

    a, d, _ = _random(seed=13, n=60)
    m = sp.csr_matrix(d)
    np.testing.assert_allclose(_row_sums(m), d.astype(np.float64).sum(1), rtol=1e-6)
    scale = np.linspace(0.5, 3.0, m.shape[0])
    _scale_rows(m, scale, block=7)  # several blocks of rows
    np.testing.assert_allclose(m.toarray(), d * scale[:, None].astype(np.float32), rtol=1e-6)
