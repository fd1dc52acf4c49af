"""score_interactions: hand-computed cases, the three methods, aggregates, bad input, real data."""

from __future__ import annotations

import json
import math
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from neuromod_data.errors import (
    CellTypeError,
    ColumnError,
    DataValueError,
    MissingGenesWarning,
    NeuromodWarning,
    ResourceError,
)
from neuromod_data.permutation import cellphonedb_test
from neuromod_data.score import COLUMNS, score_interactions

RES = pd.DataFrame(
    {"ligand": ["L"], "receptor": ["R"], "family": ["neuropeptide"], "g_protein": ["Gq"]}
)


def _tiny() -> ad.AnnData:
    # libraries: 100, 100, 200, 100 counts
    X = np.array([[10, 0, 90], [0, 50, 50], [0, 100, 100], [20, 20, 60]], dtype=np.float32)
    a = ad.AnnData(X=sp.csr_matrix(X), obs=pd.DataFrame({"t": ["A", "A", "B", "B"]}, index=list("wxyz")),
                   var=pd.DataFrame(index=["L", "R", "O"]))  # fmt: skip
    a.uns["neuromod"] = {"X": "counts"}
    return a


def _row(table, s, t):
    return table[(table.source == s) & (table.target == t)].iloc[0]


def test_product_by_hand():
    agg = score_interactions(_tiny(), "t", resource=RES, method="product")
    t = agg.uns["neuromod_interactions"]
    assert list(t.columns) == COLUMNS and len(t) == 4
    la = math.log1p(1e5) / 2
    lb = math.log1p(2e5) / 2
    ra = math.log1p(5e5) / 2
    rb = (math.log1p(5e5) + math.log1p(2e5)) / 2
    for (s, tg), exp in {
        ("A", "A"): la * ra,
        ("A", "B"): la * rb,
        ("B", "A"): lb * ra,
        ("B", "B"): lb * rb,
    }.items():
        r = _row(t, s, tg)
        assert r.score == pytest.approx(exp, rel=1e-12)
    r = _row(t, "A", "B")
    assert (r.ligand_means, r.receptor_means) == pytest.approx((la, rb))
    assert (r.ligand_props, r.receptor_props) == (0.5, 1.0)
    assert r.family == "neuropeptide" and r.g_protein == "Gq" and r.interaction == "L→R"
    assert np.isnan(t.pvalue).all()
    assert agg.obs.loc["A", "n_cells"] == 2 and list(agg.obs_names) == ["A", "B"]
    assert agg.uns["neuromod_interactions_params"]["method"] == "product"


def test_smith2019_both_forms_by_hand():
    a = _tiny()
    t = score_interactions(a, "t", resource=RES, method="smith2019").uns["neuromod_interactions"]
    # 2 cells per type: a 5% trim cuts nothing; CPM means L_A = 5e4, R_B = 3.5e5
    assert _row(t, "A", "B").score == pytest.approx(math.log10(5e4 * 3.5e5 + 1), rel=1e-12)
    assert _row(t, "A", "B").ligand_means == pytest.approx(5e4)
    f = score_interactions(a, "t", resource=RES, method="smith2019", stat="frac_expressing")
    tf = f.uns["neuromod_interactions"]
    assert _row(tf, "A", "B").score == pytest.approx(0.5 * 1.0)
    assert _row(tf, "B", "A").score == pytest.approx(0.5 * 0.5)


def test_trimmed_mean_cuts_five_percent_each_end():
    rng = np.random.default_rng(0)
    n = 40  # 5% of 40 = 2 cells cut at each end
    lig = rng.integers(1, 50, n).astype(float)
    lig[0] = 10_000  # an outlier the trimmed mean ignores
    X = np.column_stack([lig, np.full(n, 5.0)])
    a = ad.AnnData(
        X=X,
        obs=pd.DataFrame({"t": ["A"] * 20 + ["B"] * 20}, index=[f"c{i}" for i in range(n)]),
        var=pd.DataFrame(index=["L", "R"]),
    )
    a.uns["neuromod"] = {"X": "cpm"}
    t = score_interactions(a, "t", resource=RES, method="smith2019").uns["neuromod_interactions"]
    exp = np.sort(lig[:20])[1:-1].mean()  # int(0.05 * 20) = 1 cut at each end
    assert _row(t, "A", "A").ligand_means == pytest.approx(exp)


