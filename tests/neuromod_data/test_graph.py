"""The modulation graph: hand-computed cases, thresholds, coarsening, summaries, round trips."""

from __future__ import annotations

import json

import anndata as ad
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from neuromod_data.errors import CellTypeError, ColumnError, FormatError, NeuromodWarning
from neuromod_data.graph import (
    build_graph,
    coarsen_graph,
    coarsen_table,
    graph_from_scores,
    graph_summary,
    read_graphml,
    read_scores,
    select_edges,
    to_structure,
    to_tensor,
    write_graphml,
    write_scores,
)
from neuromod_data.structure import CellTypeStructure

NODES = pd.DataFrame(
    {"n_cells": [10, 30, 60], "class": ["GABAergic", "GABAergic", "Glutamatergic"],
     "color": ["#ff0000", "#ff8800", "#0000ff"]},
    index=["Sst a", "Sst b", "L5 IT"],
)  # fmt: skip


def _table():
    rows = []
    scores = {
        ("Npy→Npy1r", "Sst a", "L5 IT"): (4.0, 0.001),
        ("Npy→Npy1r", "Sst b", "L5 IT"): (2.0, 0.02),
        ("Npy→Npy1r", "L5 IT", "Sst a"): (1.0, 0.5),
        ("Sst→Sstr2", "Sst a", "Sst b"): (3.0, 0.01),
        ("Sst→Sstr2", "Sst b", "Sst a"): (0.5, 0.04),
        ("Sst→Sstr2", "L5 IT", "L5 IT"): (0.0, 1.0),
    }
    fam = {"Npy→Npy1r": ("neuropeptide", "Gi/o"), "Sst→Sstr2": ("neuropeptide", "Gi/o")}
    for (i, s, t), (sc, p) in scores.items():
        rows.append({"source": s, "target": t, "interaction": i, "ligand": i.split("→")[0],
                     "receptor": i.split("→")[1], "score": sc, "pvalue": p, "family": fam[i][0],
                     "g_protein": fam[i][1], "ligand_means": sc, "receptor_means": 1.0})  # fmt: skip
    return pd.DataFrame(rows)


def test_build_graph_nodes_and_edges():
    g = build_graph(_table(), nodes=NODES)
    assert isinstance(g, nx.MultiDiGraph)
    assert set(g.edges(keys=True)) == {
        ("Sst a", "L5 IT", "Npy→Npy1r"), ("Sst b", "L5 IT", "Npy→Npy1r"),
        ("Sst a", "Sst b", "Sst→Sstr2"), ("Sst b", "Sst a", "Sst→Sstr2"),
    }  # fmt: skip
    d = g.edges["Sst a", "L5 IT", "Npy→Npy1r"]
    assert d == {"weight": 4.0, "pvalue": 0.001, "family": "neuropeptide", "g_protein": "Gi/o",
                 "ligand": "Npy", "receptor": "Npy1r"}  # fmt: skip
    assert g.nodes["Sst a"] == {"n_cells": 10, "class": "GABAergic", "sign": -1, "color": "#ff0000"}
    assert g.nodes["L5 IT"]["sign"] == 1


def test_thresholds():
    t = _table()
    assert len(select_edges(t, pvalue=0.015)) == 2
    assert len(select_edges(t, pvalue=None)) == 5  # every positive score
    # quantile over all 6 scores [0, .5, 1, 2, 3, 4]: 0.5 quantile = 1.5 → scores 2, 3, 4
    q = select_edges(t, pvalue=None, quantile=0.5)
    assert sorted(q.score) == [2.0, 3.0, 4.0]
    top = select_edges(t, pvalue=None, top_k=2)
    assert sorted(top.score) == [3.0, 4.0]
    g = build_graph(t, nodes=NODES, pvalue=None, top_k=1)
    assert list(g.edges(keys=True)) == [("Sst a", "L5 IT", "Npy→Npy1r")]


