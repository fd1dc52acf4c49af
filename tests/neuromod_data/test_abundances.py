"""Type abundances from a taxonomy's cell counts (neuromod_data/abundances.py)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from neuromod_data.abundances import tissue_abundances
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