def test_log10_cpm_input_is_converted_back_to_cpm():
    cpm = np.array([[99.0, 9.0], [999.0, 9.0], [0.0, 99.0], [0.0, 999.0]])
    a = ad.AnnData(
        X=np.log10(cpm + 1),
        obs=pd.DataFrame({"t": list("AABB")}),
        var=pd.DataFrame(index=["L", "R"]),
    )
    a.uns["neuromod"] = {"X": "log10_cpm1"}
    t = score_interactions(a, "t", resource=RES, method="smith2019").uns["neuromod_interactions"]
    assert _row(t, "A", "B").ligand_means == pytest.approx(549.0)
    assert _row(t, "A", "B").receptor_means == pytest.approx(549.0)


def test_cellphonedb_matches_permutation_module_and_filters():
    rng = np.random.default_rng(1)
    n = 120
    lab = np.repeat(["A", "B", "C"], 40)
    counts = rng.poisson(2.0, size=(n, 4)).astype(np.float32)
    counts[:40, 0] += 8
    counts[40:80, 1] = 0  # receptor absent from B
    counts[:, 2] += 1  # no empty library
    a = ad.AnnData(
        X=sp.csr_matrix(counts),
        obs=pd.DataFrame({"t": lab}),
        var=pd.DataFrame(index=["L", "R", "O1", "O2"]),
    )
    a.uns["neuromod"] = {"X": "counts"}
    agg = score_interactions(
        a, "t", resource=RES, method="cellphonedb", n_perms=99, seed=5, expr_prop=0.2
    )
    t = agg.uns["neuromod_interactions"]
    c64 = counts.astype(np.float64)
    expr = np.log1p(c64 / c64.sum(axis=1, keepdims=True) * 1e6)
    ref = cellphonedb_test(expr, np.repeat([0, 1, 2], 40), ["L", "R", "O1", "O2"], [("L", "R")],
                           n_perms=99, seed=5, expr_prop=0.2)  # fmt: skip
    names = ["A", "B", "C"]
    expect = {(names[i], names[j]) for i in range(3) for j in range(3) if ref.expressed[0, i, j]}
    assert set(zip(t.source, t.target)) == expect and ("A", "B") not in expect
    for _, r in t.iterrows():
        i, j = names.index(r.source), names.index(r.target)
        assert r.score == pytest.approx(ref.score[0, i, j], rel=1e-12)
        assert r.pvalue == ref.pvalue[0, i, j]
    assert _row(t, "A", "A").pvalue < 0.05
    allrows = score_interactions(
        a, "t", resource=RES, method="cellphonedb", n_perms=9, return_all=True
    )
    assert len(allrows.uns["neuromod_interactions"]) == 9
    params = agg.uns["neuromod_interactions_params"]
    assert params["n_perms"] == 99 and ">=" in params["pvalue_convention"]


def test_product_from_aggregate_matches_cells(toy):
    from neuromod_data.aggregate import aggregate

    agg_in = aggregate(
        toy, "subclass_label", stats=("mean", "frac_expressing"), normalize="cpm", transform="log1p"
    )
    from_agg = score_interactions(agg_in, resource="neuropeptides", method="product").uns[
        "neuromod_interactions"
    ]
    from_cells = score_interactions(toy, "subclass_label", resource="neuropeptides").uns[
        "neuromod_interactions"
    ]
    m = from_agg.merge(from_cells, on=["source", "target", "interaction"])
    assert len(m) == len(from_cells) == len(from_agg)
    np.testing.assert_allclose(m.score_x, m.score_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.ligand_props_x, m.ligand_props_y)
    with pytest.raises(ValueError, match="aggregate supports method='product'"):
        score_interactions(agg_in, resource="neuropeptides", method="cellphonedb")


def test_toy_type_specificity(toy):
    t = score_interactions(toy, "subclass_label", resource="neuropeptides", method="smith2019").uns[
        "neuromod_interactions"
    ]
    lig = t.drop_duplicates(["ligand", "source"]).pivot(
        index="source", columns="ligand", values="ligand_means"
    )
    assert lig["Vip"].idxmax() == "Vip" and lig["Sst"].idxmax() == "Sst"