def test_tensor_and_structure_round_trip(tmp_path):
    g = build_graph(_table(), nodes=NODES, meta={"method": "test"})
    s = to_structure(g)
    assert s.names == ("Sst a", "Sst b", "L5 IT") and s.pairs == ("Npy→Npy1r", "Sst→Sstr2")
    np.testing.assert_allclose(s.abundances, [0.1, 0.3, 0.6])
    assert s.signs.tolist() == [-1, -1, 1]
    expect = np.zeros((2, 3, 3))
    expect[0, 0, 2], expect[0, 1, 2], expect[1, 0, 1], expect[1, 1, 0] = 4.0, 2.0, 3.0, 0.5
    np.testing.assert_array_equal(s.modulation, expect)
    assert s.meta["method"] == "test"
    back = CellTypeStructure.load(s.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(back.modulation, s.modulation)
    assert back.names == s.names and back.colors == ("#ff0000", "#ff8800", "#0000ff")
    # the same from the table directly
    s2 = to_structure(_table(), nodes=NODES)
    np.testing.assert_array_equal(s2.modulation, expect)


def test_structure_drops_non_neuronal():
    t = pd.DataFrame({"source": ["Astro", "Vip"], "target": ["Vip", "L6 CT"], "interaction": ["A→B"] * 2,
                      "score": [1.0, 2.0]})  # fmt: skip
    with pytest.warns(NeuromodWarning, match="Astro"):
        s = to_structure(t, pvalue=None)
    assert s.names == ("Vip", "L6 CT") and s.modulation[0, 0, 1] == 2.0
    with pytest.raises(CellTypeError, match="Astro"):
        to_structure(t, pvalue=None, non_neuronal="error")


def test_coarsen_table_block_means_by_hand():
    t = _table()
    m = {"Sst a": "Sst", "Sst b": "Sst", "L5 IT": "IT"}
    c = coarsen_table(t, m)
    get = lambda i, s, tg: c[(c.interaction == i) & (c.source == s) & (c.target == tg)].score.item()  # noqa: E731
    assert get("Npy→Npy1r", "Sst", "IT") == pytest.approx((4 + 2) / 2)
    assert get("Npy→Npy1r", "IT", "Sst") == pytest.approx((1 + 0) / 2)
    assert get("Sst→Sstr2", "Sst", "Sst") == pytest.approx((0 + 3 + 0.5 + 0) / 4)
    assert get("Sst→Sstr2", "IT", "IT") == 0.0
    w = coarsen_table(t, m, weights={"Sst a": 1, "Sst b": 3, "L5 IT": 1})
    assert w[
        (w.interaction == "Npy→Npy1r") & (w.source == "Sst") & (w.target == "IT")
    ].score.item() == pytest.approx((1 * 4 + 3 * 2) / 4)
    # per-type ligand means pool over the senders of the block
    row = c[(c.interaction == "Npy→Npy1r") & (c.source == "Sst") & (c.target == "IT")].iloc[0]
    assert row.family == "neuropeptide" and np.isnan(row.pvalue)
    with pytest.raises(CellTypeError, match="lacks the types"):
        coarsen_table(t, {"Sst a": "Sst"})


def test_coarsen_toy_clusters_to_subclasses_matches_block_means():
    from neuromod_data.datasets import toy_cortex
    from neuromod_data.labels import level_mapping
    from neuromod_data.score import score_interactions

    cells = toy_cortex(n_cells=600, seed=2)
    res = pd.DataFrame({"ligand": ["Npy", "Sst"], "receptor": ["Npy1r", "Sstr2"]})
    score_interactions(cells, "cluster_label", resource=res, method="product")
    fine = cells.uns["neuromod_interactions"]
    m = level_mapping(cells, fine="cluster_label", coarse="subclass_label")
    coarse = coarsen_table(fine, m)
    sub = fine[fine.interaction == "Sst→Sstr2"].pivot(
        index="source", columns="target", values="score"
    )
    for a_grp, b_grp in [("Sst", "L2/3 IT"), ("Vip", "Sst"), ("L6 CT", "L6 CT")]:
        senders = [k for k, v in m.items() if v == a_grp]
        receivers = [k for k, v in m.items() if v == b_grp]
        expect = sub.loc[senders, receivers].to_numpy().mean()
        got = coarse[
            (coarse.interaction == "Sst→Sstr2")
            & (coarse.source == a_grp)
            & (coarse.target == b_grp)
        ]
        assert got.score.item() == pytest.approx(expect)


def test_coarsen_graph():
    g = build_graph(_table(), nodes=NODES)
    c = coarsen_graph(g, {"Sst a": "Sst", "Sst b": "Sst", "L5 IT": "IT"})
    assert c.nodes["Sst"]["n_cells"] == 40 and c.nodes["Sst"]["sign"] == -1
    assert c.nodes["IT"]["color"] == "#0000ff"
    assert c.edges["Sst", "IT", "Npy→Npy1r"]["weight"] == pytest.approx(3.0)
    # L5 IT → Sst a (p = 0.5) is not an edge of the fine graph, so it pools as 0
    assert not c.has_edge("IT", "Sst")
    assert c.edges["Sst", "Sst", "Sst→Sstr2"]["weight"] == pytest.approx(3.5 / 4)
    # a coarse node's members must share one class (the level rule: no majority vote)
    with pytest.raises(CellTypeError, match=r"'S' → 'GABAergic' \(2 types\), 'Glutamatergic'"):
        coarsen_graph(g, {"Sst a": "S", "Sst b": "S", "L5 IT": "S"})


def test_graph_summary_by_hand():
    s = graph_summary(build_graph(_table(), nodes=NODES))
    assert s["n_edges"] == 4 and s["n_types"] == 3 and s["n_interactions"] == 2
    assert s["density"] == pytest.approx(4 / 9)  # 4 distinct ordered type pairs of 9
    assert s["edge_density"] == pytest.approx(4 / (2 * 9))
    d = s["degrees"]
    assert d.loc["Sst a", "out_degree"] == 2 and d.loc["L5 IT", "in_degree"] == 2
    assert d.loc["L5 IT", "out_degree"] == 0 and d.loc["Sst a", "out_weight"] == pytest.approx(7.0)
    assert s["per_family"] == {"neuropeptide": 4}
    assert s["per_interaction"] == {"Npy→Npy1r": 2, "Sst→Sstr2": 2}


def test_graphml_round_trip(tmp_path):
    g = build_graph(
        _table(), nodes=NODES, meta={"method": "cellphonedb", "n_perms": 100, "lst": [1, 2]}
    )
    p = write_graphml(g, tmp_path / "g.graphml")
    h = read_graphml(p)
    assert isinstance(h, nx.MultiDiGraph)
    assert sorted(h.edges(keys=True, data=True)) == sorted(g.edges(keys=True, data=True))
    assert dict(h.nodes(data=True)) == dict(g.nodes(data=True))
    assert h.graph["method"] == "cellphonedb" and json.loads(h.graph["lst"]) == [1, 2]
    np.testing.assert_array_equal(to_tensor(h)[0], to_tensor(g)[0])
    # plain GraphML: networkx's own reader sees the same graph
    nxg = nx.read_graphml(p, force_multigraph=True)
    assert set(nxg.edges(keys=True)) == set(g.edges(keys=True))
    e = nxg.edges["Sst a", "L5 IT", "Npy→Npy1r"]
    assert e["weight"] == 4.0 and e["pvalue"] == 0.001 and nxg.nodes["Sst a"]["n_cells"] == 10
    bad = tmp_path / "bad.graphml"
    bad.write_text("<not graphml")
    with pytest.raises(FormatError, match="bad.graphml"):
        read_graphml(bad)


def test_graphml_reader_keeps_what_the_writer_wrote(tmp_path):
    # read by networkx's reader: empty strings, digit-only interaction names, booleans and the
    # graph's attributes come back as written (networkx's defaults turn the edge id "12" into 12,
    # add node_default / edge_default to .graph and, for one edge, return a DiGraph)
    g = nx.MultiDiGraph(method="x", flag=True)
    g.add_node("A", color="", n_cells=3, sign=-1)
    g.add_node("B", color="#00ff00", n_cells=1, sign=1)
    g.add_edge("A", "B", key="12", weight=0.5, family="", exact=False)
    g.add_edge("A", "B", key="X→Y", weight=1.0, family="GPCR", exact=True)
    h = read_graphml(write_graphml(g, tmp_path / "g.graphml"))
    assert dict(h.graph) == {"method": "x", "flag": True}
    assert dict(h.nodes(data=True)) == dict(g.nodes(data=True))
    assert sorted(h.edges(keys=True, data=True)) == sorted(g.edges(keys=True, data=True))
    assert all(isinstance(k, str) for _, _, k in h.edges(keys=True))

    # one edge only: still a MultiDiGraph keyed by the interaction, no "id" attribute added
    one = nx.MultiDiGraph()
    one.add_edge("A", "B", key="X→Y", weight=2.0)
    back = read_graphml(write_graphml(one, tmp_path / "one.graphml"))
    assert isinstance(back, nx.MultiDiGraph)
    assert list(back.edges(keys=True, data=True)) == [("A", "B", "X→Y", {"weight": 2.0})]

    # refused, naming the file: undirected, not graphml, a <data> naming no key
    und = tmp_path / "und.graphml"
    und.write_text(
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="undirected">'
        '<node id="a"/><node id="b"/><edge source="a" target="b"/></graph></graphml>'
    )
    with pytest.raises(FormatError, match="und.graphml.*directed"):
        read_graphml(und)
    other = tmp_path / "other.graphml"
    other.write_text("<svg><g/></svg>")
    with pytest.raises(FormatError, match="other.graphml"):
        read_graphml(other)
    nokey = tmp_path / "nokey.graphml"
    nokey.write_text(
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="directed">'
        '<node id="a"><data key="d9">1</data></node></graph></graphml>'
    )
    with pytest.raises(FormatError, match="nokey.graphml"):
        read_graphml(nokey)


def test_h5ad_round_trip_of_scores(tmp_path):
    from neuromod_data.score import score_interactions

    rng = np.random.default_rng(0)
    X = rng.poisson(3, size=(30, 3)).astype(np.float32)
    a = ad.AnnData(X=X, obs=pd.DataFrame({"t": ["Sst x"] * 10 + ["Vip y"] * 10 + ["L6 IT"] * 10},
                                         index=[f"c{i}" for i in range(30)]),
                   var=pd.DataFrame(index=["L", "R", "O"]))  # fmt: skip
    res = pd.DataFrame({"ligand": ["L", "L"], "receptor": ["R", "Missing"]})
    with pytest.warns(NeuromodWarning):
        agg = score_interactions(
            a, "t", resource=res, method="cellphonedb", n_perms=20, expr_prop=0.0, inplace=False
        )
    back = read_scores(write_scores(agg, tmp_path / "scores.h5ad"))
    pd.testing.assert_frame_equal(
        back.uns["neuromod_interactions"], agg.uns["neuromod_interactions"]
    )
    assert back.uns["neuromod_interactions_params"]["missing_interactions"] == ["L→Missing"]
    assert back.obs["sign"].tolist() == [1, -1, -1]  # sorted names: L6 IT, Sst x, Vip y
    g1, g2 = graph_from_scores(agg), graph_from_scores(back)
    assert sorted(g1.edges(keys=True, data=True)) == sorted(g2.edges(keys=True, data=True))
    assert json.loads(g1.graph["missing_interactions"]) == ["L→Missing"]


def test_old_names_still_work_with_a_deprecation_warning():
    import neuromod_data.graph as graph

    obs = pd.DataFrame({"cluster": ["Sst a", "Sst b", "L5 x"], "sub": ["Sst", "Sst", "L5"]})
    with pytest.warns(DeprecationWarning, match="labels.level_mapping"):
        assert graph.level_mapping(obs, "cluster", "sub") == {
            "L5 x": "L5",
            "Sst a": "Sst",
            "Sst b": "Sst",
        }
    with pytest.warns(DeprecationWarning, match="labels.class_sign"):
        assert graph.type_sign("", "Vip Igfbp6") == -1 and graph.type_sign("GABAergic") == -1
    with pytest.warns(DeprecationWarning, match="labels.infer_class"):
        assert graph.infer_class("L6 CT") == "Glutamatergic"
    with pytest.raises(AttributeError):
        graph.no_such_name  # noqa: B018


def test_nodes_without_annotations_follow_the_cell_type_rules():
    t = pd.DataFrame({"source": ["Sst x", "Sst x"], "target": ["L5 IT", "Astro"],
                      "interaction": ["A→B"] * 2, "score": [1.0, 1.0]})  # fmt: skip
    g = build_graph(t, pvalue=None)
    assert [g.nodes[n]["sign"] for n in ("Sst x", "L5 IT", "Astro")] == [-1, 1, 0]
    nodes = pd.DataFrame({"class_label": ["Glutamatergic", "GABAergic", None]},
                         index=["Sst x", "L5 IT", "Astro"])  # fmt: skip
    g2 = build_graph(t, pvalue=None, nodes=nodes)  # a class column wins over the names
    assert g2.nodes["Sst x"]["class"] == "Glutamatergic" and g2.nodes["Sst x"]["sign"] == 1
    assert g2.nodes["Astro"]["class"] == "Non-Neuronal"  # no class: from the name


def test_bad_tables():
    with pytest.raises(ColumnError, match="score"):
        build_graph(pd.DataFrame({"source": ["a"], "target": ["b"], "interaction": ["x"]}))
    with pytest.raises(CellTypeError, match="absent from the nodes"):
        build_graph(_table(), nodes=NODES.iloc[:2])
