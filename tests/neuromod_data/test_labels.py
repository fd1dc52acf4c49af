"""Label validation, label levels and cluster → subclass → class coarsening."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuromod_data.aggregate import aggregate
from neuromod_data.datasets import toy_cortex
from neuromod_data.datasets.toy import TOY_TAXONOMY
from neuromod_data.errors import CellTypeError, ColumnError, NeuromodWarning
from neuromod_data.labels import check_labels, coarsen, label_levels


@pytest.fixture(scope="module")
def toy():
    return toy_cortex(n_cells=1500, seed=1)


def test_missing_column_names_it_and_lists_available(toy):
    with pytest.raises(ColumnError) as err:
        check_labels(toy, "celltype")
    msg = str(err.value)
    assert "'celltype'" in msg and "cluster_label" in msg and "subclass_label" in msg
    assert "neuromod toy_cortex" in msg  # the source is named


def test_whitespace_normalised_and_case_clash_reported():
    obs = pd.DataFrame({"t": ["Vip", " Vip", "Vip  Chat", "Vip Chat", "VIP", None, "", "Sst"]})
    with pytest.warns(NeuromodWarning) as rec:
        chk = check_labels(obs, "t")
    msgs = " | ".join(str(w.message) for w in rec)
    assert "' Vip'" in msgs and "'Vip  Chat'" in msgs and "'VIP' / 'Vip'" in msgs
    assert chk.labels.tolist()[:5] == ["Vip", "Vip", "Vip Chat", "Vip Chat", "VIP"]
    assert chk.n_missing == 2 and chk.case_clashes == [["VIP", "Vip"]]
    with pytest.warns(NeuromodWarning) as rec:
        merged = check_labels(obs, "t", merge_case=True)
    assert any("merged into the most frequent" in str(w.message) for w in rec)
    assert merged.labels.iloc[4] == "Vip"  # the most frequent spelling wins


def test_coarsen_matches_the_taxonomy(toy):
    expected_sub = {cl: sub for _, sub, cl, _ in TOY_TAXONOMY}
    expected_cls = {cl: c for c, _, cl, _ in TOY_TAXONOMY}
    m = coarsen(toy, fine="cluster_label", coarse="subclass_label")
    assert m.name == "subclass_label" and m.index.name == "cluster_label"
    present = set(toy.obs["cluster_label"].astype(str))
    assert set(m.index) == present
    assert all(m[k] == expected_sub[k] for k in m.index)
    c = coarsen(toy, fine="cluster_label", coarse="class_label")
    assert all(c[k] == expected_cls[k] for k in c.index)
    # on an aggregate too: its obs keeps the per-type columns
    agg = aggregate(toy, "cluster_label", genes=["Vip"])
    pd.testing.assert_series_equal(coarsen(agg), m, check_dtype=False)


def test_coarsen_conflict_names_offenders():
    obs = pd.DataFrame(
        {"cluster_label": ["a", "a", "a", "b", "c"], "subclass_label": ["X", "X", "Y", "X", np.nan]}
    )
    with pytest.raises(CellTypeError, match=r"'c'"):
        coarsen(obs)
    obs.loc[4, "subclass_label"] = "Z"
    with pytest.raises(CellTypeError, match=r"'a' → 'X' \(2 cells\), 'Y' \(1 cells\)"):
        coarsen(obs)
    with pytest.raises(ColumnError, match="'nope'"):
        coarsen(obs, coarse="nope")


def test_label_levels(toy):
    lv = label_levels(toy)
    assert list(lv.index) == ["class_label", "subclass_label", "cluster_label"]
    for col in lv.index:
        counts = toy.obs[col].astype(str).value_counts()
        assert lv.loc[col, "n_labels"] == len(counts)
        assert lv.loc[col, "n_cells"] == toy.n_obs
        assert lv.loc[col, "min_cells"] == counts.min() and lv.loc[col, "max_cells"] == counts.max()
    assert "cluster_color" not in lv.index and "total_counts" not in lv.index
