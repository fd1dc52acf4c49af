"""Type abundances from a taxonomy's cell counts (neuromod_data/abundances.py)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from neuromod_data.abundances import tissue_abundances, tissue_clusters
from neuromod_data.errors import CellTypeError, ColumnError, InputFileError
from neuromod_data.structure import CellTypeStructure


@pytest.fixture
def cells() -> ad.AnnData:
    obs = pd.DataFrame(
        {
            "family": ["IT", "IT", "IT", "Sst", "Sst", "ET"],
            "cluster": ["IT a", "IT b", "IT a", "Sst x", "Sst y", "ET e"],
        },
        index=[f"c{i}" for i in range(6)],
    )
    return ad.AnnData(np.zeros((6, 2), np.float32), obs=obs)


@pytest.fixture
def sizes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster_label": ["IT a", "IT b", "Sst x", "Sst y", "ET e", "Vip z", "IT a"],
            "cluster_size": [700, 300, 40, 60, 25, 90, 5],  # a repeated label is summed
        }
    )


def test_counts_via_finer_labels_by_hand(cells, sizes):
    out = tissue_abundances(cells, sizes, groupby="family", via="cluster")
    # IT: clusters a (700 + 5) and b (300), each counted once however many cells carry it
    assert out.to_dict() == {"ET": 25.0, "IT": 1005.0, "Sst": 100.0}
    assert out.name == "n_cells" and out.index.name == "family"
    only = tissue_abundances(cells, sizes, groupby="family", via="cluster", types=["Sst", "ET"])
    assert only.to_dict() == {"ET": 25.0, "Sst": 100.0}


def test_counts_keyed_by_the_types_themselves(cells, tmp_path):
    path = tmp_path / "counts.tsv"
    pd.DataFrame({"type": ["IT", "Sst", "ET", "Vip"], "n": [10, 3, 2, 7]}).to_csv(
        path, sep="\t", index=False
    )
    out = tissue_abundances(cells, path, groupby="family", label_column="type", count_column="n")
    assert out.to_dict() == {"IT": 10.0, "Sst": 3.0, "ET": 2.0}
    with pytest.warns(DeprecationWarning, match="label_column"):  # the old names still work
        old = tissue_abundances(cells, path, groupby="family", key="type", count_column="n")
    pd.testing.assert_series_equal(old, out)
    with pytest.raises(TypeError, match="'cont'"):
        tissue_abundances(cells, path, groupby="family", cont="n")


def test_labels_are_cleaned_as_everywhere(cells, sizes):
    # stray whitespace on either side names the same type / cluster, as in aggregate and scoring
    messy = cells.copy()
    messy.obs["family"] = ["IT ", "IT", " IT", "Sst", "Sst  ", "ET"]
    messy.obs["cluster"] = ["IT a", "IT  b", "IT a", "Sst x", "Sst y", "ET e"]
    padded = sizes.assign(cluster_label=[f" {c} " for c in sizes.cluster_label])
    out = tissue_abundances(messy, padded, groupby="family", via="cluster")
    assert out.to_dict() == {"ET": 25.0, "IT": 1005.0, "Sst": 100.0}


def test_with_abundances_replaces_and_round_trips(tmp_path):
    s = CellTypeStructure.ei(frac_excitatory=0.3)
    t = s.with_abundances({"E": 8.0, "I": 2.0, "unused": 5.0}, source="hand")
    assert t.abundances.tolist() == [0.8, 0.2]
    assert t.meta["sampled_abundances"] == pytest.approx([0.3, 0.7])
    assert np.array_equal(t.modulation, s.modulation) and t.names == s.names
    back = CellTypeStructure.load(t.save(tmp_path / "s.npz"))
    assert back.abundances.tolist() == [0.8, 0.2] and back.meta["abundances_source"] == "hand"
    with pytest.raises(CellTypeError, match="'I'"):
        s.with_abundances({"E": 1.0})


def test_bad_input_names_what_is_wrong(cells, sizes, tmp_path):
    with pytest.raises(ColumnError, match="'cells_total'"):
        tissue_abundances(cells, sizes, groupby="family", via="cluster", count_column="cells_total")
    with pytest.raises(ColumnError, match="'subclass'"):
        tissue_abundances(cells, sizes, groupby="subclass", via="cluster")
    with pytest.raises(CellTypeError, match="'IT b'"):
        tissue_abundances(
            cells, sizes[sizes.cluster_label != "IT b"], groupby="family", via="cluster"
        )
    with pytest.raises(CellTypeError, match="types 'IT'"):  # no via: the types must be counted
        tissue_abundances(cells, sizes, groupby="family")
    mixed = cells.copy()
    mixed.obs.loc["c5", "cluster"] = "Sst x"  # an ET cell in an Sst cluster
    with pytest.raises(CellTypeError, match=r"'Sst x' → 'ET' \(1 cells\), 'Sst' \(1 cells\)"):
        tissue_abundances(mixed, sizes, groupby="family", via="cluster")
    negative = sizes.assign(cluster_size=[700, -1, 40, 60, 25, 90, 5])
    with pytest.raises(CellTypeError, match="'IT b'"):
        tissue_abundances(cells, negative, groupby="family", via="cluster")
    with pytest.raises(CellTypeError, match="'Vip'"):
        tissue_abundances(cells, sizes, groupby="family", via="cluster", types=["Vip"])
    with pytest.raises(InputFileError, match="nope.csv"):
        tissue_abundances(cells, tmp_path / "nope.csv", groupby="family", via="cluster")


def test_m1_patchseq_families_from_the_mop_taxonomy(shared_data):
    d = shared_data / "allen_m1_patchseq"
    meta = pd.read_csv(d / "m1_patchseq_phys_temp_meta_data.csv", sep="\t")
    ann = pd.read_csv(d / "yao2020_cluster.annotation.csv")
    cells = ad.AnnData(
        np.zeros((len(meta), 1), np.float32), obs=meta.set_index("Cell")[["RNA family", "RNA type"]]
    )
    families = ["ET", "IT", "NP", "Pvalb", "Sst"]
    out = tissue_abundances(cells, ann, groupby="RNA family", via="RNA type", types=families)
    # the same sums by an explicit loop over cells: each cluster once per family
    size = dict(zip(ann["cluster_label"], ann["cluster_size"]))
    seen: dict[str, set[str]] = {f: set() for f in families}
    for fam, cl in zip(meta["RNA family"], meta["RNA type"]):
        if fam in seen and isinstance(cl, str):
            seen[fam].add(cl)
    assert out.to_dict() == {f: float(sum(size[c] for c in seen[f])) for f in families}
    # tissue counts make the network mostly excitatory, unlike the Sst-heavy Patch-seq sample
    exc = out[["ET", "IT", "NP"]].sum() / out.sum()
    sampled = (
        meta["RNA family"].isin(["ET", "IT", "NP"]).sum() / meta["RNA family"].isin(families).sum()
    )
    assert exc > 0.7 and sampled < 0.35


# ------------------------------------------------------------------ expand="subclass"
@pytest.fixture
def taxonomy() -> pd.DataFrame:
    """Clusters with subclasses: the cells sample IT a, IT b, Sst x, Sst y and ET e only."""
    return pd.DataFrame(
        {
            "cluster_label": ["IT a", "IT b", "IT c", "IT d", "Sst x", "Sst y", "Sst z", "ET e",
                              "ET f", "Vip z"],
            "cluster_size": [700, 300, 200, 50, 40, 60, 30, 25, 15, 90],
            "subclass_label": ["L5 IT", "L4/5 IT", "L5 IT", "L2/3 IT", "Sst", "Sst", "Sst",
                               "L5 ET", "L5 ET", "Vip"],
        }
    )  # fmt: skip


def test_subclass_expansion_counts_every_cluster_of_the_sampled_subclasses(cells, taxonomy):
    out = tissue_abundances(cells, taxonomy, groupby="family", via="cluster", expand="subclass")
    # IT sampled L5 IT (a) and L4/5 IT (b): a + c + b; L2/3 IT (d) was not sampled
    assert out.to_dict() == {"ET": 40.0, "IT": 1200.0, "Sst": 130.0}
    rows = tissue_clusters(cells, taxonomy, groupby="family", via="cluster", expand="subclass")
    it = rows[rows.type == "IT"].set_index("label")
    assert it["sampled"].to_dict() == {"IT a": True, "IT b": True, "IT c": False}
    assert it["subclass"].to_dict() == {"IT a": "L5 IT", "IT b": "L4/5 IT", "IT c": "L5 IT"}
    # without expansion: the sampled clusters only, as before
    old = tissue_abundances(cells, taxonomy, groupby="family", via="cluster")
    assert old.to_dict() == {"ET": 25.0, "IT": 1000.0, "Sst": 100.0}
    # more labelled cells of the same types widen the subclasses (here IT d's L2/3 IT)
    # (cells without a cluster, here under two families, are left out as in the data)
    more = pd.DataFrame(
        {"family": ["IT", "Sst", "IT", "Sst"], "cluster": ["IT d", "Sst z", None, np.nan]}
    )
    wide = tissue_abundances(cells, taxonomy, groupby="family", via="cluster", expand="subclass",
                             extra_cells=more)  # fmt: skip
    assert wide.to_dict() == {"ET": 40.0, "IT": 1250.0, "Sst": 130.0}


def test_a_subclass_sampled_under_two_types_is_an_error_or_split(cells, taxonomy):
    two = cells.copy()
    two.obs.loc["c5", ["family", "cluster"]] = ["Sst2", "Sst z"]  # Sst z now under another type
    with pytest.raises(
        CellTypeError, match=r"subclass 'Sst'.*'Sst': 'Sst x', 'Sst y'.*'Sst2': 'Sst z'"
    ):
        tissue_abundances(two, taxonomy, groupby="family", via="cluster", expand="subclass")
    # a type counted elsewhere does not matter when neither of its claimants is counted
    only_it = tissue_abundances(two, taxonomy, groupby="family", via="cluster", expand="subclass",
                                types=["IT"])  # fmt: skip
    assert only_it.to_dict() == {"IT": 1200.0}
    # split: every Sst cluster is sampled here, so each type gets exactly its own
    split = tissue_clusters(two, taxonomy, groupby="family", via="cluster", expand="subclass",
                            shared="split")  # fmt: skip
    assert split.groupby("type").n_cells.sum().to_dict() == {"IT": 1200.0, "Sst": 100.0,
                                                             "Sst2": 30.0}  # fmt: skip
    # an unsampled cluster of a split subclass goes to the claimants by their sampled counts
    fewer = two.copy()
    fewer.obs.loc["c4", "cluster"] = "Sst x"  # Sst y (60) is no longer sampled
    rows = tissue_clusters(fewer, taxonomy, groupby="family", via="cluster", expand="subclass",
                           shared="split").set_index(["type", "label"])  # fmt: skip
    assert rows.loc[("Sst", "Sst y"), "share"] == pytest.approx(40 / 70)  # Sst x 40 vs Sst z 30
    assert rows.loc[("Sst2", "Sst y"), "n_cells"] == pytest.approx(60 * 30 / 70)
    assert rows.n_cells.sum() == pytest.approx(1200 + 40 + 60 + 30)  # ET (c5) is Sst2 now


def test_subclass_expansion_refuses_what_it_cannot_do(cells, taxonomy):
    with pytest.raises(ValueError, match="give via"):
        tissue_abundances(cells, taxonomy, groupby="family", expand="subclass")
    with pytest.raises(ValueError, match="expand must be one of"):
        tissue_abundances(cells, taxonomy, groupby="family", via="cluster", expand="class")
    with pytest.raises(ColumnError, match="'subclass_label'"):
        tissue_abundances(cells, taxonomy.drop(columns="subclass_label"), groupby="family",
                          via="cluster", expand="subclass")  # fmt: skip
    two_sub = pd.concat([taxonomy, taxonomy.iloc[[0]].assign(subclass_label="L6 IT")])
    with pytest.raises(CellTypeError, match="'IT a' have several subclasses"):
        tissue_abundances(cells, two_sub, groupby="family", via="cluster", expand="subclass")
    with pytest.raises(ColumnError, match="'family'"):
        tissue_abundances(cells, taxonomy, groupby="family", via="cluster", expand="subclass",
                          extra_cells=pd.DataFrame({"cluster": ["IT d"]}))  # fmt: skip


def test_m1_families_from_every_cluster_of_their_subclasses(shared_data, tmp_path):
    """The M1 structure's abundances as the workflow computes them (185 Patch-seq cells, the
    1,328-cell metadata for the subclasses a family covers) equal a pandas sum over every MOp
    cluster of those subclasses; the E share is within 0.03 of the share over every cluster of
    the families' subclasses by name (Yao et al. 2021), and the record round-trips."""
    d = shared_data / "allen_m1_patchseq"
    meta = pd.read_csv(d / "m1_patchseq_phys_temp_meta_data.csv", sep="\t")
    more = pd.read_csv(d / "m1_patchseq_meta_data.csv", sep="\t")
    ann = pd.read_csv(d / "yao2020_cluster.annotation.csv")
    cells = ad.AnnData(
        np.zeros((len(meta), 1), np.float32), obs=meta.set_index("Cell")[["RNA family", "RNA type"]]
    )
    families = ["ET", "IT", "NP", "Pvalb", "Sst"]
    kw = dict(groupby="RNA family", via="RNA type", types=families, expand="subclass")
    out = tissue_abundances(cells, d / "yao2020_cluster.annotation.csv", **kw,
                            extra_cells=d / "m1_patchseq_meta_data.csv")  # fmt: skip
    # pandas: family -> subclasses of the clusters its cells carry -> all clusters of those
    pairs = pd.concat([meta, more])[["RNA family", "RNA type"]].dropna()
    pairs = pairs.merge(ann, left_on="RNA type", right_on="cluster_label")
    subs = (
        pairs[pairs["RNA family"].isin(families)].groupby("RNA family")["subclass_label"].unique()
    )
    want = {
        f: float(ann.loc[ann.subclass_label.isin(subs[f]), "cluster_size"].sum()) for f in families
    }
    assert out.to_dict() == want
    assert set(subs["IT"]) == {"L2/3 IT", "L4/5 IT", "L5 IT", "L6 IT"}
    by_name = {"ET": ["L5 ET"], "IT": ["L2/3 IT", "L4/5 IT", "L5 IT", "L6 IT", "L6 IT Car3"],
               "NP": ["L5/6 NP"], "Pvalb": ["Pvalb"], "Sst": ["Sst", "Sst Chodl"]}  # fmt: skip
    every = pd.Series({f: ann.loc[ann.subclass_label.isin(s), "cluster_size"].sum()
                       for f, s in by_name.items()})  # fmt: skip
    e_share = out[["ET", "IT", "NP"]].sum() / out.sum()
    assert abs(e_share - every[["ET", "IT", "NP"]].sum() / every.sum()) < 0.03
    sampled = tissue_abundances(cells, ann, groupby="RNA family", via="RNA type", types=families)
    assert sampled[["ET", "IT", "NP"]].sum() / sampled.sum() < e_share - 0.1  # the bias removed
    # the structure records the clusters behind each abundance, through save and load
    rows = tissue_clusters(cells, ann, **kw, extra_cells=more)
    clusters = {t: dict(zip(g.label, g.n_cells)) for t, g in rows.groupby("type")}
    st = CellTypeStructure(families, np.ones(5), [1, 1, 1, -1, -1], np.ones((1, 5, 5)), ("m",))
    st = CellTypeStructure.load(st.with_abundances(out, clusters=clusters).save(tmp_path / "s.npz"))
    assert st.meta["abundance_clusters"]["Sst"]["Sst Chodl"] == 876.0
    assert len(st.meta["abundance_clusters"]["IT"]) == len(ann[ann.subclass_label.isin(subs["IT"])])
    np.testing.assert_allclose(st.abundances, out.to_numpy() / out.sum())
