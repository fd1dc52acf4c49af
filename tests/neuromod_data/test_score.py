"""score_interactions: hand-computed cases, the three methods against independent computations,
the inplace / return contract, options that do not apply, one cell-type rule, bad input, real data."""

from __future__ import annotations

import json
import math
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import trim_mean

from neuromod_data.errors import (
    CellTypeError,
    ColumnError,
    DataValueError,
    MissingGenesWarning,
    NeuromodWarning,
    ResourceError,
    UsageError,
)
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


def _table(adata, *args, **kw) -> pd.DataFrame:
    return score_interactions(adata, *args, inplace=False, **kw).uns["neuromod_interactions"]


def _row(table, s, t):
    return table[(table.source == s) & (table.target == t)].iloc[0]


def _log1p_cpm(counts: np.ndarray) -> np.ndarray:
    c = counts.astype(np.float64)
    lib = c.sum(axis=1, keepdims=True)
    return np.log1p(np.divide(c * 1e6, lib, out=np.zeros_like(c), where=lib > 0))


def test_product_by_hand():
    agg = score_interactions(_tiny(), "t", resource=RES, method="product", inplace=False)
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
    t = _table(a, "t", resource=RES, method="smith2019")
    # 2 cells per type: a 5% trim cuts nothing; CPM means L_A = 5e4, R_B = 3.5e5
    assert _row(t, "A", "B").score == pytest.approx(math.log10(5e4 * 3.5e5 + 1), rel=1e-12)
    assert _row(t, "A", "B").ligand_means == pytest.approx(5e4)
    tf = _table(a, "t", resource=RES, method="smith2019", stat="frac_expressing")
    assert _row(tf, "A", "B").score == pytest.approx(0.5 * 1.0)
    assert _row(tf, "B", "A").score == pytest.approx(0.5 * 0.5)


def test_smith2019_is_log10_of_the_product_plus_one_by_hand():
    # docs/design.md, "Interaction table": smith2019 = log10(L·R + 1). CPM chosen so that L·R + 1
    # is a power of ten: the expected scores are plain numbers, no logarithm computed here, and a
    # natural log (6.91 for 1000), a log1p or a missing "+ 1" (log10 999 = 2.9996) all differ
    X = np.array([[8.0, 0.0], [10.0, 2.0], [0.0, 100.0], [0.0, 122.0]])  # columns L, R
    a = ad.AnnData(
        X=X, obs=pd.DataFrame({"t": list("AABB")}, index=list("wxyz")),
        var=pd.DataFrame(index=["L", "R"]),
    )  # fmt: skip
    a.uns["neuromod"] = {"X": "cpm"}
    t = _table(a, "t", resource=RES, method="smith2019")
    # two cells per type: the 5 % trim cuts none; L_A = 9, R_A = 1, L_B = 0, R_B = 111
    expected = {("A", "B"): 3.0, ("A", "A"): 1.0, ("B", "A"): 0.0, ("B", "B"): 0.0}
    for (s, tg), score in expected.items():
        assert _row(t, s, tg).score == pytest.approx(score, rel=1e-12, abs=1e-12), (s, tg)
    assert (_row(t, "A", "B").ligand_means, _row(t, "A", "B").receptor_means) == (9.0, 111.0)


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
    t = _table(a, "t", resource=RES, method="smith2019")
    exp = np.sort(lig[:20])[1:-1].mean()  # int(0.05 * 20) = 1 cut at each end
    assert _row(t, "A", "A").ligand_means == pytest.approx(exp)
    wider = _table(a, "t", resource=RES, method="smith2019", trim=0.25)  # 5 cut at each end
    assert _row(wider, "A", "A").ligand_means == pytest.approx(np.sort(lig[:20])[5:-5].mean())


def test_log10_cpm_input_is_converted_back_to_cpm():
    cpm = np.array([[99.0, 9.0], [999.0, 9.0], [0.0, 99.0], [0.0, 999.0]])
    a = ad.AnnData(
        X=np.log10(cpm + 1),
        obs=pd.DataFrame({"t": list("AABB")}),
        var=pd.DataFrame(index=["L", "R"]),
    )
    a.uns["neuromod"] = {"X": "log10_cpm1"}
    t = _table(a, "t", resource=RES, method="smith2019")
    assert _row(t, "A", "B").ligand_means == pytest.approx(549.0)
    assert _row(t, "A", "B").receptor_means == pytest.approx(549.0)