def test_complex_policy_changes_multi_gene_entries():
    X = np.array([[4.0, 1.0, 2.0], [4.0, 1.0, 2.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    a = ad.AnnData(
        X=X, obs=pd.DataFrame({"t": list("AABB")}), var=pd.DataFrame(index=["G1", "G2", "R"])
    )
    a.uns["neuromod"] = {"X": "cpm"}
    res = pd.DataFrame(
        {"ligand": ["GG"], "receptor": ["R"], "ligand_genes": ["G1_G2"], "receptor_genes": ["R"]}
    )
    mn = score_interactions(a, "t", resource=res, method="smith2019", stat="mean").uns[
        "neuromod_interactions"
    ]
    gm = score_interactions(
        a, "t", resource=res, method="smith2019", stat="mean", complex_policy="gmean"
    ).uns["neuromod_interactions"]
    assert _row(mn, "A", "A").ligand_means == pytest.approx(1.0)
    assert _row(gm, "A", "A").ligand_means == pytest.approx(2.0)
    assert _row(mn, "A", "A").ligand_complex == "G1_G2"


def test_neuromodulators_resource_with_alternatives(toy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agg = score_interactions(
            toy, "subclass_label", resource="neuromodulators", method="product"
        )
    t = agg.uns["neuromod_interactions"]
    gaba = t[t.ligand_complex.str.startswith("Gad1_Gad2")].iloc[0]
    groups = dict(zip(*[s.split("_") for s in ("Gad1_Gad2_Slc32a1", "1_1_2")]))
    assert groups == {"Gad1": "1", "Gad2": "1", "Slc32a1": "2"}
    m = agg[gaba.source].layers["mean"]
    col = {g: list(agg.var_names).index(g) for g in ("Gad1", "Gad2", "Slc32a1")}
    expect = min(max(m[0, col["Gad1"]], m[0, col["Gad2"]]), m[0, col["Slc32a1"]])
    assert gaba.ligand_means == pytest.approx(expect)
    # GABA is made by GABAergic types, not by excitatory ones
    per = (
        t[t.ligand_complex == gaba.ligand_complex]
        .drop_duplicates("source")
        .set_index("source")
        .ligand_means
    )
    assert per["Sst"] > 10 * max(per["L2/3 IT"], 1e-9)


def test_missing_genes_are_warned_and_recorded():
    res = pd.concat(
        [RES, pd.DataFrame({"ligand": ["L"], "receptor": ["Absent1"]})], ignore_index=True
    )
    with pytest.warns(MissingGenesWarning, match="Absent1"):
        agg = score_interactions(_tiny(), "t", resource=res)
    p = agg.uns["neuromod_interactions_params"]
    assert p["missing_genes"] == ["Absent1"] and p["missing_interactions"] == ["L→Absent1"]
    assert set(agg.uns["neuromod_interactions"].interaction) == {"L→R"}


# ------------------------------------------------------------------ bad input
def test_empty_intersection():
    res = pd.DataFrame({"ligand": ["Foo"], "receptor": ["Bar"]})
    with pytest.raises(ResourceError, match="none of the 1 interactions"):
        score_interactions(_tiny(), "t", resource=res)


def test_single_type():
    a = _tiny()
    a.obs["t"] = "A"
    with pytest.raises(CellTypeError, match="at least 2 types"):
        score_interactions(a, "t", resource=RES)


def test_types_below_min_cells():
    a = _tiny()
    a.obs["t"] = ["A", "A", "A", "B"]
    with (
        pytest.warns(NeuromodWarning, match="'B' \\(1\\)"),
        pytest.raises(CellTypeError, match="left out for size"),
    ):
        score_interactions(a, "t", resource=RES, min_cells=2)
    b = ad.concat([_tiny(), _tiny()], index_unique="-")
    b.obs["t"] = ["A", "A", "B", "B", "A", "C", "B", "B"]
    b.uns["neuromod"] = {"X": "counts"}
    with pytest.warns(NeuromodWarning, match="'C'"):
        agg = score_interactions(b, "t", resource=RES, min_cells=2)
    assert list(agg.obs_names) == ["A", "B"]
    assert agg.uns["neuromod_interactions_params"]["dropped_types"] == ["C"]


def test_resource_without_needed_columns():
    with pytest.raises(ResourceError, match="lacks the column 'receptor'"):
        score_interactions(_tiny(), "t", resource=pd.DataFrame({"ligand": ["L"], "target": ["R"]}))


def test_nan_in_aggregate():
    agg = ad.AnnData(X=np.array([[1.0, np.nan], [2.0, 3.0]]), obs=pd.DataFrame({"n_cells": [5, 6]}, index=["A", "B"]),
                     var=pd.DataFrame(index=["L", "R"]))  # fmt: skip
    with pytest.raises(DataValueError, match="type 'A', gene 'R'"):
        score_interactions(agg, resource=RES)


def test_missing_label_column_and_bad_method():
    with pytest.raises(ColumnError, match="'nope'"):
        score_interactions(_tiny(), "nope", resource=RES)
    with pytest.raises(ValueError, match="method"):
        score_interactions(_tiny(), "t", resource=RES, method="magic")


# ------------------------------------------------------------------ real data
def _tasic(shared_data) -> ad.AnnData:
    from neuromod_data.io import read

    path = shared_data / "allen_tasic2018_explorer" / "sample_heatmap_plot_data.csv"
    if not path.exists():
        pytest.skip(f"{path} absent")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read(path)


def test_tasic_vip_and_sst_type_specific(shared_data):
    a = _tasic(shared_data)
    # the explorer export has no receptor genes: pair Vip with Sst to read both per-type values
    res = pd.DataFrame({"ligand": ["Vip"], "receptor": ["Sst"]})
    agg = score_interactions(a, "cluster_label", resource=res, method="smith2019", min_cells=5)
    t = agg.uns["neuromod_interactions"]
    vip = t.drop_duplicates("source").set_index("source").ligand_means.sort_values(ascending=False)
    sst = (
        t.drop_duplicates("target").set_index("target").receptor_means.sort_values(ascending=False)
    )
    assert all(n.startswith("Vip") for n in vip.index[:5]), vip.head()
    assert all(n.startswith("Sst") for n in sst.index[:5]), sst.head()
    assert agg.obs.loc[vip.index[0], "sign"] == -1
    # the full neuropeptide resource: no receptor is in the export → one clear error
    with (
        pytest.raises(ResourceError, match="none of the 37 interactions"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        score_interactions(a, "cluster_label", resource="neuropeptides")


@pytest.fixture(scope="module")
def m1(shared_data):
    from neuromod_data.io import read

    d = shared_data / "allen_m1_patchseq"
    if not d.is_dir():
        pytest.skip(f"{d} absent")
    return read(
        d / "m1_patchseq_phys_temp_exon_counts.csv.gz",
        metadata=d / "m1_patchseq_phys_temp_meta_data.csv",
    )


@pytest.mark.parametrize("level", ["RNA family", "RNA type"])
def test_m1_patchseq_counts_to_graph(m1, level):
    from neuromod_data.graph import graph_from_scores, graph_summary, to_structure

    with pytest.warns(MissingGenesWarning, match="Npy2r.*Trhr"):
        agg = score_interactions(m1, level, resource="neuropeptides", method="smith2019")
    params = agg.uns["neuromod_interactions_params"]
    assert params["missing_genes"] == ["Npy2r", "Trhr"]
    assert params["missing_interactions"] == ["Npy→Npy2r", "Trh→Trhr"]
    assert params["expression"] == "cpm"
    t = agg.uns["neuromod_interactions"]
    k = agg.n_obs
    assert k == m1.obs[level].nunique() and len(t) == 35 * k * k
    assert agg.obs["n_cells"].sum() == m1.obs[level].notna().sum()
    # type specificity: Sst is highest in Sst cells
    sst = t[t.ligand == "Sst"].drop_duplicates("source").set_index("source").ligand_means
    assert sst.idxmax().startswith("Sst")
    g = graph_from_scores(agg, quantile=0.9)  # Smith's 90th percentile
    assert set(g.nodes) == set(m1.obs[level].dropna().astype(str))
    assert g.nodes[sst.idxmax()]["sign"] == -1
    summ = graph_summary(g)
    assert 0 < summ["edge_density"] <= 0.11
    assert json.loads(g.graph["missing_interactions"]) == ["Npy→Npy2r", "Trh→Trhr"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = to_structure(g)
    if level == "RNA family":  # "low quality" cells have no type at the RNA type level
        assert any("low quality" in str(w.message) for w in caught)
    assert "low quality" not in s.names and s.n_pairs == 35
    assert set(s.signs.tolist()) == {-1, 1}


@pytest.fixture(scope="module")
def toy():
    from neuromod_data.datasets import toy_cortex

    return toy_cortex(n_cells=1200, seed=0)
