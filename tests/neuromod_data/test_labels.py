"""The cell-type layer: label cleaning, type order, label levels, level mapping, class / sign /
colour."""

from __future__ import annotations

import warnings

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


# ------------------------------------------------- cells that failed quality control (issue 24)
def test_quality_control_labels_are_no_type():
    """'low quality' (any case, '_' or '-' for spaces) marks failed cells: no category, code -1,
    label NaN, not counted as missing, one warning naming each spelling and its cells."""
    obs = pd.DataFrame({"t": ["Vip", "low quality", "Low_Quality", None, "Sst", "low quality"]})
    with pytest.warns(NeuromodWarning) as caught:
        chk = check_labels(obs, "t")
    assert chk.categories == ["Vip", "Sst"]
    assert chk.codes.tolist() == [0, -1, -1, -1, 1, -1]
    assert chk.labels.isna().tolist() == [False, True, True, True, False, True]
    assert chk.n_missing == 1
    assert chk.quality_control == {"low quality": 2, "Low_Quality": 1}
    (text,) = [str(w.message) for w in caught if "quality control" in str(w.message)]
    assert (
        "'t'" in text and "2 labelled 'low quality'" in text and "1 labelled 'Low_Quality'" in text
    )
    # a reader cleaning the columns it read keeps them (types form later)
    kept = check_labels(obs, "t", warn=False, quality_control=False)
    assert kept.categories == ["Vip", "low quality", "Low_Quality", "Sst"]
    # a type whose name merely contains the words stays a type
    assert check_labels(pd.DataFrame({"t": ["low quality Vip"]}), "t").categories == [
        "low quality Vip"
    ]


def test_low_quality_cells_are_left_out_at_aggregation_and_never_reach_the_structure(toy):
    """toy_cortex with one subclass's cells relabelled 'low quality': aggregate leaves them out
    (warned, naming the label; the other types' values are those without those cells), and the
    structure built from its scores has no such type and no 'non-neuronal' warning about it."""
    from neuromod_data.graph import graph_from_scores, to_structure
    from neuromod_data.score import score_interactions

    cells = toy.copy()
    labels = cells.obs["subclass_label"].astype(str).to_numpy()
    lq = labels == "Sst"
    labels[lq] = "low quality"
    cells.obs["subclass_label"] = labels
    with pytest.warns(NeuromodWarning, match="quality control.*'low quality'"):
        agg = aggregate(cells, "subclass_label", stats=["mean"])
    assert "low quality" not in agg.obs_names
    assert set(agg.obs_names) == set(labels[~lq])
    X = np.asarray(cells.X.todense()) if hasattr(cells.X, "todense") else np.asarray(cells.X)
    ref = pd.DataFrame(X, columns=cells.var_names)[~lq].groupby(labels[~lq]).mean()
    np.testing.assert_allclose(
        agg.to_df().loc[ref.index].to_numpy(), ref.to_numpy(), rtol=1e-5, atol=1e-6
    )
    with pytest.warns(NeuromodWarning, match="quality control"):
        score_interactions(cells, "subclass_label", resource="neuropeptides")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = to_structure(graph_from_scores(cells, quantile=0.5))
    assert "low quality" not in s.names
    assert not [w for w in caught if "low quality" in str(w.message)]