def _three_types(seed=1):
    rng = np.random.default_rng(seed)
    n = 120
    lab = np.repeat(["A", "B", "C"], 40)
    counts = rng.poisson(2.0, size=(n, 4)).astype(np.float32)
    counts[:40, 0] += 8
    counts[40:80, 1] = 0  # receptor absent from B
    counts[:, 2] += 1  # no empty library
    a = ad.AnnData(
        X=sp.csr_matrix(counts),
        obs=pd.DataFrame({"t": lab}, index=[f"c{i}" for i in range(n)]),
        var=pd.DataFrame(index=["L", "R", "O1", "O2"]),
    )
    a.uns["neuromod"] = {"X": "counts"}
    return a, counts, lab


def test_cellphonedb_against_a_direct_permutation_loop():
    a, counts, lab = _three_types()
    t = _table(a, "t", resource=RES, method="cellphonedb", n_perms=99, seed=5, expr_prop=0.2)
    expr = _log1p_cpm(counts)
    names = ["A", "B", "C"]
    codes = np.repeat([0, 1, 2], 40)
    means = np.array([expr[codes == k][:, :2].mean(0) for k in range(3)])  # (types, [L, R])
    props = np.array([(expr[codes == k][:, :2] > 0).mean(0) for k in range(3)])
    observed = (means[:, 0][:, None] + means[:, 1][None, :]) / 2
    expressed = (props[:, 0][:, None] >= 0.2) & (props[:, 1][None, :] >= 0.2)
    # the documented test: permutation i = rng.permutation(n) from one default_rng(seed); the
    # permuted mean of type g averages expr[perm[j]] over the cells j labelled g; k counts >=
    rng = np.random.default_rng(5)
    k = np.zeros((3, 3))
    for _ in range(99):
        pe = expr[rng.permutation(len(lab))]
        pm = np.array([pe[codes == g][:, :2].mean(0) for g in range(3)])
        k += (pm[:, 0][:, None] + pm[:, 1][None, :]) / 2 >= observed * (1 - 1e-10)
    expect = {(names[i], names[j]) for i in range(3) for j in range(3) if expressed[i, j]}
    assert set(zip(t.source, t.target)) == expect and ("A", "B") not in expect
    for _, r in t.iterrows():
        i, j = names.index(r.source), names.index(r.target)
        assert r.score == pytest.approx(observed[i, j], rel=1e-12)
        assert r.pvalue == pytest.approx((k[i, j] + 1) / 100, abs=1e-12)
        assert (r.ligand_props, r.receptor_props) == pytest.approx((props[i, 0], props[j, 1]))
    assert _row(t, "A", "A").pvalue < 0.05
    allrows = _table(a, "t", resource=RES, method="cellphonedb", n_perms=9, return_all=True)
    assert len(allrows) == 9
    params = score_interactions(
        a, "t", resource=RES, method="cellphonedb", n_perms=99, inplace=False
    ).uns["neuromod_interactions_params"]
    assert params["n_perms"] == 99 and ">=" in params["pvalue_convention"]


def test_product_on_toy_cortex_against_pandas(toy):
    res = pd.DataFrame({"ligand": ["Npy", "Vip"], "receptor": ["Npy1r", "Vipr1"]})
    t = _table(toy, "subclass_label", resource=res)
    genes = ["Npy", "Npy1r", "Vip", "Vipr1"]
    X = toy.X.toarray().astype(np.float64)
    lib = X.sum(axis=1, keepdims=True)
    expr = pd.DataFrame(np.log1p(X / lib * 1e6)[:, toy.var_names.get_indexer(genes)], columns=genes)
    per_type = expr.groupby(toy.obs["subclass_label"].astype(str).to_numpy()).mean()
    for _, r in t.sample(40, random_state=0).iterrows():
        lig, rec = r.interaction.split("→")
        assert r.ligand_means == pytest.approx(per_type.loc[r.source, lig], rel=1e-10)
        assert r.receptor_means == pytest.approx(per_type.loc[r.target, rec], rel=1e-10)
        assert r.score == pytest.approx(per_type.loc[r.source, lig] * per_type.loc[r.target, rec])


def test_product_from_an_aggregate_uses_its_layer_by_hand():
    agg = ad.AnnData(
        X=np.array([[1.0, 2.0], [3.0, 5.0]]),
        obs=pd.DataFrame({"n_cells": [4, 6]}, index=["A", "B"]),
        var=pd.DataFrame(index=["L", "R"]),
        layers={"median": np.array([[7.0, 1.0], [2.0, 0.5]])},
    )
    t = _table(agg, resource=RES)
    assert _row(t, "A", "B").score == pytest.approx(1.0 * 5.0)
    assert _row(t, "B", "A").score == pytest.approx(3.0 * 2.0)
    m = _table(agg, resource=RES, stat="median")
    assert _row(m, "A", "B").score == pytest.approx(7.0 * 0.5)
    assert np.isnan(t.ligand_props).all()  # no frac_expressing layer: no props


