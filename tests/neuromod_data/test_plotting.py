"""Plots: files are written, the axes carry the expected labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from neuromod_data.errors import ColumnError  # noqa: E402
from neuromod_data.graph import build_graph  # noqa: E402
from neuromod_data.plotting import plot_dotplot, plot_graph, plot_pair_heatmap, plot_type_heatmap  # noqa: E402

NODES = pd.DataFrame({"n_cells": [5, 10, 20], "class": ["Glutamatergic", "GABAergic", "GABAergic"],
                      "color": ["#0000ff", "#ff0000", "#ff8800"]}, index=["L5 IT", "Vip", "Sst"])  # fmt: skip


def _table():
    rng = np.random.default_rng(0)
    rows = []
    for i in ("Vip→Vipr1", "Sst→Sstr2"):
        for s in NODES.index:
            for t in NODES.index:
                rows.append({"source": s, "target": t, "interaction": i, "score": float(rng.random()),
                             "pvalue": float(rng.random() / 10), "ligand_props": 0.5, "receptor_props": 0.5})  # fmt: skip
    return pd.DataFrame(rows)


def test_pair_heatmap(tmp_path):
    t = _table()
    fig = plot_pair_heatmap(t.assign(), "Vip→Vipr1", save=tmp_path / "pair.png")
    assert (tmp_path / "pair.png").stat().st_size > 1000
    ax = fig.axes[0]
    assert ax.get_title() == "Vip→Vipr1"
    assert ax.get_xlabel() == "receiver (receptor)" and ax.get_ylabel() == "sender (ligand)"
    # no class information in a bare table: the names decide the order (GABAergic first)
    assert [x.get_text() for x in ax.get_yticklabels()] == ["Sst", "Vip", "L5 IT"]
    im = ax.images[0].get_array()
    sel = t[t.interaction == "Vip→Vipr1"].set_index(["source", "target"]).score
    assert im[0, 2] == pytest.approx(sel[("Sst", "L5 IT")])
    with pytest.raises(ColumnError, match="Nope"):
        plot_pair_heatmap(t, "Nope")
    plt.close("all")


def test_type_heatmap_sums_pairs_and_orders_by_class(tmp_path):
    t = _table()
    fig = plot_type_heatmap(t, save=tmp_path / "types.png")
    assert (tmp_path / "types.png").exists()
    ax = fig.axes[0]
    labels = [x.get_text() for x in ax.get_xticklabels()]
    assert labels == ["Sst", "Vip", "L5 IT"]
    summed = t.groupby(["source", "target"]).score.sum()
    assert ax.images[0].get_array()[1, 2] == pytest.approx(summed[("Vip", "L5 IT")])
    g = build_graph(t, nodes=NODES)
    fig2 = plot_type_heatmap(g)
    assert [x.get_text() for x in fig2.axes[0].get_yticklabels()] == ["Sst", "Vip", "L5 IT"]
    plt.close("all")


def test_graph_drawing(tmp_path):
    g = build_graph(_table(), nodes=NODES)
    fig = plot_graph(g, save=tmp_path / "graph.png")
    assert (tmp_path / "graph.png").exists()
    ax = fig.axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert texts == {"L5 IT", "Vip", "Sst"}
    assert f"{g.number_of_edges()} edges" in ax.get_title()
    plt.close("all")


def test_dotplot(tmp_path):
    t = _table()
    fig = plot_dotplot(t, sources=["Vip", "Sst"], save=tmp_path / "dots.pdf")
    assert (tmp_path / "dots.pdf").read_bytes()[:4] == b"%PDF"
    ax = fig.axes[0]
    assert {x.get_text() for x in ax.get_yticklabels()} == {"Vip→Vipr1", "Sst→Sstr2"}
    assert all(x.get_text().split(" → ")[0] in {"Vip", "Sst"} for x in ax.get_xticklabels())
    assert "log10 p" in ax.get_title()
    assert len(ax.collections[0].get_offsets()) == 2 * 2 * 3
    with pytest.raises(ColumnError, match="nothing to plot"):
        plot_dotplot(t, sources=["Nobody"])
    plt.close("all")


def test_plots_of_cells_scored_in_place_use_the_scored_types(tmp_path):
    from neuromod_data.datasets import toy_cortex
    from neuromod_data.score import score_interactions

    cells = toy_cortex(n_cells=300, seed=0)
    res = pd.DataFrame({"ligand": ["Npy"], "receptor": ["Npy1r"]})
    score_interactions(cells, "subclass_label", resource=res)
    fig = plot_type_heatmap(cells)
    names = [x.get_text() for x in fig.axes[0].get_yticklabels()]
    types = cells.uns["neuromod_interactions_types"]
    assert sorted(names) == sorted(types.index)
    # ordered by class: every GABAergic type before every glutamatergic one
    cls = types.loc[names, "class"].tolist()
    assert cls.index("Glutamatergic") > max(i for i, c in enumerate(cls) if c == "GABAergic")
    plt.close("all")
