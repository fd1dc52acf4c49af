"""The cell-type layer: label cleaning, type order, label levels, level mapping, class / sign /
colour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuromod_data.aggregate import aggregate
from neuromod_data.datasets import toy_cortex
from neuromod_data.datasets.toy import TOY_TAXONOMY
from neuromod_data.errors import CellTypeError, ColumnError, NeuromodWarning
from neuromod_data.labels import (
    CLASS_COLORS,
    check_labels,
    class_sign,
    clean_label,
    coarsen,
    default_colors,
    infer_class,
    label_levels,
    level_mapping,
    type_annotations,
    type_order,
)


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


def test_na_and_none_are_labels_and_blank_is_missing():
    obs = pd.DataFrame({"t": ["NA", "None", "nan", "  ", None, np.nan, "NA "]}, dtype=object)
    with pytest.warns(NeuromodWarning, match="whitespace"):
        chk = check_labels(obs, "t")
    assert chk.categories == ["NA", "None", "nan"] and chk.n_missing == 3
    assert chk.codes.tolist() == [0, 1, 2, -1, -1, -1, 0]
    assert clean_label(" a \t b\n") == "a b" and clean_label(None) == "None"


def test_type_order_category_order_else_sorted():
    col = pd.Series(pd.Categorical(["b", "a "], categories=["b", "c", "a "]))
    assert type_order(col, ["a", "b"]) == ["b", "a"]  # unused category 'c' left out
    assert type_order(col, ["a", "b", "z"]) == ["b", "a", "z"]  # not a category: last
    assert type_order(pd.Series(["b", "a"]), ["b", "a"]) == ["a", "b"]


def test_level_mapping_matches_the_taxonomy(toy):
    expected_sub = {cl: sub for _, sub, cl, _ in TOY_TAXONOMY}
    expected_cls = {cl: c for c, _, cl, _ in TOY_TAXONOMY}
    m = level_mapping(toy, fine="cluster_label", coarse="subclass_label")
    assert m.name == "subclass_label" and m.index.name == "cluster_label"
    present = set(toy.obs["cluster_label"].astype(str))
    assert set(m.index) == present
    assert all(m[k] == expected_sub[k] for k in m.index)
    c = level_mapping(toy, fine="cluster_label", coarse="class_label")
    assert all(c[k] == expected_cls[k] for k in c.index)
    # on an aggregate too: its obs keeps the per-type columns
    agg = aggregate(toy, "cluster_label", genes=["Vip"])
    pd.testing.assert_series_equal(level_mapping(agg), m, check_dtype=False)
    with pytest.warns(DeprecationWarning, match="level_mapping"):  # the old name
        pd.testing.assert_series_equal(coarsen(toy), m)


def test_level_mapping_conflict_names_offenders():
    obs = pd.DataFrame(
        {"cluster_label": ["a", "a", "a", "b", "c"], "subclass_label": ["X", "X", "Y", "X", np.nan]}
    )
    with pytest.raises(CellTypeError, match=r"'c'"):
        level_mapping(obs)
    obs.loc[4, "subclass_label"] = "Z"
    with pytest.raises(CellTypeError, match=r"'a' → 'X' \(2 cells\), 'Y' \(1 cells\)"):
        level_mapping(obs)
    with pytest.raises(ColumnError, match="'nope'"):
        level_mapping(obs, coarse="nope")
    obs.loc[2, "subclass_label"] = "X "  # the same label after cleaning: no conflict
    assert level_mapping(obs).to_dict() == {"a": "X", "b": "X", "c": "Z"}


def test_label_levels(toy):
    lv = label_levels(toy)
    assert list(lv.index) == ["class_label", "subclass_label", "cluster_label"]
    for col in lv.index:
        counts = toy.obs[col].astype(str).value_counts()
        assert lv.loc[col, "n_labels"] == len(counts)
        assert lv.loc[col, "n_cells"] == toy.n_obs
        assert lv.loc[col, "min_cells"] == counts.min() and lv.loc[col, "max_cells"] == counts.max()
    assert "cluster_color" not in lv.index and "total_counts" not in lv.index


def test_class_sign_and_colour_rules():
    assert (
        infer_class("Lamp5 Lhx6") == "GABAergic"
        and infer_class("L2/3 IT VISp Rrad") == "Glutamatergic"
    )
    assert (
        infer_class("L5/6 NP CT") == "Glutamatergic"
        and infer_class("Oligo Opalin") == "Non-Neuronal"
    )
    assert infer_class(" Sst Chodl ") == "GABAergic"
    assert [class_sign(c) for c in ("GABAergic", "inhibitory", "Glutamatergic", "Excitatory")] == [
        -1,
        -1,
        1,
        1,
    ]
    assert class_sign("Endothelial") == 0 and class_sign("None") == 0
    cols = default_colors(
        ["a", "b", "c", "d"], ["GABAergic", "GABAergic", "GABAergic", "Glutamatergic"]
    )
    assert len(set(cols[:3])) == 3 and cols[3] == CLASS_COLORS["Glutamatergic"].lower()
    # shades darken towards the first type of a class: the last one is the class colour itself
    assert cols[2] == CLASS_COLORS["GABAergic"].lower()


def test_type_annotations_read_the_cells_and_refuse_conflicts():
    obs = pd.DataFrame(
        {
            "cluster": ["Sst a", "Sst a ", "X b", "X b", "Astro"],
            "class_label": ["GABAergic", "GABAergic", "Glutamatergic", None, None],
            "cluster_color": ["#010203"] * 2 + [None] * 3,
        }
    )
    ann = type_annotations(obs, "cluster")
    assert list(ann.index) == ["Astro", "Sst a", "X b"]
    # a type without a class value is classed by its name; one without a colour gets a shade
    assert ann["class"].tolist() == ["Non-Neuronal", "GABAergic", "Glutamatergic"]
    assert ann["sign"].tolist() == [0, -1, 1]
    assert ann.loc["Sst a", "color"] == "#010203" and ann.loc["X b", "color"].startswith("#")
    assert type_annotations(obs, "cluster", types=["X b"]).index.tolist() == ["X b"]
    obs.loc[3, "class_label"] = "GABAergic"
    with pytest.raises(CellTypeError, match=r"'X b' → 'GABAergic' \(1 cells\), 'Glutamatergic'"):
        type_annotations(obs, "cluster")
    with pytest.raises(CellTypeError, match="'Vip'"):
        type_annotations(obs, "cluster", types=["Vip"])