def test_toy_type_specificity(toy):
    t = _table(toy, "subclass_label", resource="neuropeptides", method="smith2019")
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
    mn = _table(a, "t", resource=res, method="smith2019", stat="mean")
    gm = _table(a, "t", resource=res, method="smith2019", stat="mean", complex_policy="gmean")
    assert _row(mn, "A", "A").ligand_means == pytest.approx(1.0)
    assert _row(gm, "A", "A").ligand_means == pytest.approx(2.0)
    assert _row(mn, "A", "A").ligand_complex == "G1_G2"


def test_neuromodulators_resource_with_alternatives(toy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agg = score_interactions(
            toy, "subclass_label", resource="neuromodulators", method="product", inplace=False
        )
    t = agg.uns["neuromod_interactions"]
    gaba = t[t.ligand_complex.str.startswith("Gad1_Gad2")].iloc[0]
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
        agg = score_interactions(_tiny(), "t", resource=res, inplace=False)
    p = agg.uns["neuromod_interactions_params"]
    assert p["missing_genes"] == ["Absent1"] and p["missing_interactions"] == ["L→Absent1"]
    assert set(agg.uns["neuromod_interactions"].interaction) == {"L→R"}


# --------------------------------------------------------------- the contract
def _assert_same(x, y, where="adata"):
    """Deep equality of AnnData parts, DataFrames, arrays and nested dicts."""
    if isinstance(x, ad.AnnData):
        assert isinstance(y, ad.AnnData) and x.shape == y.shape, where
        for part in ("X", "obs", "var", "uns", "obsm", "varm", "layers", "obsp", "varp"):
            _assert_same(getattr(x, part), getattr(y, part), f"{where}.{part}")
        _assert_same(list(x.obs_names), list(y.obs_names), f"{where}.obs_names")
        _assert_same(list(x.var_names), list(y.var_names), f"{where}.var_names")
    elif isinstance(x, pd.DataFrame):
        pd.testing.assert_frame_equal(x, y, obj=where)
    elif sp.issparse(x):
        assert sp.issparse(y) and x.format == y.format, where
        np.testing.assert_array_equal(x.toarray(), y.toarray(), err_msg=where)
    elif isinstance(x, np.ndarray):
        np.testing.assert_array_equal(x, y, err_msg=where)
    elif hasattr(x, "keys"):
        assert set(x.keys()) == set(y.keys()), where
        for k in x:
            _assert_same(x[k], y[k], f"{where}[{k!r}]")
    else:
        assert x == y, where


def test_inplace_writes_uns_and_returns_none():
    a = _tiny()
    assert score_interactions(a, "t", resource=RES, key_added="lr") is None
    assert {"lr", "lr_params", "lr_types"} <= set(a.uns)
    ret = score_interactions(_tiny(), "t", resource=RES, key_added="lr", inplace=False)
    pd.testing.assert_frame_equal(a.uns["lr"], ret.uns["lr"])
    assert a.uns["lr_params"] == ret.uns["lr_params"]
    types = a.uns["lr_types"]
    assert list(types.index) == ["A", "B"] and list(types.columns) == [
        "n_cells",
        "class",
        "color",
        "sign",
    ]
    assert types["n_cells"].tolist() == [2, 2]
    # an aggregate scored in place gets the same three keys and keeps its own obs
    agg = ret.copy()
    obs_before = agg.obs.copy()
    assert score_interactions(agg, resource=RES, key_added="again") is None
    pd.testing.assert_frame_equal(agg.obs, obs_before)
    np.testing.assert_allclose(agg.uns["again"].score, ret.uns["lr"].score)


@pytest.mark.parametrize(
    "kw",
    [
        {"method": "product"},
        {"method": "smith2019", "stat": "trimmed_mean", "trim": 0.1},
        {"method": "cellphonedb", "n_perms": 5},
    ],
)
def test_inplace_false_leaves_the_input_untouched(kw):
    a = _tiny()
    a.obs["t"] = pd.Categorical(["A", "A ", "B", "B"])  # cleaning must not write back either
    a.layers["counts"] = a.X.copy()
    a.obsm["emb"] = np.arange(8.0).reshape(4, 2)
    before = a.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuromodWarning)
        out = score_interactions(a, "t", resource=RES, inplace=False, **kw)
    assert isinstance(out, ad.AnnData) and out is not a
    _assert_same(a, before)


