"""toy_cortex: determinism, labels, hierarchy and the Smith et al. 2019 specificity patterns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from neuromod_data.datasets import toy_cortex, toy_cortex_profile
from neuromod_data.errors import DataValueError

# Written out independently of the package: Smith et al. 2019's gene lists, copied by hand.
NPP = [
    "Npy", "Sst", "Vip", "Tac2", "Cck", "Penk", "Crh", "Cort", "Tac1",
    "Pdyn", "Pthlh", "Pnoc", "Trh", "Grp", "Rln1", "Adcyap1", "Nts", "Nmb",
]  # fmt: skip
GPCR = [
    "Sstr1", "Sstr2", "Sstr3", "Sstr4", "Npy1r", "Npy2r", "Npy5r", "Oprd1", "Oprk1", "Oprl1",
    "Oprm1", "Rxfp1", "Rxfp2", "Rxfp3", "Adcyap1r1", "Crhr1", "Crhr2", "Vipr1", "Vipr2", "Grpr",
    "Cckbr", "Ntsr1", "Ntsr2", "Nmbr", "Trhr", "Trhr2", "Tacr1", "Tacr3", "Pth1r",
]  # fmt: skip


@pytest.fixture(scope="module")
def toy():
    return toy_cortex(seed=0)


@pytest.fixture(scope="module")
def cpm(toy):
    X = toy.X.toarray().astype(np.float64)
    return pd.DataFrame(X / X.sum(axis=1, keepdims=True) * 1e6, columns=toy.var_names)


def _means(cpm, toy, level):
    return cpm.groupby(toy.obs[level].to_numpy()).mean()


def test_deterministic_per_seed():
    a, b = toy_cortex(n_cells=400, seed=3), toy_cortex(n_cells=400, seed=3)
    assert (a.X != b.X).nnz == 0
    pd.testing.assert_frame_equal(a.obs, b.obs)
    assert list(a.var_names) == list(b.var_names)


def test_different_seeds_differ():
    a, b = toy_cortex(n_cells=400, seed=0), toy_cortex(n_cells=400, seed=1)
    assert (a.X != b.X).nnz > 0
    assert not (a.obs["cluster_label"].to_numpy() == b.obs["cluster_label"].to_numpy()).all()
    # ... but the same taxonomy and genes.
    assert list(a.var_names) == list(b.var_names)
    assert (
        a.obs["cluster_label"]
        .value_counts()
        .sort_index()
        .equals(b.obs["cluster_label"].value_counts().sort_index())
    )


def test_shapes_and_labels(toy):
    assert toy.n_obs == 3000
    assert sp.issparse(toy.X) and toy.X.format == "csr" and toy.X.dtype == np.float32
    data = toy.X.data
    assert (data >= 0).all() and np.array_equal(data, np.round(data))
    assert toy.var_names.is_unique and toy.obs_names.is_unique
    assert set(NPP) <= set(toy.var_names) and set(GPCR) <= set(toy.var_names)
    for g in ["Gad2", "Slc17a7", "Lamp5", "Sncg", "Pvalb", "Chat", "Th", "Htr3a", "Drd1"]:
        assert g in toy.var_names
    assert toy.n_vars == 18 + 29 + len(toy.var_names[toy.var["category"] == "marker"]) + (
        (toy.var["category"] == "neuromodulator").sum() + 300
    )
    assert set(toy.obs["class_label"]) == {"GABAergic", "Glutamatergic", "Non-Neuronal"}
    subclasses = set(toy.obs["subclass_label"])
    assert {"Lamp5", "Sncg", "Vip", "Sst", "Pvalb", "L2/3 IT", "L4 IT", "L5 IT", "L5 PT",
            "L6 IT", "L6 CT", "NP", "L6b", "Astro", "Oligo", "Endo"} <= subclasses  # fmt: skip
    clusters = set(toy.obs["cluster_label"])
    assert {"Sst Chodl", "Sst Nts", "Lamp5 Lsp1", "Pvalb Vipr2", "Vip Chat", "NP SUB"} <= clusters
    for level in ("class", "subclass", "cluster"):
        for suffix in ("_color", "_id"):
            assert f"{level}_label" in toy.obs and f"{level}{suffix}" in toy.obs
        assert toy.obs[f"{level}_color"].str.fullmatch(r"#[0-9A-Fa-f]{6}").all()
    meta = toy.uns["neuromod"]
    assert meta["X"] == "counts" and meta["synthetic"] is True and meta["seed"] == 0
    assert meta["source"] == "neuromod toy_cortex"
    # Sparse, with SMART-seq-like depth for neurons.
    assert 1 - toy.X.nnz / np.prod(toy.shape) > 0.4
    neu = (toy.obs["class_label"] != "Non-Neuronal").to_numpy()
    depth = np.asarray(toy.X.sum(axis=1)).ravel()
    assert 1e5 < np.median(depth[neu]) < 1e6
    np.testing.assert_allclose(toy.obs["total_counts"], depth)


def test_hierarchy_consistent(toy):
    obs = toy.obs
    assert (obs.groupby("cluster_label", observed=True)["subclass_label"].nunique() == 1).all()
    assert (obs.groupby("subclass_label", observed=True)["class_label"].nunique() == 1).all()
    for level in ("class", "subclass", "cluster"):
        lab = obs[f"{level}_label"].astype(str)
        # label <-> id and label <-> colour are one-to-one
        for other in (f"{level}_id", f"{level}_color"):
            pairs = pd.DataFrame({"a": lab, "b": obs[other].astype(str)}).drop_duplicates()
            assert pairs["a"].is_unique and pairs["b"].is_unique


def test_cluster_sizes():
    small = toy_cortex(n_cells=39 + 11, seed=0)
    assert small.obs["cluster_label"].nunique() == 39  # every cluster present
    tiny = toy_cortex(n_cells=5, seed=0)
    assert tiny.n_obs == 5


def test_specificity_subclass(toy, cpm):
    sub = _means(cpm, toy, "subclass_label")
    for gene, home in [("Vip", "Vip"), ("Sst", "Sst"), ("Trhr", "NP"), ("Pvalb", "Pvalb")]:
        others = sub.drop(index=home)[gene]
        assert sub.loc[home, gene] > others.max(), gene
    assert sub.loc["Vip", "Vip"] > 5 * sub.drop(index="Vip")["Vip"].max()


def test_specificity_cluster(toy, cpm):
    cl = _means(cpm, toy, "cluster_label")
    assert set(cl["Npy"].nlargest(2).index) == {"Sst Chodl", "Lamp5 Lsp1"}
    assert cl["Nts"].idxmax() == "Sst Nts"
    assert cl["Vipr2"].idxmax() == "Pvalb Vipr2"
    assert cl["Trhr"].idxmax() in {"L5 NP VISp Trhr Met", "NP SUB"}
    assert cl["Tacr1"].idxmax() == "Sst Chodl"
    assert cl["Penk"].idxmax() == "L6 IT VISp Penk Col27a1"
    assert cl["Chat"].idxmax() == "Vip Chat"


def test_every_neuron_has_npp_and_gpcr(toy):
    neu = (toy.obs["class_label"] != "Non-Neuronal").to_numpy()
    X = toy.X[neu]
    has_npp = np.asarray((X[:, toy.var_names.isin(NPP)] > 0).sum(axis=1)).ravel() > 0
    has_gpcr = np.asarray((X[:, toy.var_names.isin(GPCR)] > 0).sum(axis=1)).ravel() > 0
    assert has_npp.mean() > 0.97 and has_gpcr.mean() > 0.97


def test_counts_follow_profile(toy, cpm):
    prof = toy_cortex_profile()
    np.testing.assert_allclose(prof.sum(axis=1), 1e6)
    assert list(prof.columns) == list(toy.var_names)
    cl = _means(cpm, toy, "cluster_label")
    # mean CPM of highly expressed genes within 25% of the truth (>= 33 cells per cluster)
    for gene, cluster in [("Sst", "Sst Nts"), ("Vip", "Vip Chat"), ("Npy", "Sst Chodl")]:
        assert cl.loc[cluster, gene] == pytest.approx(prof.loc[cluster, gene], rel=0.25)


def test_background_genes_option():
    a = toy_cortex(n_cells=50, n_genes_background=0)
    assert (a.var["category"] == "background").sum() == 0
    b = toy_cortex(n_cells=50, n_genes_background=20)
    assert (b.var["category"] == "background").sum() == 20


@pytest.mark.parametrize("bad", [0, -5, 2.5, "100", True])
def test_bad_n_cells(bad):
    with pytest.raises(DataValueError, match="n_cells"):
        toy_cortex(n_cells=bad)


def test_bad_background():
    with pytest.raises(DataValueError, match="n_genes_background"):
        toy_cortex(n_genes_background=-1)


def test_covers_builtin_resources(toy, cpm):
    import warnings

    from neuromod_data.resources import check_genes, load_resource

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_genes(load_resource("neuropeptides+neuromodulators"), toy) == {}
    cl = _means(cpm, toy, "cluster_label")
    assert cl["Slc18a3"].idxmax() == "Vip Chat"
    # no monoamine synthesis in cortex: Tph2, Dbh, Hdc stay near zero everywhere
    assert cl[["Tph2", "Dbh", "Hdc"]].to_numpy().max() < 5


def test_h5ad_round_trip(tmp_path):
    import anndata as ad

    a = toy_cortex(n_cells=120, seed=5)
    a.write_h5ad(tmp_path / "toy.h5ad")
    b = ad.read_h5ad(tmp_path / "toy.h5ad")
    assert (a.X != b.X).nnz == 0
    assert b.uns["neuromod"]["synthetic"] is True or b.uns["neuromod"]["synthetic"] == 1
    assert list(b.obs["cluster_label"]) == list(a.obs["cluster_label"])


def test_design_is_the_shipped_resource():
    # the toy's design is read from the package data, and its neuropeptide genes are exactly the
    # shipped Smith et al. resource's (the JSON keeps only their order, the paper's)
    import json
    from importlib import resources

    from neuromod_data.datasets import toy
    from neuromod_data.resources import neuropeptides

    shipped = resources.files("neuromod_data._shipped")
    design = json.loads(shipped.joinpath("toy_cortex.json").read_text("utf-8"))
    assert [list(r) for r in toy.TOY_TAXONOMY] == design["taxonomy"]
    table = pd.read_csv(shipped.joinpath("neuropeptides_smith2019.csv"), dtype=str)
    ligands = {g for s in table["ligand_genes"] for g in s.split("_")}
    receptors = {g for s in table["receptor_genes"] for g in s.split("_")}
    assert (len(toy.NPP), len(toy.NP_GPCR)) == (18, 29)
    assert set(toy.NPP) == ligands and set(toy.NP_GPCR) == receptors
    res = neuropeptides()
    assert set(toy.NPP) == {g for s in res["ligand_genes"] for g in str(s).split("_")}
    # every gene the design names is a column of the profile, at the design's level where no
    # cluster entry overrides it
    prof = toy_cortex_profile()  # background genes fill each library to a million
    for sub, levels in design["subclass_cpm"].items():
        clusters = [c for _, s, c, _ in toy.TOY_TAXONOMY if s == sub]
        for gene, cpm in levels.items():
            for c in clusters:
                if gene not in design["cluster_cpm"].get(c, {}):
                    # rescaled to exactly a million per cluster: equal up to that small factor
                    assert prof.loc[c, gene] == pytest.approx(cpm, rel=0.01)