@pytest.mark.parametrize(
    ("kw", "named"),
    [
        ({"method": "product", "n_perms": 10}, "n_perms"),
        ({"method": "smith2019", "seed": 1}, "seed"),
        ({"method": "product", "expr_prop": 0.2, "return_all": True}, "expr_prop, return_all"),
        ({"method": "smith2019", "progress": False}, "progress"),
        ({"method": "cellphonedb", "stat": "median"}, "stat"),
        ({"method": "product", "trim": 0.1}, "trim"),
        ({"method": "smith2019", "stat": "frac_expressing", "trim": 0.1}, "trim"),
    ],
)
def test_options_that_do_not_apply_are_errors(kw, named):
    with pytest.raises(UsageError, match=named):
        score_interactions(_tiny(), "t", resource=RES, **kw)


def test_options_that_do_not_apply_to_an_aggregate_are_errors():
    agg = score_interactions(_tiny(), "t", resource=RES, inplace=False)
    with pytest.raises(UsageError, match="aggregate supports method='product'"):
        score_interactions(agg, resource=RES, method="cellphonedb")
    with pytest.raises(UsageError, match="layer and trim"):
        score_interactions(agg, resource=RES, layer="mean")


# ------------------------------------------------------- one cell-type rule
def test_aggregate_scoring_and_graph_find_the_same_types():
    from neuromod_data.aggregate import aggregate
    from neuromod_data.graph import graph_from_scores

    rng = np.random.default_rng(3)
    # 'Vip' and 'Vip ' are one type; types literally named "NA" and "None" are types; NaN is not
    labels = ["Vip", "Vip ", " Vip", "Sst", "Sst", "NA", "NA", "None", "None", None]
    a = ad.AnnData(
        X=sp.csr_matrix(rng.poisson(3.0, (10, 3)).astype(np.float32) + 1),
        obs=pd.DataFrame({"t": labels}, index=[f"c{i}" for i in range(10)], dtype=object),
        var=pd.DataFrame(index=["L", "R", "O"]),
    )  # fmt: skip
    a.uns["neuromod"] = {"X": "counts"}
    expected = {"Vip", "Sst", "NA", "None"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuromodWarning)
        agg = aggregate(a, "t")
        scored = score_interactions(a, "t", resource=RES, inplace=False)
        score_interactions(a, "t", resource=RES)
    g = graph_from_scores(a, pvalue=None)
    assert set(agg.obs_names) == expected
    assert set(scored.obs_names) == expected
    t = scored.uns["neuromod_interactions"]
    assert set(t.source) == set(t.target) == expected
    assert set(g.nodes) == expected
    assert g.nodes["Vip"]["n_cells"] == 3 and scored.obs.loc["Vip", "n_cells"] == 3
    assert agg.obs.loc["Vip", "n_cells"] == 3


def test_types_get_class_sign_and_colour_from_the_cells():
    a = _tiny()
    a.obs["class_label"] = ["GABAergic", "GABAergic ", "Glutamatergic", "Glutamatergic"]
    a.obs["t_color"] = ["#112233", "#112233", "#445566", "#445566"]
    obs = score_interactions(a, "t", resource=RES, inplace=False).obs
    assert obs["class"].tolist() == ["GABAergic", "Glutamatergic"]
    assert obs["sign"].tolist() == [-1, 1] and obs["color"].tolist() == ["#112233", "#445566"]
    a.obs["class_label"] = ["GABAergic", "Glutamatergic", "Glutamatergic", "Glutamatergic"]
    with pytest.raises(CellTypeError, match=r"'A' → 'GABAergic' \(1 cells\), 'Glutamatergic'"):
        score_interactions(a, "t", resource=RES)


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
        agg = score_interactions(b, "t", resource=RES, min_cells=2, inplace=False)
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
    with pytest.raises(ColumnError, match="groupby is required"):
        score_interactions(_tiny(), resource=RES)


# ------------------------------------------------------------------ real data
def test_tasic_vip_and_sst_type_specific(shared_data):
    from neuromod_data.io import read

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = read(shared_data / "allen_tasic2018_explorer" / "sample_heatmap_plot_data.csv")
    # the explorer export has no receptor genes: pair Vip with Sst to read both per-type values
    res = pd.DataFrame({"ligand": ["Vip"], "receptor": ["Sst"]})
    agg = score_interactions(
        a, "cluster_label", resource=res, method="smith2019", min_cells=5, inplace=False
    )
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
    return read(
        d / "m1_patchseq_phys_temp_exon_counts.csv.gz",
        metadata=d / "m1_patchseq_phys_temp_meta_data.csv",
    )


@pytest.mark.parametrize("level", ["RNA family", "RNA type"])
def test_m1_patchseq_counts_to_graph(m1, level):
    from neuromod_data.graph import graph_from_scores, graph_summary, to_structure

    cells = m1.copy()
    with pytest.warns(MissingGenesWarning, match="Npy2r.*Trhr") as scored:
        score_interactions(cells, level, resource="neuropeptides", method="smith2019")
    # "low quality" marks cells that failed quality control: left out when the types are formed
    qc = (m1.obs[level].astype(object) == "low quality").to_numpy()
    if level == "RNA family":
        assert qc.sum() > 0
        assert any("'low quality'" in str(w.message) for w in scored)
    params = cells.uns["neuromod_interactions_params"]
    assert params["missing_genes"] == ["Npy2r", "Trhr"]
    assert params["missing_interactions"] == ["Npy→Npy2r", "Trh→Trhr"]
    assert params["expression"] == "cpm"
    t = cells.uns["neuromod_interactions"]
    types = cells.uns["neuromod_interactions_types"]
    k = len(types)
    assert k == m1.obs[level][~qc].nunique() and len(t) == 35 * k * k
    assert types["n_cells"].sum() == m1.obs[level][~qc].notna().sum()
    # the 5 % trimmed mean of CPM per type, by pandas and scipy on the counts
    X = m1.X.toarray().astype(np.float64)
    cpm = pd.DataFrame(X / X.sum(1, keepdims=True) * 1e6, columns=m1.var_names)[["Sst", "Npy"]]
    ref = cpm[~qc].groupby(m1.obs[level].astype(object).to_numpy()[~qc])
    ref = ref.agg(lambda v: trim_mean(v, 0.05))
    for gene in ("Sst", "Npy"):
        per = t[t.ligand == gene].drop_duplicates("source").set_index("source").ligand_means
        np.testing.assert_allclose(per.sort_index(), ref[gene].sort_index(), rtol=1e-10)
    sst = t[t.ligand == "Sst"].drop_duplicates("source").set_index("source").ligand_means
    assert sst.idxmax().startswith("Sst")
    g = graph_from_scores(cells, quantile=0.9)  # Smith's 90th percentile
    assert set(g.nodes) == set(m1.obs[level][~qc].dropna().astype(str))
    assert g.nodes[sst.idxmax()]["sign"] == -1
    summ = graph_summary(g)
    assert 0 < summ["edge_density"] <= 0.11
    assert json.loads(g.graph["missing_interactions"]) == ["Npy→Npy2r", "Trh→Trhr"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = to_structure(g)
    # never met again as a "non-neuronal" type
    assert not [w for w in caught if "low quality" in str(w.message)]
    assert "low quality" not in s.names and s.n_pairs == 35
    assert set(s.signs.tolist()) == {-1, 1}


@pytest.fixture(scope="module")
def toy():
    from neuromod_data.datasets import toy_cortex

    return toy_cortex(n_cells=1200, seed=0)


def test_scoring_does_not_import_the_graph_module():
    import subprocess
    import sys

    code = "import sys, neuromod_data.score; print('neuromod_data.graph' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("method", ["product", "smith2019", "cellphonedb"])
def test_one_type_order_with_aggregate(method):
    # a categorical column's category order is the type order of aggregate and of scoring alike
    # (scoring used to re-sort by name); a plain text column is sorted by name in both
    from neuromod_data.aggregate import aggregate

    a = _tiny()
    a.obs["t"] = pd.Categorical(a.obs["t"], categories=["B", "A"])
    kw = {"n_perms": 20, "seed": 0} if method == "cellphonedb" else {}
    out = score_interactions(a, "t", resource=RES, method=method, inplace=False, **kw)
    assert list(aggregate(a, "t").obs_names) == ["B", "A"]
    assert list(out.obs_names) == ["B", "A"]
    table = out.uns["neuromod_interactions"]
    assert list(dict.fromkeys(table.source)) == ["B", "A"]
    assert list(dict.fromkeys(table.target)) == ["B", "A"]
    # the order is only an order: every (sender, receiver) row keeps its values
    plain = _tiny()
    ref = _table(plain, "t", resource=RES, method=method, **kw)
    assert list(dict.fromkeys(ref.source)) == ["A", "B"]
    key = ["source", "target", "interaction"]
    pd.testing.assert_frame_equal(
        table.sort_values(key).reset_index(drop=True), ref.sort_values(key).reset_index(drop=True)
    )
